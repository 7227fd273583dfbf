#!/usr/bin/env bash
# How right is the ETA? A new user's sweep from scratch: `sweep plan` calibrates each model
# (a few batches, cached), then `sweep run` trains bench/eta.toml (16 runs, about 5 minutes on
# 2 cores) into an empty results directory. The log line printed once a tenth of the estimated
# work is done gives the ETA; the end of the sweep gives the truth. Also records what
# `sweep plan` estimated before anything ran. Writes results/bench/eta.csv.
# Usage: SWEEP_DATA_DIR=../shared/data bench/eta.sh [manifest]
set -euo pipefail
cd "$(dirname "$0")/.."
manifest="${1:-bench/eta.toml}"
cargo build --release --locked --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp target/release/sweep "$dir/sweep"
export XDG_CACHE_HOME="$dir/cache"   # no speeds known: the plan calibrates, as on a new machine
plan=$("$dir/sweep" plan "$manifest" | grep "estimated wall time" || true)
planned=$(python3 -c "
import re, sys
m = re.search(r'here: (?:(\d+)h )?(?:(\d+)m )?(?:(\d+)s)?', sys.argv[1])
print(int(m.group(1) or 0) * 3600 + int(m.group(2) or 0) * 60 + int(m.group(3) or 0))" "$plan")
start=$(date +%s.%N)
"$dir/sweep" run "$manifest" --results "$dir/results" 2>&1 | while IFS= read -r line; do
  printf '%s %s\n' "$(date +%s.%N)" "$line"
done > "$dir/log"
end=$(date +%s.%N)
mkdir -p results/bench
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs | tr ',' ' ')
python3 - "$dir/log" "$start" "$end" "$planned" "$cpu" "$manifest" > results/bench/eta.csv <<'PY'
import re, sys
log, start, end, planned, cpu, manifest = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
def seconds(text):
    m = re.fullmatch(r"(?:(\d+)h )?(?:(\d+)m )?(?:(\d+)s)?", text.strip())
    return int(m.group(1) or 0) * 3600 + int(m.group(2) or 0) * 60 + int(m.group(3) or 0)
at, eta = None, None
for line in open(log):
    t, _, msg = line.partition(" ")
    m = re.search(r"of the estimated work done in .*: ETA (.*)$", msg)
    if m:
        at, eta = float(t) - start, seconds(m.group(1))
        break
actual = end - start
print("manifest,planned_seconds,eta_at_seconds,eta_seconds,predicted_total_seconds,actual_seconds,total_error_percent,remaining_error_percent,plan_error_percent,cpu_model")
pred = at + eta
print(f"{manifest},{planned},{at:.0f},{eta},{pred:.0f},{actual:.0f},{100 * (pred - actual) / actual:+.1f},{100 * (eta - (actual - at)) / (actual - at):+.1f},{100 * (planned - actual) / actual:+.1f},{cpu}")
PY
cat results/bench/eta.csv
