"""The paper's four MNIST models in PyTorch, as a `sweep` program (the same contract, flags and
protocol as examples/programs/keras/train.py).

    python3 train.py --data ../shared/data/mnist --model simple_cnn --optimizer sgd \
        --lr 0.01 --epochs 20 --seed 1 --validation 0.1 --threads 1

Keras's choices where PyTorch's differ: Glorot-uniform weights and zero biases, softmax
cross-entropy, SGD / RMSprop (rho 0.9) / Adam with epsilon 1e-7 (PyTorch's RMSprop adds epsilon
to sqrt(v), Keras inside it: docs/keras.md). Validation is the last `--validation` fraction of
the training images, or the test set; the test set is evaluated after every epoch.

The model and optimizer state after each epoch go to $SWEEP_CHECKPOINT_DIR (`epoch-<k>.pt`, the
last two kept); with $SWEEP_RESUME_EPOCH it loads that epoch's file and goes on; every epoch's
shuffle and dropout come from the seed and the epoch alone, so a resumed run is the run it would
have been. It stops after $SWEEP_UNTIL_EPOCH.
"""
import argparse, gzip, json, os, time

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--model", required=True, choices=["simple_nn", "enhanced_nn", "simple_cnn", "enhanced_cnn"])
ap.add_argument("--optimizer", required=True, choices=["sgd", "rmsprop", "adam"])
ap.add_argument("--lr", type=float, required=True)
ap.add_argument("--momentum", type=float, default=0.0)
ap.add_argument("--epochs", type=int, required=True)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--validation", default="0.1")
ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args()
os.environ["OMP_NUM_THREADS"] = str(a.threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(a.threads)
torch.use_deterministic_algorithms(True)


def idx(name):
    with gzip.open(os.path.join(a.data, name + ".gz")) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


x = torch.tensor(idx("train-images-idx3-ubyte"), dtype=torch.float32)[:, None] / 255.0
y = torch.tensor(idx("train-labels-idx1-ubyte").astype(np.int64))
xte = torch.tensor(idx("t10k-images-idx3-ubyte"), dtype=torch.float32)[:, None] / 255.0
yte = torch.tensor(idx("t10k-labels-idx1-ubyte").astype(np.int64))
if a.validation == "test":
    xtr, ytr, xva, yva = x, y, xte, yte
else:
    n = len(x) - int(len(x) * float(a.validation))
    xtr, ytr, xva, yva = x[:n], y[:n], x[n:], y[n:]


def build(name):
    if name == "simple_nn":
        m = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    elif name == "enhanced_nn":
        m = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.Sigmoid(), nn.Linear(128, 64), nn.Sigmoid(), nn.Linear(64, 10))
    elif name == "simple_cnn":
        m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(800, 100), nn.ReLU(), nn.Linear(100, 10))
    else:
        m = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 10))
    for mod in m.modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(mod.weight)
            nn.init.zeros_(mod.bias)
    return m


torch.manual_seed(a.seed)
model = build(a.model)
if a.optimizer == "sgd":
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
elif a.optimizer == "rmsprop":
    opt = torch.optim.RMSprop(model.parameters(), lr=a.lr, alpha=0.9, eps=1e-7, momentum=a.momentum)
else:
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, eps=1e-7)

ckpt = os.environ.get("SWEEP_CHECKPOINT_DIR")
start = int(os.environ.get("SWEEP_RESUME_EPOCH", "0"))
until = int(os.environ.get("SWEEP_UNTIL_EPOCH", "0")) or a.epochs
if start:
    state = torch.load(os.path.join(ckpt, f"epoch-{start}.pt"))
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])


def evaluate(xs, ys):
    model.eval()
    loss, right = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(xs), 1000):
            out = model(xs[i : i + 1000])
            # Summed in float64: a float32 sum's rounding can depend on where the tensor lies
            # in memory (vectorized reductions), and `sweep verify` sees the last bits move.
            loss += F.cross_entropy(out.double(), ys[i : i + 1000], reduction="sum").item()
            right += (out.argmax(1) == ys[i : i + 1000]).sum().item()
    return loss / len(xs), right / len(xs)


for epoch in range(start + 1, min(a.epochs, until) + 1):
    t0 = time.time()
    torch.manual_seed(a.seed * 100003 + epoch)  # this epoch's dropout
    order = torch.tensor(np.random.RandomState(a.seed * 100003 + epoch).permutation(len(xtr)))
    model.train()
    total, right = 0.0, 0
    for i in range(0, len(order), a.batch):
        b = order[i : i + a.batch]
        out = model(xtr[b])
        loss = F.cross_entropy(out, ytr[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(b)
        right += (out.argmax(1) == ytr[b]).sum().item()
    seconds = time.time() - t0
    val_loss, val_acc = evaluate(xva, yva)
    test_loss, test_acc = evaluate(xte, yte)
    if ckpt:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, os.path.join(ckpt, f"epoch-{epoch}.pt"))
        old = os.path.join(ckpt, f"epoch-{epoch - 2}.pt")
        if os.path.exists(old):
            os.remove(old)
    line = {"epoch": epoch, "train_loss": total / len(order), "train_accuracy": right / len(order),
            "val_loss": val_loss, "val_accuracy": val_acc, "test_loss": test_loss, "test_accuracy": test_acc,
            "seconds": seconds, "images_per_sec": len(order) / seconds}
    metrics = os.environ.get("SWEEP_METRICS")
    if metrics:
        with open(metrics, "a") as f:
            f.write(json.dumps(line) + "\n")
    else:
        print(json.dumps(line), flush=True)
