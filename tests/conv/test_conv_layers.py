"""Convolution, pooling and reshaping layers: shapes against Keras's documented formulas, values against naive
NumPy references, channel orders, configs, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapeflow as tp
from tests.conv.op_cases_conv import np_conv, np_pool

L = tp.layers


# --- Keras's documented output-shape formulas, written out independently ------------------------------------
def keras_conv_len(n, k, s, d, padding):
    """keras.src.ops.operation_utils.compute_conv_output_shape."""
    if padding == "valid":
        return (n - d * (k - 1) - 1) // s + 1
    return math.ceil(n / s)  # same, causal


def keras_deconv_len(n, k, s, padding, output_padding=None):
    """keras.src.utils.conv_utils.deconv_output_length (dilation 1)."""
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = 0 if padding == "valid" else k // 2
    return (n - 1) * s + k - 2 * pad + output_padding


CONV_SHAPES = [  # (layer class, kwargs, input shape)
    (L.Conv1D, dict(filters=4, kernel_size=3), (2, 11, 3)),
    (L.Conv1D, dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 11, 3)),
    (L.Conv1D, dict(filters=2, kernel_size=2, dilation_rate=3, padding="causal"), (2, 9, 1)),
    (L.Conv2D, dict(filters=5, kernel_size=3), (2, 28, 28, 1)),
    (L.Conv2D, dict(filters=5, kernel_size=(3, 2), strides=(2, 3), padding="same"), (2, 13, 11, 2)),
    (L.Conv2D, dict(filters=4, kernel_size=3, dilation_rate=2), (1, 12, 10, 2)),
    (L.Conv2D, dict(filters=6, kernel_size=3, groups=3, padding="same"), (1, 7, 7, 6)),
    (L.Conv2D, dict(filters=5, kernel_size=3, strides=2, data_format="channels_first"), (2, 3, 15, 12)),
    (L.Conv3D, dict(filters=3, kernel_size=(2, 3, 3)), (1, 6, 9, 8, 2)),
    (L.Conv3D, dict(filters=3, kernel_size=3, strides=2, padding="same"), (1, 5, 6, 7, 2)),
]


@pytest.mark.parametrize("cls,kwargs,shape", CONV_SHAPES, ids=lambda v: getattr(v, "__name__", None))
def test_conv_output_shape_matches_keras_formula(cls, kwargs, shape):
    layer = cls(**kwargs)
    out = layer(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    cf = kwargs.get("data_format") == "channels_first"
    spatial = shape[2:] if cf else shape[1:-1]
    rank = len(spatial)
    k = kwargs["kernel_size"]
    ks = (k,) * rank if isinstance(k, int) else k
    s = kwargs.get("strides", 1)
    ss = (s,) * rank if isinstance(s, int) else s
    d = kwargs.get("dilation_rate", 1)
    ds = (d,) * rank if isinstance(d, int) else d
    lens = [
        keras_conv_len(n, a, b, c, kwargs.get("padding", "valid")) for n, a, b, c in zip(spatial, ks, ss, ds)
    ]
    expected = (shape[0], kwargs["filters"], *lens) if cf else (shape[0], *lens, kwargs["filters"])
    assert out.shape == expected
    channels = shape[1] if cf else shape[-1]
    n_params = math.prod(ks) * channels // kwargs.get("groups", 1) * kwargs["filters"] + kwargs["filters"]
    assert layer.count_params() == n_params


@pytest.mark.parametrize(
    "k,s,padding,output_padding",
    [
        (3, 1, "valid", None),
        (3, 2, "valid", None),
        (2, 3, "valid", None),
        (3, 2, "same", None),
        (4, 2, "same", None),
        (3, 2, "same", 1),
        (3, 3, "valid", 2),
    ],
)
def test_conv2d_transpose_shape_matches_keras_formula(k, s, padding, output_padding):
    layer = L.Conv2DTranspose(3, k, strides=s, padding=padding, output_padding=output_padding)
    out = layer(tp.ones((2, 5, 4, 2)))
    lens = [keras_deconv_len(n, k, s, padding, output_padding) for n in (5, 4)]
    assert out.shape == (2, *lens, 3)
    assert layer.kernel.shape == (k, k, 3, 2)


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x, w), y> == <x, conv_transpose(y, w)>: the transposed convolution really is conv's transpose."""
    rng = np.random.default_rng(1)
    for strides, padding in [(1, "valid"), (2, "valid"), (2, "same"), (3, "same")]:
        x = rng.standard_normal((2, 9, 8, 3))
        w = rng.standard_normal((3, 3, 3, 4))  # conv layout (kh, kw, in, out)
        y_shape = tp.ops.conv.conv(x, w, strides, padding).shape
        y = rng.standard_normal(y_shape)
        lhs = np.sum(tp.ops.conv.conv(x, w, strides, padding).numpy() * y)
        back = tp.ops.conv.conv_transpose(
            y, w, strides, padding, output_padding=_output_padding(9, 8, y_shape, strides, padding)
        )
        assert back.shape == x.shape
        np.testing.assert_allclose(lhs, np.sum(x * back.numpy()), rtol=1e-10)


