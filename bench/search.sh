#!/usr/bin/env bash
# Does a search that learns (TPE) find a good configuration in fewer epochs than random or Sobol
# points? On bench/search.toml's space: a large random search (64 configurations) sets the
# target, the best validation accuracy it found minus the noise of the seeds (two standard
# deviations of that configuration over 3 seeds); then random, Sobol and TPE (batches of 4
# after 4 Sobol points) search 24 configurations each, with 10 search seeds, and each is
# scored by the epochs it trained until its first configuration reached the target (or "not
# reached" within 24), and by the best validation accuracy it found.
# Writes results/bench/search.csv (one row per search) and results/bench/search-summary.csv.
# It counts epochs, not seconds: SWEEP_BIN=target/debug/sweep skips the release build.
# Usage: SWEEP_DATA_DIR=../shared/data bench/search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SWEEP_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --locked --quiet
  bin=target/release/sweep
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/sweep"
manifest() { # name method samples seed [batch]
  sed "s/^name = \"bench-search\"/name = \"$1\"/" bench/search.toml
  printf '\n[search]\nmethod = "%s"\nsamples = %s\nseed = %s\n' "$2" "$3" "$4"
  [ -n "${5:-}" ] && printf 'batch = %s\n' "$5"
  true
}
run() { # name method samples seed [batch]
  manifest "$@" > "$dir/$1.toml"
  "$dir/sweep" run "$dir/$1.toml" --results "$dir/results" --quiet || [ $? -eq 1 ]
}
echo "== the reference: 96 random configurations"
run reference random 96 1000
"$dir/sweep" report "$dir/results/reference" --format json > "$dir/reference.json"
# Its best configuration over 3 seeds: the noise a search result is compared within.
python3 - "$dir" <<'PY' > "$dir/best.toml"
import json, sys
r = json.load(open(sys.argv[1] + "/reference.json"))[0]
best = r["configs"][r["ranking"][0]["config"]]
s = best["settings"]
print(open("bench/search.toml").read().replace('name = "bench-search"', 'name = "best"').replace("seeds = [1]", "seeds = [1, 2, 3]").split("[grid]")[0])
print("[[runs]]")
for k in ["model", "optimizer", "width", "dropout", "lr", "beta2"]:
    v = s[k]
    print(f"{k} = {json.dumps(v)}")
PY
"$dir/sweep" run "$dir/best.toml" --results "$dir/results" --quiet
"$dir/sweep" report "$dir/results/best" --format json > "$dir/best.json"
for seed in 1 2 3 4 5 6 7 8 9 10; do
  for method in random sobol tpe; do
    echo "== $method, search seed $seed"
    if [ "$method" = tpe ]; then run "$method-$seed" tpe 24 "$seed" 4; else run "$method-$seed" "$method" 24 "$seed"; fi
    "$dir/sweep" report "$dir/results/$method-$seed" --format json > "$dir/$method-$seed.json"
    if [ "$method" = tpe ]; then
      cp "$dir/results/$method-$seed/search.json" "$dir/$method-$seed.order.json"
    else
      "$dir/sweep" plan "$dir/$method-$seed.toml" --format json > "$dir/$method-$seed.order.json"
    fi
  done
done
mkdir -p results/bench
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs | tr ',' ' ')
python3 - "$dir" "$cpu" <<'PY'
import json, statistics, sys
d, cpu = sys.argv[1], sys.argv[2]
val = lambda c: dict((m, s) for m, s in c["metrics"])["val_accuracy"]
ref = json.load(open(f"{d}/reference.json"))[0]
best_ref = val(ref["configs"][ref["ranking"][0]["config"]])["mean"]
b = val(json.load(open(f"{d}/best.json"))[0]["configs"][0])
noise = 2 * (b["std"] or 0.0)
target = best_ref - noise
rows, summary = [], {}
for seed in range(1, 11):
    for method in ["random", "sobol", "tpe"]:
        name = f"{method}-{seed}"
        r = json.load(open(f"{d}/{name}.json"))[0]
        by_label = {c["label"]: c for c in r["configs"]}
        order = json.load(open(f"{d}/{name}.order.json"))
        if method == "tpe":
            labels = [l for batch in order["batches"] for l in batch["labels"]]
        else:
            labels = []
            for run in order if isinstance(order, list) else order["runs"]:
                if run["label"] not in labels:
                    labels.append(run["label"])
        epochs, reached, best = 0, None, 0.0
        for label in labels:
            c = by_label[label]
            epochs += c["epochs"] * c["n"]
            v = (val(c) or {}).get("mean") if val(c) else None
            if v is not None:
                best = max(best, v)
                if reached is None and v >= target:
                    reached = epochs
        rows.append((method, seed, len(labels), reached, best))
        summary.setdefault(method, []).append((reached, best))
with open("results/bench/search.csv", "w") as f:
    f.write("method,search_seed,configurations,epochs_to_target,best_val_accuracy,target,reference_best,noise,cpu\n")
    for m, s, n, e, bv in rows:
        f.write(f"{m},{s},{n},{'' if e is None else e},{bv:.4f},{target:.4f},{best_ref:.4f},{noise:.4f},{cpu}\n")
with open("results/bench/search-summary.csv", "w") as f:
    f.write("method,searches,reached_target,median_epochs_to_target,mean_best_val_accuracy,worst_best_val_accuracy,cpu\n")
    for m, xs in summary.items():
        got = sorted(e for e, _ in xs if e is not None)
        # A search that never reached the target counts as the slowest: the median over all searches.
        allv = sorted([e for e, _ in xs if e is not None]) + [float("inf")] * sum(e is None for e, _ in xs)
        medall = statistics.median_low(allv)
        f.write(f"{m},{len(xs)},{len(got)},{'not reached' if medall == float('inf') else medall},{statistics.mean(b for _, b in xs):.4f},{min(b for _, b in xs):.4f},{cpu}\n")
print(open("results/bench/search-summary.csv").read())
print(f"target: {target:.4f} (reference best {best_ref:.4f} - 2 x seed std {b['std'] or 0:.4f})")
PY
