"""Stochastic gradient descent with optional (Nesterov) momentum."""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.optimizers.base import Optimizer


class SGD(Optimizer):
    """Gradient descent with optional momentum.

    Formula:
        without momentum ``w -= lr * g``; with momentum ``m = momentum * m - lr * g``, then ``w += m``, or
        with ``nesterov`` ``w += momentum * m - lr * g``.

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([1.0])
        >>> opt = tp.optimizers.SGD(learning_rate=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     opt.apply_gradients([(tp.constant([1.0]), w)])
        >>> w.numpy()  # 1 - 0.1 - (0.9 * 0.1 + 0.1)
        array([0.71], dtype=float32)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be in [0, 1]. Received: momentum={momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum else ()

    def update_step(self, g, var, lr):
        w = var._value
        tmp = self._tmp(w)
        if not self.momentum:
            B.xp.multiply(g, lr, out=tmp)
            w -= tmp
            return
        (m,) = self._slots[id(var)]
        m *= self.momentum
        B.xp.multiply(g, lr, out=tmp)
        m -= tmp
        if self.nesterov:
            w -= tmp
            B.xp.multiply(m, self.momentum, out=tmp)
            w += tmp
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
