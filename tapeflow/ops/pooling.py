"""Max and average pooling over 1-D, 2-D and 3-D windows, built on the convolution module's window ops.

Max pooling is one op whose gradient routes each window's gradient to the position of its maximum (the first
one when several tie, as TensorFlow does) by folding a one-hot mask back with ``fold_patches``. Average
pooling is one op too: the sum of each window divided by how many real (unpadded) elements it saw, so its
gradient spreads each window's gradient evenly back over those elements.

For 1-D and 2-D float inputs, both ops and their first-order gradients are single-pass C kernels
(``tapeflow._ckernels``, the batch split across threads with the GIL released); the NumPy code is the
fallback (no compiler, integer dtypes, 3-D) and the reference the tests hold them to. Under an outer tape
(higher derivatives) the gradients are written in tapeflow ops."""

from __future__ import annotations

import itertools
import math

from tapeflow import _backend as B
from tapeflow._tape import _state
from tapeflow._tensor import wrap
from tapeflow.ops import _native, _reuse
from tapeflow.ops._registry import defop
from tapeflow.ops.conv import (
    _as_2d,
    _extract,
    _geometry,
    _offsets,
    _out_lengths,
    _padded,
    _shape,
    fold_patches_op,
    from_channels_last,
    normalize_data_format,
    normalize_padding,
    to_channels_last,
)

xp = B.xp


def _fill(dtype):
    return -xp.inf if dtype.kind == "f" else xp.iinfo(dtype).min


def _c_pool(x, kernel_size):
    """The C kernels when they take this pooling (float, 1-D or 2-D), else None."""
    return _native.usable(x) if len(kernel_size) <= 2 else None


def _pooled(kernel, x, kernel_size, strides, pads):
    """``kernel`` (the C max_pool or avg_pool) over ``x``: a new ``(batch, *out, channels)`` array."""
    ones = (1,) * len(kernel_size)
    out = _out_lengths(x.shape, kernel_size, strides, ones, pads)
    y = _reuse.empty(kernel.__name__, (x.shape[0], *out, x.shape[-1]), x.dtype)
    kernel(*_as_2d(xp.ascontiguousarray(x), y, kernel_size, strides, ones, pads))
    return y


def _max_pool(x, kernel_size, strides, pads):
    k = _c_pool(x, kernel_size)
    if k is not None:
        return _pooled(k.max_pool, x, kernel_size, strides, pads)
    xpad, out = _padded(x, kernel_size, strides, (1,) * len(kernel_size), pads, _fill(x.dtype))
    # one element-wise maximum per window offset: several times faster than a reduction over window axes
    slices = [xpad[src] for src in _offsets(kernel_size, strides, (1,) * len(kernel_size), out)]
    if len(slices) == 1:
        return slices[0].copy()
    res = xp.maximum(slices[0], slices[1])
    for other in slices[2:]:
        xp.maximum(res, other, out=res)
    return res


def _max_pool_grad(g, out, x, kernel_size, strides, pads):
    from tapeflow.ops.elementwise import multiply
    from tapeflow.ops.manipulation import expand_dims

    nd = len(kernel_size)
    ov = out._value
    if not _state.recording:
        k = _c_pool(ov, kernel_size)
        if k is not None:
            xv = xp.ascontiguousarray(x._value)
            dx = _reuse.empty("max_pool_grad", xv.shape, ov.dtype)
            image, y, *geometry = _as_2d(xv, ov, kernel_size, strides, (1,) * nd, pads)
            k.max_pool_grad(image, y, xp.ascontiguousarray(g._value, dtype=ov.dtype), dx, *geometry)
            return wrap(dx)
    xpad, lengths = _padded(x._value, kernel_size, strides, (1,) * nd, pads, _fill(ov.dtype))
    if not _state.recording:  # ordinary training: NumPy straight into the gradient's buffer
        return wrap(_route(g._value, ov, xpad, x.shape, kernel_size, strides, pads, lengths))
    if tuple(strides) == tuple(kernel_size):
        return _tiled_grad(g, ov, xpad, x.shape, kernel_size, pads)
    # where each window's maximum sits, laid out (batch, *out, window, channels); only the first of tied
    # maxima keeps the gradient (as TensorFlow routes it)
    hit = xp.empty((*ov.shape[:-1], math.prod(kernel_size), ov.shape[-1]), dtype=g.dtype)
    taken = xp.zeros(ov.shape, dtype=bool)
    for k, src in enumerate(_offsets(kernel_size, strides, (1,) * nd, lengths)):
        first = (xpad[src] == ov) & ~taken
        taken |= first
        hit[..., k, :] = first
    routed = multiply(expand_dims(g, -2), hit)
    return fold_patches_op(routed, spatial=tuple(x.shape[1:-1]), kernel_size=kernel_size, strides=strides,
                           dilation=(1,) * nd, pads=pads)


