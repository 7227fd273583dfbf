#!/usr/bin/env bash
# Training throughput (images/s, batch 32, Adam) of the built-in models: sweep (burn flex + our
# convolution kernels), sweep with burn's own convolution (SWEEP_CONV=burn), Keras/TensorFlow and
# PyTorch, back to back on this machine, in three modes:
#   1x1  one run on 1 thread
#   1x2  one run on 2 threads
#   2x1  two runs at once, 1 thread each (total images/s)
# Writes results/bench/train_speed.csv. Uses the venvs of ../shared/anchors/README.md (KERAS_PY,
# default $HOME/keras-venv/bin/python; TORCH_PY, default $HOME/torch-venv/bin/python); a framework
# whose venv is missing is skipped.
# In the 2x1 mode the two Python processes start their timed windows at different moments (each
# imports its framework first), so a run can have the machine to itself for a while; the
# `overlap` column is the share of the shorter timed window that both ran together (1 = fully
# concurrent). sweep starts both runs at once and times whole epochs, warm-up included.
# sweep is measured once per vector kernel path the CPU has (`sweep bench isa`: avx512 and avx2
# on an AVX-512 machine, forced with SWEEP_ISA), or on the paths in SWEEP_ISAS (e.g.
# "avx2 portable"). Every row records the path (`isa`: empty for the Python frameworks, which
# pick their own) and the CPU model.
# Beside the paper's models, the shapes users bring (bench/shapes.toml; bench/shapes.py is the
# same network in Keras and PyTorch): cifar_cnn (32x32x3 random images, batch norm, global
# average pooling), enhanced_cnn_bn (the Enhanced CNN with batch norm) and wide_mlp
# (784-1024-1024-10). Random inputs of the right shape for cifar_cnn (speed only; written as an
# .npz for sweep), MNIST for the others.
# SPEED_CSV names another output file; NO_BURN_CONV=1 leaves out the sweep-burn-conv rows;
# SWEEP_BIN times another sweep binary (an earlier build, for a before/after in one sitting);
# ONLY_SWEEP=1 leaves out Keras and PyTorch; MODES="2x1" (say) measures only those modes (for
# bench/sweep_projection.py, which projects a whole sweep's wall time from the 2x1 figures);
# ROUNDS=3 (say) measures every framework that many times per mode, interleaved (sweep, Keras,
# PyTorch, then again), and keeps each one's fastest round: on a shared machine whose speed
# swings by a quarter from one run to the next, one round compares moments, not frameworks.
# Usage: bench/train_speed.sh [BATCHES] [MODELS...]   (default 300 batches; the two CNNs)
set -euo pipefail
cd "$(dirname "$0")/.."
batches="${1:-300}"
shift || true
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(simple_cnn enhanced_cnn)
keras="${KERAS_PY:-$HOME/keras-venv/bin/python}"
torch="${TORCH_PY:-$HOME/torch-venv/bin/python}"
data="${SWEEP_DATA_DIR:-$(cd ../shared/data && pwd)}"
bin="${SWEEP_BIN:-target/release/sweep}"
[ -n "${SWEEP_BIN:-}" ] || cargo build --release --locked --quiet
mkdir -p results/bench
csv="${SPEED_CSV:-results/bench/train_speed.csv}"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1 | tr -d '"')
read -r -a isas <<< "${SWEEP_ISAS:-$("$bin" bench isa 2>/dev/null | grep -v portable | tr '\n' ' ')}"
echo "CPU: $cpu; sweep's kernel paths measured: ${isas[*]}" >&2
echo "framework,model,mode,batch,images_per_sec,overlap,isa,cpu" > "$csv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

shapes=" cifar_cnn enhanced_cnn_bn wide_mlp "
is_shape() { [[ "$shapes" == *" $1 "* ]]; }

# Random 32x32x3 images (uint8, channels-last, labels 0-9) for cifar_cnn, as Keras's npz keys.
if [[ " ${models[*]} " == *" cifar_cnn "* ]]; then
  py=$keras; [ -x "$py" ] || py=$torch
  "$py" -c 'import numpy' 2>/dev/null || { echo "cifar_cnn needs $keras or $torch (numpy)" >&2; exit 2; }
  "$py" - "$tmp/cifar.npz" "$((batches * 32))" <<'PY'
import sys, numpy as np
r = np.random.default_rng(0)
n = int(sys.argv[2])
np.savez(sys.argv[1], x_train=r.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
         y_train=r.integers(0, 10, n, dtype=np.uint8),
         x_test=r.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8),
         y_test=r.integers(0, 10, 32, dtype=np.uint8))
PY
fi

