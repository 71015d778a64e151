"""Careless input to fit/predict and the losses is refused with a message that names the problem (issue 17,
items 9 and 10); the other hostile-input regressions are in tests/saving/test_hostile_regressions.py."""

from __future__ import annotations

import traceback
import warnings

import numpy as np
import pytest

import tapeflow as tp


def _model(loss="mse", units=1, activation=None, shape=(4,)):
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input(shape=shape), tp.layers.Dense(units, activation=activation)])
    model.compile(optimizer="sgd", loss=loss)
    return model


X = np.ones((8, 4), "float32")
Y = np.zeros((8, 1), "float32")


# --- 9. fit / evaluate / predict arguments ----------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "fit: `batch_size` must be a positive integer. Received: batch_size=0"),
    ({"batch_size": -4}, "batch_size=-4"),
    ({"batch_size": 2.5}, "batch_size=2.5"),
    ({"validation_batch_size": 0, "validation_split": 0.5}, "validation_batch_size=0"),
    ({"epochs": -3}, "fit: `epochs` must be an integer >= 0. Received: epochs=-3"),
    ({"epochs": 2, "initial_epoch": 5}, "`initial_epoch` must not exceed `epochs`.*=5, epochs=2"),
    ({"initial_epoch": -1}, "initial_epoch=-1"),
    ({"validation_freq": 0}, "validation_freq=0"),
])
def test_9_fit_refuses_counts_it_would_have_ignored(kwargs, match):
    model = _model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.fit(X, Y, verbose=0, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # refused before a step


def test_9_predict_and_evaluate_refuse_batch_size_zero():
    model = _model()
    with pytest.raises(ValueError, match="predict: `batch_size` must be a positive integer"):
        model.predict(X, batch_size=0)
    with pytest.raises(ValueError, match="evaluate: `batch_size` must be a positive integer"):
        model.evaluate(X, Y, batch_size=0, verbose=0)
    assert model.predict(X, batch_size=3).shape == (8, 1)  # and a good one still works
    assert len(model.fit(X, Y, epochs=2, initial_epoch=2, verbose=0).history.get("loss", [])) == 0


@pytest.mark.parametrize("label", [2.0, -1.0])
def test_9_binary_crossentropy_refuses_labels_outside_0_1(label):
    model = _model("binary_crossentropy", activation="sigmoid")
    match = f"binary_crossentropy: labels must be in \\[0, 1\\].*label {label:g}"
    with pytest.raises(ValueError, match=match):
        model.fit(X, np.full((8, 1), label, "float32"), verbose=0)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        tp.losses.BinaryCrossentropy()([[3.0]], [[0.5]])
    assert float(tp.losses.binary_crossentropy([[1.0, 0.0, 0.3]], [[0.9, 0.1, 0.3]])[0]) > 0  # soft labels ok


def _short(excinfo):
    """The printed traceback: one exception, no 'During handling' / 'direct cause' chain."""
    text = "".join(traceback.format_exception(excinfo.value))
    assert "The above exception was the direct cause" not in text
    assert "During handling of the above exception" not in text
    return text


@pytest.mark.parametrize("loss", [
    "sparse_categorical_crossentropy",
    tp.losses.SparseCategoricalCrossentropy(),
    tp.losses.SparseCategoricalCrossentropy(from_logits=True, name="my_sparse"),
])
def test_9_one_hot_labels_with_a_sparse_loss_name_the_loss_and_the_fix(loss):
    model = _model(loss, units=3, activation=None if isinstance(loss, tp.losses.Loss) else "softmax")
    one_hot = np.eye(3, dtype="float32")[np.arange(8) % 3]
    with pytest.raises(tp.errors.ShapeError) as info:
        model.fit(X, one_hot, verbose=0)
    name = loss if isinstance(loss, str) else loss.name
    message = str(info.value)
    assert message.startswith(f"{name}: labels of shape (8, 3) look one-hot")
    assert "loss='categorical_crossentropy'" in message
    assert len(_short(info).splitlines()) < 40  # one exception, no chain (the issue saw 44 lines of chains)
    model.fit(X, np.arange(8) % 3, verbose=0)  # the right labels train


def test_9_images_into_a_dense_without_flatten_are_named_at_the_dense():
    tp.random.set_seed(0)
    model = tp.Sequential([tp.layers.Dense(16, activation="relu", name="first"),
                           tp.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images, labels = np.random.default_rng(0).random((20, 8, 8), dtype="float32"), np.arange(20) % 10
    with pytest.raises(tp.errors.ShapeError) as info:
        model.fit(images, labels, verbose=0)
    message = str(info.value)
    assert "labels of shape (20,) do not fit predictions of shape (20, 8, 10)" in message
    assert "Dense layer 'first' received inputs of shape (None, 8, 8): more axes than a Dense" in message
    assert "tp.layers.Flatten()" in message
    _short(info)
    fixed = tp.Sequential([tp.layers.Flatten(), tp.layers.Dense(10, activation="softmax")])
    fixed.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    fixed.fit(images, labels, verbose=0)


def test_9_a_dense_over_timesteps_is_still_allowed():
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input(shape=(5, 3)), tp.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 5, 3), "float32"), np.zeros((4, 5, 2), "float32"), verbose=0)


