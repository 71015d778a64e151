"""Core engine overhead: tiny taped expressions, a 100-expression chain forward+backward, large-array ops.

Targets from issue 2, as ratios of tapeflow's time to the reference's, measured in the same run:

* ``y = x*2 + 1`` on a 4x4 float32 Variable recorded on an open tape (PyTorch: a ``requires_grad`` leaf):
  <= 0.6x PyTorch. A second row opens a new ``GradientTape`` around each expression (PyTorch has no
  counterpart, so its figure is the same expression's).
* a chain of 100 such expressions (``y = y*0.5 + 1``, 200 primitive ops) on 4x4, then ``sum`` and the
  gradient: <= 0.75x PyTorch.
* 1e6-element ``x*2 + 1`` and ``exp`` (taped), 1024x1024 ``matmul`` (taped) and its forward+backward:
  <= 1.1x raw NumPy (NumPy's backward written by hand: ``g @ b.T``, ``a.T @ g``).

tapeflow and PyTorch run in fresh subprocesses, alternating for several rounds (``bench.alternate``); each
figure is the median over rounds of medians over batches. The NumPy references run inside the tapeflow
process,
in batches alternating with tapeflow's (``bench.interleaved``), so both see the same load on a shared machine.
"""

from __future__ import annotations

import bench

_COMMON = """
import json
import numpy as np
from bench import interleaved, per_call
QUICK = {quick}
R = {{}}
"""

_TAPEFLOW = _COMMON + """
import tapeflow as tp
x = tp.Variable(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32))
xn = x.numpy().copy()
tape = tp.GradientTape(persistent=True)
with tape:  # the tape records every expression (each one's nodes are freed when its result is dropped)
    t = interleaved({{"tapeflow": lambda: x * 2 + 1, "numpy": lambda: xn * 2 + 1}})
R["expr"] = t
def expr_fresh():
    with tp.GradientTape():
        y = x * 2 + 1
R["expr_fresh"] = {{"tapeflow": per_call(expr_fresh), "numpy": t["numpy"]}}
def chain():
    with tp.GradientTape() as tape:
        y = x
        for _ in range(100):
            y = y * 0.5 + 1
        s = tp.sum(y)
    tape.gradient(s, x)
R["chain"] = {{"tapeflow": per_call(chain)}}
big = tp.Variable(np.random.default_rng(1).standard_normal(10**6).astype(np.float32))
bn = big.numpy().copy()
def taped(f):
    def run():
        with tp.GradientTape():
            f()
    return run
R["big_ew"] = interleaved({{"tapeflow": taped(lambda: big * 2 + 1), "numpy": lambda: bn * 2 + 1}})
R["big_exp"] = interleaved({{"tapeflow": taped(lambda: tp.exp(big)), "numpy": lambda: np.exp(bn)}})
n = 256 if QUICK else 1024
a = tp.Variable(np.random.default_rng(2).standard_normal((n, n)).astype(np.float32))
b = tp.Variable(np.random.default_rng(3).standard_normal((n, n)).astype(np.float32))
an, bn2 = a.numpy().copy(), b.numpy().copy()
g = tp.ones((n, n))
gn = g.numpy()
def mm_fb():
    with tp.GradientTape() as tape:
        y = a @ b
    tape.gradient(y, [a, b], output_gradients=g)
def mm_fb_numpy():
    y = an @ bn2
    return gn @ bn2.T, an.T @ gn
R["matmul"] = interleaved({{"tapeflow": taped(lambda: a @ b), "numpy": lambda: an @ bn2}}, repeat=5)
R["matmul_fb"] = interleaved({{"tapeflow": mm_fb, "numpy": mm_fb_numpy}}, repeat=5)
print(json.dumps(R))
"""

_TORCH = _COMMON + """
import torch
x = torch.tensor(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32), requires_grad=True)
R["expr"] = {{"torch": per_call(lambda: x * 2 + 1)}}
R["expr_fresh"] = R["expr"]
def chain():
    y = x
    for _ in range(100):
        y = y * 0.5 + 1
    s = y.sum()
    torch.autograd.grad(s, x)
R["chain"] = {{"torch": per_call(chain)}}
big = torch.tensor(np.random.default_rng(1).standard_normal(10**6).astype(np.float32), requires_grad=True)
R["big_ew"] = {{"torch": per_call(lambda: big * 2 + 1)}}
R["big_exp"] = {{"torch": per_call(lambda: torch.exp(big))}}
n = 256 if QUICK else 1024
a = torch.tensor(np.random.default_rng(2).standard_normal((n, n)).astype(np.float32), requires_grad=True)
b = torch.tensor(np.random.default_rng(3).standard_normal((n, n)).astype(np.float32), requires_grad=True)
R["matmul"] = {{"torch": per_call(lambda: a @ b, repeat=5)}}
g = torch.ones((n, n))
def mm_fb():
    y = a @ b
    torch.autograd.grad(y, [a, b], grad_outputs=g)
R["matmul_fb"] = {{"torch": per_call(mm_fb, repeat=5)}}
print(json.dumps(R))
"""

# workload key -> (description, reference, target ratio)
WORKLOADS = {
    "expr": ("y = x*2 + 1, 4x4, on an open tape", "torch", 0.6),
    "expr_fresh": ("same, a new GradientTape each time", "torch", 0.6),
    "chain": ("chain of 100 y*0.5+1, 4x4, fwd+bwd", "torch", 0.75),
    "big_ew": ("x*2 + 1, 1e6 float32, taped", "numpy", 1.1),
    "big_exp": ("exp, 1e6 float32, taped", "numpy", 1.1),
    "matmul": ("matmul 1024^2 float32, taped", "numpy", 1.1),
    "matmul_fb": ("matmul 1024^2 fwd+bwd", "numpy", 1.1),
}


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def run(quick=False):
    """Time the core workloads; return one row per (workload, implementation).

    Args:
        quick: one round and a 256x256 matmul instead of five rounds and 1024x1024 (a smoke run).

    Returns:
        Rows ``{workload, impl, value, unit, reference, ratio_vs_reference, target, meets_target}``; values
        are microseconds per call (medians). Without PyTorch its rows, and the ratios against it, are missing.
    """
    snippets = {"tapeflow": _TAPEFLOW}
    if _torch_available():
        snippets["torch"] = _TORCH
    snippets = {k: v.format(quick=quick) for k, v in snippets.items()}
    measured = bench.alternate(snippets, rounds=1 if quick else 5)
    out = []
    for key, (label, reference, target) in WORKLOADS.items():
        if quick and key.startswith("matmul"):
            label = label.replace("1024^2", "256^2")
        values = {name: v * 1e6 for impl in snippets for name, v in measured[impl][key].items()}
        if reference not in values:
            reference, target = ("numpy", None) if "numpy" in values else (None, None)
        rows = bench.rows(label, values, unit="us", reference=reference, target=target)
        for row in rows:  # every round's figure, so the whole range can be quoted
            row["rounds"] = [r[key][row["impl"]] * 1e6 for impl in snippets for r in measured["_all"][impl]
                             if row["impl"] in r[key]]
        out.extend(rows)
    return out
