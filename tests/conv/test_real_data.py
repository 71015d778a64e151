"""Seeded learning tests on real and synthetic data: images, sequences, video and text (seconds each).

Every test states the accuracy it must reach and fails below it; none of the thresholds is met by an untrained
model (chance is 10% for MNIST, 25% for the video and 50% for the text task).
"""

from __future__ import annotations

import gzip

import numpy as np

import tapeflow as tp
from tests.conv._train import Stack, mse, predict, sparse_ce, train

L = tp.layers


def read_idx(path):
    """A small IDX (MNIST) reader: magic number, dimensions, then unsigned bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_small_cnn_learns_mnist_subset(data_dir):
    d = data_dir / "mnist"
    x_train = read_idx(d / "train-images-idx3-ubyte.gz")[:6000, :, :, None].astype(np.float32) / 255
    y_train = read_idx(d / "train-labels-idx1-ubyte.gz")[:6000].astype(np.int64)
    x_test = read_idx(d / "t10k-images-idx3-ubyte.gz")[:1000, :, :, None].astype(np.float32) / 255
    y_test = read_idx(d / "t10k-labels-idx1-ubyte.gz")[:1000].astype(np.int64)
    model = Stack(L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(16, 3, activation="relu"),
                  L.MaxPooling2D(2), L.Flatten(), L.Dense(10))
    train(model, x_train, y_train, sparse_ce, epochs=3, batch_size=64, learning_rate=3e-3)
    accuracy = np.mean(predict(model, x_test).argmax(-1) == y_test)
    assert accuracy >= 0.93, accuracy  # 6,000 training images, 3 epochs


def _windows(series, width):
    x = np.stack([series[i:i + width] for i in range(len(series) - width)])
    return x[..., None], series[width:]


def test_lstm_forecast_beats_last_value_on_airline_passengers(data_dir):
    raw = np.loadtxt(data_dir / "airline-passengers" / "airline.csv", delimiter=",", skiprows=1,
                     usecols=1, dtype=np.float64)
    series = np.log(raw)  # multiplicative seasonality becomes additive
    diff = np.diff(series)  # month-on-month change: the LSTM forecasts the next change
    scale = diff[:-24].std()
    width = 13
    x, y = _windows(diff / scale, width)
    x, y = x.astype(np.float32), y[:, None].astype(np.float32)
    split = len(x) - 24  # the last two years are held out
    model = Stack(L.LSTM(16), L.Dense(1))
    tp.random.set_seed(0)
    train(model, x[:split], y[:split], mse, epochs=150, batch_size=16, learning_rate=5e-3)
    pred_change = predict(model, x[split:])[:, 0] * scale
    last = series[width:-1][split:]  # log level at the forecast origin
    actual = raw[width + 1:][split:]
    model_mae = np.mean(np.abs(np.exp(last + pred_change) - actual))
    naive_mae = np.mean(np.abs(np.exp(last) - actual))
    assert model_mae < 0.7 * naive_mae, (model_mae, naive_mae)


def moving_squares(n, frames=6, size=12, seed=0):
    """Clips (n, frames, size, size, 1) of a 3x3 square moving one pixel per frame right, left, down or up."""
    rng = np.random.default_rng(seed)
    moves = np.array([(0, 1), (0, -1), (1, 0), (-1, 0)])
    labels = rng.integers(0, 4, n)
    clips = np.zeros((n, frames, size, size, 1), np.float32)
    for i, label in enumerate(labels):
        dy, dx = moves[label]
        lo, hi = 1 + frames, size - 3 - frames
        y0 = rng.integers(lo if dy < 0 else 0, (hi if dy > 0 else size - 3) + 1)
        x0 = rng.integers(lo if dx < 0 else 0, (hi if dx > 0 else size - 3) + 1)
        for t in range(frames):
            y, x = y0 + dy * t, x0 + dx * t
            clips[i, t, y:y + 3, x:x + 3, 0] = 1.0
    clips += rng.normal(0, 0.05, clips.shape).astype(np.float32)
    return clips, labels


def test_conv3d_classifies_the_direction_of_a_moving_square():
    x, y = moving_squares(600, seed=1)
    model = Stack(L.Conv3D(8, 3, activation="relu"), L.GlobalMaxPooling3D(), L.Dense(4))
    train(model, x[:400], y[:400], sparse_ce, epochs=8, batch_size=32, learning_rate=1e-2)
    accuracy = np.mean(predict(model, x[400:]).argmax(-1) == y[400:])
    assert accuracy >= 0.95, accuracy


def test_time_distributed_conv_and_lstm_classify_moving_squares():
    x, y = moving_squares(600, seed=2)
    model = Stack(L.TimeDistributed(L.Conv2D(4, 3, activation="relu")),
                  L.TimeDistributed(L.MaxPooling2D(2)), L.TimeDistributed(L.Flatten()), L.LSTM(16),
                  L.Dense(4))
    train(model, x[:400], y[:400], sparse_ce, epochs=10, batch_size=32, learning_rate=1e-2)
    accuracy = np.mean(predict(model, x[400:]).argmax(-1) == y[400:])
    assert accuracy >= 0.95, accuracy


def pattern_task(n, length=12, vocab=10, seed=0):
    """Token sequences (1..vocab-1, 0 is padding at the end); label 1 when a 3 is directly followed by a 7.

    Half the samples are positives with the pattern planted at a random place; negatives have every 3->7 pair
    broken, so the label depends on order, not on which tokens occur.
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, (n, length))
    y = rng.integers(0, 2, n)
    lengths = rng.integers(length // 2, length + 1, n)
    for i in range(n):
        seq = x[i, :lengths[i]]
        for j in range(len(seq) - 1):
            if seq[j] == 3 and seq[j + 1] == 7:
                seq[j + 1] = 8
        if y[i]:
            j = rng.integers(0, lengths[i] - 1)
            seq[j], seq[j + 1] = 3, 7
        x[i, lengths[i]:] = 0
    return x, y


def test_embedding_gru_learns_whether_a_pattern_occurs():
    x, y = pattern_task(1500, seed=3)
    model = Stack(L.Embedding(10, 8), L.GRU(16), L.Dense(2))
    train(model, x[:1200], y[:1200], sparse_ce, epochs=12, batch_size=32, learning_rate=1e-2)
    accuracy = np.mean(predict(model, x[1200:]).argmax(-1) == y[1200:])
    assert accuracy >= 0.95, accuracy


class TinyTransformer:
    """One encoder block: self-attention + residual + LayerNorm, feed-forward + residual + LayerNorm."""

    def __init__(self, vocab, length, dim=16, heads=2):
        self.embed = L.Embedding(vocab, dim)
        self.position = L.Embedding(length, dim)
        self.attention = L.MultiHeadAttention(heads, dim // heads)
        self.norm1, self.norm2 = L.LayerNormalization(), L.LayerNormalization()
        self.ff1, self.ff2 = L.Dense(32, activation="relu"), L.Dense(dim)
        self.add = L.Add()
        self.pool = L.GlobalMaxPooling1D()
        self.head = L.Dense(2)
        self.length = length
        self.layers = [self.embed, self.position, self.attention, self.norm1, self.norm2, self.ff1, self.ff2,
                       self.head]

    def __call__(self, x, training=None):
        h = self.add([self.embed(x), self.position(np.arange(self.length)[None].repeat(len(x), 0))])
        h = self.norm1(self.add([h, self.attention(h, h, training=training)]))
        h = self.norm2(self.add([h, self.ff2(self.ff1(h))]))
        return self.head(self.pool(h))

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]


def test_tiny_transformer_block_learns_the_pattern_task():
    x, y = pattern_task(1500, seed=4)
    model = TinyTransformer(10, 12)
    train(model, x[:1200], y[:1200], sparse_ce, epochs=30, batch_size=32, learning_rate=5e-3)
    accuracy = np.mean(predict(model, x[1200:]).argmax(-1) == y[1200:])
    assert accuracy >= 0.90, accuracy
