"""Lamb (You et al., 2020): Adam's step rescaled per variable by the trust ratio ``||w|| / ||step||``."""

from __future__ import annotations

import numpy as np

from tapeflow import _backend as B
from tapeflow.optimizers.adam import Adam


class Lamb(Adam):
    """Layer-wise adaptive moments, for large batches.

    Formula:
        ``m``, ``v`` as Adam; ``step = m_hat / (sqrt(v_hat) + epsilon)`` with bias-corrected moments;
        ``w -= lr * (||w|| / ||step||) * step`` (ratio 1 when either norm is 0).

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([3.0, 4.0])
        >>> tp.optimizers.Lamb(learning_rate=0.1).apply_gradients([(tp.constant([1.0, 1.0]), w)])
        >>> [round(float(v), 4) for v in w]  # the step is lr * ||w|| = 0.5 long
        [2.6464, 3.6464]
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **kwargs)

    def update_step(self, g, var, lr):
        m, v = self._slots[id(var)]  # stored scaled as Adam's: m / (1 - beta_1), v / (1 - beta_2)
        tmp = self._tmp(m)
        m *= self.beta_1
        m += g
        B.xp.multiply(g, g, out=tmp)
        v *= self.beta_2
        v += tmp
        t = self._t
        B.xp.multiply(v, (1.0 - self.beta_2) / (1.0 - self.beta_2**t), out=tmp)  # v_hat
        B.xp.sqrt(tmp, out=tmp)
        tmp += self.epsilon
        B.xp.divide(m, tmp, out=tmp)
        tmp *= (1.0 - self.beta_1) / (1.0 - self.beta_1**t)  # m_hat / (sqrt(v_hat) + eps)
        # the trust ratio stays on the backend (no wait for a device): ||w|| / ||step||, 1 when either is 0
        xp = B.xp
        w_norm = xp.sqrt(xp.sum(xp.square(var._value, dtype=np.float64)))
        step_norm = xp.sqrt(xp.sum(xp.square(tmp, dtype=np.float64)))
        both = (w_norm > 0) & (step_norm > 0)
        ratio = xp.where(both, w_norm / xp.where(both, step_norm, 1.0), 1.0)
        tmp *= (lr * ratio).astype(tmp.dtype)
        var._value -= tmp

    def get_config(self):
        config = super().get_config()
        del config["amsgrad"]
        return config
