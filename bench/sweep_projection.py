#!/usr/bin/env python3
"""Projected wall time of a whole sweep on this machine, for sweep and for Keras (and PyTorch),
from measured training speeds: every [[runs]] entry of the manifest trains seeds x epochs x
training images, two runs at a time (`--jobs 2 --threads 1`, the 2x1 mode of
bench/train_speed.sh), at the speed measured for its model in that mode.

Usage: bench/sweep_projection.py MANIFEST SPEED_CSV [SPEED_CSV...] [--isa avx512]

The speeds are bench/train_speed.sh's CSV rows (`framework,model,mode,batch,images_per_sec,...`),
measured with Adam at batch 32; the projection applies them to every optimizer of the manifest
(the optimizer step is a small share of a batch's time for these models) and leaves out the
per-epoch evaluation, which every framework does at a multiple of the training speed.
Prints a Markdown table: the runs of each model, the images they train, the hours each framework
would take, and sweep's speed-up.
"""
import argparse
import csv
import tomllib

MNIST_TRAIN = 60_000


def training_images(sweep: dict) -> int:
    """Images per epoch: the training set less the validation split (a fraction or a count)."""
    n = sweep.get("train_subset", MNIST_TRAIN)
    validation = sweep.get("validation", 0)
    if isinstance(validation, float) and 0 < validation < 1:
        return round(n * (1 - validation))
    if isinstance(validation, int) and validation > 0:
        return n - validation
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("speeds", nargs="+")
    ap.add_argument("--isa", default="avx512", help="sweep's kernel path to project (default avx512)")
    a = ap.parse_args()
    with open(a.manifest, "rb") as f:
        m = tomllib.load(f)
    sweep = m["sweep"]
    seeds = len(sweep.get("seeds", [1]))
    per_epoch = training_images(sweep)
    speed: dict[tuple[str, str], float] = {}
    for path in a.speeds:
        for r in csv.DictReader(open(path)):
            if r["mode"] != "2x1" or (r["framework"] == "sweep" and r["isa"] != a.isa):
                continue
            speed[(r["framework"], r["model"])] = float(r["images_per_sec"])
    images: dict[str, int] = {}
    runs: dict[str, int] = {}
    for entry in m.get("runs", []):
        model = entry["model"]
        epochs = entry.get("epochs", sweep.get("epochs", 1))
        images[model] = images.get(model, 0) + seeds * epochs * per_epoch
        runs[model] = runs.get(model, 0) + seeds
    frameworks = [f for f in ("sweep", "keras", "pytorch") if all((f, mo) in speed for mo in images)]
    missing = sorted({mo for mo in images for f in ("sweep", "keras") if (f, mo) not in speed})
    if missing:
        raise SystemExit(f"no 2x1 speed for {', '.join(missing)} in {', '.join(a.speeds)}")
    head = "| model | runs | images | " + " | ".join(f"{f} (h)" for f in frameworks)
    print(head + " | Keras / sweep |")
    print("|---|---:|---:|" + "---:|" * len(frameworks) + "---:|")
    total = {f: 0.0 for f in frameworks}
    for model, n in images.items():
        hours = {f: n / speed[(f, model)] / 3600 for f in frameworks}
        for f in frameworks:
            total[f] += hours[f]
        cells = " | ".join(f"{hours[f]:.2f}" for f in frameworks)
        print(f"| {model} | {runs[model]} | {n:,} | {cells} | {hours['keras'] / hours['sweep']:.2f} |")
    cells = " | ".join(f"**{total[f]:.2f}**" for f in frameworks)
    print(f"| all | {sum(runs.values())} | {sum(images.values()):,} | {cells} | "
          f"**{total['keras'] / total['sweep']:.2f}** |")


if __name__ == "__main__":
    main()
