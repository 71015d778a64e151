"""The Normalization preprocessing layer: adapt on arrays and datasets, axes, invert, config round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapeflow as tp


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 60), batch=st.integers(1, 70), features=st.integers(1, 4), seed=st.integers(0, 99))
def test_streaming_adapt_matches_numpy(n, batch, features, seed):
    x = np.random.default_rng(seed).normal(5.0, 3.0, size=(n, features))
    layer = tp.layers.Normalization()
    layer.adapt(tp.data.Dataset.from_tensor_slices(x).batch(batch))
    np.testing.assert_allclose(layer.mean.numpy(), x.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.variance.numpy(), x.var(axis=0), rtol=1e-4, atol=1e-5)
    out = layer(x).numpy()
    expected = (x - x.mean(axis=0)) / np.sqrt(np.maximum(x.var(axis=0), 1e-7))
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)


def test_axes_invert_and_weights():
    images = np.random.default_rng(0).random((6, 4, 4, 3))
    per_channel = tp.layers.Normalization()
    per_channel.adapt(images, batch_size=4)
    np.testing.assert_allclose(per_channel.mean.numpy(), images.mean(axis=(0, 1, 2)), rtol=1e-5)
    assert per_channel.trainable_weights == [] and len(per_channel.weights) == 2
    scalar = tp.layers.Normalization(axis=None)
    scalar.adapt(images)
    assert scalar.mean.shape == () and abs(float(scalar.mean) - images.mean()) < 1e-6
    inverse = tp.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)
    np.testing.assert_allclose(inverse(np.array([[1.0, 1.0]])).numpy(), [[3.0, 5.0]])


def test_adapt_on_xy_pairs_and_dataframe():
    x = np.arange(12.0).reshape(6, 2)
    layer = tp.layers.Normalization()
    layer.adapt(tp.data.Dataset.from_tensor_slices((x, np.zeros(6))).batch(4))
    np.testing.assert_allclose(layer.mean.numpy(), [5.0, 6.0])
    pd = pytest.importorskip("pandas")
    frame_layer = tp.layers.Normalization()
    frame_layer.adapt(pd.DataFrame(x, columns=["a", "b"]))
    np.testing.assert_allclose(frame_layer.variance.numpy(), x.var(axis=0), rtol=1e-6)


def test_errors_are_clear():
    with pytest.raises(RuntimeError, match="call adapt"):
        tp.layers.Normalization()(np.ones((2, 3)))
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        tp.layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="got no data"):
        tp.layers.Normalization().adapt(tp.data.Dataset.from_tensor_slices(np.ones((0, 3))).batch(2))


def test_config_round_trip_keeps_the_statistics():
    layer = tp.layers.Normalization(name="norm")
    layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
    clone = tp.layers.Normalization.from_config(layer.get_config())
    np.testing.assert_allclose(clone(np.array([[1.0, 20.0]])).numpy(), [[0.0, 0.0]])


def test_a_model_with_normalization_saves_and_loads_its_statistics(tmp_path):
    cars = tp.datasets.mtcars.load_data()
    x, y = cars.data[:, 1:], cars.data[:, :1]
    norm = tp.layers.Normalization()
    norm.adapt(x)
    model = tp.Sequential([tp.Input(shape=(10,)), norm, tp.layers.Dense(4, activation="relu"),
                           tp.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "cars.tapeflow")
    loaded = tp.models.load_model(tmp_path / "cars.tapeflow")
    np.testing.assert_allclose(loaded.layers[0].mean.numpy(), x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
