"""Activation layers, Lambda, tapeflow ops on symbolic tensors (auto layers), sliced Variable assignment,
``tp.keras`` / ``tp.preprocessing`` aliases and image helpers."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tests.core.gradcheck import assert_gradients

L = tp.layers


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize(
    "layer, reference",
    [
        (lambda: L.ReLU(), lambda x: np.maximum(x, 0)),
        (lambda: L.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2),
         lambda x: np.minimum(np.where(x > 0.2, x, 0.1 * (x - 0.2)), 0.5)),
        (lambda: L.LeakyReLU(negative_slope=0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
        (lambda: L.LeakyReLU(alpha=0.1), lambda x: np.where(x > 0, x, 0.1 * x)),  # tf.keras's spelling
        (lambda: L.LeakyReLU(), lambda x: np.where(x > 0, x, 0.3 * x)),  # Keras 3's default slope
        (lambda: L.ELU(alpha=0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
        (lambda: L.Softmax(), lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
        (lambda: L.Softmax(axis=[1, 2]), lambda x: np.exp(x) / np.exp(x).sum((1, 2), keepdims=True)),
        (lambda: L.PReLU(alpha_initializer=tp.initializers.Constant(0.25)),
         lambda x: np.where(x > 0, x, 0.25 * x)),
    ],
)
def test_activation_layers_match_numpy_and_differentiate(layer, reference):
    x = _x(2, 3, 4)
    lay = layer()
    np.testing.assert_allclose(lay(x.astype("float32")).numpy(), reference(x), rtol=1e-5, atol=1e-6)
    lay64 = type(lay).from_config({**lay.get_config(), "dtype": "float64"})
    x = x + 0.05 * (np.abs(x - 0.2) < 0.05)  # away from the kinks at 0 and at the threshold
    assert_gradients(lambda t: lay64(t), [x])


def test_prelu_learns_one_slope_per_channel_with_shared_axes():
    layer = L.PReLU(shared_axes=[1, 2])
    layer(np.zeros((1, 4, 4, 3), "float32"))
    assert layer.weights[0].shape == (1, 1, 3)
    with pytest.raises(ValueError, match="shared axis 4 is outside 1..3"):
        L.PReLU(shared_axes=[4])(np.zeros((1, 4, 4, 3), "float32"))


def test_softmax_mask_zeroes_the_masked_positions():
    out = L.Softmax()(np.zeros((1, 4), "float32"), mask=np.array([[True, True, False, True]]))
    np.testing.assert_allclose(out.numpy(), [[1 / 3, 1 / 3, 0.0, 1 / 3]], rtol=1e-6)


def test_ops_on_symbolic_tensors_become_layers_and_replay_exactly():
    a, b = tp.Input(shape=(3,)), tp.Input(shape=(2,))
    h = L.Dense(4, name="h")(a)
    out = tp.concat([(h + 1.0) * 2.0, tp.exp(b), -h[:, :1], abs(h) ** 2], axis=-1)
    model = tp.Model([a, b], out)
    assert out.shape == (None, 4 + 2 + 1 + 4)
    xa, xb = _x(5, 3).astype("float32"), _x(5, 2, seed=1).astype("float32")
    hv = xa @ model.get_layer("h").kernel.numpy() + model.get_layer("h").bias.numpy()
    want = np.concatenate([(hv + 1) * 2, np.exp(xb), -hv[:, :1], np.abs(hv) ** 2], -1)
    np.testing.assert_allclose(model([xa, xb]).numpy(), want, rtol=1e-5)
    # the op layers save and load with the model
    again = tp.Model.from_config(model.get_config())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again([xa, xb]).numpy(), want, rtol=1e-5)


def test_symbolic_ops_train_through_fit():
    inp = tp.Input(shape=(2,))
    h = L.Dense(8, activation="tanh")(inp)
    out = L.Dense(1)(tp.concat([h, h * h], axis=-1))
    model = tp.Model(inp, out)
    model.compile(tp.optimizers.Adam(0.05), "mse")
    x = _x(128, 2).astype("float32")
    y = (x[:, :1] * x[:, 1:]).astype("float32")
    history = model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.25 * history.history["loss"][0]


def test_lambda_layer_and_its_unsaveable_config():
    inp = tp.Input(shape=(3,))
    out = L.Lambda(lambda x, scale: x * scale, arguments={"scale": 3.0})(inp)
    model = tp.Model(inp, out)
    np.testing.assert_allclose(model(np.ones((2, 3), "float32")).numpy(), 3.0)
    with pytest.raises(TypeError, match="Lambda.*holds Python code"):
        model.get_config()
    with pytest.raises(TypeError, match="must be callable"):
        L.Lambda(3)


def test_sliced_variable_assignment_keeps_recorded_values():
    v = tp.Variable(np.arange(6.0).reshape(2, 3))
    with tp.GradientTape() as tape:
        y = tp.sum(v[0] * v[0])
    v[0, 1].assign(10.0)
    v[1].assign_add([1.0, 1.0, 1.0])
    v[:, 2].assign_sub(1.0)
    np.testing.assert_array_equal(v.numpy(), [[0, 10, 1], [4, 5, 5]])
    # the tape saved v[0] before the assignment: the gradient is 2 * the old row
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [[0, 2, 4], [0, 0, 0]])
    with pytest.raises(ValueError, match="does not fit the slice"):
        v[0].assign([1.0, 2.0])


def test_keras_and_preprocessing_aliases(tmp_path):
    pytest.importorskip("PIL", reason="the `images` extra is not installed")
    assert tp.keras.layers.Dense is L.Dense and tp.keras.Model is tp.Model
    img = tp.preprocessing.image.array_to_img(np.linspace(0, 1, 12).reshape(2, 2, 3))
    assert img.size == (2, 2) and img.mode == "RGB"
    back = tp.utils.img_to_array(img)
    assert back.shape == (2, 2, 3) and back.max() == 255 and back.min() == 0
    tp.utils.save_img(tmp_path / "a.png", np.ones((4, 5, 1)) * 128, scale=False)
    loaded = tp.utils.img_to_array(tp.utils.load_img(tmp_path / "a.png", color_mode="grayscale"))
    assert loaded.shape == (4, 5, 1) and loaded.max() == 128
    assert tp.preprocessing.timeseries_dataset_from_array is tp.utils.timeseries_dataset_from_array


@pytest.mark.parametrize("kind", ["sequential", "functional", "input_shape"])
def test_feature_extraction_from_a_trained_model(kind):
    if kind == "sequential":
        model = tp.Sequential([tp.Input(shape=(4,)), L.Dense(6, activation="relu", name="h"),
                               L.Dense(2, name="out")])
    elif kind == "input_shape":
        model = tp.Sequential([L.Dense(6, activation="relu", name="h", input_shape=(4,)),
                               L.Dense(2, name="out")])
    else:
        inp = tp.Input(shape=(4,))
        h = L.Dense(6, activation="relu", name="h")(inp)
        model = tp.Model(inp, L.Dense(2, name="out")(h))
    x = _x(10, 4).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, np.zeros((10, 2), "float32"), epochs=1, verbose=0)
    hidden = model.get_layer("h")
    extractor = tp.Model(model.input, hidden.output)
    want = np.maximum(x @ hidden.kernel.numpy() + hidden.bias.numpy(), 0)
    np.testing.assert_allclose(extractor.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    every = tp.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers if layer.name != "h"
                                                   and not isinstance(layer, L.InputLayer)])
    np.testing.assert_allclose(every.predict(x, verbose=0)[0], model.predict(x, verbose=0), rtol=1e-6)
    assert model.get_layer("out").input is hidden.output
    assert model.get_layer(index=-1).name == "out"
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")


def test_subclassed_model_has_no_symbolic_inputs():
    class Sub(tp.Model):
        def call(self, x):
            return x

    with pytest.raises(AttributeError, match="subclassed"):
        Sub().input


def test_functional_merge_forms():
    a, b = tp.Input(shape=(3,)), tp.Input(shape=(3,))
    outs = [L.subtract([a, b]), L.multiply([a, b]), L.average([a, b]), L.maximum([a, b]), L.minimum([a, b]),
            L.dot([a, b], axes=1)]
    model = tp.Model([a, b], outs)
    x, y = _x(2, 3).astype("float32"), _x(2, 3, seed=1).astype("float32")
    got = model([x, y])
    for value, want in zip(got, [x - y, x * y, (x + y) / 2, np.maximum(x, y), np.minimum(x, y),
                                 (x * y).sum(1, keepdims=True)]):
        np.testing.assert_allclose(value.numpy(), want, rtol=1e-5, atol=1e-6)
