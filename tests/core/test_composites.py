"""Functions built from several ops (not registry entries themselves): values against NumPy and float64
gradient checks, so the composition is right too."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tests.core.gradcheck import assert_gradients

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))

COMPOSITES = [
    ("var", lambda x: tp.var(x, axis=1), lambda x: np.var(x, axis=1)),
    ("var-ddof1", lambda x: tp.var(x, ddof=1), lambda x: np.var(x, ddof=1)),
    ("std", lambda x: tp.std(x, axis=0, keepdims=True), lambda x: np.std(x, axis=0, keepdims=True)),
    ("norm", lambda x: tp.norm(x), lambda x: np.linalg.norm(x)),
    ("norm-1", lambda x: tp.norm(x, ord=1, axis=1), lambda x: np.linalg.norm(x, ord=1, axis=1)),
    ("norm-inf", lambda x: tp.norm(x, ord=np.inf, axis=0), lambda x: np.linalg.norm(x, ord=np.inf, axis=0)),
    ("norm-3", lambda x: tp.norm(x, ord=3, axis=1), lambda x: np.sum(np.abs(x) ** 3, axis=1) ** (1 / 3)),
    ("split", lambda x: tp.split(x, [1, -1, 2], axis=1)[1] * 2, lambda x: np.split(x, [1, 2], axis=1)[1] * 2),
    ("unstack", lambda x: tp.unstack(x, axis=1)[2], lambda x: x[:, 2]),
    ("swapaxes", lambda x: tp.swapaxes(x, 0, 1), lambda x: np.swapaxes(x, 0, 1)),
    ("take-flat", lambda x: tp.take(x, [0, 5, 5, 11]), lambda x: np.take(x, [0, 5, 5, 11])),
    ("flatten", tp.flatten, lambda x: x.reshape(-1)),
    ("dot-nd", lambda x: tp.dot(tp.reshape(x, (3, 2, 2)), tp.reshape(x, (2, 2, 3))),
     lambda x: np.dot(x.reshape(3, 2, 2), x.reshape(2, 2, 3))),
    ("mean-of-softmax", lambda x: tp.mean(tp.softmax(x) * x), lambda x: np.mean(
        np.exp(x) / np.exp(x).sum(-1, keepdims=True) * x)),
    ("value", lambda x: tp.Variable(x).value() * 1.0, lambda x: x),
]


@pytest.mark.parametrize("name, fn, ref", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_composite_values_and_gradients(name, fn, ref):
    np.testing.assert_allclose(fn(tp.constant(X)).numpy(), ref(X), rtol=1e-10)
    if name != "value":  # a new Variable is a new leaf: no gradient flows to x
        assert_gradients(fn, [X])


def test_numerically_stable_functions():
    big = tp.constant([1000.0, 0.0, -1000.0])
    assert np.allclose(tp.softmax(big).numpy(), [1.0, 0.0, 0.0])
    assert np.isfinite(tp.log_softmax(big).numpy()).all()
    assert np.allclose(tp.sigmoid(big).numpy(), [1.0, 0.5, 0.0])
    assert np.allclose(tp.softplus(big).numpy(), [1000.0, np.log(2.0), 0.0])
    assert np.isclose(float(tp.logsumexp(big)), 1000.0)
    x = tp.Variable([1000.0, -1000.0])
    with tp.GradientTape() as tape:
        y = tp.sum(tp.log_softmax(x) + tp.sigmoid(x) + tp.softplus(x))
    assert np.isfinite(tape.gradient(y, x).numpy()).all()
