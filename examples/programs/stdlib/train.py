"""A training program for `sweep`, in plain Python (standard library only): softmax regression
on MNIST images pooled to 7x7, trained with minibatch SGD. Small enough for tests, real enough
to learn (about 80% on 300 images after a few epochs).

It follows sweep's program contract (docs/programs.md):
- one JSON object per finished epoch, appended to the file $SWEEP_METRICS (or, with
  --report stdout, printed on stdout after `sweep:`);
- its checkpoint (the weights after each epoch) in $SWEEP_CHECKPOINT_DIR, and when
  $SWEEP_RESUME_EPOCH is set it goes on from that epoch's checkpoint;
- it stops after epoch $SWEEP_UNTIL_EPOCH when that is set (unless --ignore-until);
- besides the required metrics it reports two of its own: `val_macro_f1` (the F1 score
  averaged over the classes) and `val_brier` (the Brier score, lower is better: declared as
  "-val_brier" in a manifest's metrics).

    python3 train.py --data ../shared/data/mnist --lr 0.5 --epochs 3 --seed 1

Flags for tests: --fail-at EPOCH (exit 3 with a message), --nan-at EPOCH, --garble-at EPOCH
(a malformed line), --sleep SECONDS (per epoch), --noise (results that differ run to run),
--echo-arg TEXT (printed to stderr, as received).
"""
import argparse, gzip, json, math, os, random, struct, sys, time

p = argparse.ArgumentParser()
p.add_argument("--data", required=True, help="directory with MNIST's IDX .gz files")
p.add_argument("--lr", type=float, default=0.5)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--batch", type=int, default=10)
p.add_argument("--train", type=int, default=300)
p.add_argument("--val", type=int, default=200)
p.add_argument("--report", choices=["file", "stdout"], default="file")
p.add_argument("--ignore-until", action="store_true")
p.add_argument("--fail-at", type=int)
p.add_argument("--nan-at", type=int)
p.add_argument("--garble-at", type=int)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--noise", action="store_true")
p.add_argument("--echo-arg")
a = p.parse_args()
if a.echo_arg is not None:
    print(f"echo-arg: {a.echo_arg}", file=sys.stderr)


def idx(name, count):
    """The first `count` items of an IDX file: images pooled to 7x7 in [0, 1], or labels."""
    with gzip.open(os.path.join(a.data, name + ".gz")) as f:
        raw = f.read()
    if "labels" in name:
        return list(raw[8 : 8 + count])
    n, rows, cols = struct.unpack(">III", raw[4:16])
    out = []
    for i in range(count):
        img = raw[16 + i * rows * cols : 16 + (i + 1) * rows * cols]
        out.append([sum(img[(4 * r + dr) * cols + 4 * c + dc] for dr in range(4) for dc in range(4)) / (16 * 255.0) for r in range(7) for c in range(7)])
    return out


xs, ys = idx("train-images-idx3-ubyte", a.train), idx("train-labels-idx1-ubyte", a.train)
vx, vy = idx("t10k-images-idx3-ubyte", a.val), idx("t10k-labels-idx1-ubyte", a.val)
F, K = 49, 10
rng = random.Random(a.seed)
w = [[rng.uniform(-0.05, 0.05) for _ in range(F)] for _ in range(K)]
b = [0.0] * K

ckpt_dir = os.environ.get("SWEEP_CHECKPOINT_DIR")
start = int(os.environ.get("SWEEP_RESUME_EPOCH", "0"))
if start:
    with open(os.path.join(ckpt_dir, f"epoch-{start}.json")) as f:
        state = json.load(f)
    w, b = state["w"], state["b"]
until = None if a.ignore_until else os.environ.get("SWEEP_UNTIL_EPOCH")
until = int(until) if until else None


def probs(x):
    z = [sum(wk[j] * x[j] for j in range(F)) + bk for wk, bk in zip(w, b)]
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def evaluate(X, Y):
    """Mean loss, accuracy, macro-averaged F1 and Brier score."""
    loss, right, brier = 0.0, 0, 0.0
    tp, pred, true = [0] * K, [0] * K, [0] * K
    for x, y in zip(X, Y):
        q = probs(x)
        loss -= math.log(max(q[y], 1e-12))
        p = max(range(K), key=q.__getitem__)
        right += p == y
        tp[y] += p == y
        pred[p] += 1
        true[y] += 1
        brier += sum((q[k] - (k == y)) ** 2 for k in range(K))
    f1 = [2 * tp[k] / (pred[k] + true[k]) for k in range(K) if pred[k] + true[k]]
    return loss / len(X), right / len(X), sum(f1) / len(f1), brier / len(X)


def report(obj):
    line = json.dumps(obj)
    if a.report == "stdout":
        print("sweep:" + line, flush=True)
    else:
        with open(os.environ["SWEEP_METRICS"], "a") as f:
            f.write(line + "\n")


for epoch in range(start + 1, a.epochs + 1):
    t0 = time.time()
    order = list(range(len(xs)))
    random.Random(a.seed * 1000 + epoch).shuffle(order)
    for i in range(0, len(order), a.batch):
        batch = order[i : i + a.batch]
        gw = [[0.0] * F for _ in range(K)]
        gb = [0.0] * K
        for n in batch:
            q = probs(xs[n])
            q[ys[n]] -= 1.0
            for k in range(K):
                gb[k] += q[k]
                row, x = gw[k], xs[n]
                for j in range(F):
                    row[j] += q[k] * x[j]
        for k in range(K):
            b[k] -= a.lr * gb[k] / len(batch)
            for j in range(F):
                w[k][j] -= a.lr * gw[k][j] / len(batch)
    if a.sleep:
        time.sleep(a.sleep)
    train_loss, train_acc, _, _ = evaluate(xs, ys)
    val_loss, val_acc, val_f1, val_brier = evaluate(vx, vy)
    if a.noise:
        val_acc += random.SystemRandom().uniform(-0.01, 0.01)
    if a.fail_at == epoch:
        print(f"Traceback (most recent call last):\n  epoch {epoch}\nRuntimeError: failing at epoch {epoch} as asked", file=sys.stderr)
        sys.exit(3)
    if ckpt_dir:
        with open(os.path.join(ckpt_dir, f"epoch-{epoch}.json"), "w") as f:
            json.dump({"w": w, "b": b}, f)
    if a.garble_at == epoch:
        (print("sweep:{epoch: oops", flush=True) if a.report == "stdout" else open(os.environ["SWEEP_METRICS"], "a").write("{epoch: oops\n"))
        time.sleep(5)
        continue
    report({
        "epoch": epoch,
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "val_loss": "nan" if a.nan_at == epoch else val_loss,
        "val_accuracy": val_acc,
        "val_macro_f1": val_f1,
        "val_brier": val_brier,
        "seconds": time.time() - t0,
    })
    if until is not None and epoch >= until:
        break