def _output_padding(h, w, y_shape, s, padding):
    """The output_padding that makes conv_transpose return (h, w) (as Keras users pick it)."""
    pads = []
    for n, m in zip((h, w), y_shape[1:3]):
        pad = 0 if padding == "valid" else 1  # kernel 3: k // 2
        pads.append(n - ((m - 1) * s + 3 - 2 * pad))
    return tuple(pads)


def test_conv2d_values_and_channels_first_agree():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    last = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")
    first = L.Conv2D(4, 3, strides=2, padding="same", activation="relu", data_format="channels_first")
    y_last = last(x)
    first(np.moveaxis(x, -1, 1))
    first.set_weights(last.get_weights())
    y_first = first(np.moveaxis(x, -1, 1))
    np.testing.assert_allclose(np.moveaxis(y_first.numpy(), 1, -1), y_last.numpy(), rtol=1e-5, atol=1e-6)
    w, b = last.get_weights()
    ref = np.maximum(np_conv(x.astype(np.float64), w.astype(np.float64), 2, "same") + b, 0)
    np.testing.assert_allclose(y_last.numpy(), ref, rtol=1e-4, atol=1e-5)


def test_depthwise_and_separable_match_their_definitions():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 6, 3))
    dw = L.DepthwiseConv2D(3, depth_multiplier=2, dtype="float64")
    y = dw(x).numpy()
    k, b = dw.get_weights()
    assert k.shape == (3, 3, 3, 2) and y.shape == (2, 4, 4, 6)
    for c in range(3):
        for m in range(2):
            ref = np_conv(x[..., c : c + 1], k[:, :, c : c + 1, m : m + 1])[..., 0] + b[c * 2 + m]
            np.testing.assert_allclose(y[..., c * 2 + m], ref, rtol=1e-10)
    sep = L.SeparableConv2D(5, 3, padding="same", depth_multiplier=2, dtype="float64")
    out = sep(x).numpy()
    dk, pk, sb = sep.get_weights()
    assert (dk.shape, pk.shape, sb.shape) == ((3, 3, 3, 2), (1, 1, 6, 5), (5,))
    depth = np.concatenate(
        [np_conv(x[..., c : c + 1], dk[:, :, c : c + 1, :], padding="same") for c in range(3)], -1
    )
    np.testing.assert_allclose(out, np_conv(depth, pk) + sb, rtol=1e-10)


POOL_SHAPES = [
    (L.MaxPooling1D, dict(pool_size=2), (2, 9, 3)),
    (L.MaxPooling1D, dict(pool_size=3, strides=2, padding="same"), (2, 10, 3)),
    (L.MaxPooling2D, dict(pool_size=2), (2, 27, 26, 4)),
    (L.MaxPooling2D, dict(pool_size=(3, 2), strides=1, padding="valid"), (1, 6, 5, 1)),
    (L.MaxPooling2D, dict(pool_size=2, padding="same", data_format="channels_first"), (1, 3, 7, 5)),
    (L.MaxPooling3D, dict(pool_size=2), (1, 5, 6, 7, 2)),
    (L.AveragePooling1D, dict(pool_size=4, strides=3, padding="same"), (2, 10, 3)),
    (L.AveragePooling2D, dict(pool_size=2, strides=1), (2, 5, 5, 2)),
    (L.AveragePooling3D, dict(pool_size=(1, 2, 2), padding="same"), (1, 3, 5, 5, 2)),
]


