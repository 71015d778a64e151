"""Nested elements: a leaf, or a tuple/dict of elements.

Dataset elements are structures like ``(x, y)`` or ``{"image": x, "label": y}``; these helpers apply a
function to every leaf and rebuild the same structure. As in TensorFlow, a list is a leaf (data, converted
to one array), not a structure. The walks are :mod:`tapeflow._nest`'s, with tuples and dicts as containers.
"""

from __future__ import annotations

import numpy as np

from tapeflow import _nest

_CONTAINERS = (tuple, dict)  # a list is a leaf here (data), as in TensorFlow


def is_nest(value) -> bool:
    """True for the containers a structure is made of (tuple, dict)."""
    return isinstance(value, (tuple, dict))


def map_structure(fn, *structures):
    """Apply ``fn`` to the leaves of one or more structures of the same shape."""
    return _nest.map_structure(fn, *structures, containers=_CONTAINERS)


def flatten(structure) -> list:
    """The leaves of ``structure`` in a fixed order (dict keys in insertion order)."""
    return _nest.flatten(structure, _CONTAINERS)


def to_numpy(value):
    """A leaf as a NumPy array: Tensors unwrap, pandas objects give their values, Python data convert."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value
    numpy = getattr(value, "numpy", None)
    if callable(numpy) and not _is_pandas(value):
        return np.asarray(numpy())
    if _is_pandas(value):
        return value.to_numpy()
    arr = np.asarray(value)
    # Python floats and ints follow TensorFlow's defaults, as tp.constant does.
    if arr.dtype == np.float64 and not isinstance(value, (np.generic, np.ndarray)):
        arr = arr.astype(np.float32)
    elif arr.dtype == np.int64 and not isinstance(value, (np.generic, np.ndarray)):
        arr = arr.astype(np.int32)
    return arr


def _is_pandas(value) -> bool:
    return type(value).__module__.startswith("pandas")


def describe(structure) -> str:
    """A short text of the structure's leaf shapes, for error messages."""
    return repr(map_structure(lambda a: getattr(a, "shape", type(a).__name__), structure))
