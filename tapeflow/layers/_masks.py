"""Where timestep masks live: a boolean ``(batch, timesteps)`` array attached to a tensor object.

Kept apart from :mod:`tapeflow.layers.masking` so the ``Layer`` base can pass masks on without an import
cycle. A mask is keyed by the tensor itself and forgotten when the tensor is."""

from __future__ import annotations

import weakref

from tapeflow import _backend as B
from tapeflow import _trace

_MASKS: dict[int, tuple] = {}


def set_mask(tensor, mask):
    """Attach a boolean ``(batch, timesteps)`` mask to ``tensor`` (None removes it); returns ``tensor``."""
    key = id(tensor)
    if mask is None:
        _MASKS.pop(key, None)
        return tensor
    if _trace.state.recorder is not None:
        raise _trace.state.recorder.error(
            "timestep masks (mask_zero=True, Masking, masks passed to layers) are computed in NumPy from the "
            "data, so a function using them cannot be traced yet; run it eagerly"
        )
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


def incoming_mask(inputs):
    """The mask of a layer's inputs: one array for a tensor, a list (None where absent) for a list or
    tuple of tensors, None when nothing is masked."""
    if not _MASKS:
        return None
    if isinstance(inputs, (list, tuple)):
        masks = [get_mask(t) for t in inputs]
        return masks if any(m is not None for m in masks) else None
    return get_mask(inputs)
