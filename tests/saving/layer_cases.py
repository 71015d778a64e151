"""One small model per registered layer class, for the save/load round trips (and ONNX where it applies).

``CASES[name] = (build, make_x)``: ``build()`` returns an uncompiled model whose output is a rank-2 tensor,
``make_x(rng, n)`` a batch of ``n`` inputs. A meta-test requires a case for every class in the layer registry,
so a new layer cannot ship without a round-trip test.
"""

from __future__ import annotations

import numpy as np

import tapeflow as tp

L = tp.layers


def _floats(*shape):
    return lambda rng, n: rng.standard_normal((n, *shape)).astype("float32")


def _ints(high, *shape):
    return lambda rng, n: rng.integers(0, high, (n, *shape)).astype("int32")


def _head(x, units=3):
    """Flatten whatever the layer gave and end with a Dense, so every model has a trainable rank-2 output."""
    if len(x.shape) > 2:
        x = L.Flatten()(x)
    return L.Dense(units)(x)


def single(layer_fn, shape, make_x=None, dtype="float32"):
    """``Input(shape) -> layer -> Flatten -> Dense(3)`` as a functional model."""

    def build():
        inp = tp.Input(shape=shape, dtype=dtype)
        return tp.Model(inp, _head(layer_fn()(inp)))

    return build, make_x or _floats(*shape)


def sequential(layers_fn, shape, make_x=None):
    """A Sequential model of ``layers_fn()`` then Flatten and Dense(3)."""

    def build():
        return tp.Sequential([tp.Input(shape=shape), *layers_fn(), L.Flatten(), L.Dense(3)])

    return build, make_x or _floats(*shape)


def merge(layer_fn):
    """Two inputs merged by ``layer_fn()``."""

    def build():
        a, b = tp.Input(shape=(4,)), tp.Input(shape=(4,))
        return tp.Model([a, b], _head(layer_fn()([L.Dense(4)(a), L.Dense(4)(b)])))

    return build, lambda rng, n: [rng.standard_normal((n, 4)).astype("float32") for _ in range(2)]


def _mha():
    inp = tp.Input(shape=(5, 6))
    return tp.Model(inp, _head(L.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.2, seed=7)(inp, inp)))


def _attention():
    q, v = tp.Input(shape=(4, 6)), tp.Input(shape=(5, 6))
    return tp.Model([q, v], _head(L.Attention(use_scale=True)([q, v])))


def _additive_attention():
    q, v = tp.Input(shape=(4, 6)), tp.Input(shape=(5, 6))
    return tp.Model([q, v], _head(L.AdditiveAttention(dropout=0.1, seed=2)([q, v])))


def _dot():
    a, b = tp.Input(shape=(3, 4)), tp.Input(shape=(5, 4))
    return tp.Model([a, b], _head(L.Dot(axes=2, normalize=True)([a, L.Dense(4)(b)])))


def _normalization():
    layer = L.Normalization()
    layer.adapt(np.random.default_rng(1).standard_normal((20, 4)).astype("float32") * 3 + 1)
    inp = tp.Input(shape=(4,))
    return tp.Model(inp, _head(layer(inp)))