@pytest.mark.parametrize("cls,kwargs,shape", POOL_SHAPES, ids=lambda v: getattr(v, "__name__", None))
def test_pooling_shapes_and_values(cls, kwargs, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    y = cls(**kwargs, dtype="float64")(x)
    cf = kwargs.get("data_format") == "channels_first"
    rank = len(shape) - 2
    p = kwargs["pool_size"]
    ps = (p,) * rank if isinstance(p, int) else p
    s = kwargs.get("strides") or ps
    ss = (s,) * rank if isinstance(s, int) else s
    spatial = shape[2:] if cf else shape[1:-1]
    lens = [keras_conv_len(n, a, b, 1, kwargs.get("padding", "valid")) for n, a, b in zip(spatial, ps, ss)]
    assert y.shape == ((shape[0], shape[1], *lens) if cf else (shape[0], *lens, shape[-1]))
    xl = np.moveaxis(x, 1, -1) if cf else x
    ref = np_pool(xl, ps, ss, kwargs.get("padding", "valid"), "max" if "Max" in cls.__name__ else "avg")
    np.testing.assert_allclose(np.moveaxis(y.numpy(), 1, -1) if cf else y.numpy(), ref, rtol=1e-12)


def test_max_pool_gradient_goes_to_the_first_maximum_only():
    x = tp.constant(np.array([[[1.0], [1.0], [0.0], [3.0]]]))
    with tp.GradientTape() as tape:
        tape.watch(x)
        y = tp.ops.pooling.max_pool(x, 2)
    g = tape.gradient(y, x)
    np.testing.assert_array_equal(g.numpy()[0, :, 0], [1.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "cls,shape,axes",
    [
        (L.GlobalAveragePooling1D, (2, 5, 3), (1,)),
        (L.GlobalMaxPooling1D, (2, 5, 3), (1,)),
        (L.GlobalAveragePooling2D, (2, 4, 5, 3), (1, 2)),
        (L.GlobalMaxPooling2D, (2, 4, 5, 3), (1, 2)),
        (L.GlobalAveragePooling3D, (2, 3, 4, 5, 3), (1, 2, 3)),
        (L.GlobalMaxPooling3D, (2, 3, 4, 5, 3), (1, 2, 3)),
    ],
)
def test_global_pooling(cls, shape, axes):
    x = np.random.default_rng(0).standard_normal(shape)
    fn = np.max if "Max" in cls.__name__ else np.mean
    np.testing.assert_allclose(cls(dtype="float64")(x).numpy(), fn(x, axis=axes))
    kept = cls(keepdims=True, dtype="float64")(x)
    assert kept.shape == fn(x, axis=axes, keepdims=True).shape
    xf = np.moveaxis(x, -1, 1)
    np.testing.assert_allclose(
        cls(data_format="channels_first", dtype="float64")(xf).numpy(), fn(x, axis=axes)
    )


def test_upsampling_padding_cropping():
    x = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)
    np.testing.assert_array_equal(L.UpSampling2D((2, 3))(x).numpy(), x.repeat(2, 1).repeat(3, 2))
    np.testing.assert_array_equal(L.UpSampling1D(3)(x[:, 0]).numpy(), x[:, 0].repeat(3, 1))
    assert L.UpSampling2D(2, interpolation="bilinear")(x).shape == (2, 6, 8, 2)
    np.testing.assert_array_equal(
        L.ZeroPadding2D(((1, 2), (0, 3)))(x).numpy(), np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0)))
    )
    np.testing.assert_array_equal(
        L.ZeroPadding1D(2)(x[:, 0]).numpy(), np.pad(x[:, 0], ((0, 0), (2, 2), (0, 0)))
    )
    np.testing.assert_array_equal(L.Cropping2D(((1, 0), (1, 2)))(x).numpy(), x[:, 1:, 1:2])
    np.testing.assert_array_equal(L.Cropping1D((1, 1))(x[:, 0]).numpy(), x[:, 0, 1:3])
    xf = np.moveaxis(x, -1, 1)
    np.testing.assert_array_equal(
        L.ZeroPadding2D(1, data_format="channels_first")(xf).numpy(),
        np.pad(xf, ((0, 0), (0, 0), (1, 1), (1, 1))),
    )


def test_spatial_dropout_drops_whole_channels_only_in_training():
    x = np.ones((4, 6, 6, 8), dtype=np.float32)
    layer = L.SpatialDropout2D(0.5)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    y = layer(x, training=True).numpy()
    per_channel = y.reshape(4, 36, 8)
    assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1))  # constant over each feature map
    assert set(np.unique(y)) == {0.0, 2.0}
    y1 = L.SpatialDropout1D(0.5)(x[:, 0], training=True).numpy()
    assert np.all(y1.min(axis=1) == y1.max(axis=1))


ALL_LAYERS = [
    (L.Conv1D, dict(filters=2, kernel_size=3, padding="causal", activation="relu"), (2, 7, 3)),
    (L.Conv2D, dict(filters=2, kernel_size=3, strides=2, groups=1, kernel_regularizer="l2"), (2, 7, 7, 3)),
    (L.Conv3D, dict(filters=2, kernel_size=2, use_bias=False), (1, 3, 4, 4, 2)),
    (
        L.Conv2DTranspose,
        dict(filters=2, kernel_size=3, strides=2, padding="same", output_padding=1),
        (1, 3, 3, 2),
    ),
    (L.Conv1DTranspose, dict(filters=2, kernel_size=3), (1, 5, 2)),
    (L.Conv3DTranspose, dict(filters=2, kernel_size=2, strides=2), (1, 2, 2, 2, 1)),
    (L.DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=2, padding="same"), (1, 5, 5, 2)),
    (L.SeparableConv2D, dict(filters=3, kernel_size=3), (1, 5, 5, 2)),
    (L.MaxPooling2D, dict(pool_size=2, padding="same"), (1, 5, 5, 2)),
    (L.AveragePooling1D, dict(pool_size=2), (1, 6, 2)),
    (L.GlobalMaxPooling2D, dict(keepdims=True), (1, 5, 5, 2)),
    (L.UpSampling2D, dict(size=2, interpolation="bilinear"), (1, 3, 3, 2)),
    (L.UpSampling1D, dict(size=2), (1, 3, 2)),
    (L.ZeroPadding2D, dict(padding=((1, 2), (3, 4))), (1, 3, 3, 2)),
    (L.Cropping2D, dict(cropping=1), (1, 5, 5, 2)),
    (L.SpatialDropout2D, dict(rate=0.3), (1, 5, 5, 2)),
]


