"""Fused training ops beyond the value and gradient checks of tests/training/op_cases_training.py."""

from __future__ import annotations

import numpy as np

import tapeflow as tp
from tapeflow.ops import fused


def test_fused_dense_gradient_with_plain_array_inputs():
    """Inputs given as NumPy arrays are saved as arrays, not Tensors: the rules must take both."""
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    w = tp.Variable(np.ones((3, 2), dtype="float32"))
    with tp.GradientTape() as tape:
        y = tp.sum(fused.dense(x, w, None, activation="tanh"))
    np.testing.assert_allclose(
        tape.gradient(y, w).numpy(), x.T @ (1 - np.tanh(x @ np.ones((3, 2))) ** 2), rtol=1e-5
    )
