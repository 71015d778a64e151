"""The training patterns of the keras.io examples, written here from scratch and run small: a GAN with two
optimizers, a VAE with a sampling layer and metric trackers, a custom train/test step with ``compute_loss``
and sample weights, a transformer block of custom layers, a time-series model with callbacks. Each asserts a
result a correct framework reaches; where a metric is reported, History's value equals the one measured on
the trained model afterwards."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import layers, ops

L = layers


@pytest.fixture(autouse=True)
def _seed():
    tp.random.set_seed(0)


def test_gan_with_two_optimizers_moves_the_generator_toward_the_data():
    class GAN(tp.Model):
        def __init__(self, latent_dim=4):
            super().__init__()
            self.latent_dim = latent_dim
            self.generator = tp.Sequential([tp.Input(shape=(latent_dim,)), L.Dense(16), L.LeakyReLU(0.2),
                                            L.Dense(1)])
            self.discriminator = tp.Sequential([tp.Input(shape=(1,)), L.Dense(16), L.LeakyReLU(0.2),
                                                L.Dense(1)])
            self.d_tracker = tp.metrics.Mean(name="d_loss")
            self.g_tracker = tp.metrics.Mean(name="g_loss")
            self.seeds = tp.random.SeedGenerator(1)

        @property
        def metrics(self):
            return [self.d_tracker, self.g_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        def train_step(self, real):
            n = tp.shape(real)[0]
            fake = self.generator(tp.random.normal((n, self.latent_dim), seed=self.seeds))
            both = tp.concat([fake, real], axis=0)
            labels = tp.concat([tp.zeros((n, 1)), tp.ones((n, 1))], axis=0)
            with tp.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(both))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
            with tp.GradientTape() as tape:
                z = tp.random.normal((n, self.latent_dim), seed=self.seeds)
                g_loss = self.loss_fn(tp.ones((n, 1)), self.discriminator(self.generator(z)))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
            self.d_tracker.update_state(d_loss)
            self.g_tracker.update_state(g_loss)
            return {m.name: m.result() for m in self.metrics}

    real = (3.0 + 0.5 * np.random.default_rng(0).standard_normal((512, 1))).astype("float32")
    gan = GAN()
    gan.compile(tp.optimizers.Adam(0.01), tp.optimizers.Adam(0.01),
                tp.losses.BinaryCrossentropy(from_logits=True))
    z = np.random.default_rng(1).standard_normal((256, 4))
    start = float(np.mean(gan.generator.predict(z, verbose=0)))
    history = gan.fit(tp.data.Dataset.from_tensor_slices(real).shuffle(512).batch(64), epochs=80, verbose=0)
    end = float(np.mean(gan.generator.predict(z, verbose=0)))
    assert abs(start - 3.0) > 2.0 and abs(end - 3.0) < 0.4 * abs(start - 3.0), (start, end)
    assert sorted(history.history) == ["d_loss", "g_loss"]
    assert all(type(v) is float and np.isfinite(v) for v in history.history["d_loss"])


class Sampling(L.Layer):
    """z = mean + exp(log_var / 2) * noise."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seeds = tp.random.SeedGenerator(2)

    def call(self, inputs):
        mean, log_var = inputs
        noise = tp.random.normal(ops.shape(mean), seed=self.seeds)
        return mean + ops.exp(0.5 * log_var) * noise


def test_vae_with_sampling_layer_and_trackers_reports_what_evaluate_measures():
    class VAE(tp.Model):
        def __init__(self, encoder, decoder):
            super().__init__()
            self.encoder, self.decoder = encoder, decoder
            self.total = tp.metrics.Mean(name="loss")
            self.reconstruction = tp.metrics.Mean(name="reconstruction_loss")
            self.kl = tp.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total, self.reconstruction, self.kl]

        def _losses(self, x):
            mean, log_var, z = self.encoder(x)
            per_pixel = tp.losses.binary_crossentropy(x[..., None], self.decoder(z)[..., None])
            rec = ops.mean(ops.sum(per_pixel, axis=1))
            kl = ops.mean(ops.sum(-0.5 * (1 + log_var - ops.square(mean) - ops.exp(log_var)), axis=1))
            return rec + kl, rec, kl

        def _track(self, values):
            for tracker, value in zip(self.metrics, values):
                tracker.update_state(value)
            return {m.name: m.result() for m in self.metrics}

        def train_step(self, data):
            with tp.GradientTape() as tape:
                values = self._losses(data)
            grads = tape.gradient(values[0], self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            return self._track(values)

        def test_step(self, data):
            return self._track(self._losses(data))

    rng = np.random.default_rng(0)
    prototypes = (rng.random((4, 16)) > 0.5).astype("float32")
    x = prototypes[rng.integers(0, 4, 512)]
    inp = tp.Input(shape=(16,))
    h = L.Dense(16, activation="relu")(inp)
    mean, log_var = L.Dense(2, name="z_mean")(h), L.Dense(2, name="z_log_var")(h)
    encoder = tp.Model(inp, [mean, log_var, Sampling()([mean, log_var])])
    latent = tp.Input(shape=(2,))
    decoder = tp.Model(latent, L.Dense(16, activation="sigmoid")(L.Dense(16, activation="relu")(latent)))
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=tp.optimizers.Adam(0.01))
    history = vae.fit(x, epochs=12, batch_size=64, validation_data=(x[:128],), verbose=0)
    rec = history.history["reconstruction_loss"]
    assert rec[-1] < 0.5 * rec[0]
    # the last epoch's validation ran on the trained model; evaluate must give the same numbers (the
    # sampling noise differs, so compare with a tolerance set by the KL term's small noise)
    again = vae.evaluate(x[:128], batch_size=64, verbose=0, return_dict=True)
    assert set(again) == {"loss", "reconstruction_loss", "kl_loss"}
    np.testing.assert_allclose(again["kl_loss"], history.history["val_kl_loss"][-1], rtol=1e-5)


