#!/usr/bin/env bash
# Planning at scale: `sweep plan` (table, and --format json) of a 1,000 seeds x 1,000 learning
# rates grid (1,000,000 runs), wall time and peak memory. Writes results/bench/plan.csv.
# Usage: bench/plan_scale.sh [N]   (N seeds x N learning rates; default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
cargo build --release --locked --quiet
bin=target/release/sweep
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$n" > "$dir/m.toml" <<'PY'
import sys
n = int(sys.argv[1])
print('[sweep]\nname = "scale"\ndataset = "mnist"\nepochs = 1')
print("seeds = [" + ", ".join(str(i) for i in range(1, n + 1)) + "]")
print('[grid]\nmodel = ["simple_nn"]\noptimizer = ["sgd"]')
print("lr = [" + ", ".join(repr(round(1e-4 * (1 + i * 0.01), 8)) for i in range(n)) + "]")
PY
mkdir -p results/bench
csv=results/bench/plan.csv
# The model name alone can be "AMD EPYC": the family and model say which generation.
cpu="$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs | tr ',' ' ') (family $(grep -m1 "cpu family" /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 "^model\s" /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "runs,format,wall_seconds,max_rss_mb,output_mb,cpu_model" > "$csv"
for format in table json; do
  /usr/bin/time -f "%e %M" -o "$dir/time" "$bin" plan "$dir/m.toml" --format "$format" > "$dir/out"
  read -r wall rss < "$dir/time"
  out_mb=$(( $(stat -c %s "$dir/out") / 1000000 ))
  echo "$((n * n)),$format,$wall,$((rss / 1024)),$out_mb,$cpu" >> "$csv"
done
cat "$csv"
