#!/usr/bin/env python3
"""Per-epoch learning curve of one of the paper's models trained by Keras, for setting beside
sweep's `epochs.csv`: the model, initialisers and optimizer of ../shared/anchors/keras_mnist.py,
the paper's protocol (all 60,000 training images, shuffled every epoch, batch 32, validated on
the 10,000 test images).

Writes one CSV row per epoch as it finishes (Keras's CSVLogger: epoch from 0, accuracy, loss,
val_accuracy, val_loss), so a long run can be watched and an interrupted one keeps its epochs.

Usage (the venv of ../shared/anchors/README.md):
  $HOME/keras-venv/bin/python bench/keras_curve.py --model enhanced_cnn --optimizer rmsprop \
      --epochs 20 --seed 2 --threads 1 --out results/bench/keras-curve-enhanced_cnn-rmsprop-seed2.csv
Every other option is keras_mnist.py's (--batch, --data, --dropout, ...).
"""
import importlib.util
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
anchor_path = os.path.join(here, "..", "..", "shared", "anchors", "keras_mnist.py")

# --out is ours; everything else goes to the anchor's own argument parser.
argv = sys.argv[1:]
if "--out" not in argv or argv.index("--out") + 1 >= len(argv):
    sys.exit("keras_curve.py: --out FILE.csv is required (see the docstring for an example)")
i = argv.index("--out")
out = argv[i + 1]
sys.argv = [anchor_path] + argv[:i] + argv[i + 2:]
if not os.path.exists(anchor_path):
    sys.exit(f"keras_curve.py: {anchor_path} not found (../shared beside the repository)")

spec = importlib.util.spec_from_file_location("keras_mnist", anchor_path)
anchor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(anchor)  # parses the arguments, imports TensorFlow and Keras
args, keras = anchor.args, anchor.keras

opt_name = args.optimizer or ("sgd" if args.model == "simple_nn" else "adam")
keras.utils.set_random_seed(args.seed)
xtr, ytr, xte, yte = anchor.load_mnist(args.data)
model = anchor.build(args.model, args.dropout)
model.compile(optimizer=anchor.make_opt(opt_name), loss="categorical_crossentropy",
              metrics=["accuracy"])
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
print(f"keras {keras.__version__}, {args.model} + {opt_name}, seed {args.seed}, "
      f"{args.epochs} epochs -> {out}", flush=True)
model.fit(xtr, ytr, batch_size=args.batch, epochs=args.epochs, shuffle=True, verbose=2,
          validation_data=(xte, yte), callbacks=[keras.callbacks.CSVLogger(out)])
