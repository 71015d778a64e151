"""MLP 784-512-256-10 training step (Adam 1e-3, softmax cross-entropy) and batch-1024 inference:
tapeflow fit / train_on_batch vs a hand-written NumPy step and PyTorch eager.

Each implementation runs in fresh subprocesses, alternating, for five rounds (``bench.alternate``); figures
are medians, in samples/s, and each row's note lists every round. The hand-written NumPy step is the careful
one the issue describes: in-place bias and ReLU, the fused softmax-cross-entropy gradient, and textbook Adam
with NumPy temporaries. It runs twice: "numpy-cold" in a fresh process with glibc's default allocator
settings (its mmap threshold not yet raised, so each step page-faults its few-MB temporaries back in) and
"numpy-warm" with the threshold raised up front via mallopt, the best case for it. tapeflow leaves the
allocator alone unless asked (a process-wide setting): "tapeflow" runs with glibc's defaults (cold),
"tapeflow-mallopt" with TAPEFLOW_MALLOPT=1 (warm), to show what the tuning is worth. Targets: tapeflow fit
and train_on_batch >= 1.1x numpy-warm at both batch sizes; inference >= 1.0x.
"""

from __future__ import annotations

import importlib.util

import bench

SIZES = (784, 512, 256, 10)

_SETUP = """
import json, time
import numpy as np
from bench import per_call
rng = np.random.default_rng(0)
X = rng.random((16384, 784), dtype=np.float32)
Y = rng.integers(0, 10, 16384)
QUICK = {quick}

def best_rate(epoch, n):  # samples/s of the fastest of a few timed epoch() runs (n samples), after one
    epoch()
    best = 0.0
    for _ in range(1 if QUICK else 3):
        t = time.perf_counter()
        epoch()
        best = max(best, n / (time.perf_counter() - t))
    return best
"""

_TAPEFLOW = (
    _SETUP
    + """
import tapeflow as tp
tp.random.set_seed(0)
def make():
    model = tp.Sequential([tp.Input(shape=(784,)), tp.layers.Dense(512, activation="relu"),
                           tp.layers.Dense(256, activation="relu"), tp.layers.Dense(10)])
    model.compile(optimizer=tp.optimizers.Adam(1e-3),
                  loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
out = {{}}
for b in (32, 128):
    model = make()
    n = b * (40 if QUICK else 120)
    out[f"fit{{b}}"] = best_rate(lambda: model.fit(X[:n], Y[:n], batch_size=b, epochs=1, verbose=0), n)
    xb, yb = X[:b], Y[:b]
    out[f"tob{{b}}"] = b / per_call(lambda: model.train_on_batch(xb, yb), repeat=3 if QUICK else 7)
model = make()
xi = X[:1024]
model.predict_on_batch(xi)
out["infer1024"] = 1024 / per_call(lambda: model.predict_on_batch(xi), repeat=3 if QUICK else 7)
X8 = X[:8192]
out["predict1024"] = 8192 / per_call(lambda: model.predict(X8, batch_size=1024), repeat=3 if QUICK else 5)
print(json.dumps(out))
"""
)

_NUMPY = (
    _SETUP
    + """
if {tune}:
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 128 * 1024 * 1024)  # M_TRIM_THRESHOLD

def glorot(i, o):
    lim = np.sqrt(6 / (i + o))
    return rng.uniform(-lim, lim, (i, o)).astype(np.float32)

class MLP:
    def __init__(self):
        sizes = (784, 512, 256, 10)
        self.params = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            self.params += [glorot(i, o), np.zeros(o, np.float32)]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def forward(self, x):
        W1, b1, W2, b2, W3, b3 = self.params
        h1 = x @ W1; h1 += b1; np.maximum(h1, 0, out=h1)
        h2 = h1 @ W2; h2 += b2; np.maximum(h2, 0, out=h2)
        z = h2 @ W3; z += b3
        return h1, h2, z

    def step(self, x, y, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        W1, b1_, W2, b2_, W3, b3 = self.params
        n = len(x)
        h1, h2, z = self.forward(x)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        loss = -np.log(z[np.arange(n), y]).mean()
        z[np.arange(n), y] -= 1          # fused softmax-cross-entropy gradient
        z /= n
        gW3 = h2.T @ z; gb3 = z.sum(0)
        d2 = z @ W3.T; d2[h2 <= 0] = 0
        gW2 = h1.T @ d2; gb2 = d2.sum(0)
        d1 = d2 @ W2.T; d1[h1 <= 0] = 0
        gW1 = x.T @ d1; gb1 = d1.sum(0)
        self.t += 1
        t = self.t
        for i, g in enumerate((gW1, gb1, gW2, gb2, gW3, gb3)):   # textbook Adam, NumPy temporaries
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat = self.m[i] / (1 - b1 ** t)
            v_hat = self.v[i] / (1 - b2 ** t)
            self.params[i] -= lr * m_hat / (np.sqrt(v_hat) + eps)
        return float(loss)

out = {{}}
for b in (32, 128):
    net = MLP()
    n = b * (40 if QUICK else 120)
    def epoch():
        order = rng.permutation(n)
        for s in range(0, n, b):
            idx = order[s:s + b]
            net.step(X[idx], Y[idx])
    out[f"fit{{b}}"] = best_rate(epoch, n)
    xb, yb = X[:b], Y[:b]
    out[f"tob{{b}}"] = b / per_call(lambda: net.step(xb, yb), repeat=3 if QUICK else 7)
net = MLP()
xi = X[:1024]
out["infer1024"] = 1024 / per_call(lambda: net.forward(xi), repeat=3 if QUICK else 7)
out["predict1024"] = 8192 / per_call(lambda: [net.forward(X[i:i + 1024]) for i in range(0, 8192, 1024)],
                                     repeat=3 if QUICK else 5)
print(json.dumps(out))
"""
)