def test_custom_steps_with_compute_loss_and_sample_weights():
    class Weighted(tp.Model):
        def train_step(self, data):
            x, y, sample_weight = data
            with tp.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            return self.compute_metrics(x, y, y_pred, sample_weight)

        def test_step(self, data):
            x, y = data[0], data[1]
            y_pred = self(x, training=False)
            self.compute_loss(y=y, y_pred=y_pred)
            return self.compute_metrics(x, y, y_pred)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 2)).astype("float32")
    target = 2 * x[:, :1] - x[:, 1:]
    y = np.concatenate([target[:128], -target[128:]])  # the second half contradicts the first
    weights = np.concatenate([np.ones(128), np.zeros(128)]).astype("float32")  # and weighs nothing
    inp = tp.Input(shape=(2,))
    model = Weighted(inp, L.Dense(1)(inp))
    model.compile(tp.optimizers.Adam(0.05), "mse", metrics=["mae"])
    history = model.fit(x, y, sample_weight=weights, epochs=30, batch_size=64, verbose=0,
                        validation_data=(x[:128], y[:128]))
    kernel = model.layers[-1].kernel.numpy().ravel()
    np.testing.assert_allclose(kernel, [2.0, -1.0], atol=0.05)  # fitted the weighted half only
    loss, mae = model.evaluate(x[:128], y[:128], verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][-1], loss, rtol=1e-6)
    np.testing.assert_allclose(history.history["val_mae"][-1], mae, rtol=1e-6)


class TransformerBlock(L.Layer):
    def __init__(self, dim, heads, ff_dim, **kwargs):
        super().__init__(**kwargs)
        self.attention = L.MultiHeadAttention(num_heads=heads, key_dim=dim)
        self.ffn = tp.Sequential([L.Dense(ff_dim, activation="relu"), L.Dense(dim)])
        self.norm1, self.norm2 = L.LayerNormalization(epsilon=1e-6), L.LayerNormalization(epsilon=1e-6)

    def call(self, x):
        h = self.norm1(x + self.attention(x, x))
        return self.norm2(h + self.ffn(h))


class TokenAndPosition(L.Layer):
    def __init__(self, length, vocab, dim, **kwargs):
        super().__init__(**kwargs)
        self.tokens, self.positions = L.Embedding(vocab, dim), L.Embedding(length, dim)

    def call(self, x):
        return self.tokens(x) + self.positions(ops.arange(ops.shape(x)[-1]))


def test_transformer_block_of_custom_layers_learns_a_token_rule():
    rng = np.random.default_rng(0)
    n, length, vocab = 512, 8, 12
    x = rng.integers(2, vocab, (n, length))
    y = (x == 2).any(axis=1).astype("int32")  # does token 2 occur anywhere?
    inp = tp.Input(shape=(length,), dtype="int32")
    h = TransformerBlock(16, 2, 16)(TokenAndPosition(length, vocab, 16)(inp))
    out = L.Dense(2, activation="softmax")(L.GlobalAveragePooling1D()(h))
    model = tp.Model(inp, out)
    model.compile(tp.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:384], y[:384], epochs=8, batch_size=32, verbose=0,
                        validation_data=(x[384:], y[384:]))
    assert history.history["val_accuracy"][-1] > 0.9
    probs = model.predict(x[384:], verbose=0)
    np.testing.assert_allclose(history.history["val_accuracy"][-1], np.mean(probs.argmax(1) == y[384:]))


def test_time_series_model_with_callbacks(tmp_path):
    t = np.arange(1200, dtype="float32")
    noise = 0.05 * np.random.default_rng(0).standard_normal(1200).astype("float32")
    series = np.sin(2 * np.pi * t / 50) + noise
    window = 24

    def windows(part):
        return tp.utils.timeseries_dataset_from_array(part[:-window], part[window:], sequence_length=window,
                                                      batch_size=64)

    train, val = windows(series[:900, None]), windows(series[900:, None])
    model = tp.Sequential([tp.Input(shape=(window, 1)), L.Conv1D(8, 5, activation="relu"),
                           L.GlobalAveragePooling1D(), L.Dense(1)])
    model.compile(tp.optimizers.Adam(0.02), "mse", metrics=["mae"])
    best = tmp_path / "best.tapeflow"
    callbacks = [tp.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True),
                 tp.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
                 tp.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)]
    history = model.fit(train, validation_data=val, epochs=25, callbacks=callbacks, verbose=0)
    assert min(history.history["val_mae"]) < 0.15
    reloaded = tp.models.load_model(best)
    loss, _ = reloaded.evaluate(val, verbose=0)
    np.testing.assert_allclose(loss, min(history.history["val_loss"]), rtol=1e-5)
