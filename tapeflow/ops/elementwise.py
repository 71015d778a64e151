"""Element-wise ops with NumPy broadcasting, each with its gradient rule.

Gradient rules return the gradient at the broadcast (output) shape; the tape sums it back to each input's
shape.
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.dtypes import as_dtype, is_floating
from tapeflow.ops import fusable
from tapeflow.ops._registry import defop, nondiff

xp = B.xp

# --- arithmetic
# ------------------------------------------------------------------------------------------------
add = defop("add", xp.add, lambda g, out, x, y: g, lambda g, out, x, y: g, save_inputs=False)
subtract = defop(
    "subtract", xp.subtract, lambda g, out, x, y: g, lambda g, out, x, y: -g, save_inputs=False
)
multiply = defop("multiply", xp.multiply, lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
divide = defop(
    "divide",
    xp.true_divide,
    lambda g, out, x, y: g / y,
    lambda g, out, x, y: -g * x / (y * y),
)
negative = defop("negative", xp.negative, lambda g, out, x: -g, save_inputs=False)
power = defop(
    "power",
    xp.power,
    # x ** 0 is constant (its gradient 0, not 0 * x ** -1 = nan at x = 0)
    lambda g, out, x, y: g * where(equal(y, 0), 0, y * power(x, where(equal(y, 0), 1, y) - 1)),
    lambda g, out, x, y: g * out * where(greater(x, 0), log(where(greater(x, 0), x, 1)), 0),
    save_output=True,
)
square = defop("square", xp.square, lambda g, out, x: g * 2 * x)
sqrt = defop("sqrt", xp.sqrt, lambda g, out, x: g / (2 * out), save_inputs=False, save_output=True)
exp = defop("exp", xp.exp, lambda g, out, x: g * out, save_inputs=False, save_output=True)
log = defop("log", xp.log, lambda g, out, x: g / x)
log1p = defop("log1p", xp.log1p, lambda g, out, x: g / (1 + x))
expm1 = defop("expm1", xp.expm1, lambda g, out, x: g * (out + 1), save_inputs=False, save_output=True)
abs = defop("abs", xp.abs, lambda g, out, x: g * sign(x))  # noqa: A001 - NumPy's name
sin = defop("sin", xp.sin, lambda g, out, x: g * cos(x))
cos = defop("cos", xp.cos, lambda g, out, x: -g * sin(x))
tan = defop("tan", xp.tan, lambda g, out, x: g * (1 + out * out), save_output=True)
maximum = defop(
    "maximum",
    xp.maximum,
    lambda g, out, x, y: g * cast(greater_equal(x, y), g.dtype),
    lambda g, out, x, y: g * cast(less(x, y), g.dtype),
)
minimum = defop(
    "minimum",
    xp.minimum,
    lambda g, out, x, y: g * cast(less_equal(x, y), g.dtype),
    lambda g, out, x, y: g * cast(greater(x, y), g.dtype),
)


def _zero_grad(g, out, x, **params):
    return zeros_like(g)


# Piecewise-constant functions: gradient zero almost everywhere (not None, so paths stay connected).
sign = defop("sign", xp.sign, _zero_grad, save_inputs=False)
floor = defop("floor", xp.floor, _zero_grad, save_inputs=False)
ceil = defop("ceil", xp.ceil, _zero_grad, save_inputs=False)
round = defop("round", lambda x, decimals=0: xp.round(x, decimals), _zero_grad, save_inputs=False)  # noqa: A001

clip_op = defop(  # tapeflow.ops.clip(x, min, max) wraps it (NumPy's names, given as keywords here)
    "clip",
    lambda x, min=None, max=None: xp.clip(x, min, max),  # noqa: A002 - NumPy's names
    lambda g, out, x, min=None, max=None: g * cast(equal(out, x), g.dtype),  # noqa: A002
    save_output=True,
)
where = defop(
    "where",
    lambda c, x, y: xp.where(c, x, y),
    lambda g, out, c, x, y: None,
    lambda g, out, c, x, y: where(c, g, zeros_like(g)),
    lambda g, out, c, x, y: where(c, zeros_like(g), g),
)

# --- dtype and identity
# --------------------------------------------------------------------------------------


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
fusable.register(identity, fusable.LINEAR)
stop_gradient_op = nondiff("stop_gradient", lambda x: x)


zeros_like = nondiff("zeros_like", lambda x, dtype=None: xp.zeros_like(x, dtype=dtype))
ones_like = nondiff("ones_like", lambda x, dtype=None: xp.ones_like(x, dtype=dtype))

# --- comparisons and logic (no gradient)
# -----------------------------------------------------------------------
equal = nondiff("equal", xp.equal)
not_equal = nondiff("not_equal", xp.not_equal)
less = nondiff("less", xp.less)
less_equal = nondiff("less_equal", xp.less_equal)
greater = nondiff("greater", xp.greater)
greater_equal = nondiff("greater_equal", xp.greater_equal)
logical_and = nondiff("logical_and", xp.logical_and)
logical_or = nondiff("logical_or", xp.logical_or)
logical_xor = nondiff("logical_xor", xp.logical_xor)
logical_not = nondiff("logical_not", xp.logical_not)
floor_divide = nondiff("floor_divide", xp.floor_divide)
mod = nondiff("mod", xp.mod)
isnan = nondiff("isnan", xp.isnan)
isfinite = nondiff("isfinite", xp.isfinite)
