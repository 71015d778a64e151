"""Nested elements: a leaf, or a tuple/dict of elements.

Dataset elements are structures like ``(x, y)`` or ``{"image": x, "label": y}``; these helpers apply a
function to every leaf and rebuild the same structure. As in TensorFlow, a list is a leaf (data, converted
to one array), not a structure. Nesting is two or three levels deep, so plain recursion is used here.
"""

from __future__ import annotations

import numpy as np


def is_nest(value) -> bool:
    """True for the containers a structure is made of (tuple, dict)."""
    return isinstance(value, (tuple, dict))


def map_structure(fn, *structures):
    """Apply ``fn`` to the leaves of one or more structures of the same shape."""
    first = structures[0]
    if isinstance(first, dict):
        return {k: map_structure(fn, *(s[k] for s in structures)) for k in first}
    if isinstance(first, tuple):
        return tuple(map_structure(fn, *parts) for parts in zip(*structures))
    return fn(*structures)


def flatten(structure) -> list:
    """The leaves of ``structure`` in a fixed order (dict keys in insertion order)."""
    out, stack = [], [structure]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, tuple):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


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
