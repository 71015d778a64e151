"""ONNX translations of tapeflow layers, one function per layer family, looked up by class.

Each converter is ``convert(g, layer, inputs, in_shapes, out_shapes) -> [output names]`` where ``g`` is the
:class:`~tapeflow.saving.onnx_export.Graph`, ``inputs`` the ONNX names of the layer's inputs and the
shapes are static (``None`` for the batch). Supported: Dense, Activation, Dropout and SpatialDropout
(identity), Flatten, Reshape, Permute, RepeatVector, Embedding, BatchNormalization, LayerNormalization,
Normalization, Conv1D/2D/3D and their transposes, DepthwiseConv2D, SeparableConv2D,
Max/AveragePooling1D/2D/3D, global pooling, UpSampling (nearest), ZeroPadding, Cropping, the merge layers,
Attention, MultiHeadAttention, SimpleRNN, LSTM, GRU, Bidirectional and TimeDistributed (without masks and
returned states or scores).
Anything else raises ``NotImplementedError`` naming the layer.

Example:
    >>> import tapeflow as tp
    >>> from tapeflow.saving import onnx_layers
    >>> onnx_layers.converter(tp.layers.Dense(2)).__name__
    'dense'
"""

from __future__ import annotations

import numpy as np

# --- activations --------------------------------------------------------------------------------------------


def _gelu(g, x, base, approximate):
    half = g.scalar(0.5, f"{base}/half")
    one = g.scalar(1.0, f"{base}/one")
    if approximate:
        c = g.scalar(np.sqrt(2.0 / np.pi), f"{base}/c")
        k = g.scalar(0.044715, f"{base}/k")
        cube = g.op("Mul", [g.op("Mul", [x, x], base), x], base)
        inner = g.op("Mul", [c, g.op("Add", [x, g.op("Mul", [k, cube], base)], base)], base)
        return g.op(
            "Mul", [g.op("Mul", [half, x], base), g.op("Add", [one, g.op("Tanh", [inner], base)], base)], base
        )
    root2 = g.scalar(np.sqrt(2.0), f"{base}/sqrt2")
    erf = g.op("Erf", [g.op("Div", [x, root2], base)], base)
    return g.op("Mul", [g.op("Mul", [half, x], base), g.op("Add", [one, erf], base)], base)


def _activation_table():
    from tapeflow import activations as A

    return {
        A.linear: lambda g, x, b: x,
        A.relu: lambda g, x, b: g.op("Relu", [x], b),
        A.sigmoid: lambda g, x, b: g.op("Sigmoid", [x], b),
        A.tanh: lambda g, x, b: g.op("Tanh", [x], b),
        A.softmax: lambda g, x, b: g.op("Softmax", [x], b, axis=-1),
        A.log_softmax: lambda g, x, b: g.op("LogSoftmax", [x], b, axis=-1),
        A.elu: lambda g, x, b: g.op("Elu", [x], b, alpha=1.0),
        A.selu: lambda g, x, b: g.op("Selu", [x], b),
        A.softplus: lambda g, x, b: g.op("Softplus", [x], b),
        A.silu: lambda g, x, b: g.op("Mul", [x, g.op("Sigmoid", [x], b)], b),
        A.leaky_relu: lambda g, x, b: g.op("LeakyRelu", [x], b, alpha=0.2),
        A.gelu: lambda g, x, b: _gelu(g, x, b, approximate=False),
    }


_TABLES: dict = {}


def activation(g, fn, x, base):
    """Apply the activation function ``fn`` (one of ``tp.activations``) to ONNX value ``x``."""
    if "act" not in _TABLES:
        _TABLES["act"] = _activation_table()
    try:
        return _TABLES["act"][fn](g, x, base)
    except (KeyError, TypeError):
        raise NotImplementedError(
            f"export: activation {getattr(fn, '__name__', fn)!r} has no ONNX translation; "
            f"supported: {sorted(f.__name__ for f in _TABLES['act'])}"
        ) from None


_RNN_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}


# --- core layers --------------------------------------------------------------------------------------------
def dense(g, layer, inputs, in_shapes, out_shapes):
    y = g.op("MatMul", [inputs[0], g.const(layer.kernel.numpy(), f"{layer.name}/kernel")], layer.name)
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(layer.bias.numpy(), f"{layer.name}/bias")], layer.name)
    return [activation(g, layer.activation, y, layer.name)]


def activation_layer(g, layer, inputs, in_shapes, out_shapes):
    return [activation(g, layer.activation, inputs[0], layer.name)]


def leaky_relu_layer(g, layer, inputs, in_shapes, out_shapes):
    return [g.op("LeakyRelu", inputs[:1], layer.name, alpha=layer.negative_slope)]


def elu_layer(g, layer, inputs, in_shapes, out_shapes):
    return [g.op("Elu", inputs[:1], layer.name, alpha=layer.alpha)]


def identity(g, layer, inputs, in_shapes, out_shapes):
    return [g.op("Identity", inputs[:1], layer.name)]


