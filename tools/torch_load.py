"""Load a `sweep export` weights file into PyTorch and evaluate it on an MNIST-format test set.

    python tools/torch_load.py model.safetensors ../shared/data/mnist [N]

Builds the network from the layer list in the file's metadata; prints the test accuracy of the
first N images (default all), which equals `sweep eval model.safetensors --subset N`.
"""
import gzip, json, math, sys
import numpy as np, torch
from safetensors import safe_open

path, data = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else None
with safe_open(path, "pt") as f:
    meta, tensors = json.loads(f.metadata()["sweep"]), {k: f.get_tensor(k) for k in f.keys()}

mods, shape = [], (1, 28, 28)  # (channels, height, width) before each layer
for i, l in enumerate(meta["layers"]):
    w, b = tensors.get(f"layers.{i}.weight"), tensors.get(f"layers.{i}.bias")
    act = {"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid()}.get(l.get("activation"))
    if l["type"] == "conv2d":
        k, s, (c, h, wd) = l["kernel"], l.get("stride", 1), shape
        oh, ow = ((h - k) // s + 1, (wd - k) // s + 1) if l.get("padding", "valid") == "valid" else (math.ceil(h / s), math.ceil(wd / s))
        ph, pw = max((oh - 1) * s + k - h, 0), max((ow - 1) * s + k - wd, 0)  # Keras: the odd pixel goes bottom/right
        conv = torch.nn.Conv2d(c, l["filters"], k, s)
        conv.weight.data, conv.bias.data = w, b  # [out, in, kh, kw], as PyTorch
        mods += [torch.nn.ZeroPad2d((pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)), conv]
        shape = (l["filters"], oh, ow)
    elif l["type"] in ("max_pool", "avg_pool"):
        size, s = l["size"], l.get("stride") or l["size"]
        mods.append((torch.nn.MaxPool2d if l["type"] == "max_pool" else torch.nn.AvgPool2d)(size, s))
        shape = (shape[0], (shape[1] - size) // s + 1, (shape[2] - size) // s + 1)
    elif l["type"] == "flatten":
        mods.append(torch.nn.Flatten())
        shape = (math.prod(shape),)
    elif l["type"] == "batch_norm":  # Keras's BatchNormalization, with its moving statistics
        bn = (torch.nn.BatchNorm2d if len(shape) == 3 else torch.nn.BatchNorm1d)(shape[0], eps=l["epsilon"])
        bn.weight.data, bn.bias.data = tensors[f"layers.{i}.gamma"], tensors[f"layers.{i}.beta"]
        bn.running_mean.data, bn.running_var.data = tensors[f"layers.{i}.moving_mean"], tensors[f"layers.{i}.moving_variance"]
        mods.append(bn)
    elif l["type"] == "global_avg_pool":
        mods += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
        shape = (shape[0],)
    elif l["type"] == "dense":
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        lin.weight.data, lin.bias.data = w.T.contiguous(), b  # sweep stores [in, out]
        mods.append(lin)
        shape = (w.shape[1],)
    if act is not None and i < len(meta["layers"]) - 1:
        mods.append(act)  # (the last layer's softmax is left out: argmax needs the logits only)
net = torch.nn.Sequential(*mods).eval()

def idx(name):
    with gzip.open(f"{data}/{name}.gz") as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=16 if "images" in name else 8)

x = torch.tensor(idx("t10k-images-idx3-ubyte"), dtype=torch.float32).reshape(-1, 1, 28, 28)[:n] / 255
y = torch.tensor(idx("t10k-labels-idx1-ubyte").astype(np.int64))[:n]
with torch.no_grad():
    acc = (net(x).argmax(1) == y).float().mean().item()
print(f"{meta['label']} ({meta['run']}), {meta['which']} weights of epoch {meta['epoch']}: test accuracy {100 * acc:.2f}% on {len(y)} images")
