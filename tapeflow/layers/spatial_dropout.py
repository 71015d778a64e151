"""Spatial dropout: drop whole feature maps (channels), not single elements.

Neighbouring pixels or timesteps are strongly correlated, so element-wise dropout barely regularizes
convolutional features; dropping a channel everywhere at once does (Tompson et al., 2015).
"""

from __future__ import annotations

import functools

from tapeflow import _backend as B
from tapeflow import _trace
from tapeflow import random as _random
from tapeflow.layers.base import Layer, in_training, register_serializable
from tapeflow.layers.convolutional import check_rank
from tapeflow.ops import conv as C


def _keep_mask(rng, shape, rate, dtype):  # a tp.function draws it again on every call
    return (B.uniform(rng, shape) >= rate).astype(dtype) / (1 - rate)

class SpatialDropout(Layer):
    """Zero each channel of each sample with probability ``rate`` while training; scale the rest by
    ``1 / (1 - rate)`` (base of SpatialDropout1D/2D/3D).

    Args:
        rate: the drop probability, in ``[0, 1)``.
        data_format: "channels_last" (default) or "channels_first".
        seed: optional seed for this layer's own generator (default: ``tp.random``'s seeded generator).
    """

    supports_masking = True

    rank = None

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= float(rate) < 1:
            raise ValueError(f"{type(self).__name__}: `rate` must be in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.data_format = C.normalize_data_format(data_format, type(self).__name__)
        self.seed = seed
        self._rng = None

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)

    def call(self, inputs, training=None):
        if not in_training(training) or self.rate == 0:
            return inputs
        shape = [1] * inputs.ndim
        shape[0] = inputs.shape[0]
        axis = 1 if self.data_format == "channels_first" else inputs.ndim - 1
        shape[axis] = inputs.shape[axis]
        rng_of = functools.partial(_random.generator_of, self)
        keep = _trace.source(rng_of, _keep_mask, tuple(shape), self.rate, inputs.dtype)
        return inputs * keep

    def get_config(self):
        config = {
            **super().get_config(),
            "rate": self.rate,
            "data_format": self.data_format,
            "seed": self.seed,
        }
        if self.rank == 1:
            del config["data_format"]
        return config


@register_serializable
class SpatialDropout1D(SpatialDropout):
    """Drop whole feature channels of ``(batch, steps, channels)``.

    Example:
        >>> import tapeflow as tp
        >>> y = tp.layers.SpatialDropout1D(0.5)(tp.ones((1, 4, 6)), training=True).numpy()
        >>> bool(((y[0] == 0).all(axis=0) | (y[0] == 2).all(axis=0)).all())  # each channel: all or nothing
        True
    """

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)


@register_serializable
class SpatialDropout2D(SpatialDropout):
    """Drop whole feature maps of ``(batch, h, w, channels)``."""

    rank = 2


@register_serializable
class SpatialDropout3D(SpatialDropout):
    """Drop whole feature volumes of ``(batch, d, h, w, channels)``."""

    rank = 3