def reshape(g, layer, inputs, in_shapes, out_shapes):
    target = g.ints([0, *(-1 if d is None else d for d in out_shapes[0][1:])], f"{layer.name}/shape")
    return [g.op("Reshape", [inputs[0], target], layer.name)]


def permute(g, layer, inputs, in_shapes, out_shapes):
    return [g.op("Transpose", inputs, layer.name, perm=[0, *layer.dims])]


def repeat_vector(g, layer, inputs, in_shapes, out_shapes):
    x = g.op("Unsqueeze", [inputs[0], g.ints([1], f"{layer.name}/axis")], layer.name)
    return [g.op("Tile", [x, g.ints([1, layer.n, 1], f"{layer.name}/repeats")], layer.name)]


def embedding(g, layer, inputs, in_shapes, out_shapes):
    if getattr(layer, "mask_zero", False):  # the mask changes what later layers compute: no silent mismatch
        raise NotImplementedError(
            f"export: layer '{layer.name}' (Embedding) has mask_zero=True; masks have no ONNX translation yet"
        )
    idx = g.op("Cast", inputs, layer.name, to=g.onnx.TensorProto.INT64)
    return [
        g.op(
            "Gather", [g.const(layer.embeddings.numpy(), f"{layer.name}/embeddings"), idx], layer.name, axis=0
        )
    ]


def _param(layer, var, shape):
    arr = var.numpy()
    last_axis_only = len(layer._param_axes) == 1 and layer._param_axes[0] == layer._ndim - 1
    return arr if last_axis_only else arr.reshape(shape)


def batch_normalization(g, layer, inputs, in_shapes, out_shapes):
    n, shape = layer.name, layer._broadcast
    mean = g.const(layer.moving_mean.numpy().reshape(shape), f"{n}/moving_mean")
    var = layer.moving_variance.numpy().reshape(shape)
    std = g.const(np.sqrt(var + var.dtype.type(layer.epsilon)), f"{n}/std")  # in the layer's dtype, as it is
    y = g.op("Div", [g.op("Sub", [inputs[0], mean], n), std], n)
    return [_affine(g, layer, y)]


def _affine(g, layer, y):
    if layer.gamma is not None:
        y = g.op(
            "Mul",
            [y, g.const(_param(layer, layer.gamma, layer._broadcast), f"{layer.name}/gamma")],
            layer.name,
        )
    if layer.beta is not None:
        y = g.op(
            "Add", [y, g.const(_param(layer, layer.beta, layer._broadcast), f"{layer.name}/beta")], layer.name
        )
    return y


def layer_normalization(g, layer, inputs, in_shapes, out_shapes):
    n, axes = layer.name, [int(a) for a in layer._param_axes]
    mean = g.reduce("ReduceMean", inputs[0], axes, n)
    centered = g.op("Sub", [inputs[0], mean], n)
    var = g.reduce("ReduceMean", g.op("Mul", [centered, centered], n), axes, n)
    eps = g.scalar(layer.epsilon, f"{n}/epsilon")
    y = g.op("Div", [centered, g.op("Sqrt", [g.op("Add", [var, eps], n)], n)], n)
    return [_affine(g, layer, y)]


def normalization(g, layer, inputs, in_shapes, out_shapes):
    n, shape = layer.name, layer._broadcast
    mean = g.const(layer.mean.numpy().reshape(shape), f"{n}/mean")
    var = layer.variance.numpy().reshape(shape)
    std = g.const(np.sqrt(np.maximum(var, var.dtype.type(1e-7))), f"{n}/std")  # the layer's own floor
    if layer.invert:
        return [g.op("Add", [g.op("Mul", [inputs[0], std], n), mean], n)]
    return [g.op("Div", [g.op("Sub", [inputs[0], mean], n), std], n)]


def unit_normalization(g, layer, inputs, in_shapes, out_shapes):
    n, x = layer.name, inputs[0]
    rank = len(in_shapes[0])
    axes = [layer.axis] if isinstance(layer.axis, int) else layer.axis
    squares = g.op("ReduceSum", [g.op("Mul", [x, x], n), g.ints([a % rank for a in axes], f"{n}/axes")], n)
    norm = g.op("Sqrt", [g.op("Max", [squares, g.scalar(1e-12, f"{n}/floor")], n)], n)
    return [g.op("Div", [x, norm], n)]


def rms_normalization(g, layer, inputs, in_shapes, out_shapes):
    n, x = layer.name, inputs[0]
    ms = g.reduce("ReduceMean", g.op("Mul", [x, x], n), list(layer._axes), n)
    root = g.op("Sqrt", [g.op("Add", [ms, g.scalar(layer.epsilon, f"{n}/epsilon")], n)], n)
    scale = g.const(layer.scale.numpy().reshape(layer._broadcast), f"{n}/scale")
    return [g.op("Mul", [g.op("Div", [x, root], n), scale], n)]


