"""Max and average pooling over 1-D, 2-D and 3-D windows, built on the convolution module's window ops.

Max pooling is one op whose gradient routes each window's gradient to the position of its maximum (the first
one when several tie, as TensorFlow does) by folding a one-hot mask back with ``fold_patches``. Average
pooling is the sum of ``extract_patches`` windows divided by how many real (unpadded) elements each window
saw, so its gradient spreads evenly and comes from the window ops' own rules."""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.ops._registry import defop
from tapeflow.ops.conv import (
    _extract,
    _geometry,
    _shape,
    _windows,
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
    nd = len(kernel_size)
    windows = _windows(x, kernel_size, strides, (1,) * nd, pads, _fill(x.dtype))
    return windows.max(axis=tuple(range(nd + 1, 2 * nd + 1)))


def _max_pool_grad(g, out, x, kernel_size, strides, pads):
    from tapeflow.ops.elementwise import multiply
    from tapeflow.ops.shape import expand_dims

    nd = len(kernel_size)
    xv, ov = x._value, out._value
    windows = _windows(xv, kernel_size, strides, (1,) * nd, pads, _fill(xv.dtype))
    # where each window's maximum sits, laid out (batch, *out, window, channels); only the first of tied
    # maxima keeps the gradient (as TensorFlow routes it)
    hit = windows == ov.reshape(ov.shape[:nd + 1] + (1,) * nd + ov.shape[-1:])
    hit = hit.reshape(*ov.shape[:-1], -1, ov.shape[-1])
    taken = hit[..., 0, :].copy()
    for k in range(1, hit.shape[-2]):
        row = hit[..., k, :]
        row &= ~taken
        taken |= row
    routed = multiply(expand_dims(g, -2), hit.astype(g.dtype))
    return fold_patches_op(routed, spatial=tuple(x.shape[1:-1]), kernel_size=kernel_size, strides=strides,
                           dilation=(1,) * nd, pads=pads)


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
