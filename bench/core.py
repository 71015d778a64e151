"""Core engine overhead: tiny taped expressions, a 100-op chain forward+backward, and large-array ops.

Each implementation runs in its own fresh subprocess, alternating tapeflow / PyTorch eager / NumPy for several
rounds (``bench.alternate``); each figure is the median of those rounds, each round a median of batches.

Workloads (targets from issue 2, as ratios of tapeflow's time to the reference's, measured in the same run):

* ``y = x*2 + 1`` on a 4x4 float32 tensor recorded on a tape (tapeflow: a fresh ``GradientTape`` around the
  expression on a Variable; PyTorch: ``requires_grad`` leaf): <= 0.6x PyTorch.
* a chain of 100 such expressions (``y = y*0.5 + 1``, 200 primitive ops) on 4x4, then ``sum`` and the
  gradient: <= 0.75x PyTorch.
* 1e6-element ``x*2 + 1`` and ``exp`` (taped), 1024x1024 ``matmul`` (taped) and its forward+backward:
  <= 1.1x raw NumPy (NumPy's backward written by hand: ``g @ b.T``, ``a.T @ g``).
"""

from __future__ import annotations

import bench

_COMMON = """
import json, sys
import numpy as np
from bench import per_call
QUICK = {quick}
R = {{}}
"""

_TAPEFLOW = _COMMON + """
import tapeflow as tp
x = tp.Variable(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32))
def expr():
    with tp.GradientTape():
        y = x * 2 + 1
R["expr"] = per_call(expr)
def chain():
    with tp.GradientTape() as tape:
        y = x
        for _ in range(100):
            y = y * 0.5 + 1
        s = tp.sum(y)
    tape.gradient(s, x)
R["chain"] = per_call(chain)
big = tp.Variable(np.random.default_rng(1).standard_normal(10**6).astype(np.float32))
def big_ew():
    with tp.GradientTape():
        y = big * 2 + 1
R["big_ew"] = per_call(big_ew)
def big_exp():
    with tp.GradientTape():
        y = tp.exp(big)
R["big_exp"] = per_call(big_exp)
n = 256 if QUICK else 1024
a = tp.Variable(np.random.default_rng(2).standard_normal((n, n)).astype(np.float32))
b = tp.Variable(np.random.default_rng(3).standard_normal((n, n)).astype(np.float32))
def mm():
    with tp.GradientTape():
        y = a @ b
R["matmul"] = per_call(mm)
g = tp.ones((n, n))
def mm_fb():
    with tp.GradientTape() as tape:
        y = a @ b
    tape.gradient(y, [a, b], output_gradients=g)
R["matmul_fb"] = per_call(mm_fb)
print(json.dumps(R))
"""

_TORCH = _COMMON + """
import torch
x = torch.tensor(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32), requires_grad=True)
def expr():
    y = x * 2 + 1
R["expr"] = per_call(expr)
def chain():
    y = x
    for _ in range(100):
        y = y * 0.5 + 1
    s = y.sum()
    torch.autograd.grad(s, x)
R["chain"] = per_call(chain)
big = torch.tensor(np.random.default_rng(1).standard_normal(10**6).astype(np.float32), requires_grad=True)
R["big_ew"] = per_call(lambda: big * 2 + 1)
R["big_exp"] = per_call(lambda: torch.exp(big))
n = 256 if QUICK else 1024
a = torch.tensor(np.random.default_rng(2).standard_normal((n, n)).astype(np.float32), requires_grad=True)
b = torch.tensor(np.random.default_rng(3).standard_normal((n, n)).astype(np.float32), requires_grad=True)
R["matmul"] = per_call(lambda: a @ b)
g = torch.ones((n, n))
def mm_fb():
    y = a @ b
    torch.autograd.grad(y, [a, b], grad_outputs=g)
R["matmul_fb"] = per_call(mm_fb)
print(json.dumps(R))
"""

_NUMPY = _COMMON + """
x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
R["expr"] = per_call(lambda: x * 2 + 1)
big = np.random.default_rng(1).standard_normal(10**6).astype(np.float32)
R["big_ew"] = per_call(lambda: big * 2 + 1)
R["big_exp"] = per_call(lambda: np.exp(big))
n = 256 if QUICK else 1024
a = np.random.default_rng(2).standard_normal((n, n)).astype(np.float32)
b = np.random.default_rng(3).standard_normal((n, n)).astype(np.float32)
R["matmul"] = per_call(lambda: a @ b)
g = np.ones((n, n), np.float32)
def mm_fb():
    y = a @ b
    return g @ b.T, a.T @ g
R["matmul_fb"] = per_call(mm_fb)
print(json.dumps(R))
"""

# workload key -> (description, reference, target ratio)
WORKLOADS = {
    "expr": ("y = x*2 + 1, 4x4, taped", "torch", 0.6),
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
    """Time the core workloads in alternating subprocesses; return one row per (workload, implementation).

    Args:
        quick: one round and a 256x256 matmul instead of three rounds and 1024x1024 (a smoke run).

    Returns:
        Rows ``{workload, impl, value, unit, reference, ratio_vs_reference, target, meets_target}``; values
        are microseconds per call (medians). Without PyTorch its rows, and the ratios against it, are missing.
    """
    snippets = {"tapeflow": _TAPEFLOW, "numpy": _NUMPY}
    if _torch_available():
        snippets["torch"] = _TORCH
    snippets = {k: v.format(quick=quick) for k, v in snippets.items()}
    measured = bench.alternate(snippets, rounds=1 if quick else 3)
    out = []
    for key, (label, reference, target) in WORKLOADS.items():
        if quick and key.startswith("matmul"):
            label = label.replace("1024^2", "256^2")
        values = {impl: m[key] * 1e6 for impl, m in measured.items() if not impl.startswith("_") and key in m}
        if reference not in values:
            reference = "numpy" if "numpy" in values else None
            target = None
        out.extend(bench.rows(label, values, unit="us", reference=reference, target=target))
    return out
