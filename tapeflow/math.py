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
