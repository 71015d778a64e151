"""Timestep masks: the ``Masking`` layer, and how a mask travels from the layer that makes it to the one that
uses it.

A layer that knows which timesteps are padding (``Masking``, ``Embedding(mask_zero=True)``) attaches a
boolean ``(batch, timesteps)`` mask to its output tensor with :func:`set_mask`; the recurrent and attention
layers look it up with :func:`get_mask` (or take an explicit ``mask=`` argument). The mask is keyed by the
tensor object itself and forgotten when the tensor is, so it reaches the *next* layer: put masking layers
directly before the layer that consumes the mask (``Bidirectional`` and ``TimeDistributed`` pass it on to
the layer they wrap)."""

from __future__ import annotations

import weakref

from tapeflow import _backend as B
from tapeflow.layers.base import Layer, register_serializable

_MASKS: dict[int, tuple] = {}


def set_mask(tensor, mask):
    """Attach a boolean ``(batch, timesteps)`` mask to ``tensor`` (None removes it); returns ``tensor``."""
    key = id(tensor)
    if mask is None:
        _MASKS.pop(key, None)
        return tensor
    mask = B.xp.asarray(mask._value if hasattr(mask, "_value") else mask).astype(bool)

    def forget(_ref, key=key):
        _MASKS.pop(key, None)

    _MASKS[key] = (weakref.ref(tensor, forget), mask)
    return tensor


def get_mask(tensor):
    """The mask attached to ``tensor`` by :func:`set_mask`, or None."""
    entry = _MASKS.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1]


@register_serializable
class Masking(Layer):
    """Mark timesteps whose features all equal ``mask_value`` as padding for the layers that follow.

    Masked timesteps are also zeroed in the output (as Keras does). Recurrent layers skip them: their state
    carries
    over unchanged.

    Args:
        mask_value: the padding value.

    Shape:
        ``(batch, timesteps, ...) -> same``; the mask is ``(batch, timesteps)``.

    Example:
        >>> import tapeflow as tp
        >>> x = tp.constant([[[1.0], [0.0], [2.0]]])
        >>> y = tp.layers.Masking(0.0)(x)
        >>> tp.layers.get_mask(y)
        array([[ True, False,  True]])
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def call(self, inputs):
        from tapeflow import ops

        values = inputs._value
        keep = (values != self.mask_value).reshape(*values.shape[:2], -1).any(axis=-1)
        factor = keep.reshape(keep.shape + (1,) * (values.ndim - 2)).astype(values.dtype)
        return set_mask(ops.multiply(inputs, factor), keep)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
