"""Small 2-D classification datasets that a straight line cannot separate: two moons and two circles."""

from __future__ import annotations

import numpy as np


def _rng(seed):
    from tapeflow import random

    return random.generator(seed)


def two_moons(n=200, noise=0.1, seed=None):
    """Two interleaving half circles (scikit-learn's ``make_moons``).

    Args:
        n: number of points (half per class).
        noise: standard deviation of the Gaussian noise added to each coordinate.
        seed: a seed; None draws from ``tp.random.generator()``.

    Returns:
        ``(x, y)``: float32 points of shape ``(n, 2)`` and int32 labels of shape ``(n,)`` (0 or 1).

    Example:
        >>> from tapeflow.plot import two_moons
        >>> x, y = two_moons(10, seed=0)
        >>> x.shape, y.tolist()
        ((10, 2), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """
    rng = _rng(seed)
    n0 = n // 2
    a = np.linspace(0, np.pi, n0)
    b = np.linspace(0, np.pi, n - n0)
    x = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1), np.stack([1 - np.cos(b), 0.5 - np.sin(b)], 1)])
    x = x + rng.normal(0.0, noise, x.shape)
    y = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    return x.astype(np.float32), y.astype(np.int32)


def circles(n=200, noise=0.05, factor=0.5, seed=None):
    """A small circle inside a large one (scikit-learn's ``make_circles``).

    Args:
        n: number of points (half per class).
        noise: standard deviation of the Gaussian noise.
        factor: the inner radius relative to the outer (0 < factor < 1).
        seed: a seed; None draws from ``tp.random.generator()``.

    Returns:
        ``(x, y)``: float32 points ``(n, 2)``; int32 labels ``(n,)``, 0 outer, 1 inner.

    Example:
        >>> from tapeflow.plot import circles
        >>> x, y = circles(8, noise=0.0, seed=0)
        >>> [round(float(r), 3) for r in (x ** 2).sum(1) ** 0.5]
        [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    """
    if not 0 < factor < 1:
        raise ValueError(f"`factor` must be between 0 and 1. Received: factor={factor}")
    rng = _rng(seed)
    n0 = n // 2
    a = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    b = np.linspace(0, 2 * np.pi, n - n0, endpoint=False)
    x = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1), factor * np.stack([np.cos(b), np.sin(b)], 1)])
    x = x + rng.normal(0.0, noise, x.shape)
    y = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    return x.astype(np.float32), y.astype(np.int32)
