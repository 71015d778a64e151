"""``model.compile(jit_compile=True)``: fit, evaluate and predict through tp.function give eager's numbers to
the bit (CNN, LSTM, GRU, batch norm, dropout, an overridden train_step), and a step that cannot be traced
falls back to eager with a one-line warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapeflow as tp


def _cnn():
    return tp.Sequential([
        tp.layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        tp.layers.MaxPooling2D(2),
        tp.layers.BatchNormalization(),
        tp.layers.Flatten(),
        tp.layers.Dropout(0.2),
        tp.layers.Dense(3),
    ])


def _rnn():
    return tp.Sequential([
        tp.layers.LSTM(6, return_sequences=True, dropout=0.1, input_shape=(5, 3)),
        tp.layers.GRU(4),
        tp.layers.Dense(3),
    ])


def _data(shape, n=40):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *shape)).astype("float32"), rng.integers(0, 3, n)


def _train(build, shape, jit):
    tp.random.set_seed(0)
    model = build()
    model.compile(tp.optimizers.Adam(0.01), tp.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit)
    x, y = _data(shape)
    history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0)  # 30 = 16 + 14
    return model, history.history, model.evaluate(x, y, verbose=0), model.predict(x, verbose=0)


@pytest.mark.parametrize("build, shape", [(_cnn, (8, 8, 1)), (_rnn, (5, 3))], ids=["cnn", "lstm-gru"])
def test_jit_compiled_fit_evaluate_predict_equal_eager(build, shape):
    eager, compiled = _train(build, shape, None), _train(build, shape, True)
    assert eager[1] == compiled[1]  # every loss and metric of every epoch, validation too
    assert eager[2] == compiled[2]
    assert np.array_equal(eager[3], compiled[3])
    assert all(np.array_equal(a, b) for a, b in zip(eager[0].get_weights(), compiled[0].get_weights()))
    steps = compiled[0]._step_functions
    assert set(steps) == {"train_step", "test_step", "predict_step"}
    assert steps["train_step"].function.tracing_count == 2  # a batch of 16 and the last one of 14


class _Net(tp.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = tp.layers.Dense(8, activation="tanh")
        self.out = tp.layers.Dense(3)

    def call(self, x, training=None):
        return self.out(self.hidden(x))


class _CustomStep(_Net):
    def train_step(self, data):
        x, y = data[:2]
        with tp.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        for m in self.metrics:
            if m.name == "loss":
                m.update_state(loss)  # Keras 3's pattern: the tracker already counted it; not twice
            else:
                m.update_state(y, self(x, training=False))
        return {m.name: m.result() for m in self.metrics}


class _UntraceableStep(_Net):
    def train_step(self, data):
        logs = super().train_step(data)
        if tp.sum(self.trainable_weights[0]) > 1e9:  # a Python branch on a tensor: cannot be traced
            self.stop_training = True
        return logs


def _functional(jit, cls):
    tp.random.set_seed(0)
    model = cls()
    model.compile("adam", tp.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  jit_compile=jit)
    x, y = _data((4,), 32)
    return model, model.fit(x, y, batch_size=8, epochs=2, verbose=0).history


def test_overridden_train_step_is_compiled_too():
    (m1, h1), (m2, h2) = _functional(None, _CustomStep), _functional(True, _CustomStep)
    assert h1 == h2
    assert all(np.array_equal(a, b) for a, b in zip(m1.get_weights(), m2.get_weights()))
    assert m2._step_functions["train_step"].function.tracing_count == 1


def test_untraceable_step_falls_back_to_eager_with_one_warning():
    m1, h1 = _functional(None, _UntraceableStep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m2, h2 = _functional(True, _UntraceableStep)
    messages = [str(w.message) for w in caught if "jit_compile" in str(w.message)]
    assert len(messages) == 1 and "train_step runs eagerly" in messages[0] and "tp.cond" in messages[0]
    assert h1 == h2
    assert all(np.array_equal(a, b) for a, b in zip(m1.get_weights(), m2.get_weights()))
