"""``model.find_learning_rate``: the sweep leaves the model exactly as it was, and suggests a rate that
works."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp


def _regression(seed=0):
    # y = 3x + 1 with noise and x of unit variance: plain SGD on the MSE is stable below a rate of about 1
    # (the loss's curvature is 2 E[x^2] = 2) and fastest near 0.5.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 1)).astype("float32")
    return x, (3 * x + 1 + 0.1 * rng.normal(size=(256, 1))).astype("float32")


def _model(optimizer="sgd"):
    model = tp.Sequential([tp.Input((1,)), tp.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_weights_and_optimizer_state_are_restored_exactly():
    x, y = _regression()
    model = _model("adam")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)  # the optimizer has state (moments, iterations)
    weights, state, opt = model.get_weights(), model.optimizer.get_weights(), model.optimizer
    lr = model.find_learning_rate(x, y, plot=False)
    assert model.optimizer is opt and opt.iterations == state[0]
    for before, after in zip(weights + state, model.get_weights() + opt.get_weights()):
        assert before.dtype == after.dtype and np.array_equal(before, after)
    assert isinstance(lr, float) and len(lr.rates) == len(lr.losses) <= 200


def test_suggestion_is_in_the_known_good_range_and_trains_well():
    x, y = _regression()
    model = _model()
    lr = model.find_learning_rate(x, y, plot=False)
    assert 0.05 < lr < 1.0, float(lr)
    assert lr.rates[-1] < 10.0  # the sweep stopped once the loss blew up (SGD diverges above ~1)
    model.compile(optimizer=tp.optimizers.SGD(learning_rate=lr), loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.05  # the noise floor is 0.01


def test_plot_marks_the_suggestion(tmp_path):
    x, y = _regression()
    lr = _model().find_learning_rate(x, y, save=tmp_path / "lr.png")
    ax = lr.figure.axes[0]
    assert ax.get_xscale() == "log" and (tmp_path / "lr.png").stat().st_size > 5_000
    star = ax.lines[1]
    assert star.get_label() == f"suggested {float(lr):.3g}"
    assert star.get_xdata()[0] == pytest.approx(float(lr))


def test_bad_settings_are_refused():
    x, y = _regression()
    with pytest.raises(ValueError, match="compile the model first"):
        tp.Sequential([tp.Input((1,)), tp.layers.Dense(1)]).find_learning_rate(x, y)
    with pytest.raises(ValueError, match="need 0 < start < stop. Received: start=1.0, stop=0.1"):
        _model().find_learning_rate(x, y, start=1.0, stop=0.1)
    with pytest.raises(ValueError, match="`steps` must be an integer of at least 10. Received: steps=3"):
        _model().find_learning_rate(x, y, steps=3)
