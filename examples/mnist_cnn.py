"""Train a small convolutional network on the full MNIST set to >= 99.0% test accuracy.

The model is the one the benchmark times (Conv2D 32 -> MaxPool -> Conv2D 64 -> MaxPool -> Dense 128 -> Dense
10), with dropout before the classifier, trained with Adam through ``Sequential.compile`` / ``fit``.

Run::

    python examples/mnist_cnn.py                      # data from $TAPEFLOW_DATA_DIR/mnist or the cache
    python examples/mnist_cnn.py --data ../shared/datasets/mnist --epochs 12

It prints the test accuracy after every epoch and the total training time, and exits with status 1 if the
final test accuracy is below 99.0%."""

from __future__ import annotations

import argparse
import time

import numpy as np

import tapeflow as tp


def build_model():
    """The CNN: two convolution/pooling stages, then a dense classifier over 10 digits (logits)."""
    layers = tp.layers
    return tp.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10),
    ])


class EpochReport(tp.callbacks.Callback):
    """Print test accuracy and elapsed time after each epoch."""

    def __init__(self, x_test, y_test, start):
        super().__init__()
        self.x_test, self.y_test, self.start = x_test, y_test, start

    def on_epoch_end(self, epoch, logs=None):
        accuracy = accuracy_of(self.model, self.x_test, self.y_test)
        print(f"epoch {epoch + 1}: loss {logs['loss']:.4f}, test accuracy {accuracy:.4f}, "
              f"{time.perf_counter() - self.start:.0f} s", flush=True)


def accuracy_of(model, x, y):
    return float(np.mean(model.predict(x, batch_size=1000, verbose=0).argmax(-1) == y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder with the four MNIST *-ubyte.gz files")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tp.random.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = tp.datasets.mnist.load_data(path=args.data)
    x_train = (x_train[..., None] / 255.0).astype(np.float32)
    x_test = (x_test[..., None] / 255.0).astype(np.float32)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)

    model = build_model()
    model.compile(optimizer=tp.optimizers.Adam(1e-3),
                  loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.summary()
    start = time.perf_counter()
    schedule = tp.callbacks.LearningRateScheduler(lambda epoch, lr: 1e-3 * 0.8 ** epoch)
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              callbacks=[schedule, EpochReport(x_test, y_test, start)])
    seconds = time.perf_counter() - start
    accuracy = accuracy_of(model, x_test, y_test)
    print(f"final test accuracy {accuracy:.4f} after {args.epochs} epochs in {seconds:.0f} s "
          f"({args.epochs * len(x_train) / seconds:.0f} samples/s)")
    return 0 if accuracy >= 0.99 else 1


if __name__ == "__main__":
    raise SystemExit(main())