CASES = {
    "InputLayer": single(lambda: L.Activation("linear"), (4,)),
    "Dense": single(lambda: L.Dense(5, activation="relu", kernel_regularizer="l2"), (4,)),
    "Activation": single(lambda: L.Activation("tanh"), (4,)),
    "ReLU": single(lambda: L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.2), (4,)),
    "LeakyReLU": single(lambda: L.LeakyReLU(negative_slope=0.2), (4,)),
    "PReLU": single(lambda: L.PReLU(alpha_initializer="ones", shared_axes=[1]), (3, 4)),
    "ELU": single(lambda: L.ELU(alpha=0.5), (4,)),
    "Softmax": single(lambda: L.Softmax(axis=[1, 2]), (3, 4)),
    "OpLayer": single(lambda: lambda h: tp.concat([tp.exp(h[:, 1:]) * 2.0, -h], axis=-1), (4,)),
    "Dropout": single(lambda: L.Dropout(0.3), (6,)),
    "Flatten": single(lambda: L.Flatten(), (2, 3)),
    "Reshape": single(lambda: L.Reshape((3, 2)), (6,)),
    "Permute": single(lambda: L.Permute((2, 1)), (2, 3)),
    "RepeatVector": single(lambda: L.RepeatVector(3), (4,)),
    "Embedding": single(lambda: L.Embedding(10, 4), (5,), _ints(10, 5), dtype="int32"),
    "Add": merge(L.Add),
    "Subtract": merge(L.Subtract),
    "Multiply": merge(L.Multiply),
    "Average": merge(L.Average),
    "Maximum": merge(L.Maximum),
    "Minimum": merge(L.Minimum),
    "Concatenate": merge(lambda: L.Concatenate(axis=-1)),
    "BatchNormalization": single(lambda: L.BatchNormalization(), (4,)),
    "LayerNormalization": single(lambda: L.LayerNormalization(), (3, 4)),
    "Normalization": (_normalization, _floats(4)),
    "Conv1D": single(lambda: L.Conv1D(3, 3, padding="causal", activation="relu"), (8, 2)),
    "Conv2D": single(lambda: L.Conv2D(3, 3, strides=2, padding="same"), (7, 7, 2)),
    "Conv3D": single(lambda: L.Conv3D(2, 2), (4, 4, 4, 1)),
    "Conv1DTranspose": single(lambda: L.Conv1DTranspose(2, 3, strides=2), (5, 2)),
    "Conv2DTranspose": single(lambda: L.Conv2DTranspose(2, 3, strides=2, padding="same"), (4, 4, 2)),
    "Conv3DTranspose": single(lambda: L.Conv3DTranspose(2, 2), (3, 3, 3, 1)),
    "DepthwiseConv2D": single(lambda: L.DepthwiseConv2D(3, depth_multiplier=2), (5, 5, 2)),
    "SeparableConv2D": single(lambda: L.SeparableConv2D(3, 3), (5, 5, 2)),
    "MaxPooling1D": single(lambda: L.MaxPooling1D(2), (6, 2)),
    "MaxPooling2D": single(lambda: L.MaxPooling2D(2), (6, 6, 2)),
    "MaxPooling3D": single(lambda: L.MaxPooling3D(2), (4, 4, 4, 1)),
    "AveragePooling1D": single(lambda: L.AveragePooling1D(2, padding="same"), (5, 2)),
    "AveragePooling2D": single(lambda: L.AveragePooling2D(2), (6, 6, 2)),
    "AveragePooling3D": single(lambda: L.AveragePooling3D(2), (4, 4, 4, 1)),
    "GlobalMaxPooling1D": single(lambda: L.GlobalMaxPooling1D(), (6, 2)),
    "GlobalMaxPooling2D": single(lambda: L.GlobalMaxPooling2D(), (5, 5, 2)),
    "GlobalMaxPooling3D": single(lambda: L.GlobalMaxPooling3D(), (3, 3, 3, 2)),
    "GlobalAveragePooling1D": single(lambda: L.GlobalAveragePooling1D(), (6, 2)),
    "GlobalAveragePooling2D": single(lambda: L.GlobalAveragePooling2D(), (5, 5, 2)),
    "GlobalAveragePooling3D": single(lambda: L.GlobalAveragePooling3D(), (3, 3, 3, 2)),
    "UpSampling1D": single(lambda: L.UpSampling1D(2), (3, 2)),
    "UpSampling2D": single(lambda: L.UpSampling2D(2), (3, 3, 2)),
    "UpSampling3D": single(lambda: L.UpSampling3D(2), (2, 2, 2, 1)),
    "ZeroPadding1D": single(lambda: L.ZeroPadding1D(1), (3, 2)),
    "ZeroPadding2D": single(lambda: L.ZeroPadding2D(1), (3, 3, 2)),
    "ZeroPadding3D": single(lambda: L.ZeroPadding3D(1), (2, 2, 2, 1)),
    "Cropping1D": single(lambda: L.Cropping1D(1), (5, 2)),
    "Cropping2D": single(lambda: L.Cropping2D(1), (5, 5, 2)),
    "Cropping3D": single(lambda: L.Cropping3D(1), (4, 4, 4, 1)),
    "SpatialDropout1D": single(lambda: L.SpatialDropout1D(0.3), (5, 3)),
    "SpatialDropout2D": single(lambda: L.SpatialDropout2D(0.3, seed=3), (4, 4, 3)),
    "SpatialDropout3D": single(lambda: L.SpatialDropout3D(0.3), (3, 3, 3, 2)),
    "Masking": sequential(lambda: [L.Masking(0.0), L.LSTM(3)], (5, 2)),
    "SimpleRNN": single(lambda: L.SimpleRNN(4, return_sequences=True), (5, 3)),
    "LSTM": single(lambda: L.LSTM(4, dropout=0.2, seed=5), (5, 3)),
    "GRU": single(lambda: L.GRU(4, go_backwards=True), (5, 3)),
    "Bidirectional": single(lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)), (5, 2)),
    "TimeDistributed": single(lambda: L.TimeDistributed(L.Dense(2)), (4, 3)),
    "Attention": (
        _attention,
        lambda rng, n: [
            rng.standard_normal((n, 4, 6)).astype("float32"),
            rng.standard_normal((n, 5, 6)).astype("float32"),
        ],
    ),
    "MultiHeadAttention": (_mha, _floats(5, 6)),
    "Identity": single(lambda: L.Identity(), (4,)),
    "AlphaDropout": single(lambda: L.AlphaDropout(0.2, seed=3), (4,)),
    "RMSNormalization": single(lambda: L.RMSNormalization(), (3, 4)),
    "GaussianNoise": single(lambda: L.GaussianNoise(0.2, seed=1), (4,)),
    "GaussianDropout": single(lambda: L.GaussianDropout(0.2), (4,)),
    "ActivityRegularization": single(lambda: L.ActivityRegularization(l1=0.01, l2=0.01), (4,)),
    "UnitNormalization": single(lambda: L.UnitNormalization(), (3, 4)),
    "GroupNormalization": single(lambda: L.GroupNormalization(groups=2), (3, 4)),
    "Dot": (_dot, lambda rng, n: [rng.standard_normal((n, 3, 4)).astype("float32"),
                                  rng.standard_normal((n, 5, 4)).astype("float32")]),
    "AdditiveAttention": (
        _additive_attention,
        lambda rng, n: [
            rng.standard_normal((n, 4, 6)).astype("float32"),
            rng.standard_normal((n, 5, 6)).astype("float32"),
        ],
    ),
    "EinsumDense": single(lambda: L.EinsumDense("abc,cd->abd", (3, 5), bias_axes="d", activation="relu"),
                          (3, 4)),
    "DepthwiseConv1D": single(lambda: L.DepthwiseConv1D(3, depth_multiplier=2, padding="causal"), (6, 2)),
    "SeparableConv1D": single(
        lambda: L.SeparableConv1D(3, 3, depthwise_constraint="max_norm", pointwise_constraint="non_neg"),
        (6, 2),
    ),
    "Rescaling": single(lambda: L.Rescaling(0.5, offset=-1.0), (3, 3, 2)),
    "Resizing": single(lambda: L.Resizing(3, 5, crop_to_aspect_ratio=True), (4, 6, 2)),
    "CenterCrop": single(lambda: L.CenterCrop(3, 2, data_format="channels_first"), (2, 5, 4)),
    "RandomFlip": single(lambda: L.RandomFlip(seed=1), (4, 4, 2)),
    "RandomRotation": single(lambda: L.RandomRotation(0.1, fill_mode="constant", seed=2), (4, 4, 2)),
    "RandomZoom": single(lambda: L.RandomZoom(0.2, (-0.1, 0.1)), (4, 4, 2)),
    "RandomTranslation": single(lambda: L.RandomTranslation(0.1, 0.2, interpolation="nearest"), (4, 4, 2)),
    "RandomContrast": single(lambda: L.RandomContrast(0.3, value_range=(-5, 5)), (4, 4, 2)),
    "RandomBrightness": single(lambda: L.RandomBrightness(0.1, value_range=(-5, 5)), (4, 4, 2)),
    "RandomCrop": single(lambda: L.RandomCrop(3, 2, seed=4), (4, 5, 2)),
    "CategoryEncoding": single(lambda: L.CategoryEncoding(6, output_mode="count"), (3,), _ints(6, 3),
                               dtype="int32"),
    "Discretization": single(lambda: L.Discretization([-0.5, 0.0, 0.5], output_mode="one_hot"), (3,)),
    "Hashing": single(lambda: L.Hashing(5, mask_value=0, output_mode="multi_hot"), (4,), _ints(9, 4),
                      dtype="int32"),
    "IntegerLookup": single(lambda: L.IntegerLookup(vocabulary=[3, 1, 4], output_mode="multi_hot"), (4,),
                            _ints(6, 4), dtype="int32"),
    "RNN": single(lambda: L.RNN(L.LSTMCell(3, dropout=0.2, seed=1), return_sequences=True), (4, 2)),
    "SimpleRNNCell": single(lambda: L.RNN(L.SimpleRNNCell(3), go_backwards=True), (4, 2)),
    "LSTMCell": single(lambda: L.RNN(L.LSTMCell(3, recurrent_constraint="unit_norm")), (4, 2)),
    "GRUCell": single(lambda: L.RNN(L.GRUCell(3, reset_after=False)), (4, 2)),
    "StackedRNNCells": single(lambda: L.RNN([L.GRUCell(3), L.SimpleRNNCell(2)]), (4, 2)),
    "ConvLSTM1D": single(lambda: L.ConvLSTM1D(2, 3, padding="same"), (3, 5, 2)),
    "ConvLSTM2D": single(lambda: L.ConvLSTM2D(2, 2, return_sequences=True, dropout=0.1, seed=2),
                         (2, 3, 3, 1)),
    "ConvLSTM3D": single(lambda: L.ConvLSTM3D(1, 2), (2, 3, 3, 3, 1)),
    "Sequential": sequential(lambda: [L.Dense(4, activation="relu"), L.Dropout(0.1)], (3,)),
    "Functional": single(lambda: L.Dense(4), (3,)),
}


def _string_lookup():
    layer = L.StringLookup(num_oov_indices=2, mask_token="", output_mode="int")
    layer.adapt([["a", "b", "b"], ["c", "b", "a"]])
    return layer, np.array([["a", "z", ""], ["b", "c", "q"]])


def _text_vectorization():
    layer = L.TextVectorization(max_tokens=8, ngrams=2, output_mode="tf_idf")
    layer.adapt(["The cat sat.", "The dog sat down!", "a cat"])
    return layer, np.array(["the cat sat down", "dogs"])


# Layers that take strings, which no tp.Input carries: they are checked alone (config round trip through
# JSON, the rebuilt layer computing the same outputs) by test_model_roundtrip.
STANDALONE = {"StringLookup": _string_lookup, "TextVectorization": _text_vectorization}
