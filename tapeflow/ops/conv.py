"""Convolution as a matrix product over strided windows: N-d convolution, transposed convolution, up-sampling.

Two linear ops carry all the geometry. :func:`extract_patches` gathers every (strided, dilated, padded)
window of a channels-last input into one contiguous array ``(batch, *out_spatial, window, channels)`` — a
single copy made from a zero-copy ``as_strided`` view — and :func:`fold_patches` is its exact adjoint (it
adds every window back where it came from). Each is the other's gradient. A convolution is then
``extract_patches`` followed by one BLAS matrix product with the kernel; its input gradient is
``fold_patches`` of ``g @ kernel.T``, which is a transposed convolution, and :func:`conv_transpose` is that
same computation run forwards. So one implementation serves both directions, and every gradient is written
in tapeflow ops (so it is differentiable again).

For 1-D and 2-D float inputs both window ops run as single-pass C kernels (``tapeflow._ckernels``: im2col and
col2im, the batch split across threads with the GIL released, padding read virtually instead of copied); the
NumPy code below is the fallback (no compiler, other dtypes, 3-D) and the reference the tests hold them to.

Layouts follow Keras: inputs are ``(batch, *spatial, channels)`` (``data_format="channels_last"``, the
default) or ``(batch, channels, *spatial)``; a convolution kernel is ``(*kernel_size, in_channels // groups,
filters)``; a transposed-convolution kernel is ``(*kernel_size, filters, in_channels)``."""

from __future__ import annotations

import itertools
import math

from tapeflow import _backend as B
from tapeflow.errors import ShapeError
from tapeflow.ops import _native, _reuse
from tapeflow.ops._registry import defop

xp = B.xp

_PADDINGS = ("valid", "same", "causal")
_FORMATS = ("channels_last", "channels_first")


