"""Layers and constraints added for Keras 3 parity: the harness for each, values against NumPy, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import layers as L
from tests.training.harness import check_layer

CASES = [
    (L.Identity, {}, (3, 4), (3, 4), 0),
    (L.AlphaDropout, {"rate": 0.2}, (3, 4), (3, 4), 0),
    (L.RMSNormalization, {}, (3, 4), (3, 4), 1),
    (L.RMSNormalization, {"axis": [1, 2], "epsilon": 1e-3}, (2, 3, 4), (2, 3, 4), 1),
    (L.GaussianNoise, {"stddev": 0.1}, (3, 4), (3, 4), 0),
    (L.GaussianDropout, {"rate": 0.1}, (3, 4), (3, 4), 0),
    (L.ActivityRegularization, {"l1": 0.1, "l2": 0.2}, (3, 4), (3, 4), 0),
    (L.UnitNormalization, {}, (3, 4), (3, 4), 0),
    (L.UnitNormalization, {"axis": [1, 2]}, (3, 4, 2), (3, 4, 2), 0),
    (L.GroupNormalization, {"groups": 2}, (3, 5, 4), (3, 5, 4), 2),
    (L.GroupNormalization, {"groups": 3, "axis": 1, "center": False}, (2, 6, 4), (2, 6, 4), 1),
    (L.Dot, {"axes": 1}, [(3, 4), (3, 4)], (3, 1), 0),
    (L.Dot, {"axes": 2, "normalize": True}, [(2, 3, 4), (2, 5, 4)], (2, 3, 5), 0),
    (L.Dot, {"axes": (1, 2)}, [(2, 3, 4), (2, 5, 3)], (2, 4, 5), 0),
    (L.AdditiveAttention, {}, [(2, 3, 4), (2, 5, 4)], (2, 3, 4), 1),
    (L.AdditiveAttention, {"use_scale": False}, [(2, 3, 4), (2, 5, 4), (2, 5, 4)], (2, 3, 4), 0),
    (L.EinsumDense, {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}, (3, 5), (3, 4), 2),
    (L.EinsumDense, {"equation": "abc,cde->abde", "output_shape": (None, 2, 4), "bias_axes": "de"},
     (3, 5, 6), (3, 5, 2, 4), 2),
    (L.EinsumDense, {"equation": "...b,bc->...c", "output_shape": 4, "activation": "tanh"}, (2, 3, 5),
     (2, 3, 4), 1),
    (L.DepthwiseConv1D, {"kernel_size": 3, "depth_multiplier": 2}, (2, 7, 3), (2, 5, 6), 2),
    (L.DepthwiseConv1D, {"kernel_size": 2, "padding": "causal", "data_format": "channels_first"}, (2, 3, 6),
     (2, 3, 6), 2),
    (L.SeparableConv1D, {"filters": 4, "kernel_size": 3, "padding": "same"}, (2, 7, 3), (2, 7, 4), 3),
    (L.Dense, {"units": 3, "kernel_constraint": "non_neg", "bias_constraint": "max_norm"}, (2, 4), (2, 3), 2),
    (L.Conv1D, {"filters": 3, "kernel_size": 2, "kernel_constraint": {"class_name": "UnitNorm",
                                                                      "config": {"axis": [0, 1]}}},
     (2, 5, 3), (2, 4, 3), 2),
]


@pytest.mark.parametrize("cls, kwargs, input_shape, expected, n_trainable", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_layer(cls, kwargs, input_shape, expected, n_trainable):
    check_layer(cls, kwargs, input_shape, expected, n_trainable)


def test_gaussian_noise_and_dropout_statistics_and_seed():
    x = np.ones((400, 50))
    y = L.GaussianNoise(0.5, seed=1, dtype="float64")(x, training=True).numpy()
    assert abs((y - 1).std() - 0.5) < 0.01 and abs((y - 1).mean()) < 0.01
    again = L.GaussianNoise(0.5, seed=1, dtype="float64")(x, training=True).numpy()
    np.testing.assert_array_equal(y, again)
    z = L.GaussianDropout(0.2, dtype="float64")(x, training=True).numpy()
    assert abs(z.std() - np.sqrt(0.2 / 0.8)) < 0.01 and abs(z.mean() - 1) < 0.01
    with pytest.raises(ValueError, match=r"`rate` must be a number in \[0, 1\). Received: rate=1"):
        L.GaussianDropout(1)
    with pytest.raises(ValueError, match="`stddev`"):
        L.GaussianNoise(-0.1)


def test_activity_regularization_adds_its_penalty_to_the_model_loss():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    layer = L.ActivityRegularization(l1=0.1, l2=0.01, dtype="float64")
    np.testing.assert_array_equal(layer(x).numpy(), x)
    want = (0.1 * np.abs(x).sum() + 0.01 * (x**2).sum()) / 2
    np.testing.assert_allclose(float(layer.losses[0]), want)
    model = tp.Sequential([tp.Input((2,)), layer, L.Dense(1)])
    model(x)
    assert len(model.losses) == 1


def test_group_normalization_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 6))
    layer = L.GroupNormalization(groups=3, epsilon=1e-5, dtype="float64")
    y = layer(x).numpy()
    g = x.reshape(2, 5, 3, 2)
    want = ((g - g.mean(axis=(1, 3), keepdims=True)) / np.sqrt(g.var(axis=(1, 3), keepdims=True) + 1e-5))
    np.testing.assert_allclose(y, want.reshape(x.shape), atol=1e-12)
    with pytest.raises(tp.ShapeError, match="groups=4 must divide the 6 channels"):
        L.GroupNormalization(groups=4)(x)


def test_unit_normalization_and_dot_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(L.UnitNormalization(dtype="float64")(x).numpy(),
                               x / np.linalg.norm(x, axis=-1, keepdims=True), atol=1e-12)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    np.testing.assert_allclose(L.Dot(axes=2, dtype="float64")([a, b]).numpy(), a @ b.transpose(0, 2, 1))
    na, nb = (v / np.linalg.norm(v, axis=-1, keepdims=True) for v in (a, b))
    np.testing.assert_allclose(L.Dot(axes=-1, normalize=True, dtype="float64")([a, b]).numpy(),
                               na @ nb.transpose(0, 2, 1), atol=1e-12)
    with pytest.raises(tp.ShapeError, match=r"sizes along axes \(1, 1\) differ"):
        L.Dot(axes=1)([a, b])
    with pytest.raises(tp.ShapeError, match="non-batch axis"):
        L.Dot(axes=0)([a, b])


def test_additive_attention_matches_numpy():
    rng = np.random.default_rng(2)
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    layer = L.AdditiveAttention(dtype="float64")
    out = layer([q, v]).numpy()
    scale = layer.scale.numpy()
    scores = (np.tanh(q[:, :, None, :] + v[:, None, :, :]) * scale).sum(-1)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(out, w @ v, atol=1e-12)
    assert layer.get_config()["use_scale"] is True and "score_mode" not in layer.get_config()


def test_einsum_dense_is_a_dense_layer_for_ab_bc_ac_and_refuses_bad_equations():
    layer = L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c", dtype="float64")
    x = np.random.default_rng(3).standard_normal((4, 5))
    np.testing.assert_allclose(layer(x).numpy(), x @ layer.kernel.numpy() + layer.bias.numpy())
    with pytest.raises(ValueError, match="`equation` must look like"):
        L.EinsumDense("ab->a", output_shape=3)
    with pytest.raises(ValueError, match="`output_shape` must have one size per output letter"):
        L.EinsumDense("abc,cd->abd", output_shape=3)
    with pytest.raises(ValueError, match="kernel axis 'e' is unknown"):
        L.EinsumDense("ab,be->ab", output_shape=5)(x)


def test_depthwise_conv1d_matches_numpy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 3))
    layer = L.DepthwiseConv1D(3, depth_multiplier=2, use_bias=False, dtype="float64")
    y = layer(x).numpy()
    k = layer.depthwise_kernel.numpy()  # (3, channels, mult)
    want = np.zeros((2, 4, 3, 2))
    for t in range(4):
        want[:, t] = np.einsum("bkc,kcm->bcm", x[:, t:t + 3], k)
    np.testing.assert_allclose(y, want.reshape(2, 4, 6), atol=1e-12)


def test_constraints_values_names_and_configs():
    C = tp.constraints
    w = tp.constant([[3.0, 0.3], [4.0, -0.4]], dtype="float64")
    np.testing.assert_allclose(C.get("non_neg")(w).numpy(), [[3, 0.3], [4, 0]])
    np.testing.assert_allclose(C.MaxNorm(1.0)(w).numpy(), [[0.6, 0.3], [0.8, -0.4]], atol=1e-6)
    np.testing.assert_allclose(C.get("unit_norm")(w).numpy(), [[0.6, 0.6], [0.8, -0.8]], atol=1e-6)
    mm = C.MinMaxNorm(min_value=1.0, max_value=2.0)(w).numpy()
    np.testing.assert_allclose(np.linalg.norm(mm, axis=0), [2.0, 1.0], atol=1e-6)
    half = C.MinMaxNorm(1.0, 2.0, rate=0.5)(w).numpy()
    np.testing.assert_allclose(np.linalg.norm(half, axis=0), [3.5, 0.75], atol=1e-6)
    for c in (C.NonNeg(), C.MaxNorm(3, axis=[0, 1]), C.UnitNorm(1), C.MinMaxNorm(0.5, 1, 0.3)):
        again = C.deserialize(C.serialize(c))
        assert type(again) is type(c) and again.get_config() == c.get_config()
    with pytest.raises(ValueError, match="Unknown constraint 'nonnegative'"):
        C.get("nonnegative")
    with pytest.raises(ValueError, match="`max_value` must be positive"):
        C.MaxNorm(0)


def test_string_constraint_is_resolved_once_and_applied_after_each_step():
    # regression: kernel_constraint="non_neg" used to fail at the first step ('str' object is not callable)
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input((3,)), L.Dense(4, kernel_constraint="non_neg"),
                           L.Dense(1, kernel_constraint="max_norm")])
    assert isinstance(model.layers[0].kernel_constraint, tp.constraints.NonNeg)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 3)), rng.standard_normal((32, 1))
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, verbose=0)
    assert model.layers[0].kernel.numpy().min() >= 0
    assert np.linalg.norm(model.layers[1].kernel.numpy(), axis=0).max() <= 2.0 + 1e-6
    config = tp.layers.serialize(model.layers[0])["config"]
    assert config["kernel_constraint"] == {"class_name": "NonNeg", "config": {}}


def test_alpha_dropout_keeps_mean_and_variance_and_rms_normalization_matches_numpy():
    x = np.random.default_rng(1).standard_normal((4000, 50))
    z = L.AlphaDropout(0.3, seed=0, dtype="float64")(x, training=True).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert (np.isclose(z, z.min()).mean() - 0.3) < 0.01  # the dropped entries share one value
    np.testing.assert_array_equal(L.AlphaDropout(0.3)(x).numpy(), x.astype("float32"))
    y = L.RMSNormalization(dtype="float64")(x[:3]).numpy()
    np.testing.assert_allclose(y, x[:3] / np.sqrt((x[:3] ** 2).mean(-1, keepdims=True) + 1e-6))
    assert L.Convolution2D is L.Conv2D and L.SeparableConvolution1D is L.SeparableConv1D
