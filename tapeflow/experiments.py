"""Experiments: train one model per setting from the same initial weights and compare the curves.

``tp.experiments.compare`` is the lecture's "experiment with learning rates and optimizers" in one call: every
run starts from the same weights and sees the same batches, so the only difference is the setting, and a
learning rate that is too high (diverges) or too low (crawls) shows at a glance.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple


class Comparison(NamedTuple):
    """What :func:`compare` returns: ``histories, figure = tp.experiments.compare(...)``."""

    histories: dict
    figure: object


def _split(data):
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    return data, None


def _label(name, lr):
    return name if lr is None else f"{name} lr={lr:g}"


def _optimizer(name, lr):
    from tapeflow import optimizers

    if isinstance(name, optimizers.Optimizer):
        raise TypeError("compare: pass optimizers by name or class (a fresh one is built for every run), "
                        f"not an instance. Received: {name!r}")
    opt = optimizers.get(name)
    if lr is not None:
        opt.learning_rate = lr
    return opt


def _name(opt) -> str:
    return opt if isinstance(opt, str) else getattr(opt, "__name__", str(opt))


def compare(model_fn, data, optimizers=("sgd",), learning_rates=(None,), loss=None, metrics=None, epochs=10,
            batch_size=32, validation_data=None, seed=0, plot=True, plot_metrics="loss", verbose=0):
    """Train one model per (optimizer, learning rate) from the same initial weights; overlay the curves.

    Every run is built by ``model_fn``, gets the weights of the first, and trains with the same seed (so the
    same shuffling and dropout masks): the setting is the only difference.

    Args:
        model_fn: a function returning a new model (compiled or not; it is compiled again per run).
        data: ``(x, y)`` arrays, or a ``tp.data.Dataset`` of batches.
        optimizers: names or classes (``"sgd"``, ``"adam"``, ``tp.optimizers.RMSprop``).
        learning_rates: learning rates to try (None: each optimizer's default).
        loss: the loss (default: the loss ``model_fn``'s model was compiled with).
        metrics: metrics to log.
        epochs, batch_size, validation_data, verbose: as in ``fit``.
        seed: the seed every run starts from.
        plot: also draw the curves (needs matplotlib).
        plot_metrics: the metrics to draw (see :func:`tapeflow.plot.compare`).

    Returns:
        ``Comparison(histories, figure)``: ``{label: History}`` in run order, and the Figure (None when
        ``plot=False``).

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> x = np.linspace(-1, 1, 64, dtype="float32").reshape(-1, 1); y = 3 * x
        >>> make = lambda: tp.Sequential([tp.Input((1,)), tp.layers.Dense(1)])
        >>> runs, fig = tp.experiments.compare(make, (x, y), learning_rates=[4.0, 0.5, 1e-4], loss="mse",
        ...                                    epochs=5, batch_size=64, plot=False)
        >>> list(runs)
        ['sgd lr=4', 'sgd lr=0.5', 'sgd lr=0.0001']
        >>> ratio = [h.history["loss"][-1] / h.history["loss"][0] for h in runs.values()]
        >>> ratio[0] > 1, ratio[1] < 0.5, ratio[2] > 0.9  # too high diverges, good learns, too low crawls
        (True, True, True)
    """
    from tapeflow import random

    x, y = _split(data)
    optimizers = [optimizers] if isinstance(optimizers, str) else list(optimizers)
    lrs = [learning_rates] if isinstance(learning_rates, (int, float)) else list(learning_rates)
    if not optimizers or not lrs:
        raise ValueError("compare: give at least one optimizer and one learning rate")
    random.set_seed(seed)
    first = model_fn()
    loss = loss if loss is not None else getattr(first, "loss", None)
    if loss is None:
        raise ValueError("compare: pass `loss=` (the model from model_fn is not compiled with one)")
    _build(first, x)
    initial = first.get_weights()
    names = [_name(o) for o in optimizers]
    histories = {}
    for (opt, name), lr in itertools.product(zip(optimizers, names), lrs):
        random.set_seed(seed)
        model = model_fn()
        _build(model, x)
        model.set_weights(initial)
        model.compile(optimizer=_optimizer(opt, lr), loss=loss, metrics=metrics)
        histories[_label(name, lr)] = model.fit(
            x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data, verbose=verbose,
        )
    figure = None
    if plot:
        from tapeflow.plot import compare as draw

        figure = draw(histories, metrics=plot_metrics, title=f"{epochs} epochs from the same initial weights")
    return Comparison(histories, figure)


def _build(model, x):
    """Build a model that has not seen data yet by calling it on one sample."""
    if getattr(model, "built", True) and model.weights:
        return
    if x is None or not hasattr(x, "__getitem__"):
        raise ValueError("compare: model_fn's model is not built; give it an Input (or pass (x, y) arrays)")
    model(x[:1])
