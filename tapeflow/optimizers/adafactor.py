"""Adafactor (Shazeer & Stern, 2018): Adam-like steps with the second moment of a matrix stored as one row
and one column of averages (memory ``rows + cols`` instead of ``rows * cols``)."""

from __future__ import annotations

import math

import numpy as np

from tapeflow import _backend as B
from tapeflow.optimizers.base import Optimizer


def _rms(x):
    """The root mean square of ``x`` as a 0-d backend array (read on the host by no one: no device wait)."""
    xp = B.xp
    return xp.sqrt(xp.mean(xp.square(x, dtype=np.float64))) if x.size else xp.zeros((), np.float64)


class Adafactor(Optimizer):
    """Adafactor, in Keras's form.

    Formula (step ``t``):
        ``rho = min(lr, 1 / sqrt(t))``; ``alpha = max(epsilon_2, rms(w)) * rho``;
        ``beta_2 = 1 - t**beta_2_decay``; ``G = g**2 + epsilon_1``;
        for variables of rank >= 2: ``r = beta_2 r + (1 - beta_2) mean(G, -1)``,
        ``c = beta_2 c + (1 - beta_2) mean(G, -2)``, ``v = (r / mean(r)) outer c``; else
        ``v = beta_2 v + (1 - beta_2) G``; ``u = g / sqrt(v)``; ``w -= alpha * u / max(1, rms(u) /
        clip_threshold)``.

    Args:
        beta_2_decay: the exponent of the second moment's decay schedule.
        epsilon_1: added to the squared gradients.
        epsilon_2: the floor of ``rms(w)`` in the step size.
        clip_threshold: the largest RMS of a step before it is scaled down.
        relative_step: cap the learning rate at ``1 / sqrt(t)`` (only for a constant learning rate).

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([[1.0, 2.0], [3.0, 4.0]])
        >>> opt = tp.optimizers.Adafactor(learning_rate=0.1)
        >>> opt.apply_gradients([(tp.ones((2, 2)), w)])
        >>> [s.shape for s in opt.variables()[1:]]  # one row and one column of statistics, no full matrix
        [(2,), (2,), (0,)]
    """

    _slot_names = ("r", "c", "v")

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if beta_2_decay >= 0:
            raise ValueError(f"`beta_2_decay` must be negative. Received: beta_2_decay={beta_2_decay}")
        if clip_threshold <= 0:
            raise ValueError(f"`clip_threshold` must be positive. Received: clip_threshold={clip_threshold}")
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1, self.epsilon_2 = float(epsilon_1), float(epsilon_2)
        self.clip_threshold, self.relative_step = float(clip_threshold), bool(relative_step)

    def _init_slot(self, name, var):
        shape = var.shape
        factored = len(shape) >= 2
        sizes = {"r": shape[:-1] if factored else (0,), "c": (*shape[:-2], shape[-1]) if factored else (0,),
                 "v": (0,) if factored else shape}
        return B.xp.zeros(sizes[name], dtype=var.dtype)

    def update_step(self, g, var, lr):
        r, c, v = self._slots[id(var)]
        t = float(self._t)
        if self.relative_step and not callable(self._learning_rate):
            lr = min(lr, 1.0 / math.sqrt(t))
        rho = min(lr, 1.0 / math.sqrt(t))
        alpha = B.xp.maximum(self.epsilon_2, _rms(var._value)) * rho
        beta_2 = 1.0 - t**self.beta_2_decay
        squares = B.xp.square(g) + self.epsilon_1
        if g.ndim >= 2:
            r *= beta_2
            r += (1.0 - beta_2) * squares.mean(axis=-1)
            c *= beta_2
            c += (1.0 - beta_2) * squares.mean(axis=-2)
            second = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v *= beta_2
            v += (1.0 - beta_2) * squares
            second = v
        u = g / B.xp.sqrt(second)
        u /= B.xp.maximum(1.0, _rms(u) / self.clip_threshold).astype(u.dtype)
        var._value -= (alpha.astype(u.dtype) * u).astype(var.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}