def group_normalization(g, layer, inputs, in_shapes, out_shapes):
    """Reshape the channels into (groups, channels / groups), normalize each group, reshape back."""
    n, shape = layer.name, list(in_shapes[0])
    axis = layer._param_axes[0]
    split = [0] + shape[1:axis] + [layer.groups, shape[axis] // layer.groups] + shape[axis + 1:]
    grouped = g.op("Reshape", [inputs[0], g.ints(split, f"{n}/split")], n)
    reduce = [a for a in range(1, len(split)) if a != axis]
    mean = g.reduce("ReduceMean", grouped, reduce, n)
    centered = g.op("Sub", [grouped, mean], n)
    var = g.reduce("ReduceMean", g.op("Mul", [centered, centered], n), reduce, n)
    eps = g.scalar(layer.epsilon, f"{n}/epsilon")
    y = g.op("Div", [centered, g.op("Sqrt", [g.op("Add", [var, eps], n)], n)], n)
    y = g.op("Reshape", [y, g.ints([0] + shape[1:], f"{n}/merge")], n)
    return [_affine(g, layer, y)]


# --- merge layers -------------------------------------------------------------------------------------------
def _fold(op):
    def merge(g, layer, inputs, in_shapes, out_shapes):
        y = inputs[0]
        for x in inputs[1:]:
            y = g.op(op, [y, x], layer.name)
        return [y]

    merge.__name__ = op.lower()
    return merge


def average(g, layer, inputs, in_shapes, out_shapes):
    total = _fold("Add")(g, layer, inputs, in_shapes, out_shapes)[0]
    return [g.op("Div", [total, g.scalar(len(inputs), f"{layer.name}/n")], layer.name)]


def subtract(g, layer, inputs, in_shapes, out_shapes):
    return [g.op("Sub", inputs[:2], layer.name)]


def concatenate(g, layer, inputs, in_shapes, out_shapes):
    return [g.op("Concat", inputs, layer.name, axis=int(layer.axis))]


def dot(g, layer, inputs, in_shapes, out_shapes):
    """The layer's batched contraction as one ONNX Einsum (after the optional L2 normalization)."""
    n = layer.name
    shapes = [tuple(s) for s in in_shapes]
    ax, ay = layer._resolved(shapes)
    xs = [inputs[0], inputs[1]]
    if layer.normalize:
        for i, (x, a) in enumerate(zip(xs, (ax, ay))):
            squares = g.op("ReduceSum", [g.op("Mul", [x, x], n), g.ints([a], f"{n}/axes")], n)
            norm = g.op("Sqrt", [g.op("Max", [squares, g.scalar(1e-12, f"{n}/floor")], n)], n)
            xs[i] = g.op("Div", [x, norm], n)
    letters = iter("bcdefghijklmnopqrstuvwxyz")
    sx = ["a"] + [next(letters) for _ in range(len(shapes[0]) - 1)]
    sy = ["a"] + [next(letters) for _ in range(len(shapes[1]) - 1)]
    sy[ay] = sx[ax]
    out = [c for i, c in enumerate(sx) if i != ax] + [c for i, c in enumerate(sy) if i not in (0, ay)]
    y = g.op("Einsum", xs, n, equation=f"{''.join(sx)},{''.join(sy)}->{''.join(out)}")
    return [g.op("Unsqueeze", [y, g.ints([1], f"{n}/axis")], n) if len(out) == 1 else y]


def einsum_dense(g, layer, inputs, in_shapes, out_shapes):
    n = layer.name
    equation = layer.equation.replace(" ", "")
    y = g.op("Einsum", [inputs[0], g.const(layer.kernel.numpy(), f"{n}/kernel")], n, equation=equation)
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(layer.bias.numpy(), f"{n}/bias")], n)
    return [activation(g, layer.activation, y, n)]


# --- convolution and pooling (channels-last in tapeflow, channels-first in ONNX) ----------------------------
def _channels_first(g, x, rank, name, data_format):
    if data_format == "channels_first":
        return x
    return g.op("Transpose", [x], name, perm=[0, rank + 1, *range(1, rank + 1)])


def _channels_last(g, x, rank, name, data_format):
    if data_format == "channels_first":
        return x
    return g.op("Transpose", [x], name, perm=[0, *range(2, rank + 2), 1])


def _spatial(shape, rank, data_format):
    return shape[2 : 2 + rank] if data_format == "channels_first" else shape[1 : 1 + rank]


