"""``tapeflow demo``: train a small network on real data, offline, and show it learning.

By default it trains a multilayer perceptron on the bundled 8×8 handwritten digits (1,797 images, see
:mod:`tapeflow.datasets.digits`) with a progress bar, prints the test accuracy and writes ``history.png``
(training and validation loss and accuracy per epoch). Other datasets: ``mnist`` and ``fashion_mnist``
(downloaded once, or read from ``$TAPEFLOW_DATA_DIR``), ``iris`` (3 species from 4 measurements) and
``mtcars`` (regression: miles per gallon from the other 10 columns).

Example:
    >>> from tapeflow.cli.demo import parser
    >>> parser().parse_args(["--dataset", "iris", "--epochs", "5"]).epochs
    5
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

DATASETS = ("digits", "mnist", "fashion_mnist", "iris", "mtcars")
MODELS = ("mlp", "cnn")
# Per dataset (epochs, batch_size): digits, iris and mtcars train in seconds on 2 cores, MNIST in about a
# minute.
DEFAULTS = {
    "digits": (30, 32),
    "mnist": (5, 128),
    "fashion_mnist": (5, 128),
    "iris": (100, 16),
    "mtcars": (200, 8),
}
# The learning rate a good run needs depends on the optimizer: plain SGD wants a step about 30-100 times
# Adam's (with Adam's rate it crawls: 0.84 on digits instead of 0.96). Optimizers not listed use Adam's.
RATES = {
    "adam": {"digits": 0.003, "mnist": 0.001, "fashion_mnist": 0.001, "iris": 0.005, "mtcars": 0.01},
    "sgd": {"digits": 0.3, "mnist": 0.1, "fashion_mnist": 0.1, "iris": 0.1, "mtcars": 0.01},
    "adagrad": {"digits": 0.1, "mnist": 0.05, "fashion_mnist": 0.05, "iris": 0.1, "mtcars": 0.1},
    "adadelta": dict.fromkeys(DATASETS, 1.0),
}


def default_learning_rate(optimizer: str, dataset: str) -> float:
    """The demo's learning rate for an optimizer (a name, any case) on a dataset.

    Example:
        >>> default_learning_rate("SGD", "digits"), default_learning_rate("rmsprop", "digits")
        (0.3, 0.003)
    """
    return RATES.get(optimizer.lower(), RATES["adam"])[dataset]


# A CNN costs more per epoch and needs fewer epochs:
CNN_EPOCHS = {"digits": 10, "mnist": 2, "fashion_mnist": 2}


def parser() -> argparse.ArgumentParser:
    """The demo's command-line options."""
    p = argparse.ArgumentParser(
        prog="tapeflow demo",
        description="Train a model on a real dataset (offline for the bundled ones), print its test score "
                    "and save a plot of its training history.",
    )
    p.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="digits (bundled, default), mnist, fashion_mnist, iris or mtcars (regression of mpg)")
    p.add_argument("--model", choices=MODELS, default="mlp",
                   help="mlp (default) or cnn (a small convolutional network; image datasets only)")
    p.add_argument("--optimizer", default="adam", help="an optimizer name: adam (default), sgd, rmsprop, ...")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="the step size (default: one that suits the optimizer and the dataset)")
    p.add_argument("--epochs", type=int, default=None, help="passes over the data (default per dataset)")
    p.add_argument("--batch-size", type=int, default=None, help="samples per step (default per dataset)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same run (0)")
    p.add_argument("--out", default=".", help="folder for history.png (default: the current folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def load(name):
    """``(x_train, y_train), (x_test, y_test), task`` scaled for training; task is 'classify' or 'regress'."""
    import tapeflow as tp

    if name in ("digits", "mnist", "fashion_mnist"):
        (x_train, y_train), (x_test, y_test) = getattr(tp.datasets, name).load_data()
        scale = 16.0 if name == "digits" else 255.0
        prep = lambda x: (x.astype(np.float32) / scale)[..., None]  # (n, h, w, 1) for a CNN; MLP flattens
        return (prep(x_train), y_train.astype(np.int64)), (prep(x_test), y_test.astype(np.int64)), "classify"
    if name == "iris":
        iris = tp.datasets.iris.load_data()
        x, y = iris.data, iris.target
    else:
        cars = tp.datasets.mtcars.load_data()
        x, y = cars.data[:, 1:], cars.data[:, 0]
    x_train, x_test, y_train, y_test = tp.utils.train_test_split(
        x, y, test_size=0.25, stratify=y if name == "iris" else None, seed=0
    )
    # Standardize with the training part's statistics only (the test part stays unseen).
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-7
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return (x_train, y_train), (x_test, y_test), ("classify" if name == "iris" else "regress")


def build_model(kind, input_shape, n_out, task):
    """A small MLP or CNN ending in ``n_out`` outputs (softmax for classification)."""
    import tapeflow as tp

    layers = tp.layers
    head = layers.Dense(n_out, activation="softmax" if task == "classify" else None)
    if kind == "cnn":
        conv2d, pool = getattr(layers, "Conv2D", None), getattr(layers, "MaxPooling2D", None)
        if conv2d is None or pool is None:
            raise SystemExit(
                "tapeflow demo: --model cnn needs tp.layers.Conv2D and MaxPooling2D, which this installation "
                "does not have yet; use --model mlp"
            )
        small = input_shape[0] < 16
        body = [conv2d(16, 3, padding="same", activation="relu"), pool(2),
                conv2d(32, 3, padding="same", activation="relu"), *([] if small else [pool(2)]),
                layers.Flatten(), layers.Dense(64, activation="relu")]
    else:
        hidden = 64 if task == "regress" or input_shape[-1] == 4 else 128
        body = [layers.Flatten(), layers.Dense(hidden, activation="relu")]
        if input_shape[0] >= 28:
            body.append(layers.Dense(64, activation="relu"))
    return tp.Sequential([tp.Input(shape=input_shape), *body, head])


def plot_history(history, path):
    """Save the loss and metric curves of a fit ``History`` to ``path``."""
    import tapeflow as tp

    title = "tapeflow demo: training history"
    return tp.plot.history(history, save=path, title=title)


def run(opts) -> dict:
    """Train, evaluate and plot as ``opts`` says; returns the scores and the plot's path (None when matplotlib
    is missing: the score is printed first, so it is never lost to a plotting problem)."""
    import tapeflow as tp

    started = time.perf_counter()
    tp.random.set_seed(opts.seed)
    (x_train, y_train), (x_test, y_test), task = load(opts.dataset)
    epochs, batch_size = DEFAULTS[opts.dataset]
    epochs = opts.epochs or (CNN_EPOCHS[opts.dataset] if opts.model == "cnn" else epochs)
    batch_size = opts.batch_size or batch_size
    optimizer_class = type(tp.optimizers.get(opts.optimizer))
    learning_rate = opts.learning_rate
    if learning_rate is None:
        learning_rate = default_learning_rate(optimizer_class.__name__, opts.dataset)
    n_out = int(y_train.max()) + 1 if task == "classify" else 1
    model = build_model(opts.model, x_train.shape[1:], n_out, task)
    optimizer = optimizer_class(learning_rate=learning_rate)
    if task == "classify":
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    print(f"tapeflow demo: {opts.model} on {opts.dataset} ({len(x_train)} training, {len(x_test)} test "
          f"samples), {optimizer_class.__name__} learning_rate={learning_rate}, {epochs} epochs of batch "
          f"{batch_size}, seed {opts.seed}")
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, validation_split=0.2,
                        verbose=0 if opts.quiet else "auto")
    scores = model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)
    if task == "classify":
        print(f"Test accuracy: {scores['accuracy']:.4f}  (loss {scores['loss']:.4f})")
    else:
        print(f"Test mean absolute error: {scores['mae']:.2f} mpg  (mse {scores['loss']:.2f})")
    os.makedirs(opts.out, exist_ok=True)
    path = os.path.join(opts.out, "history.png")
    try:
        plot_history(history, path)
    except ImportError:
        path = None
        print("History plot: not drawn, matplotlib is not installed in this Python "
              f"({sys.executable}). Install it with `{sys.executable} -m pip install matplotlib` "
              "(or, in a tapeflow checkout, `pip install -e \".[plot]\"`) and run the demo again.")
    seconds = time.perf_counter() - started
    if path is not None:
        print(f"History plot: {path}   ({seconds:.1f} s)")
    return {**scores, "plot": path, "seconds": seconds}


def main(argv=None) -> int:
    """Entry point of ``tapeflow demo``."""
    p = parser()
    opts = p.parse_args(argv)
    for name in ("epochs", "batch_size"):
        value = getattr(opts, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer. Received: {value}")
    if opts.model == "cnn" and opts.dataset not in CNN_EPOCHS:
        images = ", ".join(CNN_EPOCHS)
        p.error(f"--model cnn needs an image dataset ({images}). Received: --dataset {opts.dataset}")
    if opts.learning_rate is not None and not 0 < opts.learning_rate < math.inf:
        p.error(f"--learning-rate must be a positive number. Received: {opts.learning_rate}")
    if opts.seed < 0:
        p.error(f"--seed must be a non-negative integer. Received: {opts.seed}")
    import tapeflow as tp

    try:
        tp.optimizers.get(opts.optimizer)
    except ValueError as error:
        p.error(str(error))
    try:
        run(opts)
    except OSError as error:  # offline without the MNIST files, an unwritable --out, ...
        print(f"tapeflow demo: {error}", file=sys.stderr)
        return 1
    return 0
