#!/usr/bin/env bash
# Wall time of the same 4-run real CPU sweep (experiments/bench-scheduler.toml) with
# 1 job x 1 thread, 1 job x 2 threads and 2 jobs x 1 thread. Writes results/bench/scheduler.csv.
# Usage: bench/scheduler.sh [REPEATS]   (needs SWEEP_DATA_DIR or --data-dir-able data)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats="${1:-1}"
cargo build --release --locked --quiet
bin=target/release/sweep
mkdir -p results/bench
csv=results/bench/scheduler.csv
echo "config,jobs,threads,repeat,wall_seconds,cpu_model" > "$csv"
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs | tr ',' ' ')
for r in $(seq 1 "$repeats"); do
  for cfg in "1 1" "1 2" "2 1"; do
    set -- $cfg
    dir=$(mktemp -d)
    start=$(date +%s.%N)
    "$bin" run experiments/bench-scheduler.toml --results "$dir" --jobs "$1" --threads "$2" --quiet
    end=$(date +%s.%N)
    rm -rf "$dir"
    wall=$(echo "$end - $start" | bc)
    echo "${1}x${2},$1,$2,$r,$wall,$cpu" >> "$csv"
    echo "jobs=$1 threads=$2: ${wall}s"
  done
done
cat "$csv"
