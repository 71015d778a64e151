"""Creating tensors: constants, conversions, filled arrays and ranges."""

from __future__ import annotations

import numpy as np

from tapeflow import _backend as B
from tapeflow._tensor import Tensor, Variable, to_array, wrap
from tapeflow.dtypes import as_dtype, floatx
from tapeflow.errors import ShapeError
from tapeflow.ops.manipulation import infer_shape

xp = B.xp


def constant(value, dtype=None, shape=None):
    """A constant tensor (TensorFlow's ``tf.constant``): a scalar ``value`` fills ``shape``; otherwise the
    value is reshaped (row-major) to ``shape``.

    Example:
        >>> import tapeflow as tp
        >>> tp.constant([[1, 3], [2, 4]])
        tapeflow.Tensor(
        [[1 3]
         [2 4]], shape=(2, 2), dtype=int32)
        >>> tp.constant(0.5, shape=(2,))
        tapeflow.Tensor([0.5 0.5], shape=(2,), dtype=float32)
    """
    arr = xp.array(to_array(value, dtype), copy=True)
    if shape is not None:
        shape = tuple(shape) if not isinstance(shape, int) else (shape,)
        if arr.size == 1 and -1 not in shape and None not in shape:
            arr = xp.full(shape, arr.reshape(()), dtype=arr.dtype)
        else:
            arr = arr.reshape(infer_shape(shape, arr.size, "constant"))
    return wrap(arr)


def as_tensor(x, dtype=None, shape=None):
    """Convert ``x`` to a Tensor (a Tensor of the right dtype and shape is returned as is, keeping its
    gradient path). ``shape`` may hold one -1 or None, inferred; reshaping is row-major. Alias
    ``convert_to_tensor``.

    Example:
        >>> import tapeflow as tp
        >>> tp.as_tensor(range(6), shape=(None, 3))
        tapeflow.Tensor(
        [[0 1 2]
         [3 4 5]], shape=(2, 3), dtype=int32)
    """
    from tapeflow import ops

    if isinstance(x, Variable):  # a snapshot (read through the tape): the Variable's updates never reach it
        t = ops.identity(x) if dtype is None or x.dtype == as_dtype(dtype) else ops.cast(x, dtype)
    elif isinstance(x, Tensor):
        t = x if dtype is None or x.dtype == as_dtype(dtype) else ops.cast(x, dtype)
    else:
        t = wrap(to_array(x, dtype))
    if shape is not None:
        t = ops.reshape(t, shape)
    return t


convert_to_tensor = as_tensor


def _shape(shape):
    if isinstance(shape, Tensor):
        shape = shape.numpy().tolist()
    return (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)


def zeros(shape, dtype=None):
    """Zeros of ``shape`` (float32 by default)."""
    return wrap(xp.zeros(_shape(shape), dtype=as_dtype(dtype) or floatx))


def ones(shape, dtype=None):
    """Ones of ``shape`` (float32 by default)."""
    return wrap(xp.ones(_shape(shape), dtype=as_dtype(dtype) or floatx))


def fill(dims, value, dtype=None):
    """``dims`` filled with ``value`` (TensorFlow's ``tf.fill``; NumPy's name is :func:`full`)."""
    arr = to_array(value, dtype)
    return wrap(xp.full(_shape(dims), arr, dtype=arr.dtype))


def full(shape, fill_value, dtype=None):
    """``shape`` filled with ``fill_value`` (NumPy's ``full``)."""
    return fill(shape, fill_value, dtype)


def eye(num_rows, num_columns=None, dtype=None):
    """The identity matrix (ones on the diagonal)."""
    return wrap(xp.eye(num_rows, num_columns, dtype=as_dtype(dtype) or floatx))


def range(start, limit=None, delta=1, dtype=None):  # noqa: A001 - TensorFlow's name
    """Numbers from ``start`` up to (not including) ``limit`` in steps of ``delta`` (``tf.range``).

    Example:
        >>> import tapeflow as tp
        >>> tp.range(1, 7, 2)
        tapeflow.Tensor([1 3 5], shape=(3,), dtype=int32)
    """
    if limit is None:
        start, limit = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, limit, delta))
        dtype = "int32" if is_int else floatx
    return wrap(xp.arange(start, limit, delta, dtype=as_dtype(dtype)))


def arange(start, stop=None, step=1, dtype=None):
    """NumPy's ``arange``, with TensorFlow's default dtypes (int32 / float32)."""
    return range(start, stop, step, dtype)


def linspace(start, stop, num, dtype=None):
    """``num`` evenly spaced numbers from ``start`` to ``stop`` inclusive (float32 by default)."""
    return wrap(xp.linspace(start, stop, int(num), dtype=as_dtype(dtype) or floatx))


def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1, dtype=None):
    """One-hot encode integer ``indices`` into a new axis of size ``depth`` (an index outside ``[0, depth)``
    gives all ``off_value``, as in TensorFlow).

    Example:
        >>> import tapeflow as tp
        >>> tp.one_hot([0, 2], 3)
        tapeflow.Tensor(
        [[1. 0. 0.]
         [0. 0. 1.]], shape=(2, 3), dtype=float32)
    """
    idx = to_array(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers; got dtype {idx.dtype.name}")
    if depth < 0:
        raise ShapeError(f"one_hot: `depth` must be non-negative. Received: depth={depth}")
    dtype = as_dtype(dtype) or floatx
    hot = idx[..., None] == xp.arange(depth)
    out = xp.where(hot, xp.asarray(on_value, dtype), xp.asarray(off_value, dtype)).astype(dtype)
    if axis != -1:
        out = xp.moveaxis(out, -1, axis)
    return wrap(out)
