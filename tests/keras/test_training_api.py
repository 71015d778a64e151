"""Keras-compatible training APIs: what a custom ``train_step`` receives, compile without a loss, metric
trackers and their resets, compiled metrics in ``model.metrics``, History's floats, ``optimizer.apply``,
a Model subclass built functionally."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp

L = tp.layers


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")).astype("float32")
    return x, y


class _Recorder(tp.Model):
    """Remembers what each train_step / test_step received."""

    def __init__(self):
        super().__init__()
        self.out = L.Dense(1)
        self.seen = []

    def call(self, x, training=None):
        return self.out(x)

    def train_step(self, data):
        self.seen.append(data)
        return super().train_step(data)


def test_train_step_receives_kerass_data_forms():
    x, y = _data(8)
    model = _Recorder()
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert isinstance(model.seen[-1], tuple) and len(model.seen[-1]) == 2  # (x, y)
    model.fit(x, y, sample_weight=np.ones(8), batch_size=8, epochs=1, verbose=0)
    assert len(model.seen[-1]) == 3  # (x, y, sample_weight)


def test_x_only_data_comes_alone_and_compile_needs_no_loss():
    seen = []

    class AutoEncoder(tp.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(3)
            self.tracker = tp.metrics.Mean(name="loss")

        def call(self, x, training=None):
            return self.dense(x)

        def train_step(self, data):
            seen.append(data)
            with tp.GradientTape() as tape:
                loss = tp.reduce_mean(tp.square(self(data) - data))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply(grads, self.trainable_weights)
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}

    x, _ = _data(32)
    model = AutoEncoder()
    model.compile(optimizer=tp.optimizers.Adam(0.05))  # no loss: the step computes its own
    history = model.fit(x, epochs=3, batch_size=32, verbose=0)
    assert isinstance(seen[0], np.ndarray) and seen[0].shape == (32, 3)  # x alone, not (x, None, None)
    losses = history.history["loss"]
    assert all(type(v) is float for v in losses)  # floats, not the Tensors the step returned
    assert losses[-1] < losses[0]
    # one batch per epoch and the tracker is reset every epoch: each epoch's value is that epoch's loss
    final = float(tp.reduce_mean(tp.square(model(x) - x)))
    assert losses[-1] > final  # the last logged loss was measured before the last update


def test_builtin_step_without_a_loss_says_so():
    model = tp.Sequential([tp.Input(shape=(3,)), L.Dense(1)])
    model.compile("sgd")
    x, y = _data(8)
    with pytest.raises(ValueError, match="compiled without a loss"):
        model.fit(x, y, verbose=0)


def test_overridden_metrics_property_is_reset_each_epoch_and_before_evaluate():
    class Custom(tp.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(1)
            self.loss_tracker = tp.metrics.Mean(name="loss")
            self.mae = tp.metrics.MeanAbsoluteError(name="mae")

        def call(self, x, training=None):
            return self.dense(x)

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae]

        def train_step(self, data):
            x, y = data
            with tp.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = tp.reduce_mean(tp.square(y_pred - y))
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            self.loss_tracker.update_state(loss)
            self.mae.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae.result()}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            self.loss_tracker.update_state(tp.reduce_mean(tp.square(y_pred - y)))
            self.mae.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    x, y = _data(64)
    model = Custom()
    model.compile(optimizer=tp.optimizers.SGD(0.1))
    history = model.fit(x, y, epochs=4, batch_size=64, verbose=0, shuffle=False)
    # one batch per epoch: a reset tracker reports exactly that batch's loss, which falls every epoch
    before_last = history.history["loss"]
    assert all(b < a for a, b in zip(before_last, before_last[1:]))
    result = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    y_pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(result["loss"], np.mean((y_pred - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(result["mae"], np.mean(np.abs(y_pred - y)), rtol=1e-5)


def test_compiled_metrics_are_in_model_metrics_for_a_keras3_train_step():
    class Custom(tp.Model):
        def train_step(self, data):
            x, y = data
            with tp.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)  # also counted by compute_loss: must not count twice
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = tp.Input(shape=(3,))
    model = Custom(inputs, L.Dense(1)(inputs))  # a subclass called with (inputs, outputs) is functional
    assert isinstance(model, Custom) and len(model.layers) == 2
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    assert [m.name for m in model.metrics] == ["loss", "mae"]
    x, y = _data(64)
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    assert sorted(history.history) == ["loss", "mae"]
    # after the last epoch's one update, evaluate measures the trained model; History's last value is the
    # loss before that update. Check evaluate against a direct computation instead.
    loss, mae = model.evaluate(x, y, batch_size=64, verbose=0)
    y_pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(loss, np.mean((y_pred - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(mae, np.mean(np.abs(y_pred - y)), rtol=1e-5)


def test_history_equals_the_value_measured_on_the_model_with_a_frozen_step():
    # SGD with learning rate 0 leaves the weights alone, so the epoch's metric must equal the one measured
    # afterwards on the same data
    model = tp.Sequential([tp.Input(shape=(3,)), L.Dense(2, activation="softmax")])
    model.compile(tp.optimizers.SGD(0.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, _ = _data(40)
    labels = (x[:, 0] > 0).astype("int32")
    history = model.fit(x, labels, epochs=1, batch_size=16, verbose=0, shuffle=False)
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(history.history["accuracy"][0], np.mean(probs.argmax(1) == labels), rtol=1e-6)
    nll = -np.log(probs[np.arange(40), labels])
    np.testing.assert_allclose(history.history["loss"][0], nll.mean(), rtol=1e-5)


def test_compile_keras3_and_tf_keras_positional_orders():
    model = tp.Sequential([tp.Input(shape=(3,)), L.Dense(1)])
    model.compile("sgd", "mse", ["mae"])  # tf.keras order: metrics third
    assert model.metrics_names == ["loss", "mae"]
    model.compile("sgd", "mse", [0.5])  # Keras 3 order: loss_weights third
    assert model.compiled_loss.weights == [0.5]
    with pytest.warns(UserWarning, match="steps_per_execution"):
        model.compile("sgd", "mse", steps_per_execution=4)


def test_optimizer_apply_matches_apply_gradients():
    a, b = tp.Variable([1.0, 2.0]), tp.Variable([1.0, 2.0])
    g = [tp.constant([0.5, -1.0])]
    tp.optimizers.Adam(0.1).apply(g, [a])
    tp.optimizers.Adam(0.1).apply_gradients(zip(g, [b]))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="2 gradients for 1 variables"):
        tp.optimizers.SGD().apply([g[0], g[0]], [a])


def test_tensor_format_and_seed_generator():
    assert f"{tp.constant(2.0 / 3.0):.3f}" == "0.667"
    assert f"{tp.constant([1.0, 2.0])}" == str(tp.constant([1.0, 2.0]))
    with pytest.raises(TypeError, match="scalar"):
        f"{tp.constant([1.0, 2.0]):.2f}"
    g1, g2 = tp.random.SeedGenerator(3), tp.random.SeedGenerator(3)
    first = tp.random.uniform((4,), seed=g1).numpy()
    assert not np.array_equal(first, tp.random.uniform((4,), seed=g1).numpy())  # it advances
    np.testing.assert_array_equal(first, tp.random.uniform((4,), seed=g2).numpy())  # and repeats


def test_tf_keras_compiled_loss_and_metrics_calls():
    class Old(tp.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(1)

        def call(self, x, training=None):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            with tp.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    model = Old()
    model.compile(tp.optimizers.SGD(0.0), "mse", metrics=["mse"])
    x, y = _data(16)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    expected = np.mean((model.predict(x, verbose=0) - y) ** 2)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    np.testing.assert_allclose(history.history["mse"][0], expected, rtol=1e-5)


def test_signatures_keras_code_passes(tmp_path, capsys):
    model = tp.Sequential([tp.Input(shape=(3,)), L.Dense(4, name="a"), L.Dense(2, name="b"),
                           L.Dense(1, name="c")])
    model.summary(layer_range=("b", "c"), positions=[0.5, 0.8, 1.0], line_length=60)
    out = capsys.readouterr().out
    assert "b (Dense)" in out and "a (Dense)" not in out
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save_weights(path, overwrite=False)
    other = tp.Sequential([tp.Input(shape=(3,)), L.Dense(4), L.Dense(5), L.Dense(1)])
    with pytest.warns(UserWarning, match="kept the values"):
        other.load_weights(path, skip_mismatch=True)
    np.testing.assert_array_equal(other.layers[0].kernel.numpy(), model.layers[0].kernel.numpy())
    matrix = np.arange(12.0).reshape(4, 3)
    emb = L.Embedding(4, 3, weights=[matrix])
    np.testing.assert_array_equal(emb(np.array([[2]])).numpy()[0, 0], matrix[2])
    L.MultiHeadAttention(num_heads=1, key_dim=2, attention_axes=(1,))
    with pytest.raises(ValueError, match="attention_axes"):
        L.MultiHeadAttention(num_heads=1, key_dim=2, attention_axes=(2, 3))
    names = dir(tp)
    assert {"Sequential", "Model", "Input", "layers", "ops", "keras"} <= set(names)
