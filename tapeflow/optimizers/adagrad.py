"""Adagrad: each weight's step scaled by its own history of squared gradients."""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.optimizers.base import Optimizer


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
