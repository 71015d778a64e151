"""Adaptive-rate optimizers: RMSprop, Adagrad, Adadelta (Keras 3's formulas, updated in place)."""

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


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011).

    Formula:
        ``acc += g**2``; ``w -= lr * g / sqrt(acc + epsilon)`` (``acc`` starts at
        ``initial_accumulator_value``).
    """

    _slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def _init_slot(self, name, var):
        return B.xp.full(var.shape, self.initial_accumulator_value, dtype=var.dtype)

    def update_step(self, g, var, lr):
        (acc,) = self._slots[id(var)]
        tmp = self._tmp(acc)
        B.xp.multiply(g, g, out=tmp)
        acc += tmp
        B.xp.add(acc, self.epsilon, out=tmp)
        B.xp.sqrt(tmp, out=tmp)
        B.xp.divide(g, tmp, out=tmp)
        tmp *= lr
        var._value -= tmp

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012).

    Formula:
        ``Eg = rho * Eg + (1 - rho) * g**2``; ``d = -sqrt(Ed + eps) / sqrt(Eg + eps) * g``;
        ``Ed = rho * Ed + (1 - rho) * d**2``; ``w += lr * d``.
    """

    _slot_names = ("accumulated_grad", "accumulated_delta")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update_step(self, g, var, lr):
        eg, ed = self._slots[id(var)]
        tmp, tmp2 = self._tmp(eg), self._tmp(eg, 1)
        eg *= self.rho
        B.xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.rho
        eg += tmp
        B.xp.add(ed, self.epsilon, out=tmp)
        B.xp.add(eg, self.epsilon, out=tmp2)
        B.xp.divide(tmp, tmp2, out=tmp)
        B.xp.sqrt(tmp, out=tmp)
        tmp *= g  # tmp = -d
        ed *= self.rho
        B.xp.multiply(tmp, tmp, out=tmp2)
        tmp2 *= 1.0 - self.rho
        ed += tmp2
        tmp *= lr
        var._value -= tmp

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