def _route(gv, ov, xpad, x_shape, kernel_size, strides, pads, lengths):
    """The max-pool gradient as arrays: each window's gradient to its first maximum, one offset at a time."""
    tiled = tuple(strides) == tuple(kernel_size)  # windows do not overlap: write instead of accumulate
    covered = tiled and all(o * k == size for o, k, size in zip(lengths, kernel_size, xpad.shape[1:-1]))
    dpad = (xp.empty if covered else xp.zeros)(xpad.shape, dtype=gv.dtype)  # every element gets written
    taken = None
    for src in _offsets(kernel_size, strides, (1,) * len(kernel_size), lengths):
        hit = xpad[src] == ov
        if taken is None:
            taken = hit
        else:
            hit &= ~taken
            taken |= hit
        if tiled:
            xp.multiply(gv, hit, out=dpad[src])
        else:
            dpad[src] += gv * hit
    crop = (slice(None), *(slice(lo, lo + L) for L, (lo, _) in zip(x_shape[1:-1], pads)))
    return xp.ascontiguousarray(dpad[crop])


def _tiled_grad(g, ov, xpad, x_shape, kernel_size, pads):
    """The max-pool gradient when the windows tile the input (stride == pool size), in the input's layout."""
    from tapeflow.ops.elementwise import multiply
    from tapeflow.ops.manipulation import pad, reshape

    n, c = ov.shape[0], ov.shape[-1]
    out = ov.shape[1:-1]
    split = (n, *itertools.chain(*((o, k) for o, k in zip(out, kernel_size))), c)
    tiles = xpad[(slice(None), *(slice(0, o * k) for o, k in zip(out, kernel_size)))].reshape(split)
    hit = tiles == ov.reshape((n, *itertools.chain(*((o, 1) for o in out)), c))
    taken = None  # keep only the first of tied maxima (window order is row-major, as TensorFlow routes)
    for offs in itertools.product(*(range(k) for k in kernel_size)):
        cell = hit[(slice(None), *itertools.chain(*((slice(None), j) for j in offs)))]
        if taken is None:
            taken = cell.copy()
        else:
            cell &= ~taken
            taken |= cell
    g_split = (n, *itertools.chain(*((o, 1) for o in out)), c)
    spans = [o * k for o, k in zip(out, kernel_size)]
    routed = multiply(reshape(g, g_split), hit)
    routed = reshape(routed, (n, *spans, c))
    # back from the padded input's coordinates to x's: zeros where no window reached, then drop the padding
    extra = [max(0, lo + L - span) for L, span, (lo, _) in zip(x_shape[1:-1], spans, pads)]
    if any(extra):
        routed = pad(routed, [(0, 0), *((0, e) for e in extra), (0, 0)])
    if any(lo or span + e != L for L, span, e, (lo, _) in zip(x_shape[1:-1], spans, extra, pads)):
        routed = routed[(slice(None), *(slice(lo, lo + L) for L, (lo, _) in zip(x_shape[1:-1], pads)))]
    return routed


max_pool_op = defop("max_pool", _max_pool, _max_pool_grad, save_output=True)


def _pool_args(x, pool_size, strides, padding, data_format, op):
    data_format = normalize_data_format(data_format, op)
    x = to_channels_last(x, data_format)
    strides = pool_size if strides is None else strides
    padding = normalize_padding(padding, op)
    kernel_size, strides, _, pads = _geometry(_shape(x), pool_size, strides, padding, 1, op)
    return x, kernel_size, strides, pads, data_format