def _pads(padding, sizes, kernel, strides, dilations):
    """ONNX ``pads`` (all begins, then all ends) reproducing tapeflow's "valid"/"same"/"causal"."""
    rank = len(kernel)
    if padding == "valid":
        return [0] * (2 * rank)
    if padding == "causal":
        return [(kernel[0] - 1) * dilations[0], 0]
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        if n is None:
            raise NotImplementedError("export: padding='same' needs static spatial sizes")
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _conv_node(g, x, kernel_onnx, bias, layer, rank, in_shape, group, kernel_size, dilations):
    inputs = [x, g.const(kernel_onnx, f"{layer.name}/kernel")]
    if bias is not None:
        inputs.append(g.const(bias, f"{layer.name}/bias"))
    sizes = _spatial(in_shape, rank, layer.data_format)
    pads = _pads(layer.padding, sizes, kernel_size, layer.strides, dilations)
    return g.op(
        "Conv",
        inputs,
        layer.name,
        kernel_shape=list(kernel_size),
        strides=list(layer.strides),
        dilations=list(dilations),
        pads=pads,
        group=group,
    )


def conv(g, layer, inputs, in_shapes, out_shapes):
    rank = layer.rank
    kernel = (
        layer.kernel.numpy()
    )  # (*kernel_size, in / groups, filters) -> (filters, in / groups, *kernel_size)
    w = kernel.transpose(rank + 1, rank, *range(rank))
    x = _channels_first(g, inputs[0], rank, layer.name, layer.data_format)
    bias = None if layer.bias is None else layer.bias.numpy()
    y = _conv_node(
        g, x, w, bias, layer, rank, in_shapes[0], layer.groups, layer.kernel_size, layer.dilation_rate
    )
    y = _channels_last(g, y, rank, layer.name, layer.data_format)
    return [activation(g, layer.activation, y, layer.name)]


def conv_transpose(g, layer, inputs, in_shapes, out_shapes):
    """tapeflow crops ``lo`` and ``hi`` from the full adjoint output, or pads when ``hi`` is negative; ONNX's
    ``pads`` crop and its ``output_padding`` pads at the end."""
    from tapeflow.ops.conv import conv_pads

    rank, n = layer.rank, layer.name
    sizes = _spatial(in_shapes[0], rank, layer.data_format)
    out_sizes = _spatial(out_shapes[0], rank, layer.data_format)
    if None in sizes:
        raise NotImplementedError(f"export: layer '{n}' needs static spatial sizes")
    begins, ends, extra = [], [], []
    for size, length, k, s, d in zip(sizes, out_sizes, layer.kernel_size, layer.strides, layer.dilation_rate):
        lo = conv_pads(length, k, s, d, layer.padding)[0]
        hi = (size - 1) * s + d * (k - 1) + 1 - length - lo
        begins.append(lo)
        ends.append(max(hi, 0))
        extra.append(max(-hi, 0))
    kernel = layer.kernel.numpy()  # (*kernel_size, filters, channels) -> (channels, filters, *kernel_size)
    args = [
        _channels_first(g, inputs[0], rank, n, layer.data_format),
        g.const(kernel.transpose(rank + 1, rank, *range(rank)), f"{n}/kernel"),
    ]
    if layer.bias is not None:
        args.append(g.const(layer.bias.numpy(), f"{n}/bias"))
    y = g.op(
        "ConvTranspose",
        args,
        n,
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.strides),
        dilations=list(layer.dilation_rate),
        pads=begins + ends,
        output_padding=extra,
    )
    return [activation(g, layer.activation, _channels_last(g, y, rank, n, layer.data_format), n)]


def _depthwise(g, layer, x, in_shape, bias):
    k = layer.depthwise_kernel.numpy()  # (*kernel, in, mult) -> (in * mult, 1, *kernel)
    rank = layer.rank
    cin, mult = k.shape[-2:]
    w = k.transpose(rank, rank + 1, *range(rank)).reshape(cin * mult, 1, *k.shape[:rank])
    return _conv_node(g, x, w, bias, layer, rank, in_shape, cin, layer.kernel_size, layer.dilation_rate)


def depthwise_conv(g, layer, inputs, in_shapes, out_shapes):
    rank = layer.rank
    x = _channels_first(g, inputs[0], rank, layer.name, layer.data_format)
    y = _depthwise(g, layer, x, in_shapes[0], None if layer.bias is None else layer.bias.numpy())
    return [
        activation(g, layer.activation, _channels_last(g, y, rank, layer.name, layer.data_format), layer.name)
    ]


def separable_conv(g, layer, inputs, in_shapes, out_shapes):
    rank = layer.rank
    x = _channels_first(g, inputs[0], rank, layer.name, layer.data_format)
    y = _depthwise(g, layer, x, in_shapes[0], None)
    pw = layer.pointwise_kernel.numpy()  # (*ones, in * mult, filters) -> (filters, in * mult, *ones)
    args = [y, g.const(pw.transpose(rank + 1, rank, *range(rank)), f"{layer.name}/pointwise_kernel")]
    if layer.bias is not None:
        args.append(g.const(layer.bias.numpy(), f"{layer.name}/bias"))
    y = g.op("Conv", args, layer.name, kernel_shape=[1] * rank)
    return [
        activation(g, layer.activation, _channels_last(g, y, rank, layer.name, layer.data_format), layer.name)
    ]


