"""MLP 784-512-256-10 training step (Adam 1e-3, softmax cross-entropy) and batch-1024 inference:
tapeflow fit / train_on_batch vs two hand-written NumPy steps and PyTorch eager.

The two NumPy references share one careful forward and backward (in-place bias and ReLU, the fused
softmax-cross-entropy gradient) and differ in Adam: ``numpy`` is the textbook update with NumPy temporaries
(about 13 full-size arrays per parameter per step), ``numpy-inplace`` updates m, v and the weight in place
through two preallocated scratch buffers per parameter (no allocation in the update). Targets: tapeflow fit
and train_on_batch >= 1.1x numpy-inplace and >= 1.3x PyTorch at batch 32 and 128; inference >= 1.0x numpy.

Modes, as for the other training suites (``bench/_training.py``): every contender in one process, timed in
alternating batches (allocator tuned); each in its own process with the allocator tuned; each in its own
process with glibc's defaults (the cold row). Every round's figure is kept in the row's ``rounds``.
"""

from __future__ import annotations

import importlib.util
import statistics

import numpy as np

import bench
from bench import _env as env
from bench._training import workload

SIZES = (784, 512, 256, 10)
KEYS = [
    ("fit32", "MLP 784-512-256-10 fit epoch, batch 32"),
    ("fit128", "MLP 784-512-256-10 fit epoch, batch 128"),
    ("tob32", "MLP train_on_batch / full step, batch 32"),
    ("tob128", "MLP train_on_batch / full step, batch 128"),
    ("infer1024", "MLP inference (predict_on_batch), batch 1024"),
    ("predict1024", "MLP predict() over 8192 samples, batch 1024"),
]


# the MLP's train_on_batch step for `python -m bench._profile mlp32 mlp128` (where a step's CPU time goes)
for _batch in (32, 128):
    workload(f"mlp{_batch}", _batch, """
model = tp.Sequential([tp.Input(shape=(784,)), L.Dense(512, activation="relu"),
                       L.Dense(256, activation="relu"), L.Dense(10)])
model.compile(optimizer=tp.optimizers.Adam(1e-3),
              loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
x = rng.random((batch, 784), dtype=np.float32)
y = rng.integers(0, 10, batch)
""", """
model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), 1e-3)
x = torch.rand(batch, 784)
y = torch.randint(0, 10, (batch,))
""", "nn.functional.cross_entropy(model(x), y)")


def _data(quick):
    rng = np.random.default_rng(0)
    n = 2048 if quick else 16384
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


def _epochs(quick):
    return 4 if quick else 12  # batches per timed fit epoch


