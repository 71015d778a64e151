"""Timestep masks travel as in Keras: kept by layers that keep the time axis, consumed by recurrent layers
without return_sequences, GlobalAveragePooling1D and attention (as a key padding mask)."""

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.layers import get_mask


def _tokens():
    return np.array([[4, 7, 2, 9, 0, 0, 0], [5, 1, 3, 0, 0, 0, 0]])


def test_embedding_dropout_lstm_ignores_trailing_padding():
    tp.random.set_seed(3)
    model = tp.Sequential(
        [
            tp.layers.Embedding(12, 6, mask_zero=True),
            tp.layers.Dropout(0.3),
            tp.layers.Dense(5, activation="tanh"),
            tp.layers.LSTM(8),
        ]
    )
    padded = _tokens()
    out_padded = model(padded, training=False).numpy()
    for row, length in ((0, 4), (1, 3)):
        alone = model(padded[row : row + 1, :length], training=False).numpy()
        np.testing.assert_allclose(out_padded[row], alone[0], rtol=1e-5, atol=1e-6)
    # without the mask, the padding steps would change the final state
    unmasked = tp.Sequential([tp.layers.Embedding(12, 6), tp.layers.LSTM(8)])
    unmasked.layers[0].build((None, 7))
    unmasked.layers[0].embeddings.assign(model.layers[0].embeddings)
    assert not np.allclose(unmasked(padded[:1]).numpy(), unmasked(padded[:1, :4]).numpy(), atol=1e-4)


def test_mask_kept_by_time_preserving_layers_and_dropped_elsewhere():
    x = tp.layers.Embedding(12, 4, mask_zero=True)(_tokens())
    expected = _tokens() != 0
    for layer in (
        tp.layers.Dropout(0.5),
        tp.layers.Activation("relu"),
        tp.layers.Dense(3),
        tp.layers.LayerNormalization(),
        tp.layers.TimeDistributed(tp.layers.Dense(2)),
        tp.layers.GRU(3, return_sequences=True),
        tp.layers.MultiHeadAttention(2, 2),
    ):
        args = (x, x) if isinstance(layer, tp.layers.MultiHeadAttention) else (x,)
        np.testing.assert_array_equal(get_mask(layer(*args, training=True)), expected, err_msg=layer.name)
    np.testing.assert_array_equal(get_mask(tp.layers.Attention()([x, x])), expected)
    np.testing.assert_array_equal(get_mask(tp.layers.Add()([x, x])), expected)
    for layer in (
        tp.layers.LSTM(3),
        tp.layers.GlobalAveragePooling1D(),
        tp.layers.Flatten(),
        tp.layers.Conv1D(2, 3),
    ):
        assert get_mask(layer(x)) is None, layer.name


def test_mask_reaches_the_consumer_in_a_functional_model():
    inputs = tp.Input((None,), dtype="int64")
    h = tp.layers.Embedding(12, 4, mask_zero=True)(inputs)
    h = tp.layers.Dense(4, activation="relu")(h)
    h = tp.layers.Dropout(0.2)(h)
    outputs = tp.layers.GRU(3)(h)
    model = tp.Model(inputs, outputs)
    tokens = _tokens()
    np.testing.assert_allclose(
        model(tokens).numpy()[0], model(tokens[:1, :4]).numpy()[0], rtol=1e-5, atol=1e-6
    )


def test_global_average_pooling_1d_averages_unmasked_steps_only():
    x = np.arange(2 * 5 * 3, dtype="float32").reshape(2, 5, 3)
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0]], bool)
    t = tp.layers.set_mask(tp.constant(x), mask)
    got = tp.layers.GlobalAveragePooling1D()(t).numpy()
    want = np.stack([x[i][mask[i]].mean(axis=0) for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # keepdims and channels_first read the same mask
    cf = tp.layers.set_mask(tp.constant(x.transpose(0, 2, 1)), mask)
    got_cf = tp.layers.GlobalAveragePooling1D(data_format="channels_first", keepdims=True)(cf).numpy()
    np.testing.assert_allclose(got_cf[:, :, 0], want, rtol=1e-6)
    # a fully masked sample averages to zeros rather than NaN
    empty = tp.layers.set_mask(tp.constant(x), np.zeros((2, 5), bool))
    np.testing.assert_array_equal(tp.layers.GlobalAveragePooling1D()(empty).numpy(), 0.0)
    with pytest.raises(ValueError, match="the mask must be"):
        tp.layers.GlobalAveragePooling1D()(tp.layers.set_mask(tp.constant(x), mask[:, :3]))


def test_global_average_pooling_gradient_skips_masked_steps():
    x = tp.constant(np.ones((1, 4, 2)))
    tp.layers.set_mask(x, np.array([[1, 1, 1, 0]], bool))
    with tp.GradientTape() as tape:
        tape.watch(x)
        y = tp.sum(tp.layers.GlobalAveragePooling1D(dtype="float64")(x))
    g = tape.gradient(y, x).numpy()
    np.testing.assert_allclose(g[0, :3], 1 / 3)
    np.testing.assert_array_equal(g[0, 3], 0.0)


@pytest.mark.parametrize("use_embedding", [True, False])
def test_multi_head_attention_ignores_padded_keys(use_embedding):
    tp.random.set_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], bool)
    mha = tp.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    changed = x.copy()
    changed[~mask] = rng.normal(size=changed[~mask].shape) * 10

    def run(values):
        if use_embedding:  # the mask arrives from a Masking layer through a Dense layer
            masked = tp.layers.Masking(0.0)(tp.constant(np.where(mask[..., None], values, 0.0)))
            t = tp.layers.Dense(4, kernel_initializer="identity")(masked)
            return mha(t, t).numpy(), get_mask(t)
        t = tp.layers.set_mask(tp.constant(values), mask)
        return mha(t, t).numpy(), get_mask(t)

    a, mask_a = run(x)
    b, _ = run(changed)
    np.testing.assert_array_equal(mask_a, mask)
    np.testing.assert_allclose(a[mask], b[mask], rtol=1e-5, atol=1e-6)
    if not use_embedding:  # control: without the mask the padded keys do change the outputs
        plain_a = mha(tp.constant(x), tp.constant(x)).numpy()
        plain_b = mha(tp.constant(changed), tp.constant(changed)).numpy()
        assert not np.allclose(plain_a[mask], plain_b[mask], atol=1e-4)