@pytest.mark.parametrize("cls,kwargs,shape", ALL_LAYERS, ids=lambda v: getattr(v, "__name__", None))
def test_config_round_trip_rebuilds_the_same_layer(cls, kwargs, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    layer = cls(**kwargs)
    y = layer(x)
    clone = L.deserialize(L.serialize(layer))
    assert type(clone) is cls and clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-6)


def test_conv_layer_input_gradients_check_in_float64():
    rng = np.random.default_rng(3)
    for layer, shape in [
        (L.Conv2D(2, 3, strides=2, padding="same", dtype="float64"), (2, 5, 6, 2)),
        (L.Conv2DTranspose(2, 3, strides=2, dtype="float64"), (1, 3, 3, 2)),
        (L.SeparableConv2D(2, 2, dtype="float64"), (1, 4, 4, 2)),
        (L.AveragePooling2D(2, padding="same", dtype="float64"), (1, 5, 5, 2)),
    ]:
        reports = tp.check_gradients(lambda x, layer=layer: layer(x), rng.standard_normal(shape))
        assert reports[0]["ok"], (layer, reports)


@pytest.mark.parametrize(
    "make,shape,message",
    [
        (lambda: L.Conv2D(2, 3), (2, 8, 3), "rank-4"),
        (lambda: L.Conv2D(6, 3, groups=3), (2, 8, 8, 4), "divisible by groups"),
        (lambda: L.MaxPooling2D(), (2, 8, 3), "rank-4"),
        (lambda: L.Cropping2D(5), (1, 8, 8, 1), "leaves nothing"),
    ],
)
def test_shape_errors_name_the_layer(make, shape, message):
    layer = make()
    with pytest.raises(tp.ShapeError, match=message) as err:
        layer(np.zeros(shape, np.float32))
    assert layer.name in str(err.value)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: L.Conv2D(2, 3, padding="full"), "padding"),
        (lambda: L.Conv2D(0, 3), "filters"),
        (lambda: L.Conv2D(2, (3, 3, 3)), "kernel_size"),
        (lambda: L.Conv2D(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
        (lambda: L.Conv2D(2, 3, data_format="NHWC"), "data_format"),
        (lambda: L.Conv2D(2, 3, padding="causal"), "padding"),
        (lambda: L.MaxPooling2D(0), "pool_size"),
        (lambda: L.UpSampling2D(interpolation="cubic"), "interpolation"),
    ],
)
def test_bad_arguments_are_rejected_with_the_choices(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_conv_op_error_names_both_shapes():
    with pytest.raises(tp.ShapeError, match=r"x.shape=\(1, 5, 5, 3\), kernel.shape=\(3, 3, 2, 4\)"):
        tp.ops.conv.conv(tp.ones((1, 5, 5, 3)), tp.ones((3, 3, 2, 4)))
    with pytest.raises(tp.ShapeError, match="does not fit"):
        tp.ops.conv.conv(tp.ones((1, 2, 2, 1)), tp.ones((3, 3, 1, 1)))


def test_grouped_conv_layer_is_independent_convolutions_per_group():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 6, 4))
    layer = L.Conv2D(6, 3, groups=2, activation="relu", bias_initializer="random_normal", dtype="float64")
    y = layer(x).numpy()
    k, b = layer.get_weights()
    assert k.shape == (3, 3, 2, 6)
    parts = [np_conv(x[..., 2 * i:2 * i + 2], k[..., 3 * i:3 * i + 3]) for i in range(2)]
    np.testing.assert_allclose(y, np.maximum(np.concatenate(parts, -1) + b, 0), rtol=1e-10)
    sig = L.Conv1D(2, 2, activation="sigmoid", dtype="float64")
    z = sig(x[:, 0]).numpy()
    k1, b1 = sig.get_weights()
    np.testing.assert_allclose(z, 1 / (1 + np.exp(-(np_conv(x[:, 0], k1) + b1))), rtol=1e-10)
