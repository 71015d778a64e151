"""Every layer through ``check_layer``, plus the behaviors the harness cannot see (dropout statistics,
batch-norm moving averages, sub-layer tracking, names, errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import layers as L
from tests.training.harness import check_layer

CASES = [
    (L.Dense, {"units": 4}, (3, 5), (3, 4), 2, [(5, 4), (4,)]),
    (L.Dense, {"units": 4, "activation": "relu"}, (3, 5), (3, 4), 2, None),
    (L.Dense, {"units": 4, "activation": "tanh", "use_bias": False}, (3, 5), (3, 4), 1, [(5, 4)]),
    (L.Dense, {"units": 4, "activation": "sigmoid"}, (3, 5), (3, 4), 2, None),
    (L.Dense, {"units": 3, "activation": "softmax"}, (3, 5), (3, 3), 2, None),
    (L.Dense, {"units": 2, "activation": "gelu"}, (2, 3, 5), (2, 3, 2), 2, None),
    (
        L.Dense,
        {"units": 2, "kernel_regularizer": "l2", "kernel_initializer": "he_normal"},
        (3, 5),
        (3, 2),
        2,
        None,
    ),
    (L.Activation, {"activation": "selu"}, (3, 4), (3, 4), 0, None),
    (L.Activation, {"activation": "log_softmax"}, (3, 4), (3, 4), 0, None),
    (L.Dropout, {"rate": 0.5}, (3, 4), (3, 4), 0, None),
    (L.Flatten, {}, (2, 3, 4), (2, 12), 0, None),
    (L.Reshape, {"target_shape": (2, -1)}, (2, 12), (2, 2, 6), 0, None),
    (L.Permute, {"dims": (2, 1)}, (2, 3, 4), (2, 4, 3), 0, None),
    (L.RepeatVector, {"n": 3}, (2, 4), (2, 3, 4), 0, None),
    (L.LayerNormalization, {}, (3, 5), (3, 5), 2, [(5,), (5,)]),
    (L.LayerNormalization, {"axis": [1, 2], "center": False}, (2, 3, 4), (2, 3, 4), 1, [(3, 4)]),
    (L.Add, {}, [(3, 4), (3, 4), (3, 4)], (3, 4), 0, None),
    (L.Subtract, {}, [(3, 4), (3, 4)], (3, 4), 0, None),
    (L.Multiply, {}, [(3, 4), (3, 4)], (3, 4), 0, None),
    (L.Average, {}, [(3, 4), (3, 4)], (3, 4), 0, None),
    (L.Maximum, {}, [(3, 4), (3, 4)], (3, 4), 0, None),
    (L.Minimum, {}, [(3, 4), (3, 4)], (3, 4), 0, None),
    (L.Concatenate, {"axis": -1}, [(3, 4), (3, 2)], (3, 6), 0, None),
    (L.Concatenate, {"axis": 1}, [(2, 1, 3), (2, 2, 3)], (2, 3, 3), 0, None),
]


@pytest.mark.parametrize(
    "cls, kwargs, input_shape, expected, n_trainable, shapes",
    CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_layer(cls, kwargs, input_shape, expected, n_trainable, shapes):
    check_layer(cls, kwargs, input_shape, expected, n_trainable, weight_shapes=shapes)


def test_batch_normalization_training_and_inference():
    layer = check_layer(
        L.BatchNormalization,
        {"momentum": 0.5},
        (6, 3),
        (6, 3),
        2,
        [(3,), (3,)],
        training=True,
        n_non_trainable=2,
    )
    check_layer(
        L.BatchNormalization,
        {"axis": 1},
        (4, 3, 2),
        (4, 3, 2),
        2,
        [(3,), (3,)],
        training=True,
        n_non_trainable=2,
    )
    x = np.random.default_rng(1).normal(5.0, 2.0, (64, 3))
    y = layer(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(y.std(0), np.sqrt(x.var(0) / (x.var(0) + 1e-3)), rtol=1e-6)
    before = layer.moving_mean.numpy().copy()
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * before + 0.5 * x.mean(0), rtol=1e-10)
    # inference uses the moving statistics, and does not update them
    mm, mv = layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy()
    out = layer(x, training=False).numpy()
    np.testing.assert_allclose(out, (x - mm) / np.sqrt(mv + 1e-3) * layer.gamma.numpy() + layer.beta.numpy())
    np.testing.assert_array_equal(layer.moving_mean.numpy(), mm)


def test_embedding():
    layer = check_layer(
        L.Embedding, {"input_dim": 7, "output_dim": 3}, (2, 5), (2, 5, 3), 1, [(7, 3)], int_inputs=7
    )
    idx = np.array([[0, 6, 6]])
    np.testing.assert_array_equal(layer(idx).numpy()[0, 1], layer.embeddings.numpy()[6])


@pytest.mark.host_only(reason="index range checks read the indices on the host; device backends skip them")
def test_embedding_index_out_of_range():
    layer = L.Embedding(input_dim=7, output_dim=3)
    with pytest.raises(ValueError, match=r"index 7 is outside \[0, 7\)"):
        layer(np.array([[1, 7]]))


def test_dropout_statistics_and_seed():
    tp.random.set_seed(3)
    layer = L.Dropout(0.25)
    x = np.ones((200, 50), dtype="float32")
    y = layer(x, training=True).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(
        layer(x).numpy(), x
    )  # inference (training=None outside fit) is the identity
    tp.random.set_seed(3)
    np.testing.assert_array_equal(L.Dropout(0.25)(x, training=True).numpy(), y)
    with pytest.raises(ValueError, match=r"`rate` must be a number in \[0, 1\). Received: rate=1.5"):
        L.Dropout(1.5)


def test_training_flag_flows_to_inner_layers():
    class Net(tp.Model):
        def __init__(self):
            super().__init__()
            self.drop = L.Dropout(0.5)

        def call(self, x, training=None):
            return self.drop(x)  # no explicit flag: inherits the model call's

    x = np.ones((10, 10), dtype="float32")
    assert (Net()(x, training=True).numpy() == 0).any()
    np.testing.assert_array_equal(Net()(x, training=False).numpy(), x)


def test_names_are_unique_and_weights_tracked():
    tp.layers.clear_session()
    a, b = L.Dense(2), L.Dense(2)
    assert (a.name, b.name) == ("dense", "dense_1")

    class Block(L.Layer):
        def __init__(self):
            super().__init__()
            self.inner = [L.Dense(3), L.Dense(2)]
            self.scale = tp.Variable(1.0, name="scale")

        def call(self, x):
            for layer in self.inner:
                x = layer(x)
            return x * self.scale

    block = Block()
    block(np.ones((1, 4)))
    assert [w.name for w in block.weights] == [
        "scale",
        "dense_2/kernel",
        "dense_2/bias",
        "dense_3/kernel",
        "dense_3/bias",
    ]
    block.inner[0].trainable = False
    assert len(block.trainable_weights) == 3 and len(block.non_trainable_weights) == 2


def test_layer_accepts_numpy_and_casts_to_its_dtype():
    layer = L.Dense(2)
    out = layer(np.ones((1, 3), dtype=np.float64))
    assert out.dtype == np.float32
    assert layer(np.ones((1, 3), dtype=np.int64)).dtype == np.float32


def test_shape_errors_name_layer_and_shapes():
    layer = L.Dense(4, name="hidden")
    layer(np.ones((2, 3)))
    with pytest.raises(
        tp.ShapeError,
        match=r"Layer 'hidden' \(Dense\).*expected \(\.\.\., 3\), received input "
        r"shape \(2, 5\)",
    ):
        layer(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"`units` must be a positive integer. Received: units=0"):
        L.Dense(0)
    with pytest.raises(ValueError, match="Unknown activation 'relux'. Choose one of"):
        L.Dense(2, activation="relux")
    with pytest.raises(tp.ShapeError, match=r"Layer 'add.*' \(Add\): inputs must have the same shape"):
        L.Add()([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(tp.ShapeError, match=r"Reshape.*cannot reshape 6 values"):
        L.Reshape((4,))(np.ones((2, 6)))
    with pytest.raises(ValueError, match="not built yet"):
        L.Dense(2).count_params()


def test_deserialize_refuses_unknown_classes_and_needs_json_only():
    with pytest.raises(ValueError, match="Unknown layer class 'Evil'.*custom_objects"):
        tp.layers.deserialize({"class_name": "Evil", "config": {}})

    class Custom(L.Layer):
        def call(self, x):
            return x + 1.0

    config = json.loads(json.dumps(tp.layers.serialize(Custom(name="c"))))
    with pytest.raises(ValueError, match="Unknown layer class 'Custom'"):
        tp.layers.deserialize(config)
    assert tp.layers.deserialize(config, custom_objects={"Custom": Custom}).name == "c"


def test_regularizer_losses_and_constraints():
    layer = L.Dense(2, kernel_regularizer=tp.regularizers.l1_l2(l1=0.1, l2=0.2), bias_regularizer="l2")
    layer(np.ones((1, 3)))
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    expected = 0.1 * np.abs(k).sum() + 0.2 * (k**2).sum() + 0.01 * (b**2).sum()
    np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=1e-5)


def test_input_layer_and_functional_shapes():
    x = tp.Input(shape=(None, 6), name="seq")
    assert x.shape == (None, None, 6)
    y = L.Dense(3)(x)
    assert y.shape == (None, None, 3)
    assert (x + x).shape == (None, None, 6)  # an op on a symbolic tensor becomes a layer (Keras 3)
    with pytest.raises(TypeError, match="placeholder with no values"):
        np.asarray(x)
