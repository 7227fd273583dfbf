#!/usr/bin/env python3
"""Common random numbers, measured: are differences between configurations at the same seed
tighter than between independent draws? Reads the finished runs of a sweep with several seeds
(default results/ci-seeds) and, for every pair of configurations, compares the variance of the
paired differences (same seed: same data order, and the same initial weights when the
architecture is the same) with that of the differences across different seeds (which share
nothing, as independent streams would). Writes results/bench/crn.csv and prints a summary.

Usage: bench/crn.py [RESULTS/SWEEP] [METRIC]   (metric: a summary.json field of `last`, default
val_accuracy). Python 3 standard library only.
"""
import csv
import itertools
import json
import os
import statistics
import sys

sweep = sys.argv[1] if len(sys.argv) > 1 else "results/ci-seeds"
metric = sys.argv[2] if len(sys.argv) > 2 else "val_accuracy"
runs = {}
for d in sorted(os.listdir(os.path.join(sweep, "runs"))):
    p = os.path.join(sweep, "runs", d)
    try:
        s = json.load(open(os.path.join(p, "summary.json")))
        r = json.load(open(os.path.join(p, "run.json")))
    except FileNotFoundError:
        continue
    if s["status"] != "done":
        continue
    runs.setdefault((r["label"], r["model"]), {})[r["seed"]] = s["last"][metric]

rows = []
for (a, ma), (b, mb) in itertools.combinations(sorted(runs), 2):
    seeds = sorted(set(runs[(a, ma)]) & set(runs[(b, mb)]))
    if len(seeds) < 3:
        continue
    xa, xb = runs[(a, ma)], runs[(b, mb)]
    paired = [xa[s] - xb[s] for s in seeds]
    crossed = [xa[s] - xb[t] for s in seeds for t in seeds if s != t]
    vp, vc = statistics.variance(paired), statistics.variance(crossed)
    rows.append({
        "a": a, "b": b, "same_architecture": ma == mb, "seeds": len(seeds),
        "var_paired": vp, "var_crossed": vc,
        "ratio": vc / vp if vp > 0 else float("inf"),
    })

os.makedirs("results/bench", exist_ok=True)
with open("results/bench/crn.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["a"])
    w.writeheader()
    w.writerows(rows)
for same in (True, False):
    sel = [r for r in rows if r["same_architecture"] == same and r["var_paired"] > 0]
    if not sel:
        continue
    ratios = sorted(r["ratio"] for r in sel)
    tighter = sum(r["var_paired"] < r["var_crossed"] for r in sel)
    print(
        f"{'same' if same else 'different'} architecture: {len(sel)} pairs, paired differences "
        f"tighter in {tighter}; variance ratio crossed/paired median {statistics.median(ratios):.2f} "
        f"(mean of variances: paired {statistics.mean(r['var_paired'] for r in sel):.3e}, "
        f"crossed {statistics.mean(r['var_crossed'] for r in sel):.3e})"
    )
