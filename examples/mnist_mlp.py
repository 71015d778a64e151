"""Train the classic Keras MNIST MLP on the full MNIST set to >= 98.0% test accuracy.

The model is the one from the Keras examples (``mnist_mlp.py``): 784 -> Dense 512 relu -> Dropout 0.2 ->
Dense 512 relu -> Dropout 0.2 -> Dense 10 softmax, RMSprop, batch 128, 20 epochs, trained with ``compile`` /
``fit``.

Run::

    python examples/mnist_mlp.py                         # data from $TAPEFLOW_DATA_DIR/mnist or the cache
    python examples/mnist_mlp.py --data ../shared/datasets/mnist --epochs 20

It prints a line per epoch, then the test loss and accuracy and the training time, and exits with status 1 if
the test accuracy is below 98.0%.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import tapeflow as tp

TARGET = 0.98


def build_model():
    """The Keras example's MLP, ending in a softmax over the 10 digits."""
    layers = tp.layers
    return tp.Sequential(
        [
            tp.Input(shape=(784,)),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )


def load(path):
    """MNIST as float32 pixels in [0, 1], flattened to 784, with integer labels."""
    (x_train, y_train), (x_test, y_test) = tp.datasets.mnist.load_data(path=path)
    prep = lambda x: x.reshape(len(x), 784).astype("float32") / 255.0  # noqa: E731
    return (prep(x_train), y_train.astype("int64")), (prep(x_test), y_test.astype("int64"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_dir = os.environ.get("TAPEFLOW_DATA_DIR")
    default = os.path.join(data_dir, "mnist") if data_dir else None
    parser.add_argument("--data", default=default, help="folder with the four MNIST *-ubyte.gz files")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", default="auto", help="0, 1, 2 or auto")
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load(args.data)
    tp.random.set_seed(args.seed)
    model = build_model()
    model.summary()
    model.compile(
        optimizer=tp.optimizers.RMSprop(learning_rate=0.001),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=verbose,
        validation_data=(x_test, y_test),
    )
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(
        f"test loss {loss:.4f}, test accuracy {accuracy:.4f} ({accuracy * 100:.2f}%), "
        f"training time {seconds:.1f} s for {args.epochs} epochs (seed {args.seed})"
    )
    return 0 if accuracy >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
