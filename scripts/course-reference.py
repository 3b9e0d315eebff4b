#!/usr/bin/env python3
"""The deeplearning.ai "cat vs non-cat" recipe in float64 numpy, as the course computes it.

This is the reference our GPU cat test is judged against: the course's own initialisation
(np.random.seed(seed), then randn/sqrt(n_prev) for the 4-layer net and randn*0.01 for the
2-layer net, which the engine reproduces with init 'numpy-lecun-normal' / 'numpy-normal-0.01'
and the same seed), the course's forward and backward maths, full-batch gradient descent with
lr 0.0075 for 2500 iterations, and its predict (p = A > 0.5).

    python3 scripts/course-reference.py                  # seeds 1-5, both nets
    python3 scripts/course-reference.py --seeds 1 --iterations 100

Data: the IDX copies in ../shared/data/catvnoncat (h5py is not needed). They hold the same
uint8 arrays as the course's .h5 files, NHWC, so images.reshape(m, -1).T / 255 is the course's
train_x. The maths follows dnn_app_utils_v3 (L_layer_model) and the 2-layer notebook:
  forward   Z = W A + b; ReLU hidden, sigmoid output
  cost      -(1/m) (Y log(AL)^T + (1-Y) log(1-AL)^T), computed before each iteration's update
  backward  dAL = -(Y/AL - (1-Y)/(1-AL)), dZ = dAL s(1-s) at the output (= AL - Y up to
            rounding), dZ = dA [Z > 0] for ReLU, dW = dZ A_prev^T / m, db = sum(dZ) / m
  update    W -= lr dW, b -= lr db
The course also computes dA_prev for the first layer and discards it; that product is skipped.
"""

import argparse
import gzip
import os
import struct
import sys
import time

# One BLAS thread unless the caller says otherwise: the numbers do not depend on it, and the
# machines this runs on are shared.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "catvnoncat")
DEEP = [12288, 20, 7, 5, 1]
SHALLOW = [12288, 7, 1]
LR = 0.0075


def read_idx(name):
    """A gzip'd IDX file as a uint8 array (magic 0x08 = unsigned bytes, then big-endian dims)."""
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{name}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load():
    """(train_x, train_y, test_x, test_y) exactly as the course builds them: x is (12288, m) in [0, 1]."""
    out = []
    for split in ("train", "t10k"):
        images = read_idx(f"{split}-images-idx4-ubyte.gz")
        labels = read_idx(f"{split}-labels-idx1-ubyte.gz")
        out += [images.reshape(images.shape[0], -1).T / 255.0, labels.reshape(1, -1).astype(np.float64)]
    return out


def init_params(dims, seed):
    """The course's initialisers: randn/sqrt(n_prev) for the deep net, randn*0.01 for the 2-layer."""
    np.random.seed(seed)
    params = []
    for l in range(1, len(dims)):
        W = np.random.randn(dims[l], dims[l - 1])
        W = W / np.sqrt(dims[l - 1]) if len(dims) > 3 else W * 0.01
        params.append([W, np.zeros((dims[l], 1))])
    return params


def forward(params, X):
    """Activations A0..AL and pre-activations Z1..ZL."""
    As, Zs = [X], []
    for l, (W, b) in enumerate(params):
        Z = W.dot(As[-1]) + b
        Zs.append(Z)
        As.append(1 / (1 + np.exp(-Z)) if l == len(params) - 1 else np.maximum(0, Z))
    return As, Zs


def cost(AL, Y):
    m = Y.shape[1]
    return float(np.squeeze((1.0 / m) * (-np.dot(Y, np.log(AL).T) - np.dot(1 - Y, np.log(1 - AL).T))))


def step(params, As, Zs, Y):
    m = Y.shape[1]
    AL = As[-1]
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(len(params))):
        W, b = params[l]
        if l == len(params) - 1:
            s = 1 / (1 + np.exp(-Zs[l]))
            dZ = dA * s * (1 - s)
        else:
            dZ = np.array(dA, copy=True)
            dZ[Zs[l] <= 0] = 0
        dW = 1.0 / m * np.dot(dZ, As[l].T)
        db = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
        if l > 0:
            dA = np.dot(W.T, dZ)
        params[l] = [W - LR * dW, b - LR * db]


def accuracy(params, X, Y):
    p = forward(params, X)[0][-1] > 0.5
    return float(np.mean(p == Y))


def train(dims, seed, iterations, data):
    train_x, train_y, test_x, test_y = data
    params = init_params(dims, seed)
    costs = {}
    for i in range(iterations):
        As, Zs = forward(params, train_x)
        if i % 500 == 0 or i == iterations - 1:
            costs[i] = cost(As[-1], train_y)
        step(params, As, Zs, train_y)
    return costs, accuracy(params, train_x, train_y), accuracy(params, test_x, test_y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--iterations", type=int, default=2500)
    args = ap.parse_args()
    data = load()
    print(f"numpy {np.__version__}, float64, full batch m={data[0].shape[1]}, lr {LR}, {args.iterations} iterations")
    print("cost columns: at the iteration shown, before that iteration's update (as the course prints it)")
    for name, dims, init in (("4-layer", DEEP, "randn/sqrt(n_prev)"), ("2-layer", SHALLOW, "randn*0.01")):
        print(f"\n{name} {dims}, init np.random.seed(seed); {init}")
        header = None
        for seed in args.seeds:
            t0 = time.perf_counter()
            costs, tr, te = train(dims, seed, args.iterations, data)
            if header is None:
                header = "seed  " + "  ".join(f"cost@{i:<5d}" for i in costs) + "    train     test  seconds"
                print(header)
            cols = "  ".join(f"{c:<10.6f}" for c in costs.values())
            print(f"{seed:<4d}  {cols}  {tr * 100:6.2f}%  {te * 100:6.2f}%  {time.perf_counter() - t0:7.1f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
