"""Fused training ops beyond the value and gradient checks of tests/training/op_cases_training.py."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_one_activation_table_looked_up_by_object():
    from tapeflow.ops import fusable

    for fn in (tp.relu, tp.activations.relu, fusable.RELU):
        assert fusable.lookup(fn) is fusable.RELU
    assert fusable.lookup(tp.activations.tanh) is fusable.lookup(tp.tanh) is fusable.TANH
    assert fusable.lookup(tp.activations.get(None)) is fusable.LINEAR
    assert fusable.lookup(lambda x: x) is None
    assert fusable.lookup(tp.activations.softmax) is None
    x, w, b = tp.constant([[1.0, -2.0]]), tp.constant([[1.0], [1.0]]), tp.constant([0.5])
    for fn in ("relu", tp.relu, tp.activations.relu):
        np.testing.assert_array_equal(fused.dense(x, w, b, activation=fn).numpy(), [[0.0]])
    with pytest.raises(ValueError, match="dense: `activation` must be one of"):
        fused.dense(x, w, b, activation="softmax")
    # the layers find the fused path through the same table, whichever spelling the user chose
    assert tp.layers.Dense(2, activation=tp.relu)._fused_activation is fusable.RELU
    assert tp.layers.Dense(2, activation="sigmoid")._fused_activation is None  # keeps its logits, as Keras


def test_fusable_entries_pickle_as_themselves():
    import pickle

    from tapeflow.ops import fusable

    for entry in (fusable.LINEAR, fusable.RELU, fusable.TANH, fusable.SIGMOID):
        assert pickle.loads(pickle.dumps(entry)) is entry
