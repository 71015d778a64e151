"""``model.find_learning_rate(x, y)``: the learning-rate range test, in one call.

The rate grows exponentially, one mini-batch at a time, from ``start`` to ``stop`` (a few hundred steps),
starting from the model's current weights with a fresh copy of its optimizer. The loss first barely moves
(too low: it crawls), then falls fast, then blows up (too high: it diverges). The suggestion is a tenth of the
rate where the smoothed loss was lowest: still in the fast-falling stretch, safely below the blow-up. The
weights (and the compiled optimizer's state) are then put back exactly as they were.
"""

from __future__ import annotations

import math

import numpy as np


class SuggestedRate(float):
    """The suggested learning rate (a float, usable wherever a rate is), carrying the sweep behind it.

    Attributes:
        rates: the learning rate of each step of the sweep.
        losses: the smoothed training loss after each step.
        figure: the plot of loss against rate with the suggestion marked (None without ``plot``).
    """

    rates: np.ndarray
    losses: np.ndarray
    figure: object


def find_learning_rate(model, x, y=None, start=1e-6, stop=10.0, steps=200, batch_size=32, smoothing=0.9,
                       plot=True, save=None, seed=0) -> SuggestedRate:
    """Sweep the learning rate exponentially from ``start`` to ``stop`` over ``steps`` mini-batches, restore
    the weights, and return the suggested rate (see the module's note); ``model`` must be compiled.

    Args:
        x, y: training data (arrays); batches are drawn from them in a shuffled order, cycling as needed.
        start, stop: the first and last learning rate (``0 < start < stop``).
        steps: mini-batches in the sweep (it ends early once the loss blows up: above 4 times its best).
        batch_size: samples per step.
        smoothing: weight of the past in the loss's exponential moving average (0 plots the raw losses).
        plot, save: draw loss against rate (log axis) with the suggestion marked; save it to a path.
        seed: the seed of the batch order.

    Returns:
        A :class:`SuggestedRate`: a float, with ``.rates``, ``.losses`` and ``.figure``.

    Raises:
        ValueError: for a model that is not compiled, or bad sweep settings.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("find_learning_rate: compile the model first (it needs its loss and optimizer): "
                         "model.compile(optimizer=..., loss=...)")
    if not 0 < start < stop or not math.isfinite(stop):
        raise ValueError(f"find_learning_rate: need 0 < start < stop. Received: start={start}, stop={stop}")
    if not isinstance(steps, int) or steps < 10:
        raise ValueError(f"`steps` must be an integer of at least 10. Received: steps={steps!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"`smoothing` must be in [0, 1). Received: smoothing={smoothing!r}")
    x = np.asarray(x)
    y = None if y is None else np.asarray(y)
    n = len(x)
    batch_size = min(int(batch_size), n)
    rng = np.random.default_rng(seed)
    rates = start * (stop / start) ** (np.arange(steps) / (steps - 1))

    saved_weights = model.get_weights()
    compiled = model.optimizer
    sweep = type(compiled).from_config(compiled.get_config())  # same settings, fresh state
    model.optimizer = sweep
    seen, losses, average, best = [], [], 0.0, math.inf
    order, at = rng.permutation(n), 0
    try:
        for i, rate in enumerate(rates):
            if at + batch_size > n:
                order, at = rng.permutation(n), 0
            batch = order[at: at + batch_size]
            at += batch_size
            sweep.learning_rate = float(rate)
            logs = model.train_on_batch(x[batch], None if y is None else y[batch], return_dict=True)
            loss = float(logs["loss"])
            average = smoothing * average + (1 - smoothing) * loss
            smoothed = average / (1 - smoothing ** (i + 1))  # bias-corrected, as in Adam
            if not math.isfinite(smoothed):
                break
            seen.append(float(rate))
            losses.append(smoothed)
            best = min(best, smoothed)
            if smoothed > 4 * best and i > 10:
                break
    finally:
        model.optimizer = compiled
        model.set_weights(saved_weights)
        model.reset_metrics()
    if not losses:
        raise ValueError(f"find_learning_rate: the loss was not finite even at start={start}; lower `start`")
    rates_seen, losses = np.array(seen), np.array(losses)
    result = SuggestedRate(rates_seen[int(np.argmin(losses))] / 10)
    result.rates, result.losses, result.figure = rates_seen, losses, None
    if plot or save is not None:
        from tapeflow.plot import learning_rate

        result.figure = learning_rate(rates_seen, losses, float(result), save=save)
    return result
