"""The paper's four MNIST models in Keras 3 (TensorFlow backend), as a `sweep` program.

    python3 train.py --data ../shared/data/mnist --model enhanced_cnn --optimizer adam \
        --lr 0.001 --epochs 20 --seed 1 --validation 0.1 --threads 1

Keras's own initialisers, defaults and `categorical_crossentropy`; the optimizers as the paper
used them (`sgd`, `sgd` with `--momentum`, `rmsprop`, `adam`, each with `--lr`). Validation is
the last `--validation` fraction of the training images (Keras's `validation_split`), or the
test set with `--validation test`; the test set is evaluated after every epoch.

The contract (docs/programs.md): one JSON object per epoch appended to $SWEEP_METRICS; the model
and optimizer state after each epoch in $SWEEP_CHECKPOINT_DIR (`epoch-<k>.keras`, the last two
kept); with $SWEEP_RESUME_EPOCH it loads that epoch's file and goes on; it stops after
$SWEEP_UNTIL_EPOCH. Every epoch draws its shuffle and dropout from the seed and the epoch alone,
so a resumed run is the run it would have been.
"""
import argparse, gzip, json, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True, help="directory with MNIST's IDX .gz files")
ap.add_argument("--model", required=True, choices=["simple_nn", "enhanced_nn", "simple_cnn", "enhanced_cnn"])
ap.add_argument("--optimizer", required=True, choices=["sgd", "rmsprop", "adam"])
ap.add_argument("--lr", type=float, required=True)
ap.add_argument("--momentum", type=float, default=0.0)
ap.add_argument("--epochs", type=int, required=True)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--validation", default="0.1", help="a fraction of the training set, or `test`")
ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["OMP_NUM_THREADS"] = str(a.threads)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(a.threads)
tf.config.threading.set_inter_op_parallelism_threads(a.threads)
import keras  # noqa: E402
from keras import layers  # noqa: E402


def idx(name):
    with gzip.open(os.path.join(a.data, name + ".gz")) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


eye = np.eye(10, dtype="float32")
x = idx("train-images-idx3-ubyte").astype("float32")[..., None] / 255.0
y = eye[idx("train-labels-idx1-ubyte")]
xte = idx("t10k-images-idx3-ubyte").astype("float32")[..., None] / 255.0
yte = eye[idx("t10k-labels-idx1-ubyte")]
if a.validation == "test":
    xtr, ytr, xva, yva = x, y, xte, yte
else:
    # Keras's validation_split: the last fraction, before any shuffling.
    n = len(x) - int(len(x) * float(a.validation))
    xtr, ytr, xva, yva = x[:n], y[:n], x[n:], y[n:]


def build(name):
    inp = keras.Input(shape=(28, 28, 1))
    if name == "simple_nn":
        h = layers.Dense(32, activation="relu")(layers.Flatten()(inp))
    elif name == "enhanced_nn":
        h = layers.Dense(128, activation="sigmoid")(layers.Flatten()(inp))
        h = layers.Dense(64, activation="sigmoid")(h)
    elif name == "simple_cnn":
        h = layers.Conv2D(32, 3, activation="relu")(inp)
        h = layers.MaxPooling2D(2)(h)
        h = layers.Conv2D(32, 3, activation="relu")(h)
        h = layers.MaxPooling2D(2)(h)
        h = layers.Dense(100, activation="relu")(layers.Flatten()(h))
    else:
        h = layers.Conv2D(32, 3, activation="relu", padding="same")(inp)
        h = layers.Conv2D(32, 3, activation="relu", padding="same")(h)
        h = layers.MaxPooling2D(2)(h)
        h = layers.Conv2D(64, 3, activation="relu", padding="same")(h)
        h = layers.Conv2D(64, 3, activation="relu", padding="same")(h)
        h = layers.AveragePooling2D(2)(h)
        h = layers.Dense(128, activation="relu")(layers.Flatten()(h))
        h = layers.Dense(64, activation="relu")(h)
        h = layers.Dropout(0.5)(h)
    return keras.Model(inp, layers.Dense(10, activation="softmax")(h))


def optimizer():
    if a.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=a.lr, momentum=a.momentum)
    if a.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=a.lr, momentum=a.momentum)
    return keras.optimizers.Adam(learning_rate=a.lr)


ckpt = os.environ.get("SWEEP_CHECKPOINT_DIR")
start = int(os.environ.get("SWEEP_RESUME_EPOCH", "0"))
until = int(os.environ.get("SWEEP_UNTIL_EPOCH", "0")) or a.epochs
if start:
    model = keras.models.load_model(os.path.join(ckpt, f"epoch-{start}.keras"))
else:
    keras.utils.set_random_seed(a.seed)
    model = build(a.model)
    model.compile(optimizer=optimizer(), loss="categorical_crossentropy", metrics=["accuracy"])

for epoch in range(start + 1, min(a.epochs, until) + 1):
    t0 = time.time()
    # This epoch's shuffle and dropout masks from the seed and the epoch alone.
    keras.utils.set_random_seed(a.seed * 100003 + epoch)
    order = np.random.RandomState(a.seed * 100003 + epoch).permutation(len(xtr))
    h = model.fit(xtr[order], ytr[order], batch_size=a.batch, epochs=1, shuffle=False, verbose=0)
    seconds = time.time() - t0
    val_loss, val_acc = model.evaluate(xva, yva, batch_size=1000, verbose=0)
    test_loss, test_acc = model.evaluate(xte, yte, batch_size=1000, verbose=0)
    if ckpt:
        model.save(os.path.join(ckpt, f"epoch-{epoch}.keras"))
        old = os.path.join(ckpt, f"epoch-{epoch - 2}.keras")
        if os.path.exists(old):
            os.remove(old)
    line = {
        "epoch": epoch,
        "train_loss": float(h.history["loss"][0]),
        "train_accuracy": float(h.history["accuracy"][0]),
        "val_loss": float(val_loss),
        "val_accuracy": float(val_acc),
        "test_loss": float(test_loss),
        "test_accuracy": float(test_acc),
        "seconds": seconds,
        "images_per_sec": len(xtr) / seconds,
    }
    metrics = os.environ.get("SWEEP_METRICS")
    if metrics:
        with open(metrics, "a") as f:
            f.write(json.dumps(line) + "\n")
    else:
        print(json.dumps(line), flush=True)
