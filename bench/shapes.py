#!/usr/bin/env python3
"""Training throughput of the shapes beyond the paper, in Keras/TensorFlow or PyTorch (CPU).

The models are those of bench/shapes.toml (sweep's definitions), built the same way in each
framework: Glorot-uniform kernels and zero biases (Keras's defaults), batch normalization with
Keras's momentum 0.99 and epsilon 0.001 (PyTorch: momentum 0.01), softmax cross-entropy, Adam
(lr 0.001, epsilon 1e-7), batch 32. The inputs are random tensors of the right shape (speed
only): 32x32x3 for cifar_cnn, 28x28x1 otherwise.

  python bench/shapes.py --framework keras --model cifar_cnn --threads 1 --max-batches 300

Prints one JSON object on its last line, with the fields bench/train_speed.sh reads from the
anchors' scripts (train_images_per_sec, timed_window_unix): images/s of the training steps
after the first --warmup batches.
"""
import argparse
import json
import os
import time

MODELS = ["cifar_cnn", "enhanced_cnn_bn", "wide_mlp"]
# Parameter counts (Keras's count_params: batch norm's moving statistics included), checked in
# both frameworks so that neither trains a different network.
EXPECTED = {"cifar_cnn": 66_986, "enhanced_cnn_bn": 476_202, "wide_mlp": 1_863_690}

ap = argparse.ArgumentParser()
ap.add_argument("--framework", required=True, choices=["keras", "torch"])
ap.add_argument("--model", required=True, choices=MODELS)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--max-batches", type=int, default=300)
ap.add_argument("--warmup", type=int, default=20, help="batches excluded from throughput")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()

os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["MKL_NUM_THREADS"] = str(args.threads)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np  # noqa: E402

SHAPE = (32, 32, 3) if args.model == "cifar_cnn" else (28, 28, 1)
N = args.batch * args.max_batches
rng = np.random.default_rng(args.seed)
X = rng.random((N,) + SHAPE, dtype=np.float32)  # channels-last, as Keras reads it
Y = rng.integers(0, 10, N)

# Each entry: ("conv", filters) | ("bn",) | ("max", 2) | ("avg", 2) | ("gap",) | ("flatten",)
# | ("dense", units) | ("dropout", rate); convolutions are 3x3 "same" and linear, batch norm is
# followed by ReLU, hidden dense layers are ReLU, and the last dense layer is softmax.
LAYERS = {
    "cifar_cnn": [("conv", 32), ("bn",), ("conv", 32), ("bn",), ("max", 2),
                  ("conv", 64), ("bn",), ("conv", 64), ("bn",), ("max", 2),
                  ("gap",), ("dense", 10)],
    "enhanced_cnn_bn": [("conv", 32), ("bn",), ("conv", 32), ("bn",), ("max", 2),
                        ("conv", 64), ("bn",), ("conv", 64), ("bn",), ("avg", 2),
                        ("flatten",), ("dense", 128), ("dense", 64), ("dropout", 0.5),
                        ("dense", 10)],
    "wide_mlp": [("flatten",), ("dense", 1024), ("dense", 1024), ("dense", 10)],
}


def keras_model():
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    from keras import layers
    keras.utils.set_random_seed(args.seed)
    spec = LAYERS[args.model]
    inp = keras.Input(shape=SHAPE)
    x = inp
    for i, layer in enumerate(spec):
        kind = layer[0]
        if kind == "conv":
            x = layers.Conv2D(layer[1], 3, padding="same")(x)
        elif kind == "bn":
            x = layers.BatchNormalization(momentum=0.99, epsilon=0.001)(x)
            x = layers.ReLU()(x)
        elif kind == "max":
            x = layers.MaxPooling2D(layer[1])(x)
        elif kind == "avg":
            x = layers.AveragePooling2D(layer[1])(x)
        elif kind == "gap":
            x = layers.GlobalAveragePooling2D()(x)
        elif kind == "flatten":
            x = layers.Flatten()(x)
        elif kind == "dropout":
            x = layers.Dropout(layer[1])(x)
        elif kind == "dense":
            last = i == len(spec) - 1
            x = layers.Dense(layer[1], activation="softmax" if last else "relu")(x)
    model = keras.Model(inp, x)
    assert model.count_params() == EXPECTED[args.model], model.count_params()
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    return keras, model


def run_keras():
    keras, model = keras_model()
    ends = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ends.append(time.perf_counter())

    model.fit(X, Y, batch_size=args.batch, epochs=1, shuffle=True, verbose=0, callbacks=[Timer()])
    return ends, keras.__version__


def torch_model(torch):
    nn = torch.nn
    spec = LAYERS[args.model]
    mods, channels, features = [], SHAPE[2], None
    side = SHAPE[0]
    for i, layer in enumerate(spec):
        kind = layer[0]
        if kind == "conv":
            mods.append(nn.Conv2d(channels, layer[1], 3, padding=1))
            channels = layer[1]
        elif kind == "bn":
            mods += [nn.BatchNorm2d(channels, eps=0.001, momentum=0.01), nn.ReLU()]
        elif kind in ("max", "avg"):
            mods.append((nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(layer[1]))
            side //= layer[1]
        elif kind == "gap":
            mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            features = channels
        elif kind == "flatten":
            mods.append(nn.Flatten())
            features = channels * side * side
        elif kind == "dropout":
            mods.append(nn.Dropout(layer[1]))
        elif kind == "dense":
            mods.append(nn.Linear(features, layer[1]))
            features = layer[1]
            if i < len(spec) - 1:
                mods.append(nn.ReLU())
    model = nn.Sequential(*mods)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    count = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    assert count == EXPECTED[args.model], count
    return model


def run_torch():
    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    model = torch_model(torch)
    opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    x = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))
    y = torch.from_numpy(Y)
    model.train()
    ends = []
    perm = torch.randperm(N)
    for b in range(args.max_batches):
        idx = perm[b * args.batch:(b + 1) * args.batch]
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        ends.append(time.perf_counter())
    return ends, torch.__version__


def main():
    ends, version = run_keras() if args.framework == "keras" else run_torch()
    w = min(args.warmup, len(ends) - 2)
    timed = ends[-1] - ends[w]
    images = args.batch * (len(ends) - 1 - w)
    unix = lambda t: round(time.time() - (time.perf_counter() - t), 3)  # noqa: E731
    print(json.dumps({
        "framework": args.framework, "version": version, "model": args.model,
        "batch": args.batch, "threads": args.threads, "batches_run": len(ends),
        "warmup_batches": w, "train_images_per_sec": round(images / timed, 1),
        "timed_window_unix": [unix(ends[w]), unix(ends[-1])],
    }), flush=True)


if __name__ == "__main__":
    main()