# --- 10. TerminateOnNaN -------------------------------------------------------------------------------------
def _diverging():
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input(shape=(2,)), tp.layers.Dense(1)])
    model.compile(optimizer=tp.optimizers.SGD(learning_rate=1e30), loss="mse")
    x = np.array([[1e3, -1e3]] * 16, "float32")
    return model, x, np.full((16, 1), 1e3, "float32")


def _fit_recording(model, x, y, callbacks):
    """Fit until TerminateOnNaN stops; return the weights seen before each batch."""
    seen = []
    record = tp.callbacks.LambdaCallback(on_train_batch_begin=lambda b, _: seen.append(model.get_weights()))
    model.fit(x, y, batch_size=2, epochs=5, verbose=0, callbacks=[record, *callbacks])
    return seen


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:.*Training diverged")
def test_10_terminate_on_nan_restores_the_weights_from_before_the_bad_batch(capsys):
    plain, x, y = _diverging()
    seen = _fit_recording(plain, x, y, [tp.callbacks.TerminateOnNaN()])
    assert plain.stop_training and len(seen) < 40
    assert not all(np.isfinite(w).all() for w in plain.get_weights())  # what the issue saw
    assert "invalid loss" in capsys.readouterr().out  # printed where the docstring says: stdout

    model, x, y = _diverging()
    seen = _fit_recording(model, x, y, [tp.callbacks.TerminateOnNaN(restore_weights=True)])
    assert model.stop_training and model.stop_reason.endswith("restored the weights from before this batch")
    for restored, before in zip(model.get_weights(), seen[-1]):
        np.testing.assert_array_equal(restored, before)
        assert np.isfinite(restored).all()
    assert "restored the weights" in capsys.readouterr().out


def test_10_no_advice_to_add_terminate_on_nan_when_it_is_in_use():
    for callbacks, advised in [([], True), ([tp.callbacks.TerminateOnNaN()], False)]:
        model, x, y = _diverging()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow: the divergence itself
            model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=callbacks)
        texts = [str(w.message) for w in caught if "Training diverged" in str(w.message)]
        assert texts, "the divergence warning should be given"
        assert any("add tp.callbacks.TerminateOnNaN()" in t for t in texts) == advised


def test_9_binary_crossentropy_takes_noisy_soft_labels():
    # keras.io's GAN adds 0.05 * uniform noise to its 0/1 labels: a soft target, not a class index
    labels = np.array([[1.04], [0.02]], "float32")
    loss = tp.losses.BinaryCrossentropy(from_logits=True)(labels, [[2.0], [-2.0]])
    assert np.isfinite(float(loss))