def pool(g, layer, inputs, in_shapes, out_shapes):
    from tapeflow.ops import pooling as P

    rank = layer.rank
    x = _channels_first(g, inputs[0], rank, layer.name, layer.data_format)
    sizes = _spatial(in_shapes[0], rank, layer.data_format)
    pads = _pads(layer.padding, sizes, layer.pool_size, layer.strides, (1,) * rank)
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides), "pads": pads}
    if type(layer)._pool is P.max_pool:
        y = g.op("MaxPool", [x], layer.name, **attrs)
    else:
        y = g.op("AveragePool", [x], layer.name, count_include_pad=0, **attrs)
    return [_channels_last(g, y, rank, layer.name, layer.data_format)]


def global_pooling(g, layer, inputs, in_shapes, out_shapes):
    start = 2 if layer.data_format == "channels_first" else 1
    op = "ReduceMax" if layer._reduce == "max" else "ReduceMean"
    axes = range(start, start + layer.rank)
    return [g.reduce(op, inputs[0], axes, layer.name, keepdims=int(layer.keepdims))]


def zero_padding(g, layer, inputs, in_shapes, out_shapes):
    pads = [tuple(p) for p in layer.padding]
    rank = len(pads)
    begins, ends = [0] * (rank + 2), [0] * (rank + 2)
    offset = 2 if getattr(layer, "data_format", "channels_last") == "channels_first" else 1
    for i, (a, b) in enumerate(pads):
        begins[offset + i], ends[offset + i] = a, b
    return [g.op("Pad", [inputs[0], g.ints(begins + ends, f"{layer.name}/pads")], layer.name)]


def cropping(g, layer, inputs, in_shapes, out_shapes):
    crops = [tuple(c) for c in layer.cropping]
    offset = 2 if getattr(layer, "data_format", "channels_last") == "channels_first" else 1
    shape = in_shapes[0]
    axes = list(range(offset, offset + len(crops)))
    starts = [a for a, _ in crops]
    ends = [shape[ax] - b for ax, (_, b) in zip(axes, crops)]
    return [
        g.op(
            "Slice",
            [
                inputs[0],
                g.ints(starts, f"{layer.name}/starts"),
                g.ints(ends, f"{layer.name}/ends"),
                g.ints(axes, f"{layer.name}/axes"),
            ],
            layer.name,
        )
    ]


# --- image preprocessing (inference behaviour: the random layers are identities, RandomCrop crops) --------
def rescaling(g, layer, inputs, in_shapes, out_shapes):
    y = g.op("Mul", [inputs[0], g.scalar(layer.scale, f"{layer.name}/scale")], layer.name)
    if layer.offset:
        y = g.op("Add", [y, g.scalar(layer.offset, f"{layer.name}/offset")], layer.name)
    return [y]


def _crop_resize(g, layer, x, shape, window, size, interpolation):
    """Slice ``window`` = (top, left, h, w) out of the image axes, then resize to ``size`` with the layer's
    own interpolation matrices (one Einsum, so ONNX computes exactly what tapeflow does)."""
    from tapeflow.layers.image_preprocessing import interpolation_matrix

    n, first = layer.name, layer.data_format == "channels_first"
    axes = [2, 3] if first else [1, 2]
    top, left, ch, cw = window
    if (ch, cw) != (shape[axes[0]], shape[axes[1]]):
        x = g.op("Slice", [x, g.ints([top, left], f"{n}/starts"), g.ints([top + ch, left + cw], f"{n}/ends"),
                           g.ints(axes, f"{n}/axes")], n)
    if (ch, cw) == tuple(size):
        return x
    dtype = g.dtype
    mh = g.const(interpolation_matrix(ch, size[0], interpolation, dtype), f"{n}/rows")
    mw = g.const(interpolation_matrix(cw, size[1], interpolation, dtype), f"{n}/cols")
    equation = "Hh,bchw,Ww->bcHW" if first else "Hh,bhwc,Ww->bHWc"
    return g.op("Einsum", [mh, x, mw], n, equation=equation)


def _image_size(layer, shape):
    return (shape[2], shape[3]) if layer.data_format == "channels_first" else (shape[1], shape[2])


def resizing(g, layer, inputs, in_shapes, out_shapes):
    from tapeflow.layers.image_preprocessing import _aspect_crop

    h, w = _image_size(layer, in_shapes[0])
    size = (layer.height, layer.width)
    window = _aspect_crop(h, w, *size) if getattr(layer, "crop_to_aspect_ratio", True) else (0, 0, h, w)
    interpolation = getattr(layer, "interpolation", "bilinear")
    return [_crop_resize(g, layer, inputs[0], in_shapes[0], window, size, interpolation)]


