"""Every tapeflow op, under NumPy's names, plus the operators and NumPy dispatch they give to Tensor."""

from __future__ import annotations

import builtins
import sys

import numpy as np

from tapeflow import _backend as B
from tapeflow import _tape
from tapeflow._tensor import Tensor, Variable
from tapeflow.ops import conv as _conv  # noqa: F401 - registers convolution, transposed convolution, up-sampling
from tapeflow.ops import elementwise as _ew
from tapeflow.ops import fused as _fused  # noqa: F401 - registers the fused dense and cross-entropy ops
from tapeflow.ops import pooling as _pooling  # noqa: F401 - registers max pooling
from tapeflow.ops import recurrent as _recurrent  # noqa: F401 - registers the fused LSTM, GRU and RNN ops
from tapeflow.ops import reduction as _red
from tapeflow.ops.clipping import clip_by_global_norm, clip_by_norm, clip_by_value, l2_normalize
from tapeflow.ops.elementwise import (
    abs,
    add,
    cast,
    ceil,
    clip_op,
    cos,
    divide,
    equal,
    exp,
    expm1,
    floor,
    floor_divide,
    greater,
    greater_equal,
    identity,
    isfinite,
    isnan,
    less,
    less_equal,
    log,
    log1p,
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
    power,
    sign,
    sin,
    sqrt,
    square,
    subtract,
    tan,
)
from tapeflow.ops.elementwise import ones_like as _ones_like
from tapeflow.ops.elementwise import round as _round
from tapeflow.ops.elementwise import where as _where
from tapeflow.ops.elementwise import zeros_like as _zeros_like
from tapeflow.ops.indexing import (
    all_dims,
    boolean_mask,
    gather,
    gather_nd,
    getitem,
    newaxis,
    scatter_nd,
    take,
    tensor_scatter_nd_add,
    tensor_scatter_nd_update,
)
from tapeflow.ops.indexing import variable_getitem as _variable_getitem
from tapeflow.ops.linalg_ops import dot, einsum, matmul, outer, tensordot
from tapeflow.ops.linalg_ops import matmul_op as _matmul_op
from tapeflow.ops.manipulation import (
    broadcast_to,
    concat,
    concatenate,
    expand_dims,
    flatten,
    flip,
    meshgrid,
    pad,
    repeat,
    reshape,
    roll,
    sequence_mask,
    split,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
    tril,
    triu,
    unstack,
)
from tapeflow.ops.mapping import map_fn, vectorized_map
from tapeflow.ops.matrix import cholesky, det, inv, qr, slogdet, solve, svd, trace
from tapeflow.ops.nn_ops import (
    elu,
    erf,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from tapeflow.ops.sorting import argsort, sort, top_k, unique

__all__ = [
    # element-wise
    "abs", "add", "cast", "ceil", "clip", "cos", "divide", "equal", "exp", "expm1", "floor", "floor_divide",
    "greater", "greater_equal", "identity", "isfinite", "isnan", "less", "less_equal", "log", "log1p",
    "logical_and", "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod", "multiply",
    "negative", "not_equal", "ones_like", "power", "round", "sign", "sin", "sqrt", "square", "stop_gradient",
    "subtract", "tan", "where", "zeros_like",
    # neural-network functions
    "elu", "erf", "gelu", "leaky_relu", "log_softmax", "relu", "selu", "sigmoid", "silu", "softmax",
    "softplus", "tanh",
    # reductions
    "sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "norm", "argmax", "argmin", "cumsum",
    "cumprod", "reduce_any", "reduce_all",
    # linear algebra
    "dot", "einsum", "matmul", "outer", "tensordot",
    # shape and indexing
    "broadcast_to", "concat", "concatenate", "expand_dims", "flatten", "flip", "pad", "repeat", "reshape",
    "split", "squeeze", "stack", "swapaxes", "tile", "transpose", "unstack", "all_dims", "gather", "getitem",
    "newaxis", "take", "shape", "rank", "size", "boolean_mask", "gather_nd", "scatter_nd",
    "tensor_scatter_nd_update", "tensor_scatter_nd_add", "roll", "meshgrid", "sequence_mask", "tril", "triu",
    # sorting
    "sort", "argsort", "top_k", "unique",
    # clipping and norms
    "clip_by_value", "clip_by_norm", "clip_by_global_norm", "l2_normalize",
    # matrices (also in tp.linalg)
    "inv", "det", "slogdet", "solve", "cholesky", "qr", "svd", "trace",
    # mapping over the first axis
    "map_fn", "vectorized_map",
    # Keras 3's keras.ops names
    "absolute", "amax", "amin", "ndim", "is_tensor", "convert_to_numpy", "rsqrt", "log2", "log10", "relu6",
    "hard_sigmoid", "softsign", "moments", "take_along_axis", "moveaxis",
]


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """Sum over ``axis`` (all axes when None).

    Example:
        >>> import tapeflow as tp
        >>> tp.sum([[1.0, 2.0], [3.0, 4.0]], axis=0)
        tapeflow.Tensor([4. 6.], shape=(2,), dtype=float32)
    """
    return _red.sum(x, axis=_axis(axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``."""
    return _red.mean(x, axis=_axis(axis), keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; the gradient is shared equally among tied maxima (as TensorFlow does)."""
    return _red.max(x, axis=_axis(axis), keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; the gradient is shared equally among tied minima."""
    return _red.min(x, axis=_axis(axis), keepdims=keepdims)


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; the gradient is exact even where elements are zero."""
    return _red.prod(x, axis=_axis(axis), keepdims=keepdims)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis`` (``ddof=1`` for the sample variance).

    Example:
        >>> import tapeflow as tp
        >>> tp.var([1.0, 2.0, 3.0, 4.0])
        tapeflow.Tensor(1.25, shape=(), dtype=float32)
    """
    axis = _axis(axis)
    centered = subtract(x, _red.mean(x, axis=axis, keepdims=True))
    n = _red._count(centered, axis)
    return _red.sum(square(centered), axis=axis, keepdims=keepdims) / builtins.max(n - ddof, 0)


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis``."""
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow."""
    return _red.logsumexp(x, axis=_axis(axis), keepdims=keepdims)


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norm over ``axis``: Euclidean by default, ``ord=1`` the sum of absolute values, ``ord=inf`` the
    largest absolute value (TensorFlow's ``tf.norm`` for vectors; a matrix is treated as one vector)."""
    axis = _axis(axis)
    if ord in (None, 2, "euclidean", "fro"):
        return sqrt(_red.sum(square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return _red.sum(abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, "inf"):
        return _red.max(abs(x), axis=axis, keepdims=keepdims)
    return power(_red.sum(power(abs(x), ord), axis=axis, keepdims=keepdims), 1.0 / ord)


def argmax(x, axis=None, keepdims=False):
    """Index of the largest element along ``axis`` (int64; no gradient)."""
    return _red.argmax(x, axis=axis, keepdims=keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest element along ``axis`` (int64; no gradient)."""
    return _red.argmin(x, axis=axis, keepdims=keepdims)


def cumsum(x, axis=0):
    """Cumulative sum along ``axis``."""
    return _red.cumsum(x, axis=axis)


def cumprod(x, axis=0):
    """Cumulative product along ``axis``."""
    return _red.cumprod(x, axis=axis)


def reduce_any(x, axis=None, keepdims=False):
    """Logical OR over ``axis``."""
    return _red.any(x, axis=_axis(axis), keepdims=keepdims)


def reduce_all(x, axis=None, keepdims=False):
    """Logical AND over ``axis``."""
    return _red.all(x, axis=_axis(axis), keepdims=keepdims)


def clip(x, min=None, max=None):  # noqa: A002 - NumPy's names
    """Limit values to ``[min, max]``; the gradient passes where ``x`` was not clipped.

    Example:
        >>> import tapeflow as tp
        >>> tp.clip([-2.0, 0.5, 3.0], 0.0, 1.0)
        tapeflow.Tensor([0.  0.5 1. ], shape=(3,), dtype=float32)
    """
    return clip_op(x, min=_unwrap(min), max=_unwrap(max))


def where(condition, x=None, y=None):
    """Pick ``x`` where ``condition`` holds, else ``y`` (broadcast); with only a condition, the indices where
    it holds (NumPy's ``nonzero``)."""
    if x is None and y is None:
        return tuple(Tensor(i) for i in B.xp.nonzero(_unwrap(condition)))
    return _where(condition, x, y)


def round(x, decimals=0):  # noqa: A001
    """Round half to even (zero gradient)."""
    return _round(x, decimals=decimals)


def zeros_like(x, dtype=None):
    """Zeros with the shape (and dtype) of ``x``."""
    return _zeros_like(x, dtype=dtype)


def ones_like(x, dtype=None):
    """Ones with the shape (and dtype) of ``x``."""
    return _ones_like(x, dtype=dtype)


def stop_gradient(x):
    """The value of ``x`` as a constant: no gradient flows through it.

    Example:
        >>> import tapeflow as tp
        >>> x = tp.Variable(3.0)
        >>> with tp.GradientTape() as tape:
        ...     y = x * tp.stop_gradient(x)
        >>> tape.gradient(y, x)
        tapeflow.Tensor(3.0, shape=(), dtype=float32)
    """
    return _ew.stop_gradient_op(x)


def shape(x):
    """The shape of ``x`` as a tuple of ints (Keras 3's ``ops.shape``; ``tf.shape`` gives a tensor, but
    indexing it, ``shape(x)[0]``, reads the same).

    Example:
        >>> import tapeflow as tp
        >>> tp.shape(tp.zeros((2, 3)))
        (2, 3)
    """
    return tuple(int(d) for d in B.xp.shape(_unwrap(x)))


def rank(x):
    """The number of dimensions of ``x`` (``tf.rank``), an int."""
    return len(B.xp.shape(_unwrap(x)))


def size(x):
    """The number of elements of ``x`` (``tf.size``), an int."""
    return int(B.xp.size(_unwrap(x)))


# --- Keras 3's ``keras.ops`` names -------------------------------------------------------------------------
absolute = abs
amax, amin = max, min


def ndim(x):
    """The number of dimensions of ``x`` (Keras's ``ops.ndim``)."""
    return rank(x)


def is_tensor(x):
    """True for a tapeflow Tensor (or Variable)."""
    return isinstance(x, Tensor)


def convert_to_numpy(x):
    """The value of ``x`` as a NumPy array (no gradient)."""
    return B.to_numpy(_unwrap(x))


def any(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Logical OR over ``axis`` (Keras's ``ops.any``)."""
    return reduce_any(x, axis=axis, keepdims=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Logical AND over ``axis`` (Keras's ``ops.all``)."""
    return reduce_all(x, axis=axis, keepdims=keepdims)


def rsqrt(x):
    """``1 / sqrt(x)``."""
    return divide(1.0, sqrt(x))


def log2(x):
    """Base-2 logarithm."""
    return log(x) / np.log(2.0)


def log10(x):
    """Base-10 logarithm."""
    return log(x) / np.log(10.0)


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return minimum(relu(x), 6.0)


def hard_sigmoid(x):
    """``clip(x / 6 + 0.5, 0, 1)`` (Keras 3's definition)."""
    return clip(x / 6.0 + 0.5, 0.0, 1.0)


def softsign(x):
    """``x / (1 + |x|)``."""
    return x / (abs(x) + 1.0)


def moments(x, axes, keepdims=False):
    """``(mean, variance)`` over ``axes`` (Keras's ``ops.moments``, ``tf.nn.moments``)."""
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    return mean(x, axis=axes, keepdims=keepdims), var(x, axis=axes, keepdims=keepdims)


def take_along_axis(x, indices, axis=None):
    """NumPy's ``take_along_axis``: pick along ``axis`` at ``indices`` of the same rank (differentiable)."""
    if axis is None:
        return take(x, indices)
    from tapeflow.ops.sorting import _take_along

    idx = _unwrap(indices)
    return _take_along(x, B.xp.asarray(idx), axis)


def _moveaxis(x, source, destination):
    """NumPy's ``moveaxis``: move axes to new positions (the others keep their order)."""
    n = len(shape(x))
    src = [s % n for s in ([source] if isinstance(source, int) else source)]
    dst = [d % n for d in ([destination] if isinstance(destination, int) else destination)]
    order = [a for a in builtins.range(n) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


moveaxis = _moveaxis

# Keras's ops also include the tensor-creation functions and control flow, which live in higher rooms of the
# package; they load on first use.
_LAZY = {
    "zeros": "tapeflow.creation", "ones": "tapeflow.creation", "full": "tapeflow.creation",
    "eye": "tapeflow.creation", "arange": "tapeflow.creation", "linspace": "tapeflow.creation",
    "one_hot": "tapeflow.creation", "convert_to_tensor": "tapeflow.creation",
    "cond": "tapeflow", "while_loop": "tapeflow", "fori_loop": "tapeflow",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module), name, None)
        if value is not None:
            return value
    raise AttributeError(f"module 'tapeflow.ops' has no attribute {name!r}")


def _unwrap(x):
    return x._value if isinstance(x, Tensor) else x


# --- Tensor operators
# ----------------------------------------------------------------------------------------
def _reflect(op):
    call = op.binary()

    def reflected(self, other):
        return call(other, self)

    reflected.__name__ = f"reflected_{op.name}"
    return reflected


_OPERATORS = {
    "__add__": add, "__sub__": subtract, "__mul__": multiply, "__truediv__": divide, "__pow__": power,
    "__matmul__": _matmul_op,
    "__floordiv__": floor_divide, "__mod__": mod, "__lt__": less, "__le__": less_equal, "__gt__": greater,
    "__ge__": greater_equal, "__eq__": equal, "__ne__": not_equal, "__and__": logical_and,
    "__or__": logical_or,
    "__xor__": logical_xor,
}
for _name, _op in _OPERATORS.items():
    setattr(Tensor, _name, _op.binary())  # a plain function, so `t + 1` calls it with no extra frame
for _name in ("add", "sub", "mul", "truediv", "pow", "matmul", "floordiv", "mod", "and", "or", "xor"):
    setattr(Tensor, f"__r{_name}__", _reflect(_OPERATORS[f"__{_name}__"]))
Tensor.__neg__ = negative


def _read_value(self):
    """The current value as a Tensor (read through the tape, so gradients flow to the variable)."""
    return identity(self)


Variable.value = Variable.read_value = _read_value
_tape._OPS = sys.modules[__name__]  # the backward pass adds and sums gradients with these ops
Tensor.__pos__ = identity
Tensor.__abs__ = abs
Tensor.__invert__ = logical_not
Tensor.__getitem__ = getitem
Variable.__getitem__ = _variable_getitem
Tensor.__round__ = lambda self, ndigits=None: round(self, ndigits or 0)
Tensor.T = property(lambda self: transpose(self))
for _name in ("reshape", "sum", "mean", "max", "min", "prod", "var", "std", "argmax", "argmin", "flatten",
              "squeeze", "transpose", "cumsum"):
    setattr(Tensor, _name, globals()[_name])
Tensor.astype = cast

# --- NumPy dispatch: np.exp(t), np.sum(t), np.matmul(t, w) run the tapeflow op and stay on the tape
# ----------
_UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.divide: divide, np.true_divide: divide,
    np.negative: negative, np.power: power, np.square: square, np.sqrt: sqrt, np.exp: exp, np.log: log,
    np.log1p: log1p, np.expm1: expm1, np.abs: abs, np.absolute: abs, np.sign: sign, np.maximum: maximum,
    np.minimum: minimum, np.sin: sin, np.cos: cos, np.tan: tan, np.tanh: tanh, np.floor: floor, np.ceil: ceil,
    np.matmul: matmul, np.equal: equal, np.not_equal: not_equal, np.less: less, np.less_equal: less_equal,
    np.greater: greater, np.greater_equal: greater_equal, np.logical_and: logical_and,
    np.logical_or: logical_or,
    np.logical_xor: logical_xor, np.logical_not: logical_not, np.floor_divide: floor_divide, np.mod: mod,
    np.isnan: isnan, np.isfinite: isfinite, np.positive: identity,
}
_FUNCTIONS = {
    np.sum: sum, np.mean: mean, np.max: max, np.amax: max, np.min: min, np.amin: min, np.prod: prod,
    np.var: var, np.std: std, np.argmax: argmax, np.argmin: argmin, np.reshape: reshape,
    np.transpose: transpose, np.expand_dims: expand_dims, np.squeeze: squeeze, np.concatenate: concatenate,
    np.stack: stack, np.tile: tile, np.repeat: repeat, np.broadcast_to: broadcast_to, np.flip: flip,
    np.dot: dot, np.tensordot: tensordot, np.einsum: einsum, np.outer: outer, np.where: where, np.clip: clip,
    np.take: take, np.cumsum: cumsum, np.cumprod: cumprod, np.round: round, np.zeros_like: zeros_like,
    np.ones_like: ones_like, np.swapaxes: swapaxes, np.split: split, np.sort: sort, np.roll: roll,
    np.meshgrid: meshgrid, np.tril: tril, np.triu: triu, np.linalg.inv: inv, np.linalg.det: det,
    np.linalg.cholesky: cholesky,
}
# NumPy functions whose tapeflow counterpart differs in its arguments or results: a tracked tensor passed to
# them gets an error naming the op to use instead
_COUNTERPARTS = {
    np.linalg.solve: "tp.linalg.solve(a, b) (b as a (..., n, k) matrix)",
    np.linalg.slogdet: "tp.linalg.slogdet",
    np.linalg.qr: "tp.linalg.qr",
    np.linalg.svd: "tp.linalg.svd (it returns s, u, v with a == u @ diag(s) @ v^T)",
    np.linalg.norm: "tp.norm (vector norms)",
    np.trace: "tp.linalg.trace (over the last two axes)",
    np.argsort: "tp.argsort",
    np.unique: "tp.unique",
    np.take_along_axis: "tp.ops.take_along_axis",
    np.diagonal: "tp.linalg.trace or x * tp.eye(n)",
    np.cross: "tp.einsum",
    np.diff: "x[1:] - x[:-1]",
    np.linspace: "tp.linspace",
    np.nan_to_num: "tp.where(tp.isfinite(x), x, 0.0)",
}


def _is_tracked(args):
    stack = list(args)
    while stack:
        a = stack.pop()
        if isinstance(a, Tensor) and a._node is not None:
            return True
        if isinstance(a, (list, tuple)):
            stack.extend(a)
    return False


def _plain(a):
    if isinstance(a, Tensor):
        return a._value
    if isinstance(a, (list, tuple)):
        return type(a)(_plain(x) for x in a)
    return a


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    op = _UFUNCS.get(ufunc)
    if op is not None and method == "__call__" and not kwargs:
        return op(*inputs)
    if kwargs.get("out") is not None:
        raise TypeError(f"np.{ufunc.__name__}(..., out=...): tapeflow Tensors are immutable")
    return _fallback(f"np.{ufunc.__name__}", getattr(ufunc, method), inputs, kwargs)


def _array_function(self, func, types, args, kwargs):
    fn = _FUNCTIONS.get(func)
    if fn is not None:
        return fn(*args, **kwargs)
    module = "linalg." if getattr(func, "__module__", "").endswith("linalg") else ""
    return _fallback(f"np.{module}{func.__name__}", func, args, kwargs)


def _fallback(name, func, args, kwargs):
    out = func(*_plain(list(args)), **{k: _plain(v) for k, v in kwargs.items()})
    if isinstance(out, tuple) and out and builtins.all(isinstance(o, B.ndarray) for o in out):
        if _is_tracked(args) or _is_tracked(list(kwargs.values())):  # np.linalg.svd, np.linalg.qr, ...
            _cut(name, func)
        return tuple(Tensor(o) for o in out)
    if not isinstance(out, B.ndarray) or out.dtype == object:
        return out  # shapes, sizes, Python values
    if _is_tracked(args) or _is_tracked(list(kwargs.values())):
        _cut(name, func)
    return Tensor(out)


def _cut(name, func):
    counterpart = _COUNTERPARTS.get(func)
    use = f"Use {counterpart}" if counterpart else "Use a tapeflow op"
    raise TypeError(
        f"{name} has no tapeflow op, so it would cut the gradient path. {use}, or call it on x.numpy() if no "
        f"gradient is wanted."
    )


Tensor.__array_ufunc__ = _array_ufunc
Tensor.__array_function__ = _array_function

del _name, _op
