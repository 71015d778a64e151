"""Nested elements: a leaf, or a tuple/dict of elements.

Dataset elements are structures like ``(x, y)`` or ``{"image": x, "label": y}``; these helpers apply a
function to every leaf and rebuild the same structure. As in TensorFlow, a list is a leaf (data, converted
to one array), not a structure. The walks are :mod:`tapeflow._nest`'s, with tuples and dicts as containers.
"""

from __future__ import annotations

import numpy as np

from tapeflow import _backend as B
from tapeflow import _nest
from tapeflow.dtypes import python_default

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
    """A leaf as a NumPy array (:func:`tapeflow._backend.to_numpy`); Python numbers and lists get
    TensorFlow's dtypes (float32, int32), as ``tp.constant`` gives them. A NumPy scalar stays as it is."""
    if isinstance(value, np.generic):
        return value
    arr = B.to_numpy(value)
    if isinstance(value, (int, float, complex, list, tuple, range)):  # Python data (np.generic left above)
        arr = arr.astype(python_default(arr.dtype), copy=False)
    return arr


def describe(structure) -> str:
    """A short text of the structure's leaf shapes, for error messages."""
    return repr(map_structure(lambda a: getattr(a, "shape", type(a).__name__), structure))
