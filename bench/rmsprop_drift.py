#!/usr/bin/env python3
"""sweep against Keras on the Enhanced CNN with RMSprop, paper protocol (60,000 training images,
batch 32), epoch by epoch: the training loss and accuracy of each seed, from

  sweep:  results/paper (seed 1, the first 20 of its 80 epochs) and results/rmsprop-drift
          (seeds 2 and 3, experiments/rmsprop-drift.toml)
  Keras:  results/bench/keras-curve-enhanced_cnn-rmsprop-seed*.csv (bench/keras_curve.py)

Writes results/bench/rmsprop-drift.csv (framework, seed, epoch, train_loss, train_accuracy) and
prints, for the epochs given (default 8 and 20), each side's values, mean and standard deviation,
and Welch's t-test of the difference when SciPy is installed.
Usage: python3 bench/rmsprop_drift.py [EPOCH...]
"""
import csv
import glob
import json
import os
import statistics
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
os.chdir(root)
epochs_shown = [int(e) for e in sys.argv[1:]] or [8, 20]

rows = []  # (framework, seed, epoch, loss, accuracy)
for d in ["results/paper/runs", "results/rmsprop-drift/runs"]:
    for run_dir in sorted(glob.glob(f"{d}/*")):
        with open(f"{run_dir}/run.json") as f:
            run = json.load(f)
        if run["model"] != "enhanced_cnn" or run["optimizer"]["kind"] != "rmsprop":
            continue
        with open(f"{run_dir}/epochs.csv") as f:
            for r in csv.DictReader(f):
                rows.append(("sweep", run["seed"], int(r["epoch"]),
                             float(r["train_loss"]), float(r["train_accuracy"])))
for path in sorted(glob.glob("results/bench/keras-curve-enhanced_cnn-rmsprop-seed*.csv")):
    seed = int(path.rsplit("seed", 1)[1].removesuffix(".csv"))
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append(("keras", seed, int(r["epoch"]) + 1, float(r["loss"]), float(r["accuracy"])))

with open("results/bench/rmsprop-drift.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["framework", "seed", "epoch", "train_loss", "train_accuracy"])
    w.writerows(sorted(rows))

try:
    from scipy.stats import ttest_ind
except ImportError:
    ttest_ind = None
for e in epochs_shown:
    side = {}
    for fw in ["sweep", "keras"]:
        side[fw] = sorted((s, l, a) for f, s, ep, l, a in rows if f == fw and ep == e)
        losses = [l for _, l, _ in side[fw]]
        if not losses:
            print(f"epoch {e}, {fw}: no seed has reached it")
            continue
        each = ", ".join(f"seed {s} {l:.4f} ({a:.2%})" for s, l, a in side[fw])
        sd = f" ± {statistics.stdev(losses):.4f}" if len(losses) > 1 else ""
        print(f"epoch {e}, {fw}: training loss {statistics.mean(losses):.4f}{sd} "
              f"(n = {len(losses)}; {each})")
    a = [l for _, l, _ in side["sweep"]]
    b = [l for _, l, _ in side["keras"]]
    if ttest_ind and len(a) > 1 and len(b) > 1:
        t = ttest_ind(a, b, equal_var=False)
        print(f"epoch {e}: sweep - keras = {statistics.mean(a) - statistics.mean(b):+.4f}, "
              f"Welch p = {t.pvalue:.3f}")
print("wrote results/bench/rmsprop-drift.csv")
