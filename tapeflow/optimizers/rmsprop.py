"""RMSprop: each step divided by a moving root mean square of the gradients (Keras 3's formula, in place)."""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), optionally centered and with momentum.

    Formula:
        ``s = rho * s + (1 - rho) * g**2``; centered: ``a = rho * a + (1 - rho) * g``, ``d = s - a**2 + eps``,
        else ``d = s + eps``; ``step = lr * g / sqrt(d)``; with momentum ``m = momentum * m + step``,
        ``w -= m``, else ``w -= step``.

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([1.0])
        >>> tp.optimizers.RMSprop(learning_rate=0.01).apply_gradients([(tp.constant([2.0]), w)])
        >>> round(float(w[0]), 4)  # 1 - 0.01 * 2 / sqrt(0.1 * 4)
        0.9684
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = (
            float(rho),
            float(momentum),
            float(epsilon),
            centered,
        )
        self._slot_names = (
            ("velocity",)
            + (("average_gradient",) if centered else ())
            + (("momentum",) if self.momentum else ())
        )

    def update_step(self, g, var, lr):
        slots = self._slots[id(var)]
        s = slots[0]
        tmp = self._tmp(s)
        s *= self.rho
        B.xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.rho
        s += tmp
        if self.centered:
            a = slots[1]
            a *= self.rho
            B.xp.multiply(g, 1.0 - self.rho, out=tmp)
            a += tmp
            B.xp.multiply(a, a, out=tmp)
            B.xp.subtract(s, tmp, out=tmp)
        else:
            tmp[...] = s
        tmp += self.epsilon
        B.xp.sqrt(tmp, out=tmp)
        B.xp.divide(g, tmp, out=tmp)
        tmp *= lr
        if self.momentum:
            m = slots[-1]
            m *= self.momentum
            m += tmp
            var._value -= m
        else:
            var._value -= tmp

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
