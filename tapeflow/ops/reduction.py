"""Reductions over axes (``axis`` may be None, an int or a tuple; ``keepdims`` keeps reduced axes as size
1)."""

from __future__ import annotations

import builtins

from tapeflow import _backend as B
from tapeflow.ops._registry import defop, nondiff

xp = B.xp


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim if ndim else 0 for a in axis))


def _restore(t, x, axis, keepdims):
    """Give a reduced gradient (or output) back its reduced axes, as size-1 dims, so it broadcasts over x."""
    from tapeflow.ops.manipulation import reshape

    if keepdims or x.ndim == 0:
        return t
    shape = list(x.shape)
    for a in _axes(axis, x.ndim):
        shape[a] = 1
    return reshape(t, tuple(shape))


def _spread(g, x, axis, keepdims):
    """Broadcast a reduced gradient back over x's shape."""
    from tapeflow.ops.manipulation import broadcast_to

    return broadcast_to(_restore(g, x, axis, keepdims), x.shape)


def _count(x, axis):
    n = 1
    for a in _axes(axis, x.ndim):
        n *= x.shape[a]
    return n


sum = defop(  # noqa: A001 - NumPy's name
    "sum",
    lambda x, axis=None, keepdims=False: xp.sum(x, axis=axis, keepdims=keepdims),
    lambda g, out, x, axis=None, keepdims=False: _spread(g, x, axis, keepdims),
    save_inputs=False,
)
mean = defop(
    "mean",
    lambda x, axis=None, keepdims=False: xp.mean(x, axis=axis, keepdims=keepdims),
    lambda g, out, x, axis=None, keepdims=False: _spread(g, x, axis, keepdims) / _count(x, axis),
    save_inputs=False,
)


def _extremum_grad(g, out, x, axis=None, keepdims=False):
    from tapeflow.ops.elementwise import cast, equal

    hit = cast(equal(x, _restore(out, x, axis, keepdims)), g.dtype)
    ties = sum(hit, axis=axis, keepdims=True)
    return _restore(g, x, axis, keepdims) * hit / ties


max = defop(  # noqa: A001
    "max",
    lambda x, axis=None, keepdims=False: xp.max(x, axis=axis, keepdims=keepdims),
    _extremum_grad,
    save_output=True,
)
min = defop(  # noqa: A001
    "min",
    lambda x, axis=None, keepdims=False: xp.min(x, axis=axis, keepdims=keepdims),
    _extremum_grad,
    save_output=True,
)


def _prod_grad(g, out, x, axis=None, keepdims=False):
    """Product of all other elements, exact with zeros: exclusive cumulative products from both sides."""
    from tapeflow.ops.manipulation import flip, moveaxis_many, reshape

    axes = _axes(axis, x.ndim)
    moved = moveaxis_many(x, axes)
    flat = reshape(moved, moved.shape[: x.ndim - len(axes)] + (_count(x, axes),))
    right = flip(_exclusive_cumprod(flip(flat, axis=-1)), axis=-1)
    others = reshape(_exclusive_cumprod(flat) * right, moved.shape)
    others = moveaxis_many(others, axes, inverse=True)
    return _restore(g, x, axis, keepdims) * others


prod = defop(
    "prod",
    lambda x, axis=None, keepdims=False: xp.prod(x, axis=axis, keepdims=keepdims),
    _prod_grad,
)


def _shift(x, k, fill):
    """Along the last axis: ``out[..., i] = x[..., i + k]`` (k > 0) or ``x[..., i + k]`` (k < 0), ``fill``
    where that falls outside."""
    from tapeflow.ops.elementwise import zeros_like
    from tapeflow.ops.indexing import getitem
    from tapeflow.ops.manipulation import concatenate

    n = x.shape[-1]
    k = builtins.max(-n, builtins.min(n, k))
    pad = getitem(zeros_like(x), (Ellipsis, slice(0, abs(k))))
    if fill:
        pad = pad + fill
    if k >= 0:
        return concatenate([getitem(x, (Ellipsis, slice(k, None))), pad], axis=-1)
    return concatenate([pad, getitem(x, (Ellipsis, slice(0, n + k)))], axis=-1)


def _exclusive_cumprod(x):
    """``[1, x0, x0 x1, ...]`` along the last axis."""
    return _shift(cumprod(x, axis=-1), -1, 1)


def _cumsum_grad(g, out, x, axis):
    from tapeflow.ops.manipulation import flip

    return flip(cumsum(flip(g, axis=axis), axis=axis), axis=axis)


cumsum = defop("cumsum", lambda x, axis: xp.cumsum(x, axis=axis), _cumsum_grad, save_inputs=False)


def _cumprod_grad(g, out, x, axis):
    """Exact even where x has zeros (no division): ``dx_i = L_i R_i`` with ``L_i = x_0 ... x_{i-1}`` and
    ``R_i = g_i + x_{i+1} R_{i+1}``, a linear recurrence solved by doubling in log2(n) steps of tapeflow ops,
    so the gradient is itself differentiable."""
    from tapeflow.ops.manipulation import moveaxis_many

    ax = (axis % x.ndim,)
    x, g = moveaxis_many(x, ax), moveaxis_many(g, ax)
    r, a = g, _shift(x, 1, 0)
    step = 1
    while step < x.shape[-1]:
        r = r + a * _shift(r, step, 0)
        a = a * _shift(a, step, 0)
        step *= 2
    return moveaxis_many(_exclusive_cumprod(x) * r, ax, inverse=True)


cumprod = defop("cumprod", lambda x, axis: xp.cumprod(x, axis=axis), _cumprod_grad)


def _logsumexp(x, axis=None, keepdims=False):
    m = xp.max(x, axis=axis, keepdims=True, initial=-xp.inf)  # -inf for an empty axis, whose result is -inf
    m = xp.where(xp.isfinite(m), m, 0)
    with xp.errstate(divide="ignore"):  # log(0) = -inf is the right answer
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis if axis is not None else tuple(range(x.ndim)))


def _logsumexp_grad(g, out, x, axis=None, keepdims=False):
    from tapeflow.ops.elementwise import exp

    return _restore(g, x, axis, keepdims) * exp(x - _restore(out, x, axis, keepdims))


logsumexp = defop("logsumexp", _logsumexp, _logsumexp_grad, save_output=True)

argmax = nondiff("argmax", lambda x, axis=None, keepdims=False: xp.argmax(x, axis=axis, keepdims=keepdims))
argmin = nondiff("argmin", lambda x, axis=None, keepdims=False: xp.argmin(x, axis=axis, keepdims=keepdims))
any = nondiff("any", lambda x, axis=None, keepdims=False: xp.any(x, axis=axis, keepdims=keepdims))  # noqa: A001
all = nondiff("all", lambda x, axis=None, keepdims=False: xp.all(x, axis=axis, keepdims=keepdims))  # noqa: A001
