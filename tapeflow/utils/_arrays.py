"""Array helpers the lecture uses: ``to_categorical``, ``normalize`` and R's ``array_reshape``."""

from __future__ import annotations

import numpy as np

from tapeflow import _backend as B
from tapeflow.ops.indexing import all_dims


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (``keras.utils.to_categorical``).

    Args:
        y: integer labels 0..num_classes-1, any shape (a trailing axis of size 1 is dropped).
        num_classes: the number of classes; default ``max(y) + 1``.
        dtype: the result's dtype.

    Returns:
        A NumPy array of shape ``y.shape + (num_classes,)``.

    Raises:
        ValueError: for non-integer, negative or too-large labels.

    Example:
        >>> import tapeflow as tp
        >>> tp.utils.to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    y = B.to_numpy(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.size and (y.dtype.kind not in "iu" and not np.all(y == np.round(y))):
        raise ValueError(f"to_categorical: labels must be integers. Received dtype {y.dtype} with fractions")
    y = y.astype(np.int64)
    top = int(y.max()) + 1 if y.size else 0
    num_classes = top if num_classes is None else int(num_classes)
    if y.size and (y.min() < 0 or top > num_classes):
        raise ValueError(
            f"to_categorical: labels must be in [0, {num_classes - 1}] for num_classes={num_classes}; "
            f"got labels from {int(y.min())} to {top - 1}"
        )
    out = np.zeros((*y.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def normalize(x, axis=-1, order=2):
    """Scale ``x`` so that each slice along ``axis`` has unit ``order``-norm (``keras.utils.normalize``).

    All-zero slices stay zero.

    Example:
        >>> import tapeflow as tp
        >>> tp.utils.normalize([[3.0, 4.0], [0.0, 0.0]])
        array([[0.6, 0.8],
               [0. , 0. ]])
    """
    x = B.to_numpy(x)
    x = x.astype(np.float64) if x.dtype.kind in "iub" else x
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def array_reshape(x, dim, order="C"):
    """Reshape like R's ``reticulate::array_reshape``: ``order="C"`` fills rows first, ``"F"`` columns first.

    R fills matrices column by column, so R's ``matrix(1:8, nrow = 2)`` is
    ``tp.array_reshape(np.arange(1, 9), (2, 4), order="F")``. NumPy, TensorFlow and Keras (and the lecture's
    ``array_reshape`` default) use "C" order.

    Args:
        x: an array-like or Tensor.
        dim: the new shape (one entry may be -1).
        order: "C" (row-major) or "F" (column-major): how elements are read from ``x`` and written.

    Returns:
        A NumPy array for array-like input, a Tensor for a Tensor.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> tp.array_reshape(np.arange(1, 9), (2, 4), order="F")
        array([[1, 3, 5, 7],
               [2, 4, 6, 8]])
        >>> tp.array_reshape(np.arange(1, 9), (2, 4))
        array([[1, 2, 3, 4],
               [5, 6, 7, 8]])
    """
    if order not in ("C", "F"):
        raise ValueError(f"array_reshape: `order` must be 'C' or 'F'. Received: order={order!r}")
    dim = (int(dim),) if np.ndim(dim) == 0 else tuple(int(d) for d in dim)
    from tapeflow._tensor import Tensor

    if isinstance(x, Tensor):
        from tapeflow import reshape

        return reshape(x, dim, order=order)
    x = np.asarray(x)
    try:
        return np.reshape(x, dim, order=order)
    except ValueError:
        from tapeflow.errors import ShapeError

        raise ShapeError(
            f"array_reshape: cannot reshape {x.size} elements of shape {x.shape} into {dim}"
        ) from None


__all__ = ["to_categorical", "normalize", "array_reshape", "all_dims"]
