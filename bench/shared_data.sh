#!/usr/bin/env bash
# Memory of workers that map the shared prepared dataset (docs/benchmarks.md, "Shared prepared
# data"). Writes results/bench/shared_data.csv.
#
# 1. MNIST, two workers at once (simple_nn and simple_cnn, Adam, 1 epoch, the full training
#    set): every worker's resident memory is sampled every 0.1 s from /proc/<pid>/smaps_rollup
#    (peak Rss, and Pss: shared pages split between the processes mapping them). With OLD_BIN=
#    a binary built before the prepared file, the same runs with it, side by side.
# 2. A dataset larger than two private copies could hold: 60,000 random 3x80x80 uint8 images
#    (1.15 GB), two workers in a memory cgroup (v1) limited to 2 GiB, page cache dropped first
#    so the workers fault the data in themselves. Two private copies would be 2.3 GB of bytes
#    alone (4.6 GB each as the f32 copy the old loader made). Needs root for the cgroup.
#
# Usage: SWEEP_DATA_DIR=../shared/data [OLD_BIN=/path/to/old/sweep] bench/shared_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=$(mktemp -d)/sweep
cp target/release/sweep "$bin"
dir=$(mktemp -d)
trap 'rm -rf "$dir" "$(dirname "$bin")"' EXIT
export SWEEP_CACHE_DIR="$dir/cache"
out=results/bench/shared_data.csv
mkdir -p results/bench
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "cpu,binary,case,workers,peak_rss_mib_each,peak_pss_mib_sum,cgroup_limit_mib,cgroup_peak_mib,status" > "$out"

# Poll the `sweep worker` processes until the command ends; print "max rss each, max pss sum".
sample() {
  python3 - "$@" <<'PY'
import os, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
rss, pss = {}, 0
while p.poll() is None:
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:2] != [b"sweep", b"worker"]:
                continue
            kv = dict(l.split(":", 1) for l in open(f"/proc/{pid}/smaps_rollup").read().splitlines()[1:])
        except OSError:
            continue
        r, s = int(kv["Rss"].split()[0]), int(kv["Pss"].split()[0])
        rss[pid] = max(rss.get(pid, 0), r)
        total += s
    pss = max(pss, total)
    time.sleep(0.1)
each = max(rss.values()) // 1024 if rss else 0
print(f"{each},{pss // 1024},{p.returncode}")
PY
}

cat > "$dir/mnist.toml" <<'TOML'
[sweep]
name = "mnist"
dataset = "mnist"
[grid]
model = ["simple_nn", "simple_cnn"]
optimizer = ["adam"]
epochs = [1]
TOML
for b in "$bin" ${OLD_BIN:+"$OLD_BIN"}; do
  name=$([ "$b" = "$bin" ] && echo shared || echo "old ($(basename "$(dirname "$b")"))")
  rm -rf "$dir/results"
  r=$(sample "$b" run "$dir/mnist.toml" --results "$dir/results" --jobs 2 --quiet)
  IFS=, read -r each pss code <<<"$r"
  echo "\"$cpu\",$name,mnist 2 workers,2,$each,$pss,,,$code" | tee -a "$out"
done

# The large dataset.
python3 - "$dir" <<'PY'
import os, sys, random
d = sys.argv[1]
n, h, w, c = 60000, 80, 80, 3
def idx(path, dims, payload):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, len(dims)]) + b"".join(x.to_bytes(4, "big") for x in dims))
        f.write(payload)
random.seed(1)
idx(f"{d}/tx", [n, h, w, c], os.urandom(n * h * w * c))
idx(f"{d}/ty", [n], bytes(random.randrange(10) for _ in range(n)))
idx(f"{d}/vx", [1000, h, w, c], os.urandom(1000 * h * w * c))
idx(f"{d}/vy", [1000], bytes(random.randrange(10) for _ in range(1000)))
PY
cat > "$dir/big.toml" <<TOML
[sweep]
name = "big"
dataset = "big"
seeds = [1, 2]
[datasets.big]
train = ["$dir/tx", "$dir/ty"]
test = ["$dir/vx", "$dir/vy"]
[models.mlp]
layers = [{ type = "flatten" }, { type = "dense", units = 16, activation = "relu" }, { type = "dense", units = 10, activation = "softmax" }]
[grid]
model = ["mlp"]
optimizer = ["adam"]
epochs = [1]
TOML
"$bin" data inspect "$dir/big.toml" > /dev/null   # prepared outside the cgroup
cg=/sys/fs/cgroup/memory/sweep-bench-$$
limit=$((2048 * 1024 * 1024))
if mkdir "$cg" 2>/dev/null; then
  echo "$limit" > "$cg/memory.limit_in_bytes"
  sync; echo 1 > /proc/sys/vm/drop_caches || true
  r=$(sample sh -c "echo \$\$ > $cg/cgroup.procs && exec $bin run $dir/big.toml --results $dir/results --jobs 2 --quiet")
  IFS=, read -r each pss code <<<"$r"
  peak=$(( $(cat "$cg/memory.max_usage_in_bytes") / 1024 / 1024 ))
  fails=$(cat "$cg/memory.failcnt")
  echo "\"$cpu\",shared,1.15 GB uint8 dataset 2 workers,2,$each,$pss,$((limit / 1024 / 1024)),$peak,$code (limit hit $fails times)" | tee -a "$out"
  rmdir "$cg"
else
  echo "no memory cgroup (needs root and cgroup v1 memory): the large-dataset case is skipped" >&2
fi
cat "$out"
