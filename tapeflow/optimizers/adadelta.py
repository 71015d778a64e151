"""Adadelta: Adagrad's per-weight scaling over a decaying window, with step sizes in the weights' units."""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.optimizers.base import Optimizer


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
