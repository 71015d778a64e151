"""Lion (Chen et al., 2023): the sign of an interpolated momentum, so every coordinate moves by ``lr``."""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.optimizers.base import Optimizer


class Lion(Optimizer):
    """Lion: evolved sign momentum.

    Formula:
        ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``; then ``m = beta_2 * m + (1 - beta_2) * g``.

    Use a learning rate 3-10 times smaller than Adam's (each step moves every coordinate by the full ``lr``).

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([1.0, -1.0])
        >>> tp.optimizers.Lion(learning_rate=0.1).apply_gradients([(tp.constant([0.5, -2.0]), w)])
        >>> w.numpy()
        array([ 0.9, -0.9], dtype=float32)
    """

    _slot_names = ("m",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        for key, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= value <= 1:
                raise ValueError(f"`{key}` must be in [0, 1]. Received: {key}={value}")
        if beta_1 == 0:
            raise ValueError("`beta_1` must be above 0 (0 makes Lion signSGD). Received: beta_1=0")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def update_step(self, g, var, lr):
        m = self._slots[id(var)][0]
        tmp = self._tmp(m)
        B.xp.multiply(m, self.beta_1, out=tmp)
        tmp += (1.0 - self.beta_1) * g
        B.xp.sign(tmp, out=tmp)
        tmp *= lr
        var._value -= tmp
        m *= self.beta_2
        m += (1.0 - self.beta_2) * g

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
