#!/usr/bin/env bash
# Builds `sweep --features cuda` (plus wgpu and vulkan) offline, without the CUDA toolkit.
#
# burn-cuda links LLVM through tracel-llvm-bundler, whose build script downloads LLVM from
# GitHub (unreachable here). It skips the download when its install directory already holds the
# sentinel `.tracel-llvm-installed`, and cubecl's build then runs that directory's
# `bin/llvm-config --link-static`. PyPI ships a relocatable LLVM 23.1 static SDK with the NVPTX
# target (mlc-llvm-static + mlc-llvm-static-extra-targets); this script installs it into a cache,
# links it in as the bundler's directory, and builds.
#
# Fragile by nature: the directory name follows the bundler's version in Cargo.lock
# (tracel-llvm-23.1.0-4 for burn 0.22.1). The script refuses to go on when Cargo.lock names
# another one. See docs/backends.md.
#
# Usage: tools/cuda-llvm.sh [OUT_DIR]     (default dist/)
#   writes OUT_DIR/sweep-cuda (stripped) and OUT_DIR/sweep-cuda.xz, and prints their sizes.
# Environment: SWEEP_LLVM_CACHE (default ~/.cache/sweep-cuda-llvm), FEATURES (default
#   cuda,wgpu,vulkan), CARGO_TARGET_DIR as usual.
# At run time the binary needs the NVIDIA driver (libcuda) and, for the LLVM path, libdevice.10.bc
# (CUDA's nvvm/libdevice); `sweep run --devices cuda:0` says so up front when the driver is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-dist}"
cache="${SWEEP_LLVM_CACHE:-$HOME/.cache/sweep-cuda-llvm}"
features="${FEATURES:-cuda,wgpu,vulkan}"
llvm_pkg="23.1.1.post0"
bundler_known="23.1.0-4"

say() { printf 'cuda-llvm: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# 1. The bundler version this checkout locks: its directory name.
bundler=$(awk '/^name = "tracel-llvm-bundler"/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
[ -n "$bundler" ] || die "Cargo.lock has no tracel-llvm-bundler: does this checkout use burn-cuda?"
if [ "$bundler" != "$bundler_known" ]; then
  die "Cargo.lock locks tracel-llvm-bundler $bundler; this script knows $bundler_known. Check that the new
  bundler still skips its download when <data dir>/tracel/tracel-llvm-$bundler/.tracel-llvm-installed
  exists (its build.rs, bundle_cache), that its LLVM major version matches mlc-llvm-static's, then
  update bundler_known (and llvm_pkg) here."
fi

# 2. LLVM's static SDK from PyPI, into the cache (about 1 GB unpacked; once).
sdk="$cache/sdk-$llvm_pkg"
if [ ! -x "$sdk/mlc_llvm_static/static/bin/llvm-config" ]; then
  say "installing mlc-llvm-static $llvm_pkg (+ extra targets, for NVPTX) into $sdk"
  rm -rf "$sdk.part"
  python3 -m pip install --quiet --no-deps --target "$sdk.part" \
    "mlc-llvm-static==$llvm_pkg" "mlc-llvm-static-extra-targets==$llvm_pkg"
  mv "$sdk.part" "$sdk"
fi
static="$sdk/mlc_llvm_static/static"
[ -x "$static/bin/llvm-config" ] || die "$static/bin/llvm-config is missing: the wheel's layout changed"
"$static/bin/llvm-config" --targets-built | grep -qw NVPTX \
  || die "the LLVM SDK in $static lacks the NVPTX target (is mlc-llvm-static-extra-targets installed?)"

# 3. The bundler's directory: the SDK, with the sentinel that says it is installed.
data="${XDG_DATA_HOME:-$HOME/.local/share}"
dir="$data/tracel/tracel-llvm-$bundler"
mkdir -p "$data/tracel"
if [ -L "$dir" ] || [ ! -e "$dir" ]; then
  ln -sfn "$static" "$dir"
elif [ "$(readlink -f "$dir")" != "$(readlink -f "$static")" ]; then
  die "$dir exists and is not this script's link: move it away (it may be a downloaded LLVM)"
fi
touch "$dir/.tracel-llvm-installed"
say "LLVM $("$dir/bin/llvm-config" --version) at $dir"

# 4. The binary. cudarc needs a CUDA version at build time only when it cannot find a toolkit.
say "cargo build --release --locked --features $features --bin sweep"
start=$(date +%s)
CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}" \
  cargo build --release --locked --features "$features" --bin sweep
target="${CARGO_TARGET_DIR:-target}"
say "built in $(( $(date +%s) - start )) s"

# 5. Small enough to carry: no symbols, no line tables; and compressed.
mkdir -p "$out"
cp "$target/release/sweep" "$out/sweep-cuda"
strip "$out/sweep-cuda"
xz -6 -T0 -kf "$out/sweep-cuda"
"$out/sweep-cuda" --version >/dev/null
size() { stat -c %s "$1"; }
printf 'cuda-llvm: %s: %d bytes unstripped, %d stripped, %d as %s\n' \
  "$out/sweep-cuda" "$(size "$target/release/sweep")" "$(size "$out/sweep-cuda")" \
  "$(size "$out/sweep-cuda.xz")" "$out/sweep-cuda.xz" >&2
