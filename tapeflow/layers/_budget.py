"""A cap on the bytes of weights that layers may create, set while a saved model is rebuilt.

A hostile file could describe ``Dense(units=10**9)``; loading must refuse it before allocating anything. The
loader (``tapeflow.saving``) knows how many bytes of weights the file really holds and runs the rebuild inside
:func:`weight_budget`; :meth:`Layer.add_weight` charges each new weight here first.

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
