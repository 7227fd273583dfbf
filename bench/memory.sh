#!/usr/bin/env bash
# Memory estimate vs measured: trains the four built-in models with Adam for one epoch on the
# full MNIST training set (validation 0.1 held out, the 10,000 test images evaluated), plus a
# wide MLP (two dense layers of 4,096 units: 20M parameters) with SGD and Adam on 3,000 images,
# one run at a time, and compares each worker's recorded peak resident memory (peak_rss_bytes,
# Linux VmHWM) with the estimate `sweep plan` shows (estimated_peak_bytes).
# Writes results/bench/memory.csv. About 10 minutes on 2 cores.
# Usage: SWEEP_DATA_DIR=../shared/data bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=$(mktemp -d)/sweep
cp target/release/sweep "$bin"
dir=$(mktemp -d)
trap 'rm -rf "$dir" "$(dirname "$bin")"' EXIT
cat > "$dir/builtin.toml" <<'TOML'
[sweep]
name = "builtin"
dataset = "mnist"
validation = 0.1
[grid]
model = ["simple_nn", "enhanced_nn", "simple_cnn", "enhanced_cnn"]
optimizer = ["adam"]
epochs = [1]
TOML
cat > "$dir/wide.toml" <<'TOML'
[sweep]
name = "wide"
dataset = "mnist"
validation = 0.1
train_subset = 3000
[models.wide]
layers = [{ type = "flatten" }, { type = "dense", units = 4096, activation = "relu" }, { type = "dense", units = 4096, activation = "relu" }, { type = "dense", units = 10, activation = "softmax" }]
[grid]
model = ["wide"]
optimizer = ["sgd", "adam"]
epochs = [1]
TOML
for m in builtin wide; do
  "$bin" run "$dir/$m.toml" --results "$dir/results" --jobs 1 --quiet
done
mkdir -p results/bench
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs | tr ',' ' ')
python3 - "$dir/results" "$cpu" > results/bench/memory.csv <<'PY'
import json, pathlib, sys
root, cpu = pathlib.Path(sys.argv[1]), sys.argv[2]
print("label,params,estimated_mib,measured_mib,error_percent,cpu_model")
rows = []
for f in sorted(root.glob("*/runs/*/summary.json")):
    s = json.loads(f.read_text())
    run = json.loads((f.parent / "run.json").read_text())
    est, got = s["estimated_peak_bytes"] / 2**20, s["peak_rss_bytes"] / 2**20
    rows.append((run["params"], s["label"], est, got))
for params, label, est, got in sorted(rows):
    print(f"{label},{params},{est:.0f},{got:.0f},{100 * (est - got) / got:+.1f},{cpu}")
PY
cat results/bench/memory.csv