# sweep MODEL RUNS THREADS [ENV...]: total images/s of RUNS concurrent runs on THREADS threads each.
sweep_speed() {
  local model=$1 runs=$2 threads=$3 dataset=mnist
  shift 3
  [ "$model" != cifar_cnn ] || dataset=random_cifar
  cat > "$tmp/m.toml" <<TOML
[sweep]
name = "speed"
dataset = "$dataset"
train_subset = $((batches * 32))
test_subset = 32
seeds = [$(seq -s, 1 "$runs")]
[[runs]]
model = "$model"
optimizer = "adam"
epochs = 1
TOML
  if is_shape "$model"; then
    printf '\n[datasets.random_cifar]\ntrain = "cifar.npz"\ntest = "cifar.npz"\n\n' >> "$tmp/m.toml"
    cat bench/shapes.toml >> "$tmp/m.toml"
  fi
  rm -rf "$tmp/results"
  env "$@" SWEEP_DATA_DIR="$data" "$bin" run "$tmp/m.toml" --results "$tmp/results" \
    --jobs "$runs" --threads "$threads" --quiet
  # images_per_sec by its header name: epochs.csv has gained columns before.
  for f in "$tmp"/results/speed/runs/*/epochs.csv; do
    awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "images_per_sec") c = i}
             END {if (!c) exit 1; print $c}' "$f"
  done | awk '{s += $1} END {printf "%.0f,", s}'
}

# anchor PYTHON FRAMEWORK MODEL RUNS THREADS: the same with a reference trainer (the paper's
# models: ../shared/anchors; the other shapes: bench/shapes.py); prints "images/s,overlap".
anchor_speed() {
  local py=$1 framework=$2 model=$3 runs=$4 threads=$5 pids=() cmd
  if is_shape "$model"; then
    cmd=("$py" bench/shapes.py --framework "$framework" --model "$model")
  else
    local script=keras_mnist.py
    [ "$framework" = keras ] || script=torch_mnist.py
    cmd=("$py" "../shared/anchors/$script" --model "$model" --optimizer adam --no-eval
      --data "$data/mnist")
  fi
  for i in $(seq 1 "$runs"); do
    "${cmd[@]}" --batch 32 --threads "$threads" --max-batches "$batches" \
      > "$tmp/anchor$i.json" 2>/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}"
  for i in $(seq 1 "$runs"); do tail -n1 "$tmp/anchor$i.json"; done | python3 -c '
import json, sys
runs = [json.loads(line) for line in sys.stdin]
windows = [r["timed_window_unix"] for r in runs]
shared = min(w[1] for w in windows) - max(w[0] for w in windows)
shortest = min(w[1] - w[0] for w in windows)
print("%.0f,%.2f" % (sum(r["train_images_per_sec"] for r in runs), max(0.0, shared) / shortest))'
}

# keep KEY VALUE: keeps the fastest of the rounds ("images/s," or "images/s,overlap"): the
# machine's neighbours only ever slow a measurement down. A Python 2x1 round whose processes
# overlapped less than 0.9 of the time (one had the machine to itself for a while) counts only
# when no round overlapped more.
declare -A best
overlapped() { local o=${1#*,}; [ -z "$o" ] || awk -v o="$o" 'BEGIN {exit !(o >= 0.9)}'; }
keep() {
  local key=$1 value=$2 old=${best[$1]:-} a=0 b=0
  if [ -z "$old" ]; then best[$key]=$value; return; fi
  if overlapped "$value"; then a=1; fi
  if overlapped "$old"; then b=1; fi
  if [ "$a" -gt "$b" ] || { [ "$a" = "$b" ] && [ "${value%%,*}" -gt "${old%%,*}" ]; }; then
    best[$key]=$value
  fi
}

rounds="${ROUNDS:-1}"
for model in "${models[@]}"; do
  for mode in ${MODES:-1x1 1x2 2x1}; do
    runs=${mode%x*}
    threads=${mode#*x}
    best=()
    for round in $(seq 1 "$rounds"); do
      [ "$rounds" = 1 ] || echo "$model $mode: round $round of $rounds" >&2
      for isa in "${isas[@]}"; do
        keep "sweep,$isa" "$(sweep_speed "$model" "$runs" "$threads" SWEEP_ISA="$isa")"
      done
      if [ -z "${NO_BURN_CONV:-}" ]; then
        keep "sweep-burn-conv," "$(sweep_speed "$model" "$runs" "$threads" SWEEP_CONV=burn)"
      fi
      if [ -x "$keras" ] && [ -z "${ONLY_SWEEP:-}" ]; then
        keep "keras," "$(anchor_speed "$keras" keras "$model" "$runs" "$threads")"
      fi
      if [ -x "$torch" ] && [ -z "${ONLY_SWEEP:-}" ]; then
        keep "pytorch," "$(anchor_speed "$torch" torch "$model" "$runs" "$threads")"
      fi
    done
    for isa in "${isas[@]}"; do
      printf 'sweep,%s,%s,32,%s,%s,"%s"\n' "$model" "$mode" "${best[sweep,$isa]}" "$isa" "$cpu" | tee -a "$csv"
    done
    for framework in sweep-burn-conv keras pytorch; do
      [ -n "${best[$framework,]:-}" ] || continue
      printf '%s,%s,%s,32,%s,,"%s"\n' "$framework" "$model" "$mode" "${best[$framework,]}" "$cpu" | tee -a "$csv"
    done
  done
done
