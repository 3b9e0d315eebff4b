"""PyTorch on the same GPU, for the real-GPU table of docs/benchmarks.md (bench/gpu/README.md).

fp32 matmul GFLOP/s with TF32 off, and eager training loops for workloads A and C that mirror
bench/engine.ts: same layer sizes, batch sizes, optimizers, one optimizer step per batch, data
already on the GPU. Also checks that a safetensors model file written by our engine loads with
safetensors.torch and has the nn.Linear layout. Usage: python3 torch_bench.py OUT.json [model.safetensors]
"""
import json
import sys
import time

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}


def timed(fn, min_seconds=0.3):
    fn()
    torch.cuda.synchronize()
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if dt >= min_seconds or reps >= 1 << 14:
            return dt / reps
        reps *= 4


mm = {}
for n in [256, 512, 1024, 2048, 4096]:
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    s = timed(lambda: torch.matmul(a, b))
    mm[n] = 2 * n**3 / s / 1e9
    print(f"torch matmul {n}: {mm[n]:.0f} GFLOP/s", flush=True)
out["matmulSquare"] = mm


def mlp(sizes, last):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).to(dev)


def train(name, sizes, batch, opt_name, lr, steps=400):
    model = mlp(sizes, None)
    opt = torch.optim.SGD(model.parameters(), lr=lr) if opt_name == "sgd" else torch.optim.Adam(model.parameters(), lr=lr)
    n = batch * 50
    x = torch.rand(n, sizes[0], device=dev)
    y = torch.randint(0, sizes[-1], (n,), device=dev)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(i):
        s = (i % 50) * batch
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[s : s + batch]), y[s : s + batch])
        loss.backward()
        opt.step()
        return loss

    for i in range(20):
        step(i)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    r = {"samplesPerSecond": steps * batch / dt, "msPerStep": dt / steps * 1000}
    print(f"torch {name}: {r['samplesPerSecond']:.0f} samples/s, {r['msPerStep']:.3f} ms/step", flush=True)
    return r


out["training"] = {
    "A-sgd": train("A-sgd", [784, 128, 64, 10], 128, "sgd", 0.1),
    "A-adam": train("A-adam", [784, 128, 64, 10], 128, "adam", 1e-3),
    "C": train("C", [784, 1024, 1024, 10], 512, "sgd", 0.05),
}

if len(sys.argv) > 2:
    from safetensors.torch import load_file

    t = load_file(sys.argv[2])
    out["safetensors"] = {k: list(v.shape) for k, v in sorted(t.items())}
    lin = torch.nn.Linear(t["layers.0.weight"].shape[1], t["layers.0.weight"].shape[0])
    lin.load_state_dict({"weight": t["layers.0.weight"], "bias": t["layers.0.bias"]})
    print("safetensors model loads into nn.Linear:", out["safetensors"], flush=True)

with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=2)
