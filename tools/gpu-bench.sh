#!/usr/bin/env bash
# The paper's models on a GPU, in one device call that fits 8 minutes (docs/backends.md).
#
#   tools/gpu-bench.sh prepare [BINARY]   here: packs dist/gpu/ (what the device call carries):
#       the stripped binary (default: tools/cuda-llvm.sh's dist/sweep-cuda, cuda+wgpu+vulkan),
#       xz-compressed; Debian's Vulkan loader (libvulkan1, the device machine has none); MNIST.
#       Checks the whole fits the 64 MiB a call carries.
#   tools/gpu-bench.sh device [--dry-run] there (carry dist/gpu): unpacks, then trains bench/gpu.toml
#       (four models, one epoch) on each GPU path the binary and the machine have (cuda:0,
#       vulkan:0, wgpu:0) and on 16 CPU threads, then bench/gpu-paper.toml (one full paper-seeds
#       configuration, 3 seeds x 20 epochs, time-boxed) on the fastest GPU path. Writes
#       $OUT/gpu.csv (device, path, model, images/s, accuracy) and the logs.
#       --dry-run: here, on Mesa's software Vulkan (lavapipe), 512 training images, 2 CPU threads:
#       checks the script end to end without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"; shift || true
pack=dist/gpu
limit=$((64 * 1024 * 1024))
say() { printf 'gpu-bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

prepare() {
  local bin="${1:-dist/sweep-cuda}"
  [ -x "$bin" ] || die "$bin is missing: run tools/cuda-llvm.sh (or name a stripped wgpu/vulkan build)"
  rm -rf "$pack" && mkdir -p "$pack/data/mnist"
  cp "$bin" "$pack/sweep" && strip "$pack/sweep" && xz -6 -T0 -f "$pack/sweep"
  # The Vulkan loader, as Debian packs it (unpacked on the device with dpkg -x).
  (cd "$pack" && apt-get download libvulkan1 >/dev/null 2>&1) \
    || die "apt-get download libvulkan1 failed (Debian's registry unreachable?)"
  local data="${SWEEP_DATA_DIR:-../shared/data}"
  cp "$data"/mnist/*-ubyte.gz "$pack/data/mnist/" 2>/dev/null || cp "$data"/mnist/* "$pack/data/mnist/"
  # What travels: the pack and the working tree (tracked and untracked files git does not ignore).
  local packed tree
  packed=$(du -sb "$pack" | cut -f1)
  tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  du -ab "$pack" | sort -k2 >&2
  [ $((packed + tree)) -le "$limit" ] \
    || die "$pack ($packed bytes) and the working tree ($tree bytes) are over the 64 MiB a call carries"
  say "$pack: $packed bytes + the working tree's $tree = $((packed + tree)) of $limit"
  say "on the device: run(carry=[\"$pack\"], timeout_s=480, command=\"tools/gpu-bench.sh device\")"
}

device() {
  local dry=0; [ "${1:-}" = --dry-run ] && dry=1
  local out="${OUT:-/tmp/gpu-bench-out}"; mkdir -p "$out"
  local work=/tmp/gpu-bench; rm -rf "$work"; mkdir -p "$work"
  if [ "$dry" = 1 ]; then
    cp "$pack/sweep.xz" "$work/" 2>/dev/null || die "run prepare first"
  else
    cp "$pack/sweep.xz" "$work/"
    for f in "$pack"/libvulkan1_*.deb; do dpkg -x "$f" /; done; ldconfig
    local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -e "$icd" ] && export VK_DRIVER_FILES="$icd"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$out/nvidia-smi.txt" 2>&1 || true
  fi
  xz -d "$work/sweep.xz"; chmod +x "$work/sweep"; local sweep="$work/sweep"
  export SWEEP_DATA_DIR="$PWD/$pack/data" SWEEP_OFFLINE=1
  local cores; cores=$(nproc)
  local subset="" cpu_threads=16
  if [ "$dry" = 1 ]; then subset="train_subset = 512"; cpu_threads=2; fi
  sed "s/^seeds = \[1\]$/seeds = [1]\n$subset/" bench/gpu.toml >"$work/gpu.toml"
  sed "s/^seeds = \[1, 2, 3\]$/seeds = [1, 2, 3]\n$subset/" bench/gpu-paper.toml >"$work/gpu-paper.toml"
  local cpu; cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
  local gpu; gpu=$(head -1 "$out/nvidia-smi.txt" 2>/dev/null | cut -d, -f1 || true)
  [ -n "$gpu" ] || gpu="software Vulkan (lavapipe)"
  echo "device,path,model,images_per_sec,val_accuracy,seconds" >"$out/gpu.csv"
  # Each GPU path once: its first GPU, else (wgpu, vulkan) its default adapter.
  local paths=() best=""
  for family in cuda vulkan wgpu; do
    for d in "$family:0" "$family"; do
      [ "$d" = cuda ] && continue
      [ "$dry" = 1 ] && [ "$d" != "$family" ] && continue   # lavapipe is no discrete GPU
      local log="$out/run-${d/:/_}.log"
      if "$sweep" run "$work/gpu.toml" --devices "$d" --results "$work/probe-$d" --quiet >"$log" 2>&1; then
        paths+=("$d"); break
      fi
      say "$d: not available here: $( (grep -m1 -E 'failed:|^error: device' "$log" || tail -1 "$log") | sed 's/^ *//')"
    done
  done
  collect() { # results-dir device path
    python3 - "$@" <<'PY' >>"$out/gpu.csv"
import json, pathlib, sys
root, device, path = sys.argv[1:4]
for s in sorted(pathlib.Path(root).glob("*/runs/*/summary.json")):
    j = json.loads(s.read_text())
    if j.get("status") != "done":
        continue
    run = json.loads((s.parent / "run.json").read_text())
    model = run["model"]
    last = j["last"]
    print(f'"{device}",{path},{model},{last["images_per_sec"]:.0f},{j["best_val_accuracy"]:.4f},{j["wall_seconds"]:.1f}')
PY
  }
  for d in "${paths[@]}"; do
    collect "$work/probe-$d" "$gpu" "$d"
  done
  "$sweep" run "$work/gpu.toml" --devices cpu --jobs 1 --threads "$cpu_threads" \
    --results "$work/cpu" --quiet >"$out/run-cpu.log" 2>&1 || say "cpu run failed"
  collect "$work/cpu" "$cpu ($cpu_threads threads)" "cpu"
  # The fastest GPU path on the Enhanced CNN trains a full paper-seeds configuration.
  best=$(awk -F, 'NR>1 && $2!="cpu" && $3=="enhanced_cnn" {print $4, $2}' "$out/gpu.csv" | sort -rn | head -1 | cut -d' ' -f2)
  # A dry run on a machine whose GPU paths all failed still exercises this stage, on the CPU.
  [ -z "$best" ] && [ "$dry" = 1 ] && best=cpu
  if [ -n "$best" ]; then
    local box=210; [ "$dry" = 1 ] && box=120
    timeout "$box" "$sweep" run "$work/gpu-paper.toml" --devices "$best" --per-gpu 3 \
      --results "$work/paper" --quiet >"$out/run-paper.log" 2>&1 || say "paper configuration stopped after ${box}s (partial: projected below)"
    python3 - "$work/paper" "$best" <<'PY' | tee "$out/paper.txt"
import csv, pathlib, sys
root, path = sys.argv[1:3]
epochs, secs = 0, 0.0
for e in pathlib.Path(root).glob("*/runs/*/epochs.csv"):
    rows = list(csv.DictReader(open(e)))
    epochs += len(rows); secs += sum(float(r["seconds"]) for r in rows)
if epochs:
    per = secs / epochs
    print(f"{path}: {epochs} of 60 epochs of Enhanced CNN + Adam, {per:.1f} s per epoch per run (3 at once): "
          f"the configuration in {20 * per / 60:.1f} min")
else:
    print(f"{path}: no epoch finished")
PY
  fi
  cat "$out/gpu.csv"
}

case "$mode" in
  prepare) prepare "$@" ;;
  device) device "$@" ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