def max_pool(x, pool_size=2, strides=None, padding="valid", data_format="channels_last"):
    """Largest value of each window (1-D, 2-D or 3-D, from the input's rank).

    Args:
        x: ``(batch, *spatial, channels)`` (or channels first, per ``data_format``).
        pool_size: int or tuple, the window.
        strides: int or tuple; None means ``pool_size`` (non-overlapping windows).
        padding: "valid" or "same" (padded positions never win).

    Returns:
        ``(batch, *out_spatial, channels)`` with Keras's output lengths.

    Example:
        >>> import tapeflow as tp
        >>> tp.ops.pooling.max_pool(tp.constant([[[1.0], [3.0], [2.0], [0.0]]]), 2)[0, :, 0]
        tapeflow.Tensor([3. 2.], shape=(2,), dtype=float32)
    """
    x, kernel_size, strides, pads, data_format = _pool_args(x, pool_size, strides, padding, data_format,
                                                            "max_pool")
    y = max_pool_op(x, kernel_size=kernel_size, strides=strides, pads=pads)
    return from_channels_last(y, data_format)


def avg_pool(x, pool_size=2, strides=None, padding="valid", data_format="channels_last"):
    """Mean of each window; with "same" padding, padded positions are left out of the mean (as Keras does).

    Example:
        >>> import tapeflow as tp
        >>> tp.ops.pooling.avg_pool(tp.constant([[[1.0], [3.0], [2.0]]]), 2, padding="same")[0, :, 0]
        tapeflow.Tensor([2. 2.], shape=(2,), dtype=float32)
    """
    x, kernel_size, strides, pads, data_format = _pool_args(x, pool_size, strides, padding, data_format,
                                                            "avg_pool")
    y = avg_pool_op(x, kernel_size=kernel_size, strides=strides, pads=pads)
    return from_channels_last(y, data_format)


def _window_counts(x_shape, kernel_size, strides, pads, dtype):
    """How many real (unpadded) elements each window sees: ``(1, *out, 1)``, or a float without padding."""
    if not any(lo or hi for lo, hi in pads):
        return float(math.prod(kernel_size))
    ones = xp.ones((1, *x_shape[1:-1], 1), dtype=dtype)
    return _extract(ones, kernel_size, strides, (1,) * len(kernel_size), pads).sum(axis=-2)


def _avg_pool(x, kernel_size, strides, pads):
    k = _c_pool(x, kernel_size)
    if k is not None:
        return _pooled(k.avg_pool, x, kernel_size, strides, pads)
    windows = _extract(x, kernel_size, strides, (1,) * len(kernel_size), pads)
    total = windows.sum(axis=-2)
    return total / _window_counts(x.shape, kernel_size, strides, pads, total.dtype)


def _avg_pool_grad(g, out, x, kernel_size, strides, pads):
    nd = len(kernel_size)
    if not _state.recording:
        k = _c_pool(g._value, kernel_size)
        if k is not None:
            dx = xp.empty(x.shape, dtype=g.dtype)
            grad, image, *geometry = _as_2d(dx, xp.ascontiguousarray(g._value), kernel_size, strides,
                                            (1,) * nd, pads)
            k.avg_pool_grad(image, grad, *geometry)
            return wrap(dx)
    from tapeflow.ops.elementwise import divide, multiply
    from tapeflow.ops.manipulation import expand_dims

    # the mean's gradient: each window's g / count, copied to every offset of the window and folded back
    count = _window_counts(x.shape, kernel_size, strides, pads, g.dtype)
    share = divide(g, count if isinstance(count, float) else wrap(count))
    spread = xp.ones((*g.shape[:-1], math.prod(kernel_size), g.shape[-1]), dtype=g.dtype)
    windows = multiply(expand_dims(share, -2), wrap(spread))
    return fold_patches_op(windows, spatial=tuple(x.shape[1:-1]), kernel_size=kernel_size, strides=strides,
                           dilation=(1,) * nd, pads=pads)


avg_pool_op = defop("avg_pool", _avg_pool, _avg_pool_grad, save_inputs=False)