# --- argument normalisation ---------------------------------------------------------------------------------
def normalize_tuple(value, n, name, op="conv", minimum=1):
    """``value`` as a tuple of ``n`` ints (an int repeats), each at least ``minimum``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    try:
        value = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError(f"{op}: `{name}` must be an int or a tuple of {n} ints. "
                         f"Received: {name}={value!r}") from None
    # the upper bound: no window geometry beyond 2**31 fits an array, and the C kernels take C integers
    if len(value) != n or any(not minimum <= v < 2**31 for v in value):
        raise ValueError(f"{op}: `{name}` must be an int or a tuple of {n} ints in [{minimum}, 2**31). "
                         f"Received: {name}={value!r}")
    return value


def normalize_padding(padding, op="conv", allow_causal=False):
    """``padding`` lower-cased and checked against "valid", "same" (and "causal" for 1-D convolution)."""
    p = str(padding).lower()
    choices = _PADDINGS if allow_causal else _PADDINGS[:2]
    if p not in choices:
        raise ValueError(f"{op}: `padding` must be one of {choices}. Received: padding={padding!r}")
    return p


def normalize_data_format(data_format, op="conv"):
    """``data_format`` checked against "channels_last" / "channels_first" (None means channels_last)."""
    f = "channels_last" if data_format is None else str(data_format).lower()
    if f not in _FORMATS:
        raise ValueError(f"{op}: `data_format` must be one of {_FORMATS}. "
                         f"Received: data_format={data_format!r}")
    return f


def conv_output_length(length, kernel, stride, dilation, padding):
    """Keras's output length of a convolution or pooling window along one axis (None stays None)."""
    if length is None:
        return None
    span = dilation * (kernel - 1) + 1
    if padding == "valid":
        return max((length - span) // stride + 1, 0)
    return (length + stride - 1) // stride  # same, causal


def conv_pads(length, kernel, stride, dilation, padding):
    """``(before, after)`` zero padding that gives :func:`conv_output_length` (TensorFlow's "same" rule)."""
    span = dilation * (kernel - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((math.ceil(length / stride) - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def deconv_output_length(length, kernel, stride, dilation, padding, output_padding=None):
    """Keras's output length of a transposed convolution along one axis."""
    if length is None:
        return None
    span = dilation * (kernel - 1) + 1
    if output_padding is None:
        return length * stride + max(span - stride, 0) if padding == "valid" else length * stride
    pad = 0 if padding == "valid" else span // 2
    return (length - 1) * stride + span - 2 * pad + output_padding


# --- the two geometry ops -----------------------------------------------------------------------------------
def _out_len(length, k, s, d, lo, hi):
    return (length + lo + hi - d * (k - 1) - 1) // s + 1


def _extract(x, kernel_size, strides, dilation, pads, pad_value=0.0):
    n, c = x.shape[0], x.shape[-1]
    nd = len(kernel_size)
    window = math.prod(kernel_size)
    # few channels (a first layer on images): NumPy's one strided copy per window offset was measured faster
    k = _native.usable(x) if nd <= 2 and c >= 4 and all(lo >= 0 for lo, _ in pads) else None
    if k is not None:
        out = _out_lengths(x.shape, kernel_size, strides, dilation, pads)
        res = _reuse.empty("im2col", (n, *out, window, c), x.dtype)
        args = _as_2d(xp.ascontiguousarray(x), res, kernel_size, strides, dilation, pads)
        k.im2col(*args, float(pad_value))
        return res
    if c >= 16:
        # the one copy: a strided view of every window laid out for a matrix product
        v = _windows(x, kernel_size, strides, dilation, pads, pad_value)
        return v.reshape(n, *v.shape[1:nd + 1], window, c)
    # few channels (a first layer on images): one contiguous copy per window offset is several times faster
    xpad, out = _padded(x, kernel_size, strides, dilation, pads, pad_value)
    res = _reuse.empty("im2col", (n, *out, window, c), x.dtype, like=x)
    for k, src in enumerate(_offsets(kernel_size, strides, dilation, out)):
        res[..., k, :] = xpad[src]
    return res


def _out_lengths(x_shape, kernel_size, strides, dilation, pads):
    """The output lengths of a window op; raises when the window does not fit the padded input."""
    out = [_out_len(L, k, s, d, lo, hi)
           for L, k, s, d, (lo, hi) in zip(x_shape[1:-1], kernel_size, strides, dilation, pads)]
    if any(o <= 0 for o in out):
        raise ShapeError(f"extract_patches: window {tuple(kernel_size)} (dilation {tuple(dilation)}) does "
                         f"not fit the padded input; got x.shape={tuple(x_shape)}, pads={tuple(pads)}")
    return out


def _as_2d(image, positions, kernel_size, strides, dilation, pads):
    """The arguments of a C window kernel: the arrays (1-D ones as height-1 images), then the 2-D geometry
    (window, strides, dilation, pads before) and a thread count."""
    if len(kernel_size) == 1:
        image = image.reshape(image.shape[0], 1, *image.shape[1:])
        positions = positions.reshape(positions.shape[0], 1, *positions.shape[1:])
        kernel_size, strides, dilation = (1, *kernel_size), (1, *strides), (1, *dilation)
        pads = ((0, 0), *pads)
    big = max(image.size, positions.size)
    return (image, positions, *kernel_size, *strides, *dilation, pads[0][0], pads[1][0],
            _native.threads(big, image.shape[0]))


def _padded(x, kernel_size, strides, dilation, pads, pad_value=0.0):
    """``x`` with its padding applied, and the output lengths; raises when the window does not fit."""
    n, *spatial, c = x.shape
    out = _out_lengths(x.shape, kernel_size, strides, dilation, pads)
    if any(lo or hi for lo, hi in pads):
        full = [L + lo + max(hi, 0) for L, (lo, hi) in zip(spatial, pads)]
        buf = xp.full((n, *full, c), pad_value, dtype=x.dtype)
        buf[(slice(None), *(slice(lo, lo + L) for L, (lo, _) in zip(spatial, pads)))] = x
        x = buf
    return x, out


def _offsets(kernel_size, strides, dilation, out):
    """For each window offset (row-major), the index of that element of every window in the padded input."""
    for offs in itertools.product(*(range(k) for k in kernel_size)):
        yield (slice(None), *(slice(j * d, j * d + (o - 1) * s + 1, s)
                              for j, d, o, s in zip(offs, dilation, out, strides)))


def _windows(x, kernel_size, strides, dilation, pads, pad_value=0.0):
    """A read-only view ``(batch, *out_spatial, *kernel_size, channels)`` of every window (copies to pad)."""
    x, out = _padded(x, kernel_size, strides, dilation, pads, pad_value)
    n, c, nd = x.shape[0], x.shape[-1], len(kernel_size)
    st = x.strides
    if all(s == k for s, k in zip(strides, kernel_size)) and all(d == 1 for d in dilation):
        # non-overlapping windows (the usual pooling): a reshape of the input, not a strided gather
        x = x[(slice(None), *(slice(0, o * k) for o, k in zip(out, kernel_size)))]
        v = x.reshape(n, *itertools.chain(*((o, k) for o, k in zip(out, kernel_size))), c)
        v = v.transpose(0, *range(1, 2 * nd, 2), *range(2, 2 * nd + 1, 2), 2 * nd + 1)
    else:
        shape = (n, *out, *kernel_size, c)
        strides_ = (st[0], *(st[1 + i] * strides[i] for i in range(nd)),
                    *(st[1 + i] * dilation[i] for i in range(nd)), st[-1])
        v = B.strided_view(x, shape, strides_)
    return v


def _fold(p, spatial, kernel_size, strides, dilation, pads):
    n, *out, _, c = p.shape
    nd = len(kernel_size)
    out = out[:nd]
    k = _native.usable(p) if nd <= 2 and all(lo >= 0 for lo, _ in pads) else None
    if k is not None:
        res = _reuse.empty("col2im", (n, *spatial, c), p.dtype)
        image, cols, *geometry = _as_2d(res, xp.ascontiguousarray(p), kernel_size, strides, dilation, pads)
        k.col2im(cols, image, *geometry)
        return res
    p = p.reshape(n, *out, *kernel_size, c)
    full = [max((o - 1) * s + d * (k - 1) + 1, lo + L)
            for o, k, s, d, L, (lo, _) in zip(out, kernel_size, strides, dilation, spatial, pads)]
    if all(s == k for s, k in zip(strides, kernel_size)) and all(d == 1 for d in dilation):
        # non-overlapping windows: one transpose-copy instead of a scatter-add per window offset
        v = p.transpose(0, *itertools.chain(*((1 + i, 1 + nd + i) for i in range(nd))), 2 * nd + 1)
        v = v.reshape(n, *(o * k for o, k in zip(out, kernel_size)), c)
        if all(lo == 0 and o * k == L for o, k, L, (lo, _) in zip(out, kernel_size, spatial, pads)):
            return v  # the windows tile the input exactly
        buf = xp.zeros((n, *full, c), dtype=p.dtype)
        buf[(slice(None), *(slice(0, o * k) for o, k in zip(out, kernel_size)))] = v
    else:
        buf = xp.zeros((n, *full, c), dtype=p.dtype)
        for offs, dst in zip(itertools.product(*(range(k) for k in kernel_size)),
                             _offsets(kernel_size, strides, dilation, out)):
            buf[dst] += p[(slice(None),) * (nd + 1) + offs]
    crop = (slice(None), *(slice(lo, lo + L) for L, (lo, _) in zip(spatial, pads)))
    return xp.ascontiguousarray(buf[crop])


def _extract_grad(g, out, x, kernel_size, strides, dilation, pads, pad_value=0.0):
    return fold_patches_op(g, spatial=tuple(x.shape[1:-1]), kernel_size=kernel_size, strides=strides,
                           dilation=dilation, pads=pads)


def _fold_grad(g, out, p, spatial, kernel_size, strides, dilation, pads):
    return extract_patches_op(g, kernel_size=kernel_size, strides=strides, dilation=dilation, pads=pads)


extract_patches_op = defop("extract_patches", _extract, _extract_grad, save_inputs=False)
fold_patches_op = defop("fold_patches", _fold, _fold_grad, save_inputs=False)


def _geometry(x_shape, kernel_size, strides, padding, dilation_rate, op):
    nd = len(x_shape) - 2
    kernel_size = normalize_tuple(kernel_size, nd, "kernel_size", op)
    strides = normalize_tuple(strides, nd, "strides", op)
    dilation = normalize_tuple(dilation_rate, nd, "dilation_rate", op)
    if isinstance(padding, str):
        padding = normalize_padding(padding, op, allow_causal=nd == 1)
        pads = tuple(conv_pads(L, k, s, d, padding)
                     for L, k, s, d in zip(x_shape[1:-1], kernel_size, strides, dilation))
    else:  # explicit ((before, after), ...)
        pads = tuple((int(a), int(b)) for a, b in padding)
    return kernel_size, strides, dilation, pads


def extract_patches(x, kernel_size, strides=1, padding="valid", dilation_rate=1, pad_value=0.0):
    """Every window of a channels-last input, laid out for a matrix product (differentiable).

    Args:
        x: ``(batch, *spatial, channels)``.
        kernel_size, strides, dilation_rate: ints or tuples (one entry per spatial axis).
        padding: "valid", "same", "causal" (1-D), or explicit ``((before, after), ...)`` per spatial axis.
        pad_value: the value padded windows see (0 for convolution, ``-inf`` for max pooling).

    Returns:
        ``(batch, *out_spatial, prod(kernel_size), channels)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.ops.conv.extract_patches(tp.zeros((2, 5, 5, 3)), 3).shape
        (2, 3, 3, 9, 3)
    """
    kernel_size, strides, dilation, pads = _geometry(_shape(x), kernel_size, strides, padding, dilation_rate,
                                                     "extract_patches")
    return extract_patches_op(x, kernel_size=kernel_size, strides=strides, dilation=dilation, pads=pads,
                              pad_value=pad_value)


# --- convolution --------------------------------------------------------------------------------------------
def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else xp.shape(x)


def to_channels_last(x, data_format):
    """Move the channel axis last when ``data_format`` is "channels_first" (a no-op otherwise)."""
    if data_format == "channels_first":
        from tapeflow.ops.manipulation import transpose

        n = len(_shape(x))
        return transpose(x, (0, *range(2, n), 1))
    return x


def from_channels_last(x, data_format):
    """Undo :func:`to_channels_last`."""
    if data_format == "channels_first":
        from tapeflow.ops.manipulation import transpose

        n = len(_shape(x))
        return transpose(x, (0, n - 1, *range(1, n - 1)))
    return x


def _grouped_matmul(cols, kernel2d, groups):
    """``cols (m, window, c_in) x kernel (window * c_in/groups, filters)`` group by group."""
    from tapeflow.ops.linalg_ops import matmul_op
    from tapeflow.ops.manipulation import reshape, transpose

    m, window, c_in = cols.shape
    filters = kernel2d.shape[-1]
    cg, fg = c_in // groups, filters // groups
    a = reshape(transpose(reshape(cols, (m, window, groups, cg)), (2, 0, 1, 3)), (groups, m, window * cg))
    b = transpose(reshape(kernel2d, (window * cg, groups, fg)), (1, 0, 2))
    y = matmul_op(a, b)  # (groups, m, fg)
    return reshape(transpose(y, (1, 0, 2)), (m, filters))


def conv(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=1, data_format="channels_last",
         bias=None, activation="linear"):
    """N-d convolution (cross-correlation, as in every deep-learning library), 1-D to 3-D and beyond.

    Args:
        x: ``(batch, *spatial, channels)`` (or channels first, per ``data_format``).
        kernel: ``(*kernel_size, channels // groups, filters)``.
        strides, dilation_rate: ints or tuples, one entry per spatial axis (Keras forbids both > 1 at once; so
            does this op).
        padding: "valid" (no padding), "same" (output length ``ceil(length / stride)``) or "causal" (1-D: pad
            only on the left, so output t sees inputs <= t).
        groups: split channels into this many independent convolutions (``groups == channels`` with one filter
            per group is a depthwise convolution).
        data_format: "channels_last" (default) or "channels_first".
        bias: optional ``(filters,)`` added to every output position.
        activation: "linear" (default), "relu", "sigmoid" or "tanh" (or the function itself: see
            :mod:`tapeflow.ops.fusable`), applied to the result; with ``bias`` it
            runs fused into the matrix product (one op, one backward pass: the layers use this).

    Returns:
        ``(batch, *out_spatial, filters)`` with Keras's output lengths (:func:`conv_output_length`).

    Raises:
        ShapeError: naming both shapes when the kernel does not fit the input.

    Example:
        >>> import tapeflow as tp
        >>> tp.ops.conv.conv(tp.ones((1, 5, 5, 2)), tp.ones((3, 3, 2, 4)), padding="same").shape
        (1, 5, 5, 4)
    """
    from tapeflow.ops import fusable
    from tapeflow.ops.manipulation import reshape

    data_format = normalize_data_format(data_format, "conv")
    activation = fusable.resolve(activation, "conv")
    x = to_channels_last(x, data_format)
    xs, ks = _shape(x), _shape(kernel)
    nd = len(xs) - 2
    if nd < 1 or len(ks) != nd + 2:
        raise ShapeError(f"conv: need x of rank >= 3 and a kernel of rank x.ndim; got x.shape={xs}, "
                         f"kernel.shape={ks}")
    if not isinstance(groups, int) or groups < 1 or xs[-1] % groups or ks[-1] % groups:
        raise ShapeError(f"conv: `groups` must divide both the input channels and the filters; "
                         f"got groups={groups}, x.shape={xs}, kernel.shape={ks}")
    if ks[-2] * groups != xs[-1]:
        raise ShapeError(f"conv: the kernel expects {ks[-2] * groups} input channels "
                         f"(kernel.shape[-2] * groups); got x.shape={xs}, kernel.shape={ks}, groups={groups}")
    kernel_size, strides, dilation, pads = _geometry(xs, ks[:nd], strides, padding, dilation_rate, "conv")
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(f"conv: strides > 1 together with dilation_rate > 1 is not supported (as in Keras). "
                         f"Received: strides={strides}, dilation_rate={dilation}")
    filters = ks[-1]
    window = math.prod(kernel_size)
    if window == 1 and strides == (1,) * nd and not any(lo or hi for lo, hi in pads):
        out_spatial, cols = xs[1:-1], x  # a 1x1 convolution is a plain matrix product
    else:
        cols = extract_patches_op(x, kernel_size=kernel_size, strides=strides, dilation=dilation, pads=pads)
        out_spatial = _shape(cols)[1:-2]
    m = xs[0] * math.prod(out_spatial)
    if groups == 1:
        from tapeflow.ops.fused import dense

        # matrix product, bias and activation as one op (the dense layer's fused op, on the patch matrix)
        y = dense(reshape(cols, (m, window * xs[-1])), reshape(kernel, (window * xs[-1], filters)), bias,
                  activation=activation)
    else:
        y = _grouped_matmul(reshape(cols, (m, window, xs[-1])), reshape(kernel, (window * ks[-2], filters)),
                            groups)
        if bias is not None:
            y = y + bias
        if activation is not fusable.LINEAR:
            from tapeflow.ops import nn_ops as nn

            y = getattr(nn, activation.name)(y)
    return from_channels_last(reshape(y, (xs[0], *out_spatial, filters)), data_format)


def conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                   data_format="channels_last"):
    """Transposed convolution (the gradient of :func:`conv` with respect to its input, run forwards).

    Args:
        x: ``(batch, *spatial, channels)`` (or channels first).
        kernel: ``(*kernel_size, filters, channels)`` (Keras's ``Conv2DTranspose`` layout).
        strides, padding, dilation_rate: as for :func:`conv`.
        output_padding: None, or an int/tuple of extra length on the high side of each axis (< strides).

    Returns:
        ``(batch, *out_spatial, filters)`` with Keras's lengths (:func:`deconv_output_length`).

    Example:
        >>> import tapeflow as tp
        >>> tp.ops.conv.conv_transpose(tp.ones((1, 4, 4, 3)), tp.ones((3, 3, 2, 3)), strides=2).shape
        (1, 9, 9, 2)
    """
    from tapeflow.ops.linalg_ops import matmul_op
    from tapeflow.ops.manipulation import reshape, transpose

    data_format = normalize_data_format(data_format, "conv_transpose")
    x = to_channels_last(x, data_format)
    xs, ks = _shape(x), _shape(kernel)
    nd = len(xs) - 2
    if nd < 1 or len(ks) != nd + 2 or ks[-1] != xs[-1]:
        raise ShapeError(f"conv_transpose: need a kernel (*kernel_size, filters, channels) with channels == "
                         f"x.shape[-1]; got x.shape={xs}, kernel.shape={ks}")
    padding = normalize_padding(padding, "conv_transpose")
    kernel_size = ks[:nd]
    strides = normalize_tuple(strides, nd, "strides", "conv_transpose")
    dilation = normalize_tuple(dilation_rate, nd, "dilation_rate", "conv_transpose")
    if output_padding is not None:
        output_padding = normalize_tuple(output_padding, nd, "output_padding", "conv_transpose", minimum=0)
        if any(p >= s for p, s in zip(output_padding, strides)):
            raise ValueError(f"conv_transpose: `output_padding` must be smaller than `strides`. Received: "
                             f"output_padding={output_padding}, strides={strides}")
    out_spatial, pads = [], []
    for i in range(nd):
        length = deconv_output_length(xs[1 + i], kernel_size[i], strides[i], dilation[i], padding,
                                      None if output_padding is None else output_padding[i])
        span = dilation[i] * (kernel_size[i] - 1) + 1
        # TensorFlow's placement: the exact adjoint of a convolution of the output with the same padding rule
        lo = conv_pads(length, kernel_size[i], strides[i], dilation[i], padding)[0]
        # so that the matching convolution of the output yields x's length
        hi = (xs[1 + i] - 1) * strides[i] + span - length - lo
        out_spatial.append(length)
        pads.append((lo, hi))
    filters, window = ks[-2], math.prod(kernel_size)
    m = xs[0] * math.prod(xs[1:-1])
    cols = matmul_op(reshape(x, (m, xs[-1])), transpose(reshape(kernel, (window * filters, xs[-1]))))
    cols = reshape(cols, (*xs[:-1], window, filters))
    y = fold_patches_op(cols, spatial=tuple(out_spatial), kernel_size=tuple(kernel_size), strides=strides,
                        dilation=dilation, pads=tuple(pads))
    return from_channels_last(y, data_format)


# --- up-sampling --------------------------------------------------------------------------------------------
def _upsample(x, size):
    n, *spatial, c = x.shape
    expanded = x.reshape(n, *itertools.chain(*((L, 1) for L in spatial)), c)
    target = (n, *itertools.chain(*((L, s) for L, s in zip(spatial, size))), c)
    return xp.broadcast_to(expanded, target).reshape(n, *(L * s for L, s in zip(spatial, size)), c)


def _upsample_grad(g, out, x, size):
    from tapeflow.ops.manipulation import reshape
    from tapeflow.ops.reduction import sum as _sum

    n, *spatial, c = x.shape
    nd = len(size)
    split = reshape(g, (n, *itertools.chain(*((L, s) for L, s in zip(spatial, size))), c))
    return _sum(split, axis=tuple(range(2, 2 * nd + 1, 2)))


upsample_op = defop("upsample", _upsample, _upsample_grad, save_inputs=False)


def upsample(x, size=2, data_format="channels_last", interpolation="nearest"):
    """Repeat each spatial element ``size`` times per axis (nearest neighbour) or interpolate linearly.

    Args:
        x: ``(batch, *spatial, channels)`` (or channels first).
        size: int or tuple, one factor per spatial axis.
        interpolation: "nearest" or "bilinear" (linear along each axis, corners not aligned, as Keras/TF).

    Example:
        >>> import tapeflow as tp
        >>> tp.ops.conv.upsample(tp.constant([[[1.0], [2.0]]]), 2)[0, :, 0]
        tapeflow.Tensor([1. 1. 2. 2.], shape=(4,), dtype=float32)
    """
    data_format = normalize_data_format(data_format, "upsample")
    x = to_channels_last(x, data_format)
    xs = _shape(x)
    size = normalize_tuple(size, len(xs) - 2, "size", "upsample")
    if interpolation == "nearest":
        y = upsample_op(x, size=size)
    elif interpolation == "bilinear":
        from tapeflow.ops.linalg_ops import einsum

        y = x
        letters = "abcdefgh"[: len(size)]
        for i, s in enumerate(size):  # a linear map per axis: differentiable through einsum
            out = letters[:i] + letters[i].upper() + letters[i + 1 :]
            y = einsum(f"z{letters}y,{letters[i].upper()}{letters[i]}->z{out}y", y,
                       _linear_weights(xs[1 + i], s, x.dtype))
    else:
        raise ValueError(f"upsample: `interpolation` must be 'nearest' or 'bilinear'. "
                         f"Received: interpolation={interpolation!r}")
    return from_channels_last(y, data_format)


def _linear_weights(length, scale, dtype):
    """The (length * scale, length) matrix of half-pixel linear interpolation (TensorFlow's resize)."""
    from tapeflow._tensor import Tensor

    out = length * scale
    pos = (xp.arange(out) + 0.5) / scale - 0.5
    pos = xp.clip(pos, 0, length - 1)
    lo = xp.floor(pos).astype(int)
    hi = xp.minimum(lo + 1, length - 1)
    frac = pos - lo
    w = xp.zeros((out, length))
    w[xp.arange(out), lo] += 1 - frac
    w[xp.arange(out), hi] += frac
    return Tensor(w.astype(dtype))
