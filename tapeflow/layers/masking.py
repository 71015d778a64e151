"""Timestep masks: the ``Masking`` layer, and how a mask travels from the layer that makes it to the ones that
use it (Keras's ``compute_mask`` rules).

A layer that knows which timesteps are padding (``Masking``, ``Embedding(mask_zero=True)``) attaches a
boolean ``(batch, timesteps)`` mask to its output tensor with :func:`set_mask`. Each layer then decides,
through :meth:`Layer.compute_mask`, what its own output carries: layers that keep the time axis as it is
(``supports_masking = True``: Dropout, Activation, Dense, LayerNormalization, BatchNormalization,
TimeDistributed, recurrent layers with ``return_sequences=True``, Attention/MultiHeadAttention on the query,
the merge layers) pass it on; layers that consume it (recurrent layers with ``return_sequences=False``,
which carry their state over masked steps; GlobalAveragePooling1D, which averages the unmasked steps only;
the attention layers, for the value's padded keys) or change the time axis (Flatten, Conv1D, pooling, ...)
drop it. Recurrent and attention layers read it with :func:`get_mask` (or take an explicit ``mask=``
argument)."""

from __future__ import annotations

from tapeflow.layers._masks import get_mask, set_mask
from tapeflow.layers.base import Layer, register_serializable

__all__ = ["Masking", "get_mask", "set_mask"]


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
