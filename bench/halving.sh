#!/usr/bin/env bash
# Does successive halving find what the full grid finds, for less? Trains bench/halving.toml
# twice into empty results directories: once as written (rungs [1, 3], keeping 8%), once as
# the full grid (the same manifest without [search.halving], every configuration to epoch 3),
# and compares the configuration each ranks first by final validation accuracy, the epochs
# each trained and their wall times. Writes results/bench/halving.csv.
# Usage: SWEEP_DATA_DIR=../shared/data bench/halving.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp target/release/sweep "$dir/sweep"
sed -e '/^\[search.halving\]/,$d' -e 's/^\[sweep\]$/[sweep]\nepochs = 3/' bench/halving.toml > "$dir/full.toml"
for kind in halving full; do
  manifest=bench/halving.toml
  [ "$kind" = full ] && manifest="$dir/full.toml"
  start=$(date +%s.%N)
  # Exit 1 when some run diverged (a learning rate too high): still a result.
  "$dir/sweep" run "$manifest" --results "$dir/$kind" --quiet || [ $? -eq 1 ]
  end=$(date +%s.%N)
  echo "$start $end" > "$dir/$kind.time"
  "$dir/sweep" report "$dir/$kind/halving" --format json --rank-by val_accuracy > "$dir/$kind.json"
done
mkdir -p results/bench
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs | tr ',' ' ')
python3 - "$dir" "$cpu" > results/bench/halving.csv <<'PY'
import json, sys
d, cpu = sys.argv[1], sys.argv[2]
print("sweep,cpu,configurations,runs,epochs_trained,epochs_share,wall_seconds,best_configuration,best_val_accuracy,full_grid_rank_of_that_configuration")
rows = {}
for kind in ["full", "halving"]:
    r = json.load(open(f"{d}/{kind}.json"))[0]
    start, end = map(float, open(f"{d}/{kind}.time").read().split())
    epochs = sum(x["epochs_done"] for x in r["runs"])
    best = r["configs"][r["ranking"][0]["config"]]
    val = dict((m, s) for m, s in best["metrics"])["val_accuracy"]["mean"]
    rows[kind] = (r, epochs, end - start, best["label"], val)
full_epochs = rows["full"][1]
full_order = [rows["full"][0]["configs"][x["config"]]["label"] for x in rows["full"][0]["ranking"]]
for kind in ["full", "halving"]:
    r, epochs, wall, label, val = rows[kind]
    print(",".join(str(v) for v in [
        kind, cpu, len(r["configs"]), len(r["runs"]), epochs, f"{epochs / full_epochs:.3f}",
        f"{wall:.0f}", label, f"{val:.4f}", full_order.index(label) + 1]))
PY
cat results/bench/halving.csv
