"""Max and average pooling over 1-D, 2-D and 3-D windows, built on the convolution module's window ops.

Max pooling is one op whose gradient routes each window's gradient to the position of its maximum (the first
one when several tie, as TensorFlow does) by folding a one-hot mask back with ``fold_patches``. Average
pooling is the sum of ``extract_patches`` windows divided by how many real (unpadded) elements each window
saw, so its gradient spreads evenly and comes from the window ops' own rules."""

from __future__ import annotations

import itertools
import math

from tapeflow import _backend as B
from tapeflow._tape import _state
from tapeflow._tensor import wrap
from tapeflow.ops._registry import defop
from tapeflow.ops.conv import (
    _extract,
    _geometry,
    _offsets,
    _padded,
    _shape,
    extract_patches_op,
    fold_patches_op,
    from_channels_last,
    normalize_data_format,
    normalize_padding,
    to_channels_last,
)

xp = B.xp


def _fill(dtype):
    return -xp.inf if dtype.kind == "f" else xp.iinfo(dtype).min


def _max_pool(x, kernel_size, strides, pads):
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
    from tapeflow.ops.elementwise import divide
    from tapeflow.ops.reduction import sum as _sum

    x, kernel_size, strides, pads, data_format = _pool_args(x, pool_size, strides, padding, data_format,
                                                            "avg_pool")
    dilation = (1,) * len(kernel_size)
    windows = extract_patches_op(x, kernel_size=kernel_size, strides=strides, dilation=dilation, pads=pads)
    total = _sum(windows, axis=-2)
    if any(lo or hi for lo, hi in pads):
        xs = _shape(x)
        ones = xp.ones((1, *xs[1:-1], 1), dtype=total.dtype)
        count = _extract(ones, kernel_size, strides, dilation, pads).sum(axis=-2)
    else:
        count = float(windows.shape[-2])
    return from_channels_last(divide(total, count), data_format)
