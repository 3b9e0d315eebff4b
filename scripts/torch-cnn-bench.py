#!/usr/bin/env python3
"""PyTorch eager timing of the CNN benchmark workloads D and E (bench/cnn.ts), fp32.

Same shapes, batch, loss and optimizer as `npm run bench`'s D and E; the native baseline the
engine's CNN rows are compared with. Not part of `npm test` (Debian's python3-torch is optional).

  D: 32x32x3 -> conv3x3 32 'same' relu -> maxpool 2 -> conv3x3 64 'same' relu -> maxpool 2
     -> conv3x3 128 'same' relu -> maxpool 2 -> flatten -> dense 10; batch 64
  E: 28x28x1 -> conv5x5 6 'same' relu -> maxpool 2 -> conv5x5 16 'valid' relu -> maxpool 2
     -> flatten -> dense 120 relu -> dense 84 relu -> dense 10; batch 64
  both: softmax cross-entropy (batch mean), SGD with momentum 0.9 (lr D 0.003, E 0.01), weights
  as bench/cnn.ts's cnnInit draws them (He normal before a ReLU, LeCun normal for the last layer,
  zero biases) and class-prototype images as its prototypeImages makes them (D: prototypes and
  noise uniform in +-0.3; E: +-0.5 and +-1), here drawn with torch's generator; batches in order.

FLOPs per step are counted as in bench/cnn.ts: for conv and dense layers, 2 * multiply-adds of
the forward pass, times 3 (forward, weight gradient, input gradient), except the first layer (no
input gradient); pooling, activations, loss and optimizer are not counted.

  /usr/bin/python3 scripts/torch-cnn-bench.py [--only D,E] [--device cpu|cuda] [--threads 2]
                                              [--steps N] [--rounds R] [--json OUT.json|-]

On the CPU it uses --threads intra-op threads (default 2, the reference machine's cores). On CUDA,
TF32 is off (fp32 as the engine computes) and cudnn.benchmark is on (PyTorch's fastest algorithm
choice per shape). Timing: warm-up steps, then R windows of N steps each, each window ending in a
synchronisation (a loss read on the CPU, torch.cuda.synchronize on CUDA); reported: the median
and the best window's ms/step. Exits 1 if a loss did not fall.
"""

import argparse
import json
import statistics
import sys
import time

import torch
from torch import nn


def workload(key):
    if key == "D":
        layers = [
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * 4 * 128, 10),
        ]
        return nn.Sequential(*layers), (3, 32, 32), 64, 16, 0.003, 0.3, 0.3
    if key == "E":
        layers = [
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(5 * 5 * 16, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        ]
        return nn.Sequential(*layers), (1, 28, 28), 64, 32, 0.01, 0.5, 1.0
    raise ValueError(f"unknown workload {key!r}; use D or E")


def step_flops(model, shape, batch):
    """FLOPs of one training step (formula in the module docstring), from a traced forward pass."""
    macs = []

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            macs.append(out.shape[1] * out.shape[2] * out.shape[3] * kh * kw * mod.in_channels)
        elif isinstance(mod, nn.Linear):
            macs.append(mod.in_features * mod.out_features)

    hooks = [m.register_forward_hook(hook) for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *shape, device=next(model.parameters()).device))
    for h in hooks:
        h.remove()
    return batch * sum(2 * m * (2 if i == 0 else 3) for i, m in enumerate(macs))


def prototype_images(n, shape, classes, gen, proto, noise):
    protos = (torch.rand(classes, *shape, generator=gen) * 2 - 1) * proto
    y = torch.randint(0, classes, (n,), generator=gen)
    x = protos[y] + (torch.rand(n, *shape, generator=gen) * 2 - 1) * noise
    return x, y


def init(model):
    weighted = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for i, m in enumerate(weighted):
            gain = 1.0 if i == len(weighted) - 1 else 2.0
            m.weight.normal_(0, (gain / m.weight[0].numel()) ** 0.5)
            m.bias.zero_()


def run(key, device, steps, rounds, sync):
    torch.manual_seed(1)
    model, shape, batch, batches, lr, proto, noise = workload(key)
    init(model)
    model = model.to(device)
    gen = torch.Generator().manual_seed(7)
    x, y = prototype_images(batch * batches, shape, 10, gen, proto, noise)
    x, y = x.to(device), y.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    i = 0
    losses = []

    def step():
        nonlocal i
        s = (i % batches) * batch
        i += 1
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[s : s + batch]), y[s : s + batch])
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        losses.append(step().item())
    windows = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step()
        losses.append(loss.item())
        sync()
        windows.append((time.perf_counter() - t0) / steps * 1000)
    flops = step_flops(model, shape, batch)
    ms = statistics.median(windows)
    best = min(windows)
    fell = all(map(lambda v: v == v and abs(v) != float("inf"), losses)) and losses[-1] < losses[0]
    r = {
        "workload": key,
        "batch": batch,
        "msPerStep": ms,
        "bestMsPerStep": best,
        "windowsMsPerStep": windows,
        "samplesPerSecond": batch * 1000 / ms,
        "gflops": flops / (ms * 1e6),
        "flopsPerStep": flops,
        "losses": losses,
        "fell": fell,
    }
    print(
        f"torch {device} {key}: {ms:.2f} ms/step (best {best:.2f}; {rounds} windows of {steps} steps), "
        f"{r['samplesPerSecond']:.0f} samples/s, {r['gflops']:.2f} GFLOP/s, "
        f"loss {losses[0]:.3f} -> {losses[-1]:.3f}{'' if fell else '  LOSS DID NOT FALL'}",
        file=sys.stderr,
        flush=True,
    )
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="D,E")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=0, help="steps per window (default: 10 on the CPU, 200 on CUDA)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", help="write the results here ('-' for stdout)")
    a = p.parse_args()
    device = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        sync = torch.cuda.synchronize
        where = torch.cuda.get_device_name(0)
    else:
        torch.set_num_threads(a.threads)
        sync = lambda: None  # noqa: E731 (a loss read already synchronises the CPU)
        where = f"CPU, {torch.get_num_threads()} threads"
    steps = a.steps or (200 if a.device == "cuda" else 10)
    out = {"torch": torch.__version__, "device": where, "dtype": "float32", "results": {}}
    print(f"PyTorch {torch.__version__} eager on {where}, fp32", file=sys.stderr, flush=True)
    for key in a.only.split(","):
        out["results"][key] = run(key, device, steps, a.rounds, sync)
    if a.json == "-":
        print(json.dumps(out))
    elif a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    if not all(r["fell"] for r in out["results"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
