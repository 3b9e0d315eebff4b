#!/usr/bin/env python3
"""PyTorch eager timing of a graph model of `npm run bench` (workload R, bench/cnn.ts), fp32.

bench/cnn-torch.ts writes a folder and runs this on it:
  model.json    the resolved layers in execution order (type, inputs, geometry, activation) and
                the run's settings (batch, lr, momentum, threads, steps, rounds)
  weights.bin   float32, one tensor after another in the engine's parameter order and layout:
                conv W [F, KH, KW, C / groups], dense W [units, fanIn], batch norm scale, shift
  x.bin, y.bin  float32 NHWC images [n, H, W, C] and int32 labels [n]

so the network, initial weights, data and batch order are the engine's own, and the first losses
can be compared step for step. The model is an nn.Module that runs the layers in that order
(conv2d, batchnorm, add, concat, maxpool2d, avgpool2d, globalavgpool, flatten, dense); a dense
layer after a flatten of a map reads it in NHWC order, as the engine does. Softmax cross-entropy
(batch mean) on the logits, SGD with momentum (PyTorch's rule, the engine's too).

Timing as scripts/torch-cnn-bench.py: 3 steps whose losses are read, then `rounds` windows of
`steps` steps, each ending in a loss read; reported: the median and best window's ms/step.
Prints one JSON object on stdout; exits 1 if the loss did not fall.

  /usr/bin/python3 bench/torch-graph.py DIR
"""

import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ACTS = {
    "identity": lambda x: x,
    "softmax": lambda x: x,  # folded into the loss
    "relu": F.relu,
    "relu6": F.relu6,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "hard_swish": F.hardswish,
}


class GraphNet(nn.Module):
    def __init__(self, layers, weights):
        super().__init__()
        self.layers = layers
        self.mods = nn.ModuleDict()
        at = 0

        def take(n):
            nonlocal at
            t = torch.from_numpy(weights[at : at + n].copy())
            at += n
            return t

        for l in layers:
            key, t = str(l["index"]), l["type"]
            if t == "conv2d":
                c = l["conv"]
                g = c.get("G", 1)
                m = nn.Conv2d(c["C"], c["F"], (c["KH"], c["KW"]), (c["SH"], c["SW"]), 0, groups=g, bias=l["bias"])
                w = take(c["F"] * c["KH"] * c["KW"] * (c["C"] // g))
                m.weight.data = w.view(c["F"], c["KH"], c["KW"], c["C"] // g).permute(0, 3, 1, 2).contiguous()
                if l["bias"]:
                    m.bias.data = take(c["F"])
                self.mods[key] = m
            elif t == "batchnorm":
                ch = l["outShape"][-1]
                m = (nn.BatchNorm2d if len(l["outShape"]) == 3 else nn.BatchNorm1d)(
                    ch, eps=l["epsilon"], momentum=l["momentum"]
                )
                m.weight.data = take(ch)
                m.bias.data = take(ch)
                self.mods[key] = m
            elif t == "dense":
                m = nn.Linear(l["inSize"], l["outSize"])
                m.weight.data = take(l["outSize"] * l["inSize"]).view(l["outSize"], l["inSize"])
                m.bias.data = take(l["outSize"])
                self.mods[key] = m
        if at != len(weights):
            raise ValueError(f"weights.bin has {len(weights)} floats, the layers take {at}")

    def forward(self, x):
        outs = {-1: x}
        left = {}
        for l in self.layers:
            for j in l["inputs"]:
                left[j] = left.get(j, 0) + 1
        for l in self.layers:
            xs = [outs[j] for j in l["inputs"]]
            for j in l["inputs"]:
                left[j] -= 1
                if left[j] == 0 and j != self.layers[-1]["index"]:
                    del outs[j]
            outs[l["index"]] = ACTS[l["activation"]](self.layer(l, xs))
        return outs[self.layers[-1]["index"]]

    def layer(self, l, xs):
        t, x = l["type"], xs[0]
        if t == "conv2d":
            c = l["conv"]
            pad = (c["padLeft"], c["padRight"], c["padTop"], c["padBottom"])
            if any(pad):
                x = F.pad(x, pad)
            return self.mods[str(l["index"])](x)
        if t in ("batchnorm", "dense"):
            return self.mods[str(l["index"])](x)
        if t == "add":
            out = xs[0]
            for other in xs[1:]:
                out = out + other
            return out
        if t == "concat":
            return torch.cat(xs, dim=1)
        if t in ("maxpool2d", "avgpool2d"):
            p = l["pool"]
            pool = F.max_pool2d if t == "maxpool2d" else F.avg_pool2d
            return pool(x, (p["KH"], p["KW"]), (p["SH"], p["SW"]))
        if t == "globalavgpool":
            return x.mean(dim=(2, 3))
        if t == "flatten":
            return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x
        raise ValueError(f"layer {l['index']}: '{t}' is not in this peer")


def main():
    folder = sys.argv[1]
    with open(f"{folder}/model.json") as f:
        cfg = json.load(f)
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(1)
    weights = np.fromfile(f"{folder}/weights.bin", dtype=np.float32)
    model = GraphNet(cfg["layers"], weights)
    h, w, c = cfg["inputShape"]
    x = torch.from_numpy(np.fromfile(f"{folder}/x.bin", dtype=np.float32)).view(-1, h, w, c)
    x = x.permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.fromfile(f"{folder}/y.bin", dtype=np.int32).astype(np.int64))
    batch, batches = cfg["batch"], x.shape[0] // cfg["batch"]
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])
    model.train()
    i = 0

    def step():
        nonlocal i
        s = (i % batches) * batch
        i += 1
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[s : s + batch]), y[s : s + batch])
        loss.backward()
        opt.step()
        return loss

    losses = [step().item() for _ in range(3)]
    windows = []
    for _ in range(cfg["rounds"]):
        t0 = time.perf_counter()
        for _ in range(cfg["steps"]):
            loss = step()
        losses.append(loss.item())
        windows.append((time.perf_counter() - t0) / cfg["steps"] * 1000)
    ms = statistics.median(windows)
    fell = all(v == v and abs(v) != float("inf") for v in losses) and losses[-1] < losses[0]
    out = {
        "torch": torch.__version__,
        "device": f"CPU, {torch.get_num_threads()} threads",
        "msPerStep": ms,
        "bestMsPerStep": min(windows),
        "windowsMsPerStep": windows,
        "samplesPerSecond": batch * 1000 / ms,
        "losses": losses,
        "fell": fell,
    }
    print(json.dumps(out))
    sys.exit(0 if fell else 1)


if __name__ == "__main__":
    main()
