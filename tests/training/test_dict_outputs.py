"""Regression: a functional model with dict outputs trains on dict targets, per-output losses and metrics."""

import numpy as np

import tapeflow as tp


def _model():
    inp = tp.Input(shape=(4,))
    h = tp.layers.Dense(16, activation="relu")(inp)
    out_a = tp.layers.Dense(1, name="a")(h)
    out_b = tp.layers.Dense(3, activation="softmax", name="b")(h)
    return tp.Model(inp, {"a": out_a, "b": out_b})


def test_dict_outputs_fit_evaluate_predict():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 4)).astype("float32")
    y = {"a": x[:, :1] * 2.0, "b": (x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")}
    model = _model()
    model.compile(optimizer=tp.optimizers.Adam(0.02),
                  loss={"a": "mse", "b": "sparse_categorical_crossentropy"}, metrics={"b": ["accuracy"]})
    history = model.fit(x, y, epochs=25, batch_size=32, validation_split=0.25, verbose=0)
    assert {"loss", "a_loss", "b_loss", "b_accuracy", "val_b_accuracy"} <= set(history.history)
    assert history.history["a_loss"][-1] < 0.2 * history.history["a_loss"][0]
    scores = model.evaluate(x, y, verbose=0, return_dict=True)
    assert scores["b_accuracy"] > 0.85
    assert np.isclose(scores["loss"], scores["a_loss"] + scores["b_loss"], rtol=1e-5)
    pred = model.predict(x, verbose=0)
    assert isinstance(pred, dict) and pred["a"].shape == (240, 1) and pred["b"].shape == (240, 3)