# --- the contenders: each returns {key: (fn, samples per call)} ---------------------------------------------
def _tapeflow(X, Y, quick):
    import tapeflow as tp

    tp.random.set_seed(0)

    def make():
        model = tp.Sequential([tp.Input(shape=(784,)), tp.layers.Dense(512, activation="relu"),
                               tp.layers.Dense(256, activation="relu"), tp.layers.Dense(10)])
        model.compile(optimizer=tp.optimizers.Adam(1e-3),
                      loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    out = {}
    for b in (32, 128):
        model, n = make(), b * _epochs(quick)
        out[f"fit{b}"] = (lambda m=model, n=n, b=b: m.fit(X[:n], Y[:n], batch_size=b, epochs=1, verbose=0), n)
        out[f"tob{b}"] = (lambda m=model, b=b: m.train_on_batch(X[:b], Y[:b]), b)
    model = make()
    out["infer1024"] = (lambda: model.predict_on_batch(X[:1024]), 1024)
    out["predict1024"] = (lambda: model.predict(X[:8192], batch_size=1024, verbose=0), 8192)
    return out


class _MLP:
    """The hand-written NumPy MLP; ``inplace`` picks the Adam update."""

    def __init__(self, inplace, seed=0):
        rng = np.random.default_rng(seed)
        self.params = []
        for i, o in zip(SIZES[:-1], SIZES[1:]):
            lim = np.sqrt(6 / (i + o))
            self.params += [rng.uniform(-lim, lim, (i, o)).astype(np.float32), np.zeros(o, np.float32)]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.scratch = [(np.empty_like(p), np.empty_like(p)) for p in self.params] if inplace else None
        self.t = 0

    def forward(self, x):
        W1, b1, W2, b2, W3, b3 = self.params
        h1 = x @ W1
        h1 += b1
        np.maximum(h1, 0, out=h1)
        h2 = h1 @ W2
        h2 += b2
        np.maximum(h2, 0, out=h2)
        z = h2 @ W3
        z += b3
        return h1, h2, z

    def step(self, x, y, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7):
        W1, _, W2, _, W3, _ = self.params
        n = len(x)
        h1, h2, z = self.forward(x)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        loss = -np.log(z[np.arange(n), y]).mean()
        z[np.arange(n), y] -= 1  # the fused softmax-cross-entropy gradient
        z /= n
        d2 = z @ W3.T
        d2[h2 <= 0] = 0
        d1 = d2 @ W2.T
        d1[h1 <= 0] = 0
        grads = (x.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ z, z.sum(0))
        self.t += 1
        t = self.t
        if self.scratch is None:
            for i, g in enumerate(grads):  # textbook Adam, NumPy temporaries
                self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
                self.v[i] = beta2 * self.v[i] + (1 - beta2) * g * g
                m_hat = self.m[i] / (1 - beta1**t)
                v_hat = self.v[i] / (1 - beta2**t)
                self.params[i] -= lr * m_hat / (np.sqrt(v_hat) + eps)
        else:
            step = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
            eps_hat = eps * np.sqrt(1 - beta2**t)
            for g, p, m, v, (s1, s2) in zip(grads, self.params, self.m, self.v, self.scratch):
                m *= beta1  # m, v and w in place; the two scratch buffers hold g*g and the step
                np.multiply(g, 1 - beta1, out=s1)
                m += s1
                v *= beta2
                np.multiply(g, g, out=s1)
                s1 *= 1 - beta2
                v += s1
                np.sqrt(v, out=s2)
                s2 += eps_hat
                np.divide(m, s2, out=s1)
                s1 *= step
                p -= s1
        return float(loss)


def _numpy(X, Y, quick, inplace):
    rng = np.random.default_rng(1)
    out = {}
    for b in (32, 128):
        net, n = _MLP(inplace), b * _epochs(quick)

        def epoch(net=net, n=n, b=b):
            order = rng.permutation(n)
            for s in range(0, n, b):
                idx = order[s:s + b]
                net.step(X[idx], Y[idx])

        out[f"fit{b}"] = (epoch, n)
        out[f"tob{b}"] = (lambda net=net, b=b: net.step(X[:b], Y[:b]), b)
    net = _MLP(inplace)
    out["infer1024"] = (lambda: net.forward(X[:1024]), 1024)
    out["predict1024"] = (lambda: [net.forward(X[i:i + 1024])[2] for i in range(0, 8192, 1024)], 8192)
    return out


def _torch(X, Y, quick):
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)

    def make():
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        return model, torch.optim.Adam(model.parameters(), 1e-3)

    out = {}
    for b in (32, 128):
        (model, opt), n = make(), b * _epochs(quick)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        def epoch(n=n, b=b, step=step):
            order = torch.randperm(n)
            for s in range(0, n, b):
                idx = order[s:s + b]
                step(Xt[idx], Yt[idx])

        out[f"fit{b}"] = (epoch, n)
        out[f"tob{b}"] = (lambda b=b, step=step: step(Xt[:b], Yt[:b]), b)
    model, _ = make()

    def infer():
        with torch.no_grad():
            return model(Xt[:1024])

    def predict():
        with torch.no_grad():
            return [model(Xt[i:i + 1024]).numpy() for i in range(0, 8192, 1024)]

    out["infer1024"] = (infer, 1024)
    out["predict1024"] = (predict, 8192)
    return out


