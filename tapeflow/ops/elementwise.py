"""Element-wise ops with NumPy broadcasting, each with its gradient rule.

Gradient rules return the gradient at the broadcast (output) shape; the tape sums it back to each input's shape.
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.dtypes import as_dtype, is_floating
from tapeflow.ops._registry import defop, nondiff

xp = B.xp

# --- arithmetic ------------------------------------------------------------------------------------------------
add = defop("add", lambda x, y: xp.add(x, y), lambda g, out, x, y: g, lambda g, out, x, y: g, save_inputs=False)
subtract = defop(
    "subtract", lambda x, y: xp.subtract(x, y), lambda g, out, x, y: g, lambda g, out, x, y: -g, save_inputs=False
)
multiply = defop("multiply", lambda x, y: xp.multiply(x, y), lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
divide = defop(
    "divide",
    lambda x, y: xp.true_divide(x, y),
    lambda g, out, x, y: g / y,
    lambda g, out, x, y: -g * x / (y * y),
)
negative = defop("negative", lambda x: xp.negative(x), lambda g, out, x: -g, save_inputs=False)
power = defop(
    "power",
    lambda x, y: xp.power(x, y),
    # x ** 0 is constant (its gradient 0, not 0 * x ** -1 = nan at x = 0)
    lambda g, out, x, y: g * where(equal(y, 0), 0, y * power(x, where(equal(y, 0), 1, y) - 1)),
    lambda g, out, x, y: g * out * where(greater(x, 0), log(where(greater(x, 0), x, 1)), 0),
    save_output=True,
)
square = defop("square", lambda x: xp.square(x), lambda g, out, x: g * 2 * x)
sqrt = defop("sqrt", lambda x: xp.sqrt(x), lambda g, out, x: g / (2 * out), save_inputs=False, save_output=True)
exp = defop("exp", lambda x: xp.exp(x), lambda g, out, x: g * out, save_inputs=False, save_output=True)
log = defop("log", lambda x: xp.log(x), lambda g, out, x: g / x)
log1p = defop("log1p", lambda x: xp.log1p(x), lambda g, out, x: g / (1 + x))
expm1 = defop("expm1", lambda x: xp.expm1(x), lambda g, out, x: g * (out + 1), save_inputs=False, save_output=True)
abs = defop("abs", lambda x: xp.abs(x), lambda g, out, x: g * sign(x))  # noqa: A001 - NumPy's name
sin = defop("sin", lambda x: xp.sin(x), lambda g, out, x: g * cos(x))
cos = defop("cos", lambda x: xp.cos(x), lambda g, out, x: -g * sin(x))
tan = defop("tan", lambda x: xp.tan(x), lambda g, out, x: g * (1 + out * out), save_output=True)
maximum = defop(
    "maximum",
    lambda x, y: xp.maximum(x, y),
    lambda g, out, x, y: g * cast(greater_equal(x, y), g.dtype),
    lambda g, out, x, y: g * cast(less(x, y), g.dtype),
)
minimum = defop(
    "minimum",
    lambda x, y: xp.minimum(x, y),
    lambda g, out, x, y: g * cast(less_equal(x, y), g.dtype),
    lambda g, out, x, y: g * cast(greater(x, y), g.dtype),
)


def _zero_grad(g, out, x, **params):
    return zeros_like(g)


# Piecewise-constant functions: gradient zero almost everywhere (not None, so paths stay connected).
sign = defop("sign", lambda x: xp.sign(x), _zero_grad, save_inputs=False)
floor = defop("floor", lambda x: xp.floor(x), _zero_grad, save_inputs=False)
ceil = defop("ceil", lambda x: xp.ceil(x), _zero_grad, save_inputs=False)
round = defop("round", lambda x, decimals=0: xp.round(x, decimals), _zero_grad, save_inputs=False)  # noqa: A001

clip = defop(
    "clip",
    lambda x, lo=None, hi=None: xp.clip(x, lo, hi),
    lambda g, out, x, lo=None, hi=None: g * cast(equal(out, x), g.dtype),
    save_output=True,
)
where = defop(
    "where",
    lambda c, x, y: xp.where(c, x, y),
    lambda g, out, c, x, y: None,
    lambda g, out, c, x, y: where(c, g, zeros_like(g)),
    lambda g, out, c, x, y: where(c, zeros_like(g), g),
)

# --- dtype and identity --------------------------------------------------------------------------------------


def _cast(x, dtype):
    return x.astype(dtype, copy=False)


cast_op = defop(
    "cast", _cast, lambda g, out, x, dtype: cast_op(g, dtype=x.dtype) if is_floating(x.dtype) else None,
    save_inputs=False,
)


def cast(x, dtype):
    """Cast ``x`` to ``dtype``; differentiable between float types.

    Example:
        >>> import tapeflow as tp
        >>> tp.cast([1.7, -2.2], "int32")
        tapeflow.Tensor([ 1 -2], shape=(2,), dtype=int32)
    """
    return cast_op(x, dtype=as_dtype(dtype))


identity = defop("identity", lambda x: x, lambda g, out, x: g, save_inputs=False)
stop_gradient_op = nondiff("stop_gradient", lambda x: x)


zeros_like = nondiff("zeros_like", lambda x, dtype=None: xp.zeros_like(x, dtype=dtype))
ones_like = nondiff("ones_like", lambda x, dtype=None: xp.ones_like(x, dtype=dtype))

# --- comparisons and logic (no gradient) -----------------------------------------------------------------------
equal = nondiff("equal", lambda x, y: xp.equal(x, y))
not_equal = nondiff("not_equal", lambda x, y: xp.not_equal(x, y))
less = nondiff("less", lambda x, y: xp.less(x, y))
less_equal = nondiff("less_equal", lambda x, y: xp.less_equal(x, y))
greater = nondiff("greater", lambda x, y: xp.greater(x, y))
greater_equal = nondiff("greater_equal", lambda x, y: xp.greater_equal(x, y))
logical_and = nondiff("logical_and", lambda x, y: xp.logical_and(x, y))
logical_or = nondiff("logical_or", lambda x, y: xp.logical_or(x, y))
logical_xor = nondiff("logical_xor", lambda x, y: xp.logical_xor(x, y))
logical_not = nondiff("logical_not", lambda x: xp.logical_not(x))
floor_divide = nondiff("floor_divide", lambda x, y: xp.floor_divide(x, y))
mod = nondiff("mod", lambda x, y: xp.mod(x, y))
isnan = nondiff("isnan", lambda x: xp.isnan(x))
isfinite = nondiff("isfinite", lambda x: xp.isfinite(x))
