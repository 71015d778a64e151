"""TensorFlow's ``tf.math`` names for tapeflow ops (``reduce_sum`` is :func:`tapeflow.sum`, and so on)."""

from tapeflow.ops import (  # noqa: F401 - re-exported
    abs, add, argmax, argmin, ceil, cos, cumprod, cumsum, divide, equal, exp, expm1, floor, floor_divide,
    greater, greater_equal, isfinite, isnan, less, less_equal, log, log1p, logical_and, logical_not, logical_or,
    logical_xor, maximum, minimum, multiply, negative, not_equal, power as pow, round, sigmoid, sign, sin,
    softplus, sqrt, square, subtract, tan, tanh, erf,
)
from tapeflow.ops import all as reduce_all  # noqa: F401
from tapeflow.ops import any as reduce_any  # noqa: F401
from tapeflow.ops import logsumexp as reduce_logsumexp  # noqa: F401
from tapeflow.ops import max as reduce_max  # noqa: F401
from tapeflow.ops import mean as reduce_mean  # noqa: F401
from tapeflow.ops import min as reduce_min  # noqa: F401
from tapeflow.ops import prod as reduce_prod  # noqa: F401
from tapeflow.ops import std as reduce_std  # noqa: F401
from tapeflow.ops import sum as reduce_sum  # noqa: F401
from tapeflow.ops import var as reduce_variance  # noqa: F401

truediv = divide
