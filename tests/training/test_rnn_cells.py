"""Recurrent cells, the generic RNN(cell) layer and the ConvLSTMs: the harness, agreement with the fused
SimpleRNN/LSTM/GRU layers given the same weights, masks, states, and ConvLSTM against a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import layers as L
from tests.training.harness import check_layer


def _rnn(cell_cls, **cell_kwargs):
    class Wrapped(L.RNN):
        def __init__(self, return_sequences=False, **kwargs):
            cell = kwargs.pop("cell", None) or cell_cls(**cell_kwargs)
            super().__init__(cell, return_sequences=return_sequences, **kwargs)

    return Wrapped


CASES = [
    (L.RNN, {"cell": L.SimpleRNNCell(3)}, (2, 4, 5), (2, 3), 3),
    (L.RNN, {"cell": L.LSTMCell(3), "return_sequences": True}, (2, 4, 5), (2, 4, 3), 3),
    (L.RNN, {"cell": L.GRUCell(3), "go_backwards": True}, (2, 4, 5), (2, 3), 3),
    (L.RNN, {"cell": L.GRUCell(3, reset_after=False)}, (2, 4, 5), (2, 3), 3),
    (L.RNN, {"cell": [L.LSTMCell(3), L.SimpleRNNCell(2)]}, (2, 4, 5), (2, 2), 6),
    (L.ConvLSTM1D, {"filters": 2, "kernel_size": 3}, (2, 3, 6, 2), (2, 4, 2), 3),
    (L.ConvLSTM2D, {"filters": 2, "kernel_size": 2, "padding": "same", "return_sequences": True},
     (1, 3, 3, 3, 1), (1, 3, 3, 3, 2), 3),
    (L.ConvLSTM2D, {"filters": 2, "kernel_size": 2, "data_format": "channels_first", "strides": 2},
     (1, 2, 1, 4, 4), (1, 2, 2, 2), 3),
]


@pytest.mark.parametrize("cls, kwargs, shape, expected, n", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_layer(cls, kwargs, shape, expected, n):
    kwargs = dict(kwargs)
    cell = kwargs.get("cell")
    if cell is not None:  # the harness adds dtype= to the layer; the cells get theirs here
        config = tp.layers.serialize(cell) if not isinstance(cell, list) else None
        if config is not None:
            config["config"]["dtype"] = "float64"
            kwargs["cell"] = tp.layers.deserialize(config)
        else:
            kwargs["cell"] = [tp.layers.deserialize({**tp.layers.serialize(c),
                                                     "config": {**c.get_config(), "dtype": "float64"}})
                              for c in cell]
    check_layer(cls, kwargs, shape, expected, n)


@pytest.mark.parametrize("fused, cell", [
    (L.SimpleRNN(4, return_sequences=True), L.SimpleRNNCell(4)),
    (L.LSTM(4, return_sequences=True), L.LSTMCell(4)),
    (L.GRU(4, return_sequences=True), L.GRUCell(4)),
    (L.GRU(4, return_sequences=True, reset_after=False), L.GRUCell(4, reset_after=False)),
])
def test_cells_compute_what_the_fused_layers_compute(fused, cell):
    x = np.random.default_rng(0).standard_normal((3, 6, 5)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[1, 4:] = False
    want = fused(x, mask=mask).numpy()
    layer = L.RNN(cell, return_sequences=True)
    layer(x)
    layer.set_weights(fused.get_weights())
    assert [w.shape for w in layer.weights] == [w.shape for w in fused.weights]
    np.testing.assert_allclose(layer(x, mask=mask).numpy(), want, rtol=1e-5, atol=1e-6)


def test_states_masks_and_errors():
    cell = L.LSTMCell(3)
    layer = L.RNN(cell, return_state=True)
    x = np.random.default_rng(1).standard_normal((2, 4, 5)).astype("float32")
    out, h, c = layer(x)
    np.testing.assert_array_equal(out.numpy(), h.numpy())
    again, _, _ = layer(x[:, 2:], initial_state=[h, c])
    whole, _, _ = layer(np.concatenate([x, x[:, 2:]], axis=1))
    np.testing.assert_allclose(again.numpy(), whole.numpy(), rtol=1e-5)
    seq = L.RNN(L.SimpleRNNCell(2), return_sequences=True, zero_output_for_mask=True)
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    y = seq(x, mask=mask).numpy()
    np.testing.assert_array_equal(y[0, 2:], 0)
    assert tp.layers.get_mask(seq(x, mask=mask)).tolist() == mask.tolist()
    with pytest.raises(ValueError, match="`cell` must be a layer with a `state_size`"):
        L.RNN(L.Dense(3))
    with pytest.raises(ValueError, match="`initial_state` must be 2 tensor"):
        layer(x, initial_state=[h])
    bi = L.Bidirectional(L.RNN(L.GRUCell(2), return_sequences=True))
    assert bi(x).shape == (2, 4, 4)


def test_cell_dropout_shares_one_mask_per_sequence():
    cell = L.SimpleRNNCell(4, dropout=0.5, seed=0, recurrent_initializer="zeros", use_bias=False)
    layer = L.RNN(cell, return_sequences=True)
    x = np.ones((1, 3, 6), dtype="float32")
    y = layer(x, training=True).numpy()
    np.testing.assert_allclose(y[0, 0], y[0, 1])  # no recurrence: the same dropped input at every step
    assert not np.allclose(layer(x, training=False).numpy(), y)


def _conv2d_same(x, k):
    """NumPy 'same' convolution of (b, h, w, c) with (kh, kw, c, f), stride 1 (Keras's padding split)."""
    kh, kw = k.shape[:2]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    out = np.zeros(x.shape[:3] + (k.shape[-1],))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            out[:, i, j] = np.einsum("bhwc,hwcf->bf", xp[:, i:i + kh, j:j + kw], k)
    return out


def test_conv_lstm2d_matches_a_numpy_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 4, 2))
    layer = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, dtype="float64")
    got = layer(x).numpy()
    k, rk, b = (w.numpy() for w in layer.weights)
    f = 3
    h = c = np.zeros((2, 4, 4, f))

    def sig(z):
        return 1 / (1 + np.exp(-z))

    for t in range(3):
        z = _conv2d_same(x[:, t], k) + b + _conv2d_same(h, rk)
        i, g, o = sig(z[..., :f]), sig(z[..., f:2 * f]), sig(z[..., 3 * f:])
        c = g * c + i * np.tanh(z[..., 2 * f:3 * f])
        h = o * np.tanh(c)
        np.testing.assert_allclose(got[:, t], h, atol=1e-10)
    assert b[f:2 * f].tolist() == [1.0] * f  # unit_forget_bias


def test_conv_lstm_trains_on_moving_dots():
    rng = np.random.default_rng(0)
    x = np.zeros((32, 4, 5, 5, 1), "float32")
    y = rng.integers(0, 2, 32)
    for n in range(32):  # a dot moving right (label 1) or down (label 0)
        r, c = rng.integers(0, 2, 2)
        for t in range(4):
            x[n, t, r + (0 if y[n] else t), c + (t if y[n] else 0), 0] = 1.0
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input((4, 5, 5, 1)), L.ConvLSTM2D(4, 3, padding="same"), L.Flatten(),
                           L.Dense(2)])
    model.compile(tp.optimizers.Adam(0.02), tp.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0).history
    assert history["accuracy"][-1] >= 0.9, history["accuracy"]
