"""Caps on what rebuilding a saved model may allocate: the bytes of weights, and the size of any activation.

A hostile file could describe ``Dense(units=10**9)``; loading must refuse it before allocating anything. The
loader (``tapeflow.saving``) knows how many bytes of weights the file really holds and runs the rebuild inside
:func:`weight_budget`; :meth:`Layer.add_weight` charges each new weight here first.

A file could also describe a model with tiny weights and huge activations (``RepeatVector(8192)`` on 8192
features, a ``Conv2D`` with many filters on a large image). Inside :func:`activation_cap` the functional
graph is built from shapes (``compute_output_shape``) for layers that have a shape rule, so no activation is
made at all, and any placeholder array a layer without one is run on (its inputs and outputs) is checked
against the cap (:func:`check_activation`).

Example:
    >>> import tapeflow as tp
    >>> from tapeflow.layers._budget import weight_budget
    >>> with weight_budget(100):
    ...     tp.layers.Dense(1000).build((None, 1000))
    Traceback (most recent call last):
    ...
    ValueError: Layer 'dense...' asks for weight 'kernel' of shape (1000, 1000) (4000000 bytes), ...
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np


class _Budget(threading.local):
    def __init__(self):
        self.left = None
        self.activation = None


_budget = _Budget()


def charge(layer, name, shape, dtype) -> None:
    """Take a new weight's bytes from the budget (no-op when none is set).

    Raises:
        ValueError: when the weight would exceed it.
    """
    if _budget.left is None:
        return
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > _budget.left:
        raise ValueError(
            f"Layer '{layer.name}' asks for weight '{name}' of shape {tuple(shape)} ({nbytes} bytes), more "
            f"than the {_budget.left} bytes of weights left in the file being loaded: the architecture is "
            f"absurd or does not match the weights"
        )
    _budget.left -= nbytes


@contextlib.contextmanager
def weight_budget(nbytes: int):
    """Within the block, layers may create at most ``nbytes`` bytes of weights in all."""
    saved = _budget.left
    _budget.left = int(nbytes)
    try:
        yield
    finally:
        _budget.left = saved


def activation_limit():
    """The cap on one activation's bytes while a saved model is rebuilt (None when none is set)."""
    return _budget.activation


def check_activation(layer, shape, dtype, what) -> None:
    """Refuse an activation of ``shape`` (``None`` sizes counted as 3) beyond the cap (no-op without one).

    Raises:
        ValueError: naming the layer, the shape and the cap.
    """
    cap = _budget.activation
    if cap is None:
        return
    nbytes = math.prod(3 if d is None else d for d in shape) * np.dtype(dtype).itemsize
    if nbytes > cap:
        raise ValueError(
            f"Layer '{layer.name}' would make an {what} of shape {tuple(shape)} ({nbytes} bytes) while the "
            f"model is rebuilt, more than the {cap} bytes allowed for one activation while loading "
            f"(raise it with tp.saving.Limits(max_activation_bytes=...))"
        )


@contextlib.contextmanager
def activation_cap(nbytes: int):
    """Within the block, build functional graphs from shapes where layers can, and refuse any placeholder
    activation of more than ``nbytes`` bytes."""
    saved = _budget.activation
    _budget.activation = int(nbytes)
    try:
        yield
    finally:
        _budget.activation = saved
