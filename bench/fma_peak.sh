#!/usr/bin/env bash
# The machine's FMA peak in GFLOP/s (bench/fma_peak.c: a register-only FMA loop), per core and on
# all cores at once (one process per core), with 512-bit vectors where the CPU has AVX-512F and
# with 256-bit ones. Prints CSV: vector_bits,processes,gflops,cpu
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1 | tr -d '"')
cores=$(nproc)
widths=(256)
if grep -qw avx512f /proc/cpuinfo; then
  widths=(512 256)
  gcc -O2 -mavx512f -mfma -o "$tmp/peak" bench/fma_peak.c
else
  gcc -O2 -mavx2 -mfma -DNO512 -o "$tmp/peak" bench/fma_peak.c
fi
echo "vector_bits,processes,gflops,cpu"
for bits in "${widths[@]}"; do
  for procs in 1 "$cores"; do
    for i in $(seq 1 "$procs"); do "$tmp/peak" "$bits" 3 > "$tmp/out$i" & done
    wait
    printf '%s,%s,%s,"%s"\n' "$bits" "$procs" "$(cat "$tmp"/out* | awk '{s += $1} END {printf "%.0f", s}')" "$cpu"
    rm -f "$tmp"/out*
  done
done
