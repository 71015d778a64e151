"""Shapes as layers see them: tuples of ints with ``None`` for unknown sizes, and nests of them."""

from __future__ import annotations

import numbers


def is_shape(x) -> bool:
    """True for a shape tuple: ints and Nones (a tuple of shapes is a nest, not a shape)."""
    return isinstance(x, tuple) and all(s is None or isinstance(s, int) for s in x)


def map_shapes(fn, shapes):
    """Apply ``fn`` to every shape in a nest of shapes."""
    if is_shape(shapes):
        return fn(shapes)
    if isinstance(shapes, dict):
        return {k: map_shapes(fn, v) for k, v in shapes.items()}
    return type(shapes)(map_shapes(fn, s) for s in shapes)


def standardize_shape(shape):
    """A shape tuple with ``None`` for unknown sizes (accepts lists and ints)."""
    if shape is None:
        return None
    if isinstance(shape, int):
        shape = (shape,)
    dims = tuple(shape)
    if not all(d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and 0 <= d < 2**63)
               for d in dims):
        raise ValueError(f"A shape holds non-negative ints (or None). Received: shape={shape!r}")
    return tuple(None if d is None else int(d) for d in dims)
