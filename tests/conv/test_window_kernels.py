"""The C window kernels of convolution and pooling (im2col, col2im, max/average pooling and their gradients,
``tapeflow._ckernels``) against the NumPy code they replace, over drawn geometries.

Each comparison runs the same op twice, once with ``tapeflow.ops._native.ckernels`` set to None (the NumPy
path, what runs without a compiler) and once with the built extension split across several threads. The
tests skip with a reason when the extension is not built, except under CI, where that is a failure.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapeflow as tp
import tapeflow.ops._native as N
from tapeflow.ops import conv as C
from tapeflow.ops import pooling as P

BUILT = N.load()


def _kernels():
    if BUILT is None:
        message = ("tapeflow._ckernels is not built or is stale "
                   "(`python setup.py build_ext --inplace` rebuilds it)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return BUILT


def spy_on(monkeypatch, kernels):
    """Route the ops' use of ``kernels`` through a spy; returns the list of kernel names they look up."""
    calls = []

    class Spy:
        VERSION = kernels.VERSION

        def __getattr__(self, name):
            calls.append(name)
            return getattr(kernels, name)

    monkeypatch.setattr(N, "ckernels", Spy())
    return calls


def _both(fn, monkeypatch):
    """``fn()`` on the NumPy path, then on the C path with a thread per sample (up to the core count)."""
    kernels = _kernels()
    monkeypatch.setattr(N, "ckernels", None)
    reference = fn()
    monkeypatch.setattr(N, "ckernels", kernels)
    monkeypatch.setattr(N, "_PER_THREAD", 1)  # threads even for tiny inputs
    monkeypatch.setattr(N, "CORES", 3)
    return reference, fn()


def _value_and_grads(op, x, weight):
    """``op(x)``, and the gradient of ``sum(op(x) * weight)`` with respect to x."""
    xv = tp.Variable(x)
    with tp.GradientTape() as tape:
        y = op(xv)
        loss = tp.sum(y * weight)
    return y.numpy(), tape.gradient(loss, xv).numpy()


geometry = st.fixed_dictionaries({
    "nd": st.sampled_from([1, 2]),
    "batch": st.integers(1, 4),
    "size": st.integers(3, 9),
    "channels": st.integers(1, 8),
    "kernel": st.integers(1, 3),
    "stride": st.integers(1, 3),
    "dilation": st.integers(1, 2),
    "padding": st.sampled_from(["valid", "same"]),
    "dtype": st.sampled_from([np.float32, np.float64]),
})


def _input(g, seed=0):
    rng = np.random.default_rng(seed)
    shape = (g["batch"], *(g["size"],) * g["nd"], g["channels"])
    return rng.standard_normal(shape).astype(g["dtype"])


def _close(a, b, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@settings(max_examples=40, deadline=None)
@given(geometry)
def test_extract_and_fold_patches_match_numpy(g):
    if g["stride"] > 1 and g["dilation"] > 1:
        g["dilation"] = 1
    x = _input(g)
    kw = dict(kernel_size=g["kernel"], strides=g["stride"], padding=g["padding"], dilation_rate=g["dilation"])
    out_shape = C.extract_patches(tp.constant(x), **kw).shape
    weight = np.random.default_rng(1).standard_normal(out_shape).astype(g["dtype"])
    with pytest.MonkeyPatch.context() as mp:
        (y0, d0), (y1, d1) = _both(lambda: _value_and_grads(lambda v: C.extract_patches(v, **kw), x, weight),
                                   mp)
    np.testing.assert_array_equal(y0, y1)  # a copy: exact
    _close(d0, d1, g["dtype"])  # the fold sums in another order


@settings(max_examples=40, deadline=None)
@given(geometry, st.sampled_from(["max", "avg"]))
def test_pooling_matches_numpy(g, kind):
    x = _input(g)
    pool = P.max_pool if kind == "max" else P.avg_pool
    kw = dict(pool_size=g["kernel"], strides=g["stride"], padding=g["padding"])
    out_shape = pool(tp.constant(x), **kw).shape
    weight = np.random.default_rng(2).standard_normal(out_shape).astype(g["dtype"])
    with pytest.MonkeyPatch.context() as mp:
        (y0, d0), (y1, d1) = _both(lambda: _value_and_grads(lambda v: pool(v, **kw), x, weight), mp)
    assert y1.dtype == y0.dtype == g["dtype"]
    _close(y0, y1, g["dtype"])
    _close(d0, d1, g["dtype"])


def test_max_pool_ties_go_to_the_first_element_and_nan_wins(monkeypatch):
    x = np.array([[[[1.0], [1.0]], [[1.0], [0.0]]], [[[2.0], [np.nan]], [[3.0], [0.0]]]], np.float32)
    weight = np.ones((2, 1, 1, 1), np.float32)
    (y0, d0), (y1, d1) = _both(lambda: _value_and_grads(lambda v: P.max_pool(v, 2), x, weight), monkeypatch)
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(d1, d0)
    assert np.isnan(y1[1]).all() and d1[0, 0, 0, 0] == 1 and d1[0].sum() == 1 and not d1[1].any()


def test_conv_training_step_matches_numpy(monkeypatch):
    """A small CNN's gradients agree on both paths (conv, pooling, the fused dense over patches)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 10, 10, 2)).astype(np.float32)

    def grads():
        tp.random.set_seed(0)
        model = tp.Sequential([tp.Input(shape=(10, 10, 2)), tp.layers.Conv2D(4, 3, activation="relu"),
                               tp.layers.MaxPooling2D(2), tp.layers.Conv2D(3, 2, padding="same"),
                               tp.layers.AveragePooling2D(2, padding="same"), tp.layers.Flatten()])
        with tp.GradientTape() as tape:
            loss = tp.sum(model(x) ** 2)
        return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]

    reference, fast = _both(grads, monkeypatch)
    for a, b in zip(reference, fast):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_kernels_check_their_arguments():
    k = _kernels()
    x = np.zeros((2, 5, 5, 3), np.float32)
    with pytest.raises(TypeError, match="im2col takes 12 arguments"):
        k.im2col(x)
    with pytest.raises(ValueError, match="im2col: shapes do not fit"):
        k.im2col(x, np.empty((2, 3, 3, 4, 3), np.float32), 3, 3, 1, 1, 1, 1, 0, 0, 1, 0.0)
    with pytest.raises(ValueError, match="window, strides and dilation must be >= 1"):
        k.max_pool(x, np.empty((2, 2, 2, 3), np.float32), 2, 2, 0, 2, 1, 1, 0, 0, 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        k.avg_pool(x, np.empty((2, 2, 2, 3), np.float64), 2, 2, 2, 2, 1, 1, 0, 0, 1)
    with pytest.raises(ValueError, match="g must match y"):
        k.max_pool_grad(x, np.empty((2, 2, 2, 3), np.float32), np.empty(3, np.float32), x.copy(),
                        2, 2, 2, 2, 1, 1, 0, 0, 1)
