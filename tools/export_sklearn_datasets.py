#!/usr/bin/env python3
"""Export the two small UCI datasets scikit-learn ships in its wheel, as `sweep`'s examples:

- examples/data/wine-train.csv, wine-test.csv: 178 wines x 13 chemical features, 3 cultivars
  (header row; the label column `class` holds `class_0`, `class_1`, `class_2`).
- examples/data/digits-{train,test}-{x,y}.npy: 1,797 8x8 grey images of handwritten digits,
  10 classes. The source's pixel values 0..16 are stored as uint8 0..255 (x 16, 256 clipped to
  255), so the usual 1/255 scaling of uint8 images applies; labels are uint8.

The split is deterministic and stratified: within each class, in the source's order, every
fourth example (positions 3, 7, 11, ...) is a test example. `.npy` and CSV bytes depend only on
the data, so running this again with any scikit-learn that ships the same files reproduces them
byte for byte.

Usage: python3 tools/export_sklearn_datasets.py [OUT_DIR]   (needs numpy and scikit-learn;
default OUT_DIR: examples/data beside this script's repository root)
"""
import csv
import os
import sys

import numpy as np
from sklearn.datasets import load_digits, load_wine


def split(target):
    """Indices of the training and the test examples: every fourth of each class is a test one."""
    seen = {}
    train, test = [], []
    for i, t in enumerate(target):
        k = seen.get(int(t), 0)
        seen[int(t)] = k + 1
        (test if k % 4 == 3 else train).append(i)
    return train, test


def write_wine(out):
    w = load_wine()
    train, test = split(w.target)
    for name, idx in (("train", train), ("test", test)):
        path = os.path.join(out, f"wine-{name}.csv")
        with open(path, "w", newline="") as f:
            rows = csv.writer(f, lineterminator="\n")
            rows.writerow(list(w.feature_names) + ["class"])
            for i in idx:
                rows.writerow([repr(float(v)) for v in w.data[i]] + [w.target_names[w.target[i]]])
        print(f"{path}: {len(idx)} rows")


def write_digits(out):
    d = load_digits()
    images = np.clip(np.rint(d.images * 16), 0, 255).astype(np.uint8)
    labels = d.target.astype(np.uint8)
    train, test = split(d.target)
    for name, idx in (("train", train), ("test", test)):
        for part, arr in (("x", images[idx]), ("y", labels[idx])):
            path = os.path.join(out, f"digits-{name}-{part}.npy")
            np.save(path, np.ascontiguousarray(arr))
            print(f"{path}: {arr.shape} {arr.dtype}")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "examples", "data")
    os.makedirs(out, exist_ok=True)
    write_wine(out)
    write_digits(out)


if __name__ == "__main__":
    main()