def center_crop(g, layer, inputs, in_shapes, out_shapes):
    h, w = _image_size(layer, in_shapes[0])
    if h < layer.height or w < layer.width:
        return resizing(g, layer, inputs, in_shapes, out_shapes)
    window = ((h - layer.height) // 2, (w - layer.width) // 2, layer.height, layer.width)
    return [_crop_resize(g, layer, inputs[0], in_shapes[0], window, window[2:], "bilinear")]


# --- recurrent layers ---------------------------------------------------------------------------------------
def _gate_blocks(arr, order, units):
    """Reorder the gate blocks of the last axis: tapeflow's order -> ONNX's."""
    return np.concatenate([arr[..., i * units : (i + 1) * units] for i in order], axis=-1)


def recurrent(g, layer, inputs, in_shapes, out_shapes):
    from tapeflow.layers.recurrent import GRU, LSTM

    n, units = layer.name, layer.units
    if getattr(layer, "return_state", False):
        raise NotImplementedError(
            f"export: layer '{n}' returns its states, which ONNX export does not support"
        )
    names = []
    for fn in (layer.recurrent_activation, layer.activation, layer.activation):
        name = getattr(fn, "__name__", None)
        if name not in _RNN_ACTIVATIONS:
            raise NotImplementedError(
                f"export: layer '{n}' uses activation {name!r}; ONNX recurrent operators "
                f"take {sorted(_RNN_ACTIVATIONS)}"
            )
        names.append(_RNN_ACTIVATIONS[name])
    kernel, recurrent_kernel = layer.kernel.numpy(), layer.recurrent_kernel.numpy()
    gates = kernel.shape[1] // units
    bias = np.zeros((2, gates * units), kernel.dtype)  # ONNX: input-side row, then recurrent-side row
    if layer.bias is not None:
        rows = layer.bias.numpy().reshape(-1, gates * units)  # GRU(reset_after=True) has both rows
        bias[: len(rows)] = rows
    attrs = {"hidden_size": units}
    if isinstance(layer, LSTM):
        op, order, attrs["activations"] = "LSTM", (0, 3, 1, 2), names  # i f c o -> i o f c
    elif isinstance(layer, GRU):
        op, order = "GRU", (0, 1, 2)  # z r h, as ONNX
        attrs["activations"], attrs["linear_before_reset"] = names[:2], int(layer.reset_after)
    else:
        op, order, attrs["activations"] = "RNN", (0,), names[1:2]
    w = _gate_blocks(kernel, order, units).T[None]
    r = _gate_blocks(recurrent_kernel, order, units).T[None]
    b = _gate_blocks(bias, order, units).reshape(1, -1)
    x = g.op("Transpose", inputs, n, perm=[1, 0, 2])  # (batch, time, features) -> (time, batch, features)
    if layer.go_backwards:
        x = _reverse(g, x, 0, n)
    y, y_h = g.op(
        op,
        [x, g.const(w, f"{n}/W"), g.const(r, f"{n}/R"), g.const(b, f"{n}/B")],
        n,
        outputs=3 if op == "LSTM" else 2,
        **attrs,
    )[:2]
    if layer.return_sequences:  # (time, 1, batch, units) -> (batch, time, units)
        y = g.op("Squeeze", [y, g.ints([1], f"{n}/dir")], n)
        return [g.op("Transpose", [y], n, perm=[1, 0, 2])]
    return [g.op("Squeeze", [y_h, g.ints([0], f"{n}/dir")], n)]


def _reverse(g, x, axis, name):
    end = np.iinfo(np.int64).min
    return g.op(
        "Slice",
        [
            x,
            g.ints([-1], f"{name}/start"),
            g.ints([end], f"{name}/end"),
            g.ints([axis], f"{name}/axis"),
            g.ints([-1], f"{name}/step"),
        ],
        name,
    )


def bidirectional(g, layer, inputs, in_shapes, out_shapes):
    if layer.merge_mode is None or layer.return_state:
        raise NotImplementedError(
            f"export: layer '{layer.name}' returns separate outputs or states, which ONNX "
            f"export does not support"
        )
    y_f = recurrent(g, layer.forward_layer, inputs, in_shapes, out_shapes)[0]
    y_b = recurrent(g, layer.backward_layer, inputs, in_shapes, out_shapes)[0]
    n = layer.name
    if layer.return_sequences:
        y_b = _reverse(g, y_b, 1, n)  # back into forward time order, as the layer does
    if layer.merge_mode == "concat":
        return [g.op("Concat", [y_f, y_b], n, axis=-1)]
    if layer.merge_mode == "ave":
        half = g.scalar(0.5, f"{n}/half")
        return [g.op("Mul", [g.op("Add", [y_f, y_b], n), half], n)]
    return [g.op({"sum": "Add", "mul": "Mul"}[layer.merge_mode], [y_f, y_b], n)]


def attention(g, layer, inputs, in_shapes, out_shapes):
    """Luong ("dot") or Bahdanau ("concat") attention without masks: softmax(scores) @ value."""
    n = layer.name
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    if layer.score_mode == "dot":
        scores = g.op("MatMul", [query, g.op("Transpose", [key], n, perm=[0, 2, 1])], n)
    else:
        q = g.op("Unsqueeze", [query, g.ints([2], f"{n}/q_axis")], n)
        k = g.op("Unsqueeze", [key, g.ints([1], f"{n}/k_axis")], n)
        summed = g.op(
            "ReduceSum", [g.op("Tanh", [g.op("Add", [q, k], n)], n), g.ints([-1], f"{n}/axis")], n, keepdims=0
        )
        scores = g.op(
            "Mul", [summed, g.const(layer.concat_score_weight.numpy(), f"{n}/concat_score_weight")], n
        )
    if layer.scale is not None:
        scores = g.op("Mul", [scores, g.const(layer.scale.numpy(), f"{n}/scale")], n)
    return [g.op("MatMul", [g.op("Softmax", [scores], n, axis=-1), value], n)]


def additive_attention(g, layer, inputs, in_shapes, out_shapes):
    """softmax(sum(scale * tanh(q + k), -1)) @ value, without masks."""
    n = layer.name
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    q = g.op("Unsqueeze", [query, g.ints([2], f"{n}/q_axis")], n)
    k = g.op("Unsqueeze", [key, g.ints([1], f"{n}/k_axis")], n)
    terms = g.op("Tanh", [g.op("Add", [q, k], n)], n)
    if layer.scale is not None:
        terms = g.op("Mul", [terms, g.const(layer.scale.numpy(), f"{n}/scale")], n)
    scores = g.op("ReduceSum", [terms, g.ints([-1], f"{n}/axis")], n, keepdims=0)
    return [g.op("MatMul", [g.op("Softmax", [scores], n, axis=-1), value], n)]


def _project(g, x, kernel, bias, base):
    """(batch, T, dim) @ (dim, heads, size) -> (batch, heads, T, size), as the layer computes it."""
    dim, heads, size = kernel.shape
    y = g.op("MatMul", [x, g.const(kernel.numpy().reshape(dim, heads * size), f"{base}/kernel")], base)
    if bias is not None:
        y = g.op("Add", [y, g.const(bias.numpy().reshape(heads * size), f"{base}/bias")], base)
    y = g.op("Reshape", [y, g.ints([0, 0, heads, size], f"{base}/split")], base)
    return g.op("Transpose", [y], base, perm=[0, 2, 1, 3])


_MHA_OPTIONS = {"key", "value", "use_causal_mask", "training"}


def multi_head_attention(g, layer, inputs, in_shapes, out_shapes):
    """softmax(q k^T / sqrt(key_dim) [+ causal mask]) v per head, heads merged by the output projection."""
    from tapeflow.layers.attention import _NEG

    n = layer.name
    args, kwargs = g.call
    if len(args) > 2 or set(kwargs) - _MHA_OPTIONS:
        raise NotImplementedError(
            f"export: layer '{n}' (MultiHeadAttention) is called with masks or "
            f"returns its scores, which ONNX export does not support"
        )
    positional = dict(zip(("value", "key"), args))
    value = kwargs.get("value", positional.get("value"))
    key = kwargs.get("key", positional.get("key")) or value
    query = inputs[0]
    q = _project(g, query, layer.query_kernel, layer.query_bias, f"{n}/query")
    k = _project(g, key, layer.key_kernel, layer.key_bias, f"{n}/key")
    v = _project(g, value, layer.value_kernel, layer.value_bias, f"{n}/value")
    q = g.op("Mul", [q, g.scalar(1.0 / np.sqrt(layer.key_dim), f"{n}/scale")], n)
    scores = g.op("MatMul", [q, g.op("Transpose", [k], n, perm=[0, 1, 3, 2])], n)
    if kwargs.get("use_causal_mask"):
        tq, tv = out_shapes[0][1], in_shapes[1 if len(inputs) > 1 else 0][1]
        if tq is None or tv is None:
            raise NotImplementedError(f"export: layer '{n}' needs static lengths for its causal mask")
        mask = np.where(np.tril(np.ones((tq, tv), dtype=bool)), 0.0, _NEG).astype(g.dtype)[None, None]
        scores = g.op("Add", [scores, g.const(mask, f"{n}/causal_mask")], n)
    context = g.op("MatMul", [g.op("Softmax", [scores], n, axis=-1), v], n)  # (batch, heads, Tq, value_dim)
    heads, value_dim, out_dim = layer.output_kernel.shape
    merged = g.op(
        "Reshape",
        [g.op("Transpose", [context], n, perm=[0, 2, 1, 3]), g.ints([0, 0, heads * value_dim], f"{n}/merge")],
        n,
    )
    kernel = layer.output_kernel.numpy().reshape(heads * value_dim, out_dim)
    out = g.op("MatMul", [merged, g.const(kernel, f"{n}/attention_output/kernel")], n)
    if layer.output_bias is not None:
        out = g.op("Add", [out, g.const(layer.output_bias.numpy(), f"{n}/attention_output/bias")], n)
    return [out]


multi_head_attention.takes_call_arguments = True


def time_distributed(g, layer, inputs, in_shapes, out_shapes):
    """Fold time into the batch, apply the inner layer, unfold: (b, t, ...) -> (b * t, ...) -> (b, t, ...)."""
    n, (shape,), (out,) = layer.name, in_shapes, out_shapes
    if shape[1] is None:
        raise NotImplementedError(f"export: layer '{n}' needs a static number of time steps")
    inner = converter(layer.layer)
    folded = g.op("Reshape", [inputs[0], g.ints([-1, *shape[2:]], f"{n}/fold")], n)
    y = inner(g, layer.layer, [folded], [(None, *shape[2:])], [(None, *out[2:])])[0]
    return [g.op("Reshape", [y, g.ints([-1, shape[1], *out[2:]], f"{n}/unfold")], n)]


def up_sampling(g, layer, inputs, in_shapes, out_shapes):
    if layer.interpolation != "nearest":
        raise NotImplementedError(
            f"export: layer '{layer.name}' uses interpolation={layer.interpolation!r}; "
            f"ONNX export supports 'nearest'"
        )
    rank, start = layer.rank, 2 if layer.data_format == "channels_first" else 1
    scales = [1.0] * (rank + 2)
    for i, s in enumerate(layer.size):
        scales[start + i] = float(s)
    empty = g.const(np.zeros(0, np.float32), f"{layer.name}/roi")
    return [
        g.op(
            "Resize",
            [inputs[0], empty, g.const(np.asarray(scales, np.float32), f"{layer.name}/scales")],
            layer.name,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
    ]


# --- lookup -------------------------------------------------------------------------------------------------
def _table():
    from tapeflow import layers as L
    from tapeflow.layers import convolutional, image_preprocessing, pooling, regularization, reshaping
    from tapeflow.layers import recurrent as rnn

    table = {
        L.Dense: dense,
        L.Activation: activation_layer,
        L.LeakyReLU: leaky_relu_layer,
        L.ELU: elu_layer,
        L.Dropout: identity,
        L.Identity: identity,
        L.Rescaling: rescaling,
        L.Resizing: resizing,
        L.CenterCrop: center_crop,
        L.RandomCrop: resizing,
        image_preprocessing._RandomTransform: identity,
        L.RandomFlip: identity,
        L.RandomContrast: identity,
        L.RandomBrightness: identity,
        regularization.GaussianNoise: identity,
        regularization.GaussianDropout: identity,
        regularization.AlphaDropout: identity,
        L.RMSNormalization: rms_normalization,
        regularization.ActivityRegularization: identity,
        L.UnitNormalization: unit_normalization,
        L.GroupNormalization: group_normalization,
        L.Dot: dot,
        L.EinsumDense: einsum_dense,
        L.AdditiveAttention: additive_attention,
        L.SpatialDropout1D: identity,
        L.SpatialDropout2D: identity,
        L.SpatialDropout3D: identity,
        L.Flatten: reshape,
        L.Reshape: reshape,
        L.Permute: permute,
        L.RepeatVector: repeat_vector,
        L.Embedding: embedding,
        L.BatchNormalization: batch_normalization,
        L.LayerNormalization: layer_normalization,
        L.Add: _fold("Add"),
        L.Multiply: _fold("Mul"),
        L.Maximum: _fold("Max"),
        L.Minimum: _fold("Min"),
        L.Average: average,
        L.Subtract: subtract,
        L.Concatenate: concatenate,
        convolutional.Conv: conv,
        convolutional.ConvTranspose: conv_transpose,
        convolutional.DepthwiseConv: depthwise_conv,
        convolutional.SeparableConv: separable_conv,
        pooling.Pooling: pool,
        pooling.GlobalPooling: global_pooling,
        reshaping.UpSampling: up_sampling,
        L.ZeroPadding1D: zero_padding,
        L.ZeroPadding2D: zero_padding,
        L.ZeroPadding3D: zero_padding,
        L.Cropping1D: cropping,
        L.Cropping2D: cropping,
        L.Cropping3D: cropping,
        rnn.SimpleRNN: recurrent,
        rnn.LSTM: recurrent,
        rnn.GRU: recurrent,
        rnn.Bidirectional: bidirectional,
        rnn.TimeDistributed: time_distributed,
        L.Attention: attention,
        L.MultiHeadAttention: multi_head_attention,
    }
    if hasattr(L, "Normalization"):
        table[L.Normalization] = normalization
    return table


_REFUSED = ("Masking",)


def converter(layer):
    """The converter for ``layer`` (found by class, then its base classes).

    Raises:
        NotImplementedError: when there is none, naming the layer and its class.
    """
    if "layers" not in _TABLES:
        _TABLES["layers"] = _table()
    table = _TABLES["layers"]
    for cls in type(layer).__mro__:
        if cls.__name__ in _REFUSED:
            break
        if cls in table:
            return table[cls]
    raise NotImplementedError(
        f"export: layer '{layer.name}' ({type(layer).__name__}) has no ONNX translation yet"
    )
