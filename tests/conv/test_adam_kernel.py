"""The one-pass C Adam update (``tapeflow._ckernels.adam``) against the NumPy update it replaces."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
import tapeflow.ops._native as N
from tests.conv.test_window_kernels import _kernels, spy_on


def _train(steps, dtype, shape, **adam):
    rng = np.random.default_rng(0)
    w = tp.Variable(rng.standard_normal(shape).astype(dtype))
    opt = tp.optimizers.Adam(learning_rate=0.01, **adam)
    for _ in range(steps):
        opt.apply_gradients([(tp.constant(rng.standard_normal(shape).astype(dtype)), w)])
    return w.numpy()


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("shape", [(3,), (70, 1000), ()])
def test_c_adam_matches_numpy(monkeypatch, dtype, tol, shape):
    kernels = _kernels()
    monkeypatch.setattr(N, "ckernels", None)
    reference = _train(5, dtype, shape)
    monkeypatch.setattr(N, "ckernels", kernels)
    monkeypatch.setattr(N, "CORES", 3)  # the 70,000-element case splits across 3 threads
    fast = _train(5, dtype, shape)
    assert fast.dtype == dtype
    np.testing.assert_allclose(fast, reference, rtol=tol, atol=tol)


def test_amsgrad_and_other_dtypes_take_the_numpy_update(monkeypatch):
    calls = spy_on(monkeypatch, _kernels())
    _train(2, np.float32, (4,), amsgrad=True)
    _train(2, np.float16, (4,))
    assert calls == []
    _train(2, np.float32, (4,))
    assert calls == ["adam", "adam"]


def test_adam_kernel_checks_its_arguments():
    k = _kernels()
    w = np.zeros(4, np.float32)
    with pytest.raises(TypeError, match="adam takes 9 arguments"):
        k.adam(w)
    with pytest.raises(ValueError, match="`m` has 3 elements, expected 4"):
        k.adam(w, w.copy(), np.zeros(3, np.float32), w.copy(), 0.9, 0.999, 1.0, 1e-7, 1)


def test_fit_updates_every_float32_variable_with_the_c_kernel(monkeypatch):
    """``fit``'s Adam takes the one-pass C update for every variable, with threads for the large ones."""
    kernels = _kernels()
    calls = []

    class Spy:
        VERSION = kernels.VERSION

        def __getattr__(self, name):
            fn = getattr(kernels, name)
            if name != "adam":
                return fn

            def adam(w, *args):
                calls.append((w.size, args[-1]))
                return fn(w, *args)

            return adam

    monkeypatch.setattr(N, "ckernels", Spy())
    monkeypatch.setattr(N, "CORES", 2)
    layers = [tp.Input(shape=(600,)), tp.layers.Dense(300, activation="relu"), tp.layers.Dense(3)]
    model = tp.Sequential(layers)
    model.compile(optimizer=tp.optimizers.Adam(1e-3),
                  loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((64, 600), dtype=np.float32)
    model.fit(x, np.arange(64) % 3, batch_size=32, epochs=1, verbose=0)
    assert sorted(calls) == sorted([(3, 1), (300, 1), (900, 1), (180000, 2)] * 2)
