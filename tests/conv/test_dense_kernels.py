"""The C kernels beside a dense layer's matrix products (``tapeflow._ckernels.bias_act`` and ``act_grad``:
bias + activation in one pass, and the activation's gradient with the bias gradient in one pass) against the
NumPy code they replace, and every instruction-set variant of them, of the Adam kernel and of the window
kernels."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapeflow as tp
from tapeflow.ops import fused
from tests.conv.test_window_kernels import _both, _kernels


def _dense_and_grads(x, kernel, bias, activation):
    """``dense(x, kernel, bias)`` and the gradients of ``sum(dense * weight)`` for x, kernel and bias."""
    xs = [tp.Variable(a) for a in (x, kernel) + (() if bias is None else (bias,))]
    with tp.GradientTape() as tape:
        y = fused.dense(*xs[:2], None if bias is None else xs[2], activation=activation)
        loss = tp.sum(y * np.cos(np.arange(y.numpy().size)).reshape(y.shape).astype(x.dtype))
    return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, xs)]


@settings(max_examples=25, deadline=None)
@given(lead=st.lists(st.integers(0, 5), min_size=1, max_size=2), k=st.integers(1, 6), n=st.integers(1, 9),
       activation=st.sampled_from(["relu", "linear"]), with_bias=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_dense_c_kernels_match_numpy(lead, k, n, activation, with_bias, dtype):
    rng = np.random.default_rng(len(lead) * 100 + k * 10 + n)
    x = rng.standard_normal((*lead, k)).astype(dtype)
    kernel = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype) if with_bias else None
    with pytest.MonkeyPatch.context() as mp:
        reference, fast = _both(lambda: _dense_and_grads(x, kernel, bias, activation), mp)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for r, f in zip(reference, fast):
        assert f.dtype == dtype and f.shape == r.shape
        np.testing.assert_allclose(f, r, rtol=tol, atol=tol)


def test_dense_kernels_take_only_what_they_can(monkeypatch):
    """A sigmoid or a non-contiguous gradient take the NumPy path, with the same values."""
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    kernel = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)
    bias = np.float32([0.5, -0.5])
    reference, fast = _both(lambda: _dense_and_grads(x, kernel, bias, "sigmoid"), monkeypatch)
    for r, f in zip(reference, fast):
        np.testing.assert_allclose(f, r, rtol=1e-6)
    g = np.ones((2, 3), np.float32).T  # Fortran order
    gz, gb = fused._preactivation_grad(fused.fusable.RELU, g, np.float32([[1, -1], [0, 2], [3, 1]]), True)
    np.testing.assert_array_equal(gz, [[1, 0], [0, 1], [1, 1]])
    np.testing.assert_array_equal(gb, [2, 2])


def test_dense_kernels_check_their_arguments():
    k = _kernels()
    y = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match="bias_act takes 4 arguments"):
        k.bias_act(y)
    with pytest.raises(ValueError, match="`b` has 3 elements, expected 4"):
        k.bias_act(y, np.zeros(3, np.float32), 1, 1)
    with pytest.raises(TypeError, match="`gb` must be float32 or float64 like the other arrays"):
        k.act_grad(y, y, y.copy(), np.zeros(4, np.float64), 1, 1)
    with pytest.raises(TypeError, match="`gz` must be an array, not None"):
        k.act_grad(y, y, None, None, 1, 1)


_VARIANT_CHECK = """
import numpy as np
from tapeflow import _ckernels as K
rng = np.random.default_rng(0)
worst = 0.0
for rows, n in ((37, 19), (256, 64), (1, 1)):
    y, b, g = rng.standard_normal((rows, n)), rng.standard_normal(n), rng.standard_normal((rows, n))
    for act in (0, 1):
        y32 = y.astype(np.float32)
        K.bias_act(y32, b.astype(np.float32), act, 3)
        ref = y + b
        worst = max(worst, float(np.abs(y32 - (np.maximum(ref, 0) if act else ref)).max()))
        out = np.maximum(y, 0).astype(np.float32)
        gz, gb = np.empty_like(out), np.empty(n, np.float32)
        K.act_grad(g.astype(np.float32), out, gz if act else None, gb, act, 3)
        ref = g * (out > 0) if act else g
        if act:
            worst = max(worst, float(np.abs(gz - ref).max()))
        worst = max(worst, float(np.abs(gb - ref.sum(0)).max()) / rows)
w, g, m, v = (rng.standard_normal(1001) for _ in range(4))
v = np.abs(v)
w32, m32, v32 = w.astype(np.float32), m.astype(np.float32), v.astype(np.float32)
K.adam(w32, g.astype(np.float32), m32, v32, 0.9, 0.999, 2.0, 1e-3, 2)
m, v = 0.9 * m + g, 0.999 * v + g * g
w -= m / (np.sqrt(v * 2.0) + 1e-3)
worst = max(worst, *(float(np.abs(a - r).max() / np.abs(r).max()) for a, r in ((w32, w), (m32, m), (v32, v))))

import tapeflow as tp
import tapeflow.ops._native as N
from tapeflow.ops import conv, pooling
x = rng.standard_normal((3, 9, 9, 5)).astype(np.float32)
kernel = tp.Variable(rng.standard_normal((3, 3, 5, 6)).astype(np.float32))


def conv_pool():  # im2col, max and average pooling, their gradients and col2im
    with tp.GradientTape() as tape:
        y = conv.conv(tp.constant(x), kernel, padding="same")
        pools = [pooling.max_pool(y, 2, 2), pooling.max_pool(y, 3, 2, "same"),
                 pooling.avg_pool(y, 3, 2, "same")]
        loss = sum(tp.sum(z * z) for z in pools)
    return [z.numpy() for z in pools] + [tape.gradient(loss, kernel).numpy()]


fast = conv_pool()
N.ckernels = None
for a, r in zip(fast, conv_pool()):
    worst = max(worst, float(np.abs(a - r).max() / np.abs(r).max()))
print(K.ISA, worst)
"""


@pytest.mark.parametrize("isa", ["baseline", "x86-64-v3", ""])
def test_every_instruction_set_variant_matches_numpy(isa):
    """The float32 dense, Adam, window and pooling kernels are compiled for several instruction sets
    (TAPEFLOW_CKERNELS_ISA caps the choice at import): each must agree with NumPy."""
    _kernels()
    env = dict(os.environ, TAPEFLOW_CKERNELS_ISA=isa)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", _VARIANT_CHECK], env=env, capture_output=True, text=True,
                            cwd=root, check=True)
    ran, worst = result.stdout.split()
    assert ran in {"baseline", "x86-64-v3", "x86-64-v4"}
    if isa:
        assert ran in (isa, "baseline")
    assert float(worst) < 1e-5
