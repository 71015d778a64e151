"""A minimal seeded training loop for the real-data tests (GradientTape + tp.optimizers.Adam), so these tests
exercise the layers and their gradients without depending on ``Model.fit``."""

from __future__ import annotations

import numpy as np

import tapeflow as tp


class Stack:
    """Layers applied in order (a tiny stand-in for ``Sequential``)."""

    def __init__(self, *layers):
        self.layers = layers

    def __call__(self, x, training=None):
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]


def train(model, x, y, loss_fn, epochs, batch_size=32, learning_rate=1e-3, seed=0):
    """Mini-batch Adam on shuffled data; returns the mean loss of each epoch."""
    rng = np.random.default_rng(seed)
    opt = tp.optimizers.Adam(learning_rate=learning_rate)
    model(x[:batch_size])  # build
    weights = model.trainable_weights
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            with tp.GradientTape() as tape:
                loss = loss_fn(y[idx], model(x[idx], training=True))
            opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
            losses.append(float(loss))
        history.append(float(np.mean(losses)))
    return history


def predict(model, x, batch_size=256):
    return np.concatenate([model(x[i:i + batch_size]).numpy() for i in range(0, len(x), batch_size)])


def sparse_ce(y, logits):
    return tp.mean(-tp.sum(tp.one_hot(y, logits.shape[-1]) * tp.log_softmax(logits), axis=-1))


def mse(y, pred):
    return tp.mean(tp.square(pred - y))
