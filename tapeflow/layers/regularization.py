"""Regularization layers: GaussianNoise, GaussianDropout, AlphaDropout (active only while training) and
ActivityRegularization (adds a penalty on its input to the model's loss)."""

from __future__ import annotations

import functools

import numpy as np

from tapeflow import _backend as B
from tapeflow import _trace
from tapeflow import random as _random
from tapeflow import regularizers as _regularizers
from tapeflow._tensor import Tensor
from tapeflow.layers.base import Layer, in_training, register_serializable
from tapeflow.layers.core import mask_shape


def _rate(name, value, upper_open=True):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < (1 if upper_open
                                                                                       else np.inf)
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, inf)"
        raise ValueError(f"`{name}` must be a number in {bound}. Received: {name}={value!r}")
    return float(value)


def _standard_normal(rng, shape, dtype):  # a tp.function draws it again on every call
    return B.normal(rng, shape).astype(dtype)


class _Noise(Layer):
    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed, self._rng = seed, None

    def _normal(self, inputs):
        rng_of = functools.partial(_random.generator_of, self)
        return Tensor(_trace.source(rng_of, _standard_normal, inputs.shape, inputs.dtype))


@register_serializable
class GaussianNoise(_Noise):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` while training (identity otherwise).

    Args:
        stddev: the noise's standard deviation (>= 0).
        seed: an optional seed for this layer's own generator.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.GaussianNoise(0.1)(tp.ones((1, 2)))
        tapeflow.Tensor(
        [[1. 1.]], shape=(1, 2), dtype=float32)
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = _rate("stddev", stddev, upper_open=False)

    def call(self, inputs, training=None):
        if not in_training(training) or self.stddev == 0:
            return inputs
        return inputs + self._normal(inputs) * self.stddev

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@register_serializable
class GaussianDropout(_Noise):
    """Multiply by Gaussian noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))`` while training.

    Args:
        rate: the equivalent drop probability, in ``[0, 1)``.
        seed: an optional seed for this layer's own generator.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.GaussianDropout(0.2)(tp.ones((1, 2)))
        tapeflow.Tensor(
        [[1. 1.]], shape=(1, 2), dtype=float32)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate("rate", rate)

    def call(self, inputs, training=None):
        if not in_training(training) or self.rate == 0:
            return inputs
        return inputs * (1.0 + self._normal(inputs) * float(np.sqrt(self.rate / (1.0 - self.rate))))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@register_serializable
class AlphaDropout(_Noise):
    """Dropout for self-normalizing networks (``selu``): dropped inputs take SELU's negative saturation value,
    and an affine correction keeps the mean and variance of the inputs (Klambauer et al., 2017).

    Formula:
        ``y = a * (x * keep + alpha' * (1 - keep)) + b`` with ``alpha' = -1.7581``,
        ``a = ((1 - rate) * (1 + rate * alpha'**2))**-0.5``, ``b = -a * alpha' * rate``.

    Args:
        rate: the drop probability, in ``[0, 1)``.
        noise_shape: the mask's shape (``None`` entries take the input's size).
        seed: an optional seed for this layer's own generator.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.AlphaDropout(0.2)(tp.ones((1, 2))).numpy()
        array([[1., 1.]], dtype=float32)
    """

    _ALPHA_P = -1.6732632423543772 * 1.0507009873554805

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate("rate", rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def call(self, inputs, training=None):
        if not in_training(training) or self.rate == 0:
            return inputs
        shape = mask_shape(inputs.shape, self.noise_shape)
        keep = (B.uniform(_random.generator_of(self), shape) >= self.rate).astype(inputs.dtype)
        alpha_p, rate = self._ALPHA_P, self.rate
        a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
        dropped = inputs * Tensor(keep) + Tensor((alpha_p * (1 - keep)).astype(inputs.dtype))
        return dropped * a + (-a * alpha_p * rate)

    def get_config(self):
        ns = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": ns, "seed": self.seed}


@register_serializable
class ActivityRegularization(Layer):
    """Pass the input through unchanged and add ``l1 * sum(|x|) + l2 * sum(x**2)``, divided by the batch
    size, to the model's loss.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.ActivityRegularization(l1=0.5)
        >>> _ = layer(tp.constant([[1.0, -3.0]]))
        >>> float(layer.losses[0])
        2.0
    """

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):  # noqa: E741
        super().__init__(**kwargs)
        self.l1, self.l2 = _rate("l1", l1, upper_open=False), _rate("l2", l2, upper_open=False)
        self._penalty = _regularizers.L1L2(self.l1, self.l2)

    def call(self, inputs):
        self.add_loss(self._penalty(inputs) / max(1, inputs.shape[0] if inputs.ndim else 1))
        return inputs

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}


__all__ = ["GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"]
