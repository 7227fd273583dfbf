#!/usr/bin/env bash
# The experiments on real non-MNIST data (experiments/wine.toml: tabular, experiments/digits.toml:
# 8x8 images), trained again from the manifests as a fresh clone would (fresh cache: the data is
# decoded and prepared again), gated on the committed baselines with `sweep check`; then the
# committed reports must be what the committed results give. Usage: tools/data-experiments.sh BIN
set -euo pipefail
bin=$(realpath "${1:-target/debug/sweep}")
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SWEEP_CACHE_DIR="$tmp/cache"
for name in wine digits; do
  echo "== $name: training experiments/$name.toml from scratch"
  "$bin" run "experiments/$name.toml" --results "$tmp/results" --quiet
  "$bin" report "$tmp/results/$name" --format markdown | sed -n '/## Across seeds/,/## Ranking/p' | sed '$d'
  "$bin" check "$tmp/results/$name" --baseline "results/$name/baseline.json" --format markdown
  # The same runs, and on a CPU like the one that trained them, the same bits.
  diff <(ls "results/$name/runs") <(ls "$tmp/results/$name/runs")
  same=0 differ=0
  for run in "results/$name/runs"/*/; do
    id=$(basename "$run")
    if cmp -s <(cut -d, -f1-7 "$run/epochs.csv") <(cut -d, -f1-7 "$tmp/results/$name/runs/$id/epochs.csv"); then
      same=$((same + 1))
    else
      differ=$((differ + 1))
    fi
  done
  echo "$name: $same runs bit-identical to the committed ones, $differ differing (another CPU's GEMM kernels may round differently; the gate above is what must hold)"
  "$bin" report "results/$name" --format markdown --out "results/$name/report.md"
done
changed=$(git status --porcelain -- results/wine results/digits)
if [ -n "$changed" ]; then
  echo "the committed reports of results/wine or results/digits differ from what their results give:" >&2
  echo "$changed" >&2
  exit 1
fi
