"""ONNX export, verified by running the exported file in onnxruntime: outputs within 1e-5 of tapeflow's."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tapeflow as tp

from .layer_cases import CASES

onnx = pytest.importorskip("onnx", reason="the `onnx` extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the `onnx` extra is not installed")

L = tp.layers

# layers with no ONNX translation (yet): export must refuse them by name, not write a wrong file
REFUSED = {
    "Masking": "'masking(_\\d+)?' \\(Masking\\) has no ONNX translation",
    **{name: f"'{snake}(_\\d+)?' \\({name}\\) has no ONNX translation" for name, snake in [
        ("CategoryEncoding", "category_encoding"), ("Discretization", "discretization"),
        ("Hashing", "hashing"), ("IntegerLookup", "integer_lookup"), ("ConvLSTM1D", "conv_lstm1d"),
        ("ConvLSTM2D", "conv_lstm2d"), ("ConvLSTM3D", "conv_lstm3d")]},
    # RNN(cell) runs any cell step by step; exported, it would be unrolled over a fixed length
    **{name: "'rnn(_\\d+)?' \\(RNN\\) has no ONNX translation" for name in [
        "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"]},
    "ReLU": "'re_lu(_\\d+)?' \\(ReLU\\) has no ONNX translation",
    "PReLU": "'p_re_lu(_\\d+)?' \\(PReLU\\) has no ONNX translation",
    "Softmax": "'softmax(_\\d+)?' \\(Softmax\\) has no ONNX translation",
    "OpLayer": "\\(OpLayer\\) has no ONNX translation",
}


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = x if isinstance(x, list) else [x]
    return session.run(None, {i.name: v for i, v in zip(session.get_inputs(), feeds)})


def _agrees(model, x, path, atol=1e-5):
    model.export(path, format="onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    got = _run(path, x)[0]
    want = model.predict(x, verbose=0)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_layer_case_exports_or_is_refused_by_name(name, tmp_path):
    build, make_x = CASES[name]
    model = build()
    x = make_x(np.random.default_rng(0), 5)
    if name in REFUSED:
        with pytest.raises((NotImplementedError, TypeError), match=REFUSED[name]):
            model.export(tmp_path / "m.onnx", format="onnx")
        assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file
        return
    _agrees(model, x, tmp_path / "m.onnx")


def _fit(model, x, y, loss):
    tp.random.set_seed(0)
    model.compile(optimizer="adam", loss=loss)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model


def test_mlp(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 10)).astype("float32")
    model = tp.Sequential(
        [
            tp.Input(shape=(10,)),
            L.Dense(32, activation="relu"),
            L.Dropout(0.5),
            L.Dense(16, activation="gelu"),
            L.Dense(4, activation="softmax"),
        ]
    )
    _fit(model, x, rng.integers(0, 4, 64), "sparse_categorical_crossentropy")
    _agrees(model, x, tmp_path / "mlp.onnx")
    for batch in (1, 7):  # the batch axis is symbolic
        np.testing.assert_allclose(
            _run(tmp_path / "mlp.onnx", x[:batch])[0],
            model.predict(x[:batch], verbose=0),
            rtol=1e-5,
            atol=1e-5,
        )


def test_cnn(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 12, 12, 1)).astype("float32")
    model = tp.Sequential(
        [
            tp.Input(shape=(12, 12, 1)),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            L.BatchNormalization(),
            L.MaxPooling2D(2),
            L.Conv2D(8, 3, strides=2, activation="relu"),
            L.AveragePooling2D(2, padding="same"),
            L.Flatten(),
            L.Dropout(0.25),
            L.Dense(10, activation="softmax"),
        ]
    )
    _fit(model, x, rng.integers(0, 10, 32), "sparse_categorical_crossentropy")
    assert not np.allclose(model.layers[1].moving_mean.numpy(), 0)  # inference uses trained statistics
    _agrees(model, x, tmp_path / "cnn.onnx")


def test_lstm_text_model(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 50, (32, 12)).astype("int32")
    inp = tp.Input(shape=(12,), dtype="int32")
    h = L.Embedding(50, 8)(inp)
    h = L.LSTM(16, return_sequences=True)(h)
    h = L.LayerNormalization()(h)
    h = L.GRU(8)(h)
    model = tp.Model(inp, L.Dense(1, activation="sigmoid")(h))
    _fit(model, x, rng.integers(0, 2, (32, 1)).astype("float32"), "binary_crossentropy")
    _agrees(model, x, tmp_path / "lstm.onnx")


def test_functional_graph_with_branches_and_nested_model(tmp_path):
    rng = np.random.default_rng(4)
    block = tp.Sequential([tp.Input(shape=(6,)), L.Dense(6, activation="tanh")])
    a, b = tp.Input(shape=(6,)), tp.Input(shape=(3,))
    h = L.Concatenate()([block(a), L.Dense(6)(b)])
    out = L.Add()([L.Dense(4)(h), L.Dense(4, activation="elu")(h)])
    model = tp.Model([a, b], out)
    _agrees(
        model,
        [rng.standard_normal((5, 6)).astype("float32"), rng.standard_normal((5, 3)).astype("float32")],
        tmp_path / "graph.onnx",
    )


LAYER_OPTIONS = [
    (lambda: L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same"), (5, 5, 2)),
    (lambda: L.SeparableConv2D(4, 3, strides=2, padding="same", depth_multiplier=2), (7, 7, 3)),
    (lambda: L.Conv2D(3, 2, data_format="channels_first"), (2, 5, 5)),
    (lambda: L.MaxPooling2D(2, data_format="channels_first"), (2, 6, 6)),
    (lambda: L.TimeDistributed(L.Conv2D(2, 3)), (3, 5, 5, 1)),
    (lambda: L.Activation("gelu"), (6,)),
    (lambda: L.Conv2D(4, 3, dilation_rate=2, padding="same", groups=2), (9, 9, 4)),
    (lambda: L.Conv1D(4, 5, strides=3, padding="same", activation="sigmoid"), (11, 2)),
    (lambda: L.Conv2DTranspose(3, 2, strides=3), (4, 4, 2)),  # stride > kernel: zeros between windows
    (lambda: L.Conv2DTranspose(3, 3, strides=2, output_padding=1), (4, 5, 2)),
    (lambda: L.Conv1DTranspose(2, 3, strides=2, padding="same", dilation_rate=1), (6, 3)),
    (lambda: L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3), (7, 7, 2)),
    (lambda: L.MaxPooling2D(3, strides=2, padding="same"), (7, 8, 3)),
    (lambda: L.AveragePooling1D(3, strides=2, padding="same"), (8, 3)),
    (lambda: L.GlobalAveragePooling2D(keepdims=True), (4, 4, 3)),
    (lambda: L.LSTM(5, go_backwards=True, return_sequences=True), (6, 3)),
    (lambda: L.GRU(4, reset_after=False, return_sequences=True), (6, 3)),
    (lambda: L.Bidirectional(L.GRU(3), merge_mode="sum"), (5, 2)),
    (lambda: L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="ave"), (5, 2)),
    (lambda: L.SimpleRNN(4, activation="relu"), (5, 3)),
    (lambda: L.LayerNormalization(axis=[1, 2]), (3, 4)),
    (lambda: L.BatchNormalization(axis=1), (3, 4)),
    (lambda: L.Activation("selu"), (6,)),
    (lambda: L.Activation("softplus"), (6,)),
    (lambda: L.Activation("log_softmax"), (6,)),
    (lambda: L.Activation("leaky_relu"), (6,)),
    (lambda: L.Activation("silu"), (6,)),
]


@pytest.mark.parametrize("index", range(len(LAYER_OPTIONS)))
def test_layer_options(index, tmp_path):
    make, shape = LAYER_OPTIONS[index]
    inp = tp.Input(shape=shape)
    out = make()(inp)
    model = tp.Model(inp, out)
    rng = np.random.default_rng(index)
    for v in model.weights:  # non-trivial statistics and biases
        value = rng.standard_normal(v.shape).astype("float32") * 0.5
        v.assign(np.abs(value) + 0.5 if "variance" in v.name else value)
    x = rng.standard_normal((3, *shape)).astype("float32")
    assert np.isfinite(model.predict(x, verbose=0)).all()
    _agrees(model, x, tmp_path / "m.onnx")


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_with_a_constant_feature(invert, tmp_path):
    layer = L.Normalization(invert=invert)
    data = np.random.default_rng(0).standard_normal((30, 3)).astype("float32")
    data[:, 1] = 4.0  # variance 0: the layer's floor on the variance decides the output
    layer.adapt(data)
    inp = tp.Input(shape=(3,))
    x = data[:5].copy()
    x[:, 1] = 4.001  # off the constant: the result is (x - 4) / sqrt(floor)
    _agrees(tp.Model(inp, layer(inp)), x, tmp_path / "n.onnx")


def test_attention_concat_scores(tmp_path):
    q, v = tp.Input(shape=(3, 4)), tp.Input(shape=(5, 4))
    model = tp.Model([q, v], L.Attention(score_mode="concat", use_scale=True)([q, v]))
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((2, 3, 4)).astype("float32"), rng.standard_normal((2, 5, 4)).astype("float32")]
    _agrees(model, x, tmp_path / "att.onnx")


def test_transformer_block_with_causal_self_attention(tmp_path):
    inp = tp.Input(shape=(6, 8))
    attended = L.MultiHeadAttention(num_heads=2, key_dim=4)(inp, inp, use_causal_mask=True)
    h = L.LayerNormalization()(L.Add()([inp, attended]))
    ff = L.Dense(8)(L.Dense(16, activation="gelu")(h))
    model = tp.Model(inp, L.LayerNormalization()(L.Add()([h, ff])))
    x = np.random.default_rng(0).standard_normal((3, 6, 8)).astype("float32")
    _agrees(model, x, tmp_path / "block.onnx")


def test_cross_attention_with_key_output_shape_and_no_bias(tmp_path):
    q, v, k = tp.Input(shape=(4, 6)), tp.Input(shape=(7, 5)), tp.Input(shape=(7, 3))
    mha = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, output_shape=9, use_bias=False)
    model = tp.Model([q, v, k], mha(q, v, key=k))
    rng = np.random.default_rng(1)
    x = [rng.standard_normal((2, *s)).astype("float32") for s in ((4, 6), (7, 5), (7, 3))]
    _agrees(model, x, tmp_path / "cross.onnx")
    scored = tp.Model(
        [q, v], L.MultiHeadAttention(num_heads=1, key_dim=2)(q, v, return_attention_scores=True)
    )
    with pytest.raises(NotImplementedError, match="returns its scores"):
        scored.export(tmp_path / "scores.onnx")


@pytest.mark.parametrize("opset", [18, 20])
def test_later_opsets(opset, tmp_path):
    inp = tp.Input(shape=(5, 4, 3))
    h = L.GlobalAveragePooling2D()(L.LayerNormalization()(L.Conv2D(4, 3, padding="same")(inp)))
    model = tp.Model(inp, L.Dense(2, activation="softmax")(h))
    model.export(tmp_path / "m.onnx", format="onnx", opset=opset)
    assert onnx.load(str(tmp_path / "m.onnx")).opset_import[0].version == opset
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3)).astype("float32")
    np.testing.assert_allclose(
        _run(tmp_path / "m.onnx", x)[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="`opset` must be at least 17"):
        model.export(tmp_path / "old.onnx", opset=13)


def test_refusals_are_clear_and_write_nothing(tmp_path):
    class Sub(tp.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.ones((1, 3), "float32"))
    with pytest.raises(TypeError, match="subclassed Sub"):
        sub.export(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="does not know its input shape"):
        tp.Sequential([L.Dense(2)]).export(tmp_path / "m.onnx")
    odd = tp.Sequential([tp.Input(shape=(3,)), L.Dense(2, activation=lambda t: t * 2.0)])
    with pytest.raises(NotImplementedError, match="activation '<lambda>' has no ONNX translation"):
        odd.export(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="`format` must be 'onnx'"):
        odd.export(tmp_path / "m.tflite", format="tflite")
    assert list(tmp_path.iterdir()) == []


def test_masks_are_refused_rather_than_exported_wrong(tmp_path):
    inp = tp.Input(shape=(6,), dtype="int32")
    model = tp.Model(inp, L.LSTM(3)(L.Embedding(10, 4, mask_zero=True)(inp)))
    with pytest.raises(NotImplementedError, match="mask_zero=True; masks have no ONNX translation"):
        model.export(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_package_gives_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    model = tp.Sequential([tp.Input(shape=(3,)), L.Dense(2)])
    hint = r'pip install onnx onnxruntime \(or, in a tapeflow checkout: pip install -e "\.\[onnx\]"\)'
    with pytest.raises(ImportError, match=hint):
        model.export(tmp_path / "m.onnx")


def test_float64_models_export_in_float64(tmp_path):
    inp = tp.Input(shape=(5,), dtype="float64")
    h = L.Dense(6, activation="tanh", dtype="float64")(inp)  # onnxruntime lacks float64 Erf, Softplus
    h = L.LayerNormalization(dtype="float64")(h)
    h = L.Average(dtype="float64")([h, L.Dense(6, dtype="float64")(h)])
    model = tp.Model(inp, L.BatchNormalization(dtype="float64")(h))
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert model.predict(x, verbose=0).dtype == np.float64
    _agrees(model, x, tmp_path / "f64.onnx", atol=1e-12)
