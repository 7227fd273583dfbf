#!/usr/bin/env bash
# Training throughput (images/s, batch 32) of the four built-in models, sweep (burn flex) vs
# Keras/TensorFlow, back to back on this machine: one run on 1 and on 2 threads.
# Writes results/bench/train_speed.csv. Needs the Keras venv of ../shared/anchors/README.md
# (KERAS_PY, default $HOME/keras-venv/bin/python); without it only sweep is measured.
# Usage: bench/train_speed.sh [BATCHES]   (default 200 batches per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
batches="${1:-200}"
keras="${KERAS_PY:-$HOME/keras-venv/bin/python}"
data="${SWEEP_DATA_DIR:-$(cd ../shared/data && pwd)}"
cargo build --release --locked --quiet
bin=target/release/sweep
mkdir -p results/bench
csv=results/bench/train_speed.csv
echo "framework,model,threads,batch,images_per_sec" > "$csv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for model in simple_nn enhanced_nn simple_cnn enhanced_cnn; do
  for threads in 1 2; do
    cat > "$tmp/m.toml" <<TOML
[sweep]
name = "speed"
dataset = "mnist"
train_subset = $((batches * 32))
test_subset = 32
[[runs]]
model = "$model"
optimizer = "adam"
epochs = 1
TOML
    rm -rf "$tmp/results"
    SWEEP_DATA_DIR="$data" "$bin" run "$tmp/m.toml" --results "$tmp/results" --jobs 1 --threads "$threads" --quiet
    ips=$(tail -n1 "$tmp"/results/speed/runs/*/epochs.csv | cut -d, -f7)
    printf 'sweep,%s,%s,32,%.0f\n' "$model" "$threads" "$ips" | tee -a "$csv"
    if [ -x "$keras" ]; then
      line=$("$keras" ../shared/anchors/keras_mnist.py --model "$model" --optimizer adam --batch 32 \
        --threads "$threads" --max-batches "$batches" --no-eval --data "$data/mnist" 2>/dev/null | tail -n1)
      kips=$(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("train_images_per_sec") or d.get("images_per_sec"))')
      printf 'keras,%s,%s,32,%.0f\n' "$model" "$threads" "$kips" | tee -a "$csv"
    fi
  done
done
