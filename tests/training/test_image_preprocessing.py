"""Image preprocessing and augmentation layers: the harness, values, gradients through the random
transforms (a fresh seeded layer per evaluation, so finite differences see the same draw), and errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import layers as L
from tests.training.harness import check_layer

IMG = (2, 5, 4, 2)

CASES = [
    (L.Rescaling, {"scale": 0.5, "offset": 1.0}, (2, 3, 3, 2), (2, 3, 3, 2)),
    (L.Resizing, {"height": 3, "width": 5}, (2, 4, 4, 2), (2, 3, 5, 2)),
    (L.Resizing, {"height": 3, "width": 5, "interpolation": "nearest", "crop_to_aspect_ratio": True},
     (2, 4, 4, 2), (2, 3, 5, 2)),
    (L.CenterCrop, {"height": 2, "width": 3}, (2, 4, 5, 2), (2, 2, 3, 2)),
    (L.CenterCrop, {"height": 6, "width": 3, "data_format": "channels_first"}, (2, 2, 4, 5), (2, 2, 6, 3)),
    (L.RandomFlip, {"mode": "horizontal", "seed": 1}, IMG, IMG),
    (L.RandomRotation, {"factor": 0.2, "seed": 1}, IMG, IMG),
    (L.RandomZoom, {"height_factor": 0.2, "width_factor": (-0.1, 0.3)}, IMG, IMG),
    (L.RandomTranslation, {"height_factor": 0.2, "width_factor": 0.3}, IMG, IMG),
    (L.RandomContrast, {"factor": (0.2, 0.4), "value_range": (-10, 10)}, IMG, IMG),
    (L.RandomBrightness, {"factor": 0.1, "value_range": (-10, 10)}, IMG, IMG),
    (L.RandomCrop, {"height": 3, "width": 2, "seed": 1}, IMG, (2, 3, 2, 2)),
]


@pytest.mark.parametrize("cls, kwargs, input_shape, expected", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_layer(cls, kwargs, input_shape, expected):
    check_layer(cls, kwargs, input_shape, expected, 0)


TRAINING = [
    (L.RandomFlip, {}),
    *[(L.RandomRotation, {"factor": 0.2, "fill_mode": m, "fill_value": 0.5})
      for m in ("reflect", "wrap", "constant", "nearest")],
    (L.RandomZoom, {"height_factor": (0.5, 0.9), "interpolation": "nearest"}),
    (L.RandomTranslation, {"height_factor": 0.2, "width_factor": 0.3, "fill_mode": "constant"}),
    (L.RandomContrast, {"factor": 0.3, "value_range": (-10, 10)}),
    (L.RandomBrightness, {"factor": 0.1, "value_range": (-10, 10)}),
    (L.RandomCrop, {"height": 3, "width": 2}),
]


@pytest.mark.parametrize("cls, kwargs", TRAINING,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(TRAINING)])
def test_gradients_flow_through_the_training_transform(cls, kwargs):
    x = np.random.default_rng(0).standard_normal(IMG)
    report = tp.check_gradients(lambda t: cls(**kwargs, seed=3, dtype="float64")(t, training=True), x)
    assert all(r["ok"] for r in report), report
    # training changes the images; inference leaves them alone (RandomCrop: crops)
    y = cls(**kwargs, seed=3, dtype="float64")(x, training=True).numpy()
    if cls is not L.RandomCrop:
        assert not np.allclose(y, x)
        np.testing.assert_array_equal(cls(**kwargs, dtype="float64")(x).numpy(), x)


def test_geometric_values():
    f64 = {"dtype": "float64"}
    square = np.arange(9.0).reshape(1, 3, 3, 1)
    turned = L.RandomRotation((0.25, 0.25), seed=0, **f64)(square, training=True).numpy()[0, :, :, 0]
    np.testing.assert_allclose(turned, [[2, 5, 8], [1, 4, 7], [0, 3, 6]], atol=1e-9)  # counter-clockwise
    img = np.arange(12.0).reshape(1, 3, 4, 1)
    shifted = L.RandomTranslation(0, (0.25, 0.25), fill_mode="constant", fill_value=-1, **f64)(
        img, training=True).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(shifted, [[-1, 0, 1, 2], [-1, 4, 5, 6], [-1, 8, 9, 10]])
    wrapped = L.RandomTranslation(0, (0.25, 0.25), fill_mode="wrap", **f64)(img, training=True).numpy()
    np.testing.assert_array_equal(wrapped[0, 0, :, 0], [3, 0, 1, 2])
    reflected = L.RandomTranslation(0, (0.5, 0.5), fill_mode="reflect", **f64)(img, training=True).numpy()
    np.testing.assert_array_equal(reflected[0, 0, :, 0], [1, 0, 0, 1])
    flipped = L.RandomFlip("horizontal", seed=0, **f64)(np.repeat(img, 20, 0), training=True).numpy()
    kinds = {tuple(f[0, :, 0]) for f in flipped}
    assert kinds == {(0, 1, 2, 3), (3, 2, 1, 0)}
    zoomed_in = L.RandomZoom((-0.5, -0.5), **f64)(np.arange(16.0).reshape(1, 4, 4, 1), training=True)
    np.testing.assert_allclose(zoomed_in.numpy()[0, 1:3, 1:3, 0], [[6.25, 6.75], [8.25, 8.75]])


def test_resizing_and_cropping_values():
    f64 = {"dtype": "float64"}
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_allclose(L.Resizing(2, 2, **f64)(x).numpy()[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(L.Resizing(2, 2, interpolation="nearest", **f64)(x).numpy()[0, :, :, 0],
                                  [[5, 7], [13, 15]])
    up = L.Resizing(8, 8, **f64)(x).numpy()
    assert up.min() == 0 and up.max() == 15
    np.testing.assert_array_equal(L.CenterCrop(2, 2, **f64)(x).numpy()[0, :, :, 0], [[5, 6], [9, 10]])
    wide = np.arange(8.0).reshape(1, 2, 4, 1)
    square = L.Resizing(2, 2, crop_to_aspect_ratio=True, **f64)(wide).numpy()
    np.testing.assert_array_equal(square[0, :, :, 0], [[1, 2], [5, 6]])
    np.testing.assert_array_equal(L.RandomCrop(2, 2, **f64)(wide).numpy()[0, :, :, 0], [[1, 2], [5, 6]])
    one = L.Resizing(2, 3)(np.ones((4, 4, 3)))
    assert one.shape == (2, 3, 3)
    crops = L.RandomCrop(2, 2, seed=0, **f64)(np.repeat(x, 30, 0), training=True).numpy()
    assert len({tuple(c.ravel()) for c in crops}) == 9  # every one of the 3 x 3 windows is drawn


def test_intensity_values():
    x = np.array([[[[0.0], [10.0]], [[20.0], [30.0]]]])
    y = L.RandomContrast(0.5, value_range=(-100, 100), seed=0, dtype="float64")(x, training=True).numpy()
    ratio = (y - 15).ravel() / (x - 15).ravel()  # one factor per image, around the image's mean 15
    np.testing.assert_allclose(ratio, ratio[0])
    assert 0.5 <= ratio[0] <= 1.5 and ratio[0] != 1
    b = L.RandomBrightness((0.1, 0.1), value_range=(0, 100), dtype="float64")(x + 85, training=True).numpy()
    np.testing.assert_allclose(b.ravel(), [95, 100, 100, 100])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="`fill_mode` must be one of"):
        L.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="`height` must be a positive integer"):
        L.Resizing(0, 3)
    with pytest.raises(ValueError, match="RandomBrightness: `factor` must lie in"):
        L.RandomBrightness(1.5)
    with pytest.raises(ValueError, match="RandomContrast: `factor` must be a number in"):
        L.RandomContrast(2.0)
    with pytest.raises(ValueError, match="`mode` must be one of"):
        L.RandomFlip("diagonal")
    with pytest.raises(tp.ShapeError, match="needs images"):
        L.RandomFlip()(np.ones((2, 3)))


def test_augmentation_model_trains_and_predicts_unaugmented():
    tp.random.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 2, 16)
    model = tp.Sequential([
        tp.Input((8, 8, 1)), L.Rescaling(1 / 255), L.RandomFlip("horizontal"), L.RandomRotation(0.1),
        L.RandomZoom(0.1), L.RandomTranslation(0.1, 0.1), L.RandomContrast(0.2, value_range=(0, 1)),
        L.RandomBrightness(0.1, value_range=(0, 1)), L.CenterCrop(6, 6), L.Flatten(), L.Dense(2),
    ])
    model.compile("adam", tp.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
