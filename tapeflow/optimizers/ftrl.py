"""FTRL-Proximal (McMahan et al., 2013): per-coordinate rates with L1/L2 terms that give sparse weights."""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.optimizers.base import Optimizer


class Ftrl(Optimizer):
    """Follow The Regularized Leader, in Keras's form.

    Formula:
        ``g' = g + 2 * l2_shrinkage * w``; ``n' = n + g**2``;
        ``z += g' - (n'**-p - n**-p) / lr * w`` with ``p = learning_rate_power``;
        ``w = (clip(z, -l1, l1) - z) / (n'**-p / lr + 2 * (l2 + beta / (2 lr)))``; ``n = n'``.
        Coordinates with ``|z| <= l1`` become exactly 0.

    Args:
        learning_rate_power: ``<= 0`` (-0.5: the usual ``1 / sqrt`` schedule).
        initial_accumulator_value: the start of ``n`` (>= 0).
        l1_regularization_strength, l2_regularization_strength, l2_shrinkage_regularization_strength: >= 0.
        beta: added to the L2 strength as ``beta / (2 lr)``.

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([0.5, -0.5])
        >>> opt = tp.optimizers.Ftrl(learning_rate=0.5, l1_regularization_strength=1.0)
        >>> opt.apply_gradients([(tp.constant([0.1, -0.1]), w)])
        >>> w.numpy()  # a strong L1 term zeroes both coordinates
        array([0., 0.], dtype=float32)
    """

    _slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if learning_rate_power > 0:
            raise ValueError(f"`learning_rate_power` must be <= 0. Received: {learning_rate_power}")
        for key, value in (("initial_accumulator_value", initial_accumulator_value),
                           ("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength),
                           ("beta", beta)):
            if value < 0:
                raise ValueError(f"`{key}` must be >= 0. Received: {key}={value}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def _init_slot(self, name, var):
        value = self.initial_accumulator_value if name == "accumulator" else 0.0
        return B.xp.full(var.shape, value, dtype=var.dtype)

    def update_step(self, g, var, lr):
        if lr == 0:
            return
        n, z = self._slots[id(var)]
        w = var._value
        power = -self.learning_rate_power
        shrunk = g + 2.0 * self.l2_shrinkage_regularization_strength * w
        new_n = n + g * g
        new_n_pow = B.xp.power(new_n, power)
        z += shrunk - (new_n_pow - B.xp.power(n, power)) / lr * w
        quadratic = new_n_pow / lr + 2.0 * (self.l2_regularization_strength + self.beta / (2.0 * lr))
        l1 = self.l1_regularization_strength
        w[...] = (B.xp.clip(z, -l1, l1) - z) / quadratic
        n[...] = new_n

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
