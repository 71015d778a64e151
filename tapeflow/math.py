"""TensorFlow's ``tf.math`` names for tapeflow ops (``reduce_sum`` is :func:`tapeflow.sum`, and so on).

Example:
    >>> import tapeflow as tp
    >>> tp.math.reduce_sum([[1.0, 2.0], [3.0, 4.0]], axis=1)
    tapeflow.Tensor([3. 7.], shape=(2,), dtype=float32)
"""

from tapeflow.ops import (  # noqa: F401 - re-exported
    abs,
    add,
    argmax,
    argmin,
    ceil,
    cos,
    cumprod,
    cumsum,
    divide,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floor_divide,
    greater,
    greater_equal,
    isfinite,
    isnan,
    l2_normalize,
    less,
    less_equal,
    log,
    log1p,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    reduce_all,
    reduce_any,
    round,
    sigmoid,
    sign,
    sin,
    softplus,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    top_k,
)
from tapeflow.ops import logsumexp as reduce_logsumexp  # noqa: F401
from tapeflow.ops import max as reduce_max  # noqa: F401
from tapeflow.ops import mean as reduce_mean  # noqa: F401
from tapeflow.ops import min as reduce_min  # noqa: F401
from tapeflow.ops import power as pow  # noqa: F401
from tapeflow.ops import prod as reduce_prod  # noqa: F401
from tapeflow.ops import std as reduce_std  # noqa: F401
from tapeflow.ops import sum as reduce_sum  # noqa: F401
from tapeflow.ops import var as reduce_variance  # noqa: F401

truediv = divide
floordiv = floor_divide
floormod = mod
is_nan = isnan
is_finite = isfinite


def squared_difference(x, y):
    """``(x - y) ** 2`` element-wise (``tf.math.squared_difference``)."""
    return square(subtract(x, y))


def reciprocal(x):
    """``1 / x`` element-wise (``tf.math.reciprocal``)."""
    return divide(1.0, x)


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype="int32"):
    """``m[i, j]``: how many samples of true class ``i`` were predicted as ``j``
    (``tf.math.confusion_matrix``; summed ``weights`` when given). No gradient.

    Example:
        >>> import tapeflow as tp
        >>> tp.math.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).numpy().tolist()
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    import numpy as np

    from tapeflow._tensor import Tensor

    def arr(x):
        return np.asarray(x._value if isinstance(x, Tensor) else x).reshape(-1)

    y, p = arr(labels).astype(np.int64), arr(predictions).astype(np.int64)
    if y.shape != p.shape:
        raise ValueError(f"confusion_matrix: {y.size} labels but {p.size} predictions")
    if y.size and (min(y.min(), p.min()) < 0):
        raise ValueError("confusion_matrix: labels and predictions must be non-negative class indices")
    n = int(num_classes) if num_classes is not None else int(max(y.max(initial=-1), p.max(initial=-1)) + 1)
    if y.size and max(y.max(), p.max()) >= n:
        raise ValueError(f"confusion_matrix: a class index is >= num_classes={n}")
    w = np.ones(y.size) if weights is None else arr(weights).astype(np.float64)
    out = np.zeros((n, n), dtype=np.float64)
    np.add.at(out, (y, p), w)
    return Tensor(out.astype(dtype))
