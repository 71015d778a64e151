"""Recurrent layers, wrappers, masking and attention: values against NumPy references written from Keras's
formulas, the fused ops against the per-step path, masks, states, dropout, configs."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import _backend as B

L = tp.layers


def sig(x):
    return 1 / (1 + np.exp(-x))


def np_lstm(x, w, u, b, h=None, c=None):
    n = u.shape[0]
    h = np.zeros((x.shape[0], n)) if h is None else h
    c = np.zeros((x.shape[0], n)) if c is None else c
    hs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ w + h @ u + b
        i, f, g, o = sig(z[:, :n]), sig(z[:, n:2 * n]), np.tanh(z[:, 2 * n:3 * n]), sig(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, 1), h, c


def np_gru(x, w, u, b):
    n = u.shape[0]
    h = np.zeros((x.shape[0], n))
    hs = []
    for t in range(x.shape[1]):
        xz = x[:, t] @ w + b[0]
        rec = h @ u + b[1]
        z = sig(xz[:, :n] + rec[:, :n])
        r = sig(xz[:, n:2 * n] + rec[:, n:2 * n])
        hh = np.tanh(xz[:, 2 * n:] + r * rec[:, 2 * n:])
        h = z * h + (1 - z) * hh
        hs.append(h)
    return np.stack(hs, 1)


def np_rnn(x, w, u, b):
    h = np.zeros((x.shape[0], u.shape[0]))
    hs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ w + h @ u + b)
        hs.append(h)
    return np.stack(hs, 1)


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((3, 6, 4))


def test_lstm_matches_keras_formula(x):
    layer = L.LSTM(5, return_sequences=True, return_state=True, dtype="float64")
    seq, h, c = layer(x)
    w, u, b = layer.get_weights()
    assert (w.shape, u.shape, b.shape) == ((4, 20), (5, 20), (20,))
    np.testing.assert_array_equal(b[5:10], 1.0)  # unit_forget_bias
    ref_seq, ref_h, ref_c = np_lstm(x, w, u, b)
    np.testing.assert_allclose(seq.numpy(), ref_seq, rtol=1e-10)
    np.testing.assert_allclose(h.numpy(), ref_h, rtol=1e-10)
    np.testing.assert_allclose(c.numpy(), ref_c, rtol=1e-10)


def test_gru_and_simple_rnn_match_keras_formulas(x):
    gru = L.GRU(5, return_sequences=True, dtype="float64")
    out = gru(x).numpy()
    w, u, b = gru.get_weights()
    assert b.shape == (2, 15)
    b = np.random.default_rng(1).standard_normal(b.shape)
    gru.set_weights([w, u, b])
    np.testing.assert_allclose(gru(x).numpy(), np_gru(x, w, u, b), rtol=1e-10)
    assert out.shape == (3, 6, 5)
    rnn = L.SimpleRNN(5, return_sequences=True, dtype="float64")
    rnn(x)
    w, u, b = rnn.get_weights()
    np.testing.assert_allclose(rnn(x).numpy(), np_rnn(x, w, u, b + 0.0), rtol=1e-10)


def _per_step(fn):
    """An activation the fused ops do not recognise (same math), forcing the per-step path."""
    return lambda t: fn(t)


@pytest.mark.parametrize("cls", [L.SimpleRNN, L.LSTM, L.GRU])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_and_per_step_paths_agree_with_masks_and_gradients(cls, go_backwards, x):
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    mask[2, :2] = False
    kw = dict(return_sequences=True, go_backwards=go_backwards, dtype="float64")
    fused = cls(4, **kw)
    slow = cls(4, activation=_per_step(tp.tanh), **kw)
    fused(x)
    slow(x)
    slow.set_weights(fused.get_weights())
    results = []
    for layer in (fused, slow):
        xt = tp.constant(x)
        with tp.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, mask=mask)
            loss = tp.sum(y * np.linspace(-1, 1, y.size).reshape(y.shape))
        grads = tape.gradient(loss, [xt, *layer.trainable_weights])
        results.append((y.numpy(), [g.numpy() for g in grads]))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


def test_masked_trailing_steps_give_the_state_of_the_shorter_sequence(x):
    layer = L.LSTM(3, dtype="float64")
    padded = x.copy()
    padded[0, 4:] = 0.0
    masked = L.Masking(0.0, dtype="float64")(padded)
    y_masked = layer(masked).numpy()
    y_short = layer(x[:1, :4]).numpy()
    np.testing.assert_allclose(y_masked[0], y_short[0], rtol=1e-10)


def test_initial_state_and_return_state(x):
    layer = L.LSTM(3, return_state=True, dtype="float64")
    _, h, c = layer(x[:, :3])
    out, h2, c2 = layer(x[:, 3:], initial_state=[h, c])
    _, h_all, c_all = layer(x)
    np.testing.assert_allclose(h2.numpy(), h_all.numpy(), rtol=1e-10)
    np.testing.assert_allclose(c2.numpy(), c_all.numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="initial_state"):
        layer(x, initial_state=[h])


def test_dropout_only_while_training(x):
    layer = L.GRU(4, dropout=0.5, recurrent_dropout=0.5, seed=3, dtype="float64")
    a, b = layer(x).numpy(), layer(x).numpy()
    np.testing.assert_array_equal(a, b)
    c = layer(x, training=True).numpy()
    assert not np.allclose(a, c)
    xt = tp.constant(x)
    with tp.GradientTape() as tape:
        tape.watch(xt)
        y = tp.sum(layer(xt, training=True))
    assert tape.gradient(y, xt).shape == x.shape


def test_bidirectional_concat_is_forward_plus_reversed_backward(x):
    bi = L.Bidirectional(L.GRU(3, return_sequences=True, dtype="float64"), dtype="float64")
    y = bi(x).numpy()
    assert y.shape == (3, 6, 6)
    fwd = bi.forward_layer(x).numpy()
    bwd = bi.backward_layer(x).numpy()
    np.testing.assert_allclose(y[..., :3], fwd)
    np.testing.assert_allclose(y[..., 3:], bwd[:, ::-1])
    rev = L.GRU(3, return_sequences=True, dtype="float64")
    rev(x)
    rev.set_weights(bi.backward_layer.get_weights())
    np.testing.assert_allclose(y[..., 3:], rev(x[:, ::-1]).numpy()[:, ::-1], rtol=1e-10)
    assert L.Bidirectional(L.LSTM(2), merge_mode="sum")(x).shape == (3, 2)
    outs = L.Bidirectional(L.LSTM(2, return_state=True))(x)
    assert len(outs) == 5


def test_time_distributed_applies_the_layer_per_step():
    video = np.random.default_rng(0).standard_normal((2, 4, 6, 6, 1)).astype(np.float32)
    td = L.TimeDistributed(L.Conv2D(3, 3))
    y = td(video).numpy()
    assert y.shape == (2, 4, 4, 4, 3)
    for t in range(4):
        np.testing.assert_allclose(y[:, t], td.layer(video[:, t]).numpy(), rtol=1e-6)


def test_recurrent_configs_round_trip(x):
    x32 = x.astype(np.float32)
    for layer in [L.LSTM(3, return_sequences=True, go_backwards=True, dropout=0.1, unit_forget_bias=False),
                  L.GRU(3, reset_after=False, recurrent_activation="relu"), L.SimpleRNN(2, activation="relu"),
                  L.Bidirectional(L.LSTM(2), merge_mode="ave"), L.TimeDistributed(L.Dense(2)),
                  L.Masking(1.0)]:
        y = layer(x32)
        clone = L.deserialize(L.serialize(layer))
        assert clone.get_config() == layer.get_config()
        clone(x32)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(clone(x32).numpy(), y.numpy(), rtol=1e-5)


def test_recurrent_layer_errors():
    with pytest.raises(ValueError, match="units"):
        L.LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        L.GRU(3, dropout=1.0)
    with pytest.raises(tp.ShapeError, match="lstm"):
        L.LSTM(3)(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="Bidirectional"):
        L.Bidirectional(L.Dense(3))


def test_fused_ops_refuse_second_order():
    x = tp.Variable(np.random.default_rng(0).standard_normal((2, 3, 2)))
    layer = L.SimpleRNN(2, dtype="float64")
    with pytest.raises(NotImplementedError, match="second-order"):
        with tp.GradientTape() as outer:
            with tp.GradientTape() as inner:
                y = tp.sum(layer(x))
            g = inner.gradient(y, x)
        outer.gradient(tp.sum(g), x)


# --- attention ----------------------------------------------------------------------------------------------
def np_softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_attention_matches_formula_and_masks():
    rng = np.random.default_rng(0)
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    out, w = L.Attention(dtype="float64")([q, v], return_attention_scores=True)
    ref_w = np_softmax(q @ v.transpose(0, 2, 1))
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-10)
    np.testing.assert_allclose(out.numpy(), ref_w @ v, rtol=1e-10)
    v_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    _, w = L.Attention(dtype="float64")([q, v], mask=[None, v_mask], return_attention_scores=True)
    assert np.all(w.numpy()[0, :, 3:] == 0)
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0)
    _, w = L.Attention(dtype="float64")([q, q], use_causal_mask=True, return_attention_scores=True)
    assert np.all(np.triu(w.numpy()[0], 1) == 0)


def test_multi_head_attention_matches_formula():
    rng = np.random.default_rng(1)
    q, v = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 4, 5))
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2, dtype="float64")
    out, scores = mha(q, v, return_attention_scores=True)
    names = [w.name.split("/", 1)[1] for w in mha.weights]
    assert names == ["query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel", "value/bias",
                     "attention_output/kernel", "attention_output/bias"]
    wq, bq, wk, bk, wv, bv, wo, bo = [rng.standard_normal(w.shape) * 0.5 for w in mha.weights]
    mha.set_weights([wq, bq, wk, bk, wv, bv, wo, bo])
    out, scores = mha(q, v, return_attention_scores=True)
    qh = np.einsum("btd,dhk->bhtk", q, wq) + bq[None, :, None]
    kh = np.einsum("btd,dhk->bhtk", v, wk) + bk[None, :, None]
    vh = np.einsum("btd,dhk->bhtk", v, wv) + bv[None, :, None]
    ref_scores = np_softmax(qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(3))
    ref = np.einsum("bhtk,hko->bto", ref_scores @ vh, wo) + bo
    np.testing.assert_allclose(scores.numpy(), ref_scores, rtol=1e-10)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    am = np.tril(np.ones((3, 4), bool))[None].repeat(2, 0)
    _, s = mha(q, v, attention_mask=am, return_attention_scores=True)
    assert np.all(s.numpy()[:, :, ~am[0]] == 0)


def test_attention_gradients_check_and_configs():
    rng = np.random.default_rng(2)
    mha = L.MultiHeadAttention(2, 2, dtype="float64")
    x = rng.standard_normal((2, 3, 4))
    mha(x, x)
    rep = tp.check_gradients(lambda a: mha(a, a, use_causal_mask=True), x)
    assert rep[0]["ok"], rep
    clone = L.deserialize(L.serialize(mha))
    assert clone.get_config() == mha.get_config()
    att = L.Attention(use_scale=True, score_mode="concat")
    att([x.astype(np.float32), x.astype(np.float32)])
    assert L.deserialize(L.serialize(att)).get_config() == att.get_config()
    with pytest.raises(ValueError, match="score_mode"):
        L.Attention(score_mode="general")


def test_embedding_mask_zero_is_respected_by_recurrent_and_attention_layers():
    tokens = np.array([[4, 2, 7, 0, 0], [1, 3, 0, 0, 0]])
    embed = L.Embedding(8, 3, mask_zero=True)
    np.testing.assert_array_equal(B.to_numpy(L.get_mask(embed(tokens))), tokens != 0)
    for rnn in (L.LSTM(4), L.GRU(4), L.SimpleRNN(4), L.Bidirectional(L.LSTM(2))):
        padded = rnn(embed(tokens)).numpy()
        for i, n in enumerate((3, 2)):
            np.testing.assert_allclose(padded[i], rnn(embed(tokens[i:i + 1, :n])).numpy()[0], rtol=1e-5)
    h = embed(tokens)
    _, scores = L.MultiHeadAttention(1, 2)(h, h, return_attention_scores=True)
    assert np.all(scores.numpy()[0, 0, :3, 3:] == 0) and np.all(scores.numpy()[1, 0, :2, 2:] == 0)


def test_single_thread_blas_block_restores_the_thread_count():
    from tapeflow.ops import _blas

    functions = _blas._functions()
    if not functions:  # no OpenBLAS in this process: the block must simply run
        with _blas.single_thread():
            ran = True
        assert ran
        return
    before = [get() for get, _ in functions]
    for _, set_ in functions:
        set_(2)
    try:
        with _blas.single_thread():
            assert all(get() == 1 for get, _ in functions)
        assert all(get() == 2 for get, _ in functions)
        with pytest.raises(RuntimeError):
            with _blas.single_thread():
                raise RuntimeError("restored even on errors")
        assert all(get() == 2 for get, _ in functions)
    finally:
        for (_, set_), n in zip(functions, before):
            set_(n)