_BUILDERS = {"tapeflow": _tapeflow, "numpy": lambda X, Y, q: _numpy(X, Y, q, False),
             "numpy-inplace": lambda X, Y, q: _numpy(X, Y, q, True), "torch": _torch}


def measure(impls, quick=False, keys=None):
    """``{key: {impl: samples/s}}`` for every workload key, the contenders timed in alternating batches in
    this process (``quick``: each function called once, values None)."""
    X, Y = _data(quick)
    fns = {impl: _BUILDERS[impl](X, Y, quick) for impl in impls}
    out = {}
    for key, _ in KEYS:
        if keys is not None and key not in keys:
            continue
        calls = {impl: fns[impl][key][0] for impl in impls}
        if quick:
            for fn in calls.values():
                fn()
            out[key] = {impl: None for impl in impls}
            continue
        times = bench.interleaved(calls, repeat=7, min_time=0.05)
        out[key] = {impl: fns[impl][key][1] / t for impl, t in times.items()}
    out["_threads"] = env.thread_pools()
    return out


_SNIPPET = """{prelude}
import json
from bench.training import measure
print(json.dumps(measure({impls!r}, keys={keys!r})))
"""

MODES = (("same process", "tuned", True), ("separate processes, warm allocator", "tuned", False),
         ("separate processes, cold allocator", "default", False))


def _keys():
    return [(key, label) for key, label in KEYS if bench.chosen(key)]


def _impls():
    return ["tapeflow", "numpy", "numpy-inplace"] + (["torch"] if importlib.util.find_spec("torch") else [])


def run(quick=False, rounds=None):
    """MLP training step (fit, train_on_batch) at batch 32/128 and inference at 1024 vs NumPy and PyTorch."""
    impls = _impls()
    note = "" if "torch" in impls else "PyTorch not installed: its rows are left out"
    if quick:
        measure(impls, quick=True, keys=[k for k, _ in _keys()])
        return [{"workload": label, "impl": impl, "value": None, "unit": "samples/s",
                 "mode": "quick (one call)", "note": note} for _, label in _keys() for impl in impls]
    rounds = rounds or bench.ROUNDS or 3
    keys = [k for k, _ in _keys()]
    rows = []
    for mode, allocator, same in MODES:
        prelude = env.allocator_prelude(allocator)
        if same:
            code = _SNIPPET.format(prelude=prelude, impls=impls, keys=keys)
            runs = [bench.run_snippet(code, timeout=1800) for _ in range(rounds)]
        else:
            snippets = {i: _SNIPPET.format(prelude=prelude, impls=[i], keys=keys) for i in impls}
            result = bench.alternate(snippets, rounds=rounds, env=env.allocator_env(allocator), timeout=1800)
            runs = [{key: {i: result["_all"][i][r][key][i] for i in impls} for key, _ in _keys()}
                    | {"_threads": {i: result["_all"][i][r]["_threads"] for i in impls}}
                    for r in range(rounds)]
        for key, label in _keys():
            values = {i: statistics.median(r[key][i] for r in runs) for i in impls}
            reference = "numpy" if key.startswith(("infer", "predict")) else "numpy-inplace"
            for row in bench.rows(f"{label} [{mode}]", values, unit="samples/s", reference=reference,
                                  lower_is_better=False, note=note):
                row["mode"], row["allocator"] = mode, allocator
                row["rounds"] = [r[key][row["impl"]] for r in runs]
                row["threads"] = runs[0]["_threads"]
                if row["impl"] == "tapeflow":
                    row["speedup_vs_reference"] = values["tapeflow"] / values[reference]
                    need = 1.0 if reference == "numpy" else 1.1
                    row["target"] = f"speedup >= {need} vs {reference}" + (
                        "" if reference == "numpy" or "torch" not in values else ", >= 1.3 vs torch")
                    ok = row["speedup_vs_reference"] >= need
                    if "torch" in values:
                        row["speedup_vs_torch"] = values["tapeflow"] / values["torch"]
                        ok = ok and (reference == "numpy" or row["speedup_vs_torch"] >= 1.3)
                    row["meets_target"] = ok
                rows.append(row)
    return rows