_TORCH = (
    _SETUP
    + """
import torch
torch.manual_seed(0)
nn = torch.nn
def make():
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    return model, torch.optim.Adam(model.parameters(), 1e-3)
Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
out = {{}}
for b in (32, 128):
    model, opt = make()
    n = b * (40 if QUICK else 120)
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    def epoch():
        order = torch.randperm(n)
        for s in range(0, n, b):
            idx = order[s:s + b]
            step(Xt[idx], Yt[idx])
    out[f"fit{{b}}"] = best_rate(epoch, n)
    xb, yb = Xt[:b], Yt[:b]
    out[f"tob{{b}}"] = b / per_call(lambda: step(xb, yb), repeat=3 if QUICK else 7)
model, _ = make()
xi = Xt[:1024]
with torch.no_grad():
    out["infer1024"] = 1024 / per_call(lambda: model(xi), repeat=3 if QUICK else 7)
    out["predict1024"] = 8192 / per_call(lambda: [model(Xt[i:i + 1024]).numpy() for i in range(0, 8192,
    1024)],
                                         repeat=3 if QUICK else 5)
print(json.dumps(out))
"""
)

WORKLOADS = [
    ("fit32", "MLP 784-512-256-10 fit epoch, batch 32", 1 / 1.1),
    ("fit128", "MLP 784-512-256-10 fit epoch, batch 128", 1 / 1.1),
    ("tob32", "MLP train_on_batch / full step, batch 32", 1 / 1.1),
    ("tob128", "MLP train_on_batch / full step, batch 128", 1 / 1.1),
    ("infer1024", "MLP inference (predict_on_batch), batch 1024", 1.0),
    ("predict1024", "MLP predict() over 8192 samples, batch 1024", 1.0),
]


def snippets(quick=False):
    """The code each implementation runs (tapeflow, tapeflow-mallopt, numpy-warm, numpy-cold, torch)."""
    out = {
        "tapeflow": _TAPEFLOW.format(quick=quick),
        "numpy-warm": _NUMPY.format(quick=quick, tune=True),
        "numpy-cold": _NUMPY.format(quick=quick, tune=False),
    }
    if not quick:
        out["tapeflow-mallopt"] = "import os; os.environ['TAPEFLOW_MALLOPT'] = '1'\n" + out["tapeflow"]
    if importlib.util.find_spec("torch") is not None:
        out["torch"] = _TORCH.format(quick=quick)
    return out


def run(quick=False, rounds=None):
    """MLP training step (fit, train_on_batch) at batch 32/128 and inference at 1024 vs NumPy and PyTorch."""
    results = bench.alternate(snippets(quick), rounds=rounds or (1 if quick else 5))
    rows = []
    for key, workload, target in WORKLOADS:
        values = {impl: results[impl][key] for impl in results if not impl.startswith("_")}
        spread = "; ".join(
            f"{impl} rounds " + "/".join(f"{r[key] / 1e3:.1f}k" for r in runs)
            for impl, runs in results["_all"].items()
        )
        goal = "target: tapeflow >= 1.1x numpy-warm" if target < 1 else "target: >= 1.0x numpy-warm"
        rows += bench.rows(workload, values, unit="samples/s", reference="numpy-warm", target=target,
                           lower_is_better=False, note=f"{goal}; {spread}")
    return rows
