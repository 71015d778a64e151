"""Sorting and selection: ``sort``, ``argsort``, ``top_k``, ``unique`` (TensorFlow's names and defaults).

Values are picked from the input with an index op, so their gradient flows back to the positions they came
from; the indices themselves are integers (no gradient).
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow._tensor import Tensor, to_array
from tapeflow.errors import ShapeError

xp = B.xp


def _value(x):
    return x._value if isinstance(x, Tensor) else to_array(x)


def _take_along(x, idx, axis):
    from tapeflow.ops.indexing import getitem

    x = x if isinstance(x, Tensor) else Tensor(x)
    axis = axis % x.ndim
    grids = xp.indices(idx.shape, sparse=True)
    key = tuple(idx if d == axis else grids[d] for d in range(x.ndim))
    return getitem(x, key)


def argsort(values, axis=-1, direction="ASCENDING", stable=True):
    """Indices that sort ``values`` along ``axis`` (``direction="DESCENDING"`` for largest first).

    Example:
        >>> import tapeflow as tp
        >>> tp.argsort([3.0, 1.0, 2.0])
        tapeflow.Tensor([1 2 0], shape=(3,), dtype=int32)
    """
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError(
            f"`direction` must be 'ASCENDING' or 'DESCENDING'. Received: direction={direction!r}"
        )
    v = _value(values)
    if direction == "DESCENDING":
        v = -v if v.dtype.kind != "b" else ~v
    return Tensor(xp.argsort(v, axis=axis, kind="stable").astype(xp.int32))


def sort(values, axis=-1, direction="ASCENDING"):
    """``values`` sorted along ``axis``; the gradient goes back to where each value came from.

    Example:
        >>> import tapeflow as tp
        >>> tp.sort([3.0, 1.0, 2.0], direction="DESCENDING")
        tapeflow.Tensor([3. 2. 1.], shape=(3,), dtype=float32)
    """
    idx = argsort(values, axis=axis, direction=direction)._value
    return _take_along(values, idx, axis)


def top_k(input, k=1, sorted=True):  # noqa: A002 - TensorFlow's names
    """The ``k`` largest entries of the last axis and their indices: ``(values, indices)``.

    Raises:
        ShapeError: when ``k`` exceeds the size of the last axis.

    Example:
        >>> import tapeflow as tp
        >>> values, indices = tp.math.top_k([1.0, 5.0, 3.0], k=2)
        >>> values, indices
        (tapeflow.Tensor([5. 3.], shape=(2,), dtype=float32), tapeflow.Tensor([1 2], shape=(2,), dtype=int32))
    """
    v = _value(input)
    if v.ndim == 0 or not 0 <= int(k) <= v.shape[-1]:
        top = v.shape[-1] if v.ndim else 0
        raise ShapeError(f"top_k: k={k} must lie in [0, {top}] for input shape {v.shape}")
    idx = argsort(v, axis=-1, direction="DESCENDING")._value[..., : int(k)]
    return _take_along(input, idx, -1), Tensor(idx)


def unique(x, out_idx="int32"):
    """``(y, idx)``: the distinct values of a vector in order of first appearance, and for each element of
    ``x`` the position of its value in ``y`` (``x == y[idx]``), as ``tf.unique``. No gradient.

    Example:
        >>> import tapeflow as tp
        >>> y, idx = tp.unique([1, 1, 2, 4, 4, 4, 7, 8, 8])
        >>> y.numpy().tolist(), idx.numpy().tolist()
        ([1, 2, 4, 7, 8], [0, 0, 1, 2, 2, 2, 3, 4, 4])
    """
    v = _value(x)
    if v.ndim != 1:
        raise ShapeError(f"unique: needs a vector; got shape {v.shape}")
    values, first, inverse = xp.unique(v, return_index=True, return_inverse=True)
    order = xp.argsort(first, kind="stable")  # NumPy sorts the values; TensorFlow keeps first appearance
    rank = xp.empty_like(order)
    rank[order] = xp.arange(order.size)
    return Tensor(values[order]), Tensor(rank[inverse].astype(out_idx))
