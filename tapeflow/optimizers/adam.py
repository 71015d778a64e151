"""The Adam family: Adam (with AMSGrad), AdamW, Adamax, Nadam — Keras 3's formulas, updated in place."""

from __future__ import annotations

import math

from tapeflow import _backend as B
from tapeflow.ops import _native
from tapeflow.optimizers.base import Optimizer


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), in the form Keras uses (epsilon added to ``sqrt(v)``, bias correction folded
    into the step size).

    Formula:
        ``m += (1 - beta_1) * (g - m)``; ``v += (1 - beta_2) * (g**2 - v)``;
        ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``; ``w -= alpha * m / (sqrt(v) + epsilon)``;
        with ``amsgrad`` ``v`` in the last step is the running maximum of ``v``.

    The update runs in place in one shared scratch buffer: no full-size temporaries are allocated. The moment
    slots hold ``m / (1 - beta_1)`` and ``v / (1 - beta_2)`` (the same algorithm in fewer passes over memory).
    With tapeflow's C kernels built, the update (without ``amsgrad``) is one pass over the weight, its
    gradient and both moments, split across threads for large variables.

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([1.0])
        >>> tp.optimizers.Adam(learning_rate=0.1).apply_gradients([(tp.constant([5.0]), w)])
        >>> round(float(w[0]), 5)  # the first step moves by about lr, whatever the gradient's size
        0.9
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        for key, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= value < 1:
                raise ValueError(f"`{key}` must be in [0, 1). Received: {key}={value}")
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = (
            float(beta_1),
            float(beta_2),
            float(epsilon),
            amsgrad,
        )
        self._slot_names = ("m", "v", "vhat") if amsgrad else ("m", "v")

    def update_step(self, g, var, lr):
        # The moments are stored scaled: m' = m / (1 - beta_1), v' = v / (1 - beta_2). Then
        # m' = beta_1 m' + g and v' = beta_2 v' + g**2 need no temporary for the scaled gradient, and the step
        # alpha * m / (sqrt(v) + eps) = m' / (sqrt(v' * c2 / k**2) + eps / k), k = alpha * (1 - beta_1), folds
        # every scalar into one pass: ten passes over memory per variable instead of twelve, none allocating.
        slots = self._slots[id(var)]
        m, v = slots[0], slots[1]
        t = self._t
        k = lr * math.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t) * (1.0 - self.beta_1)
        w = var._value
        # one pass over w, g, m and v: the C kernel on NumPy arrays, the CUDA one (tapeflow/_cuda.py) on CuPy
        fused = None if self.amsgrad or k == 0.0 else (_native.usable(w, g, m, v) or B.fused())
        contiguous = w.flags.c_contiguous and g.flags.c_contiguous and getattr(w.flags, "writeable", True)
        if fused is not None and contiguous:
            fused.adam(w, g, m, v, self.beta_1, self.beta_2, (1.0 - self.beta_2) / (k * k), self.epsilon / k,
                       _native.threads(w.size, w.size))
            return
        tmp = self._tmp(m)
        m *= self.beta_1
        m += g
        B.xp.multiply(g, g, out=tmp)
        v *= self.beta_2
        v += tmp
        if self.amsgrad:
            B.xp.maximum(slots[2], v, out=slots[2])
            v = slots[2]
        if k == 0.0:
            return
        B.xp.multiply(v, (1.0 - self.beta_2) / (k * k), out=tmp)
        B.xp.sqrt(tmp, out=tmp)
        tmp += self.epsilon / k
        B.xp.divide(m, tmp, out=tmp)
        var._value -= tmp

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``w -= lr * weight_decay * w`` before
    each
    Adam step.

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([1.0])
        >>> opt = tp.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
        >>> opt.apply_gradients([(tp.constant([0.0]), w)])
        >>> round(float(w[0]), 5)
        0.95
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        if weight_decay is None or weight_decay < 0:
            raise ValueError(
                f"`weight_decay` must be a non-negative number. Received: weight_decay={weight_decay}"
            )
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            **kwargs,
        )


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (Kingma & Ba, 2015, section 7).

    Formula:
        ``m += (1 - beta_1) * (g - m)``; ``u = max(beta_2 * u, |g|)``;
        ``w -= lr * m / ((1 - beta_1**t) * (u + epsilon))``.
    """

    _slot_names = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update_step(self, g, var, lr):
        m, u = self._slots[id(var)]
        tmp = self._tmp(m)
        B.xp.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp
        u *= self.beta_2
        B.xp.abs(g, out=tmp)
        B.xp.maximum(u, tmp, out=u)
        B.xp.add(u, self.epsilon, out=tmp)
        B.xp.divide(m, tmp, out=tmp)
        tmp *= lr / (1.0 - self.beta_1**self._t)
        var._value -= tmp

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat, 2016), as Keras 3 computes it.

    Formula:
        ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``, ``U_t = u_1 * ... * u_t``;
        ``m += (1 - beta_1) * (g - m)``; ``v += (1 - beta_2) * (g**2 - v)``;
        ``m_hat = u_{t+1} * m / (1 - U_t * u_{t+1}) + (1 - u_t) * g / (1 - U_t)``;
        ``v_hat = v / (1 - beta_2**t)``; ``w -= lr * m_hat / (sqrt(v_hat) + epsilon)``.
    """

    _slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._u_product = 1.0

    def _u(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96**t)

    def _before_updates(self, lr):
        self._u_product *= self._u(self._t)

    def update_step(self, g, var, lr):
        t = self._t
        u_t, u_next = self._u(t), self._u(t + 1)
        prod, prod_next = self._u_product, self._u_product * u_next
        m, v = self._slots[id(var)]
        tmp = self._tmp(m)
        tmp2 = self._tmp(m, 1)
        B.xp.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp
        B.xp.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1.0 - self.beta_2
        v += tmp
        B.xp.multiply(m, u_next / (1.0 - prod_next), out=tmp)
        B.xp.multiply(g, (1.0 - u_t) / (1.0 - prod), out=tmp2)
        tmp += tmp2
        B.xp.multiply(v, 1.0 / (1.0 - self.beta_2**t), out=tmp2)
        B.xp.sqrt(tmp2, out=tmp2)
        tmp2 += self.epsilon
        B.xp.divide(tmp, tmp2, out=tmp)
        tmp *= lr
        var._value -= tmp

    def variables(self):
        return [*super().variables(), B.xp.asarray(self._u_product)]

    def set_weights(self, weights):
        super().set_weights(list(weights)[:-1])
        self._u_product = float(B.to_numpy(weights[-1]))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
