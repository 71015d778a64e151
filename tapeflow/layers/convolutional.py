"""Convolution layers: Conv1D/2D/3D, Conv1D/2D/3DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D.

Each is ``build`` (create the kernel and bias) plus a short ``call`` over :mod:`tapeflow.ops.conv`, where the
convolution is one matrix product over strided windows. Inputs are ``channels_last`` by default
(``(batch, *spatial, channels)``); ``data_format="channels_first"`` takes ``(batch, channels, *spatial)``.
Output lengths follow Keras: ``"valid"``: ``floor((length - dilation * (k - 1) - 1) / stride) + 1``;
``"same"``: ``ceil(length / stride)``.
"""

from __future__ import annotations

from tapeflow import activations as _activations
from tapeflow import constraints as _constraints
from tapeflow import initializers as _initializers
from tapeflow import regularizers as _regularizers
from tapeflow.layers.base import Layer, register_serializable
from tapeflow.ops import conv as C
from tapeflow.ops import fusable


# --- shared argument handling (also used by the recurrent and attention layers) -----------------------------
def set_weight_args(layer, **kwargs):
    """Store ``*_initializer`` / ``*_regularizer`` / ``*_constraint`` arguments on ``layer``, resolved from
    names/configs."""
    for key, value in kwargs.items():
        if key.endswith("_initializer"):
            value = _initializers.get(value)
        elif key.endswith("_regularizer"):
            value = _regularizers.get(value)
        elif key.endswith("_constraint"):
            value = _constraints.get(value)
        setattr(layer, key, value)


def weight_config(layer, *keys):
    """The JSON config of the ``*_initializer`` / ``*_regularizer`` / ``*_constraint`` attributes named by
    ``keys``."""
    out = {}
    for key in keys:
        value = getattr(layer, key)
        if key.endswith("_initializer"):
            out[key] = _initializers.serialize(value)
        elif key.endswith("_constraint"):
            out[key] = _constraints.serialize(value)
        else:
            out[key] = _regularizers.serialize(value)
    return out


def fused_activation(fn):
    """The :class:`~tapeflow.ops.fusable.Fusable` for ``fn`` when the fused matmul + bias + activation op can
    apply it, else None."""
    return fusable.lookup(fn)


def channel_axis(data_format):
    """The channel axis of an input in ``data_format``."""
    return 1 if data_format == "channels_first" else -1


def add_bias(y, bias, data_format):
    """``y + bias`` along the channel axis."""
    if data_format == "channels_first":
        from tapeflow.ops import reshape

        return y + reshape(bias, (-1,) + (1,) * (y.ndim - 2))
    return y + bias


def check_rank(layer, input_shape, rank):
    """Raise a ShapeError naming the layer when the input is not ``(batch, *spatial[rank], channels)``."""
    if len(input_shape) != rank + 2:
        raise layer._shape_error(
            f"needs a rank-{rank + 2} input (batch, {rank} spatial axes, channels)",
            f"{rank + 2} dimensions",
            input_shape,
        )


def spatial_output_shape(layer, input_shape, rank, channels, length):
    """``(batch, *spatial, channels_in) -> (batch, *length(spatial), channels)`` in the layer's data format,
    from shapes alone: ``length(axis, size)`` gives one output length (``None`` stays ``None``)."""
    shape = tuple(input_shape)
    check_rank(layer, shape, rank)
    first = layer.data_format == "channels_first"
    spatial = shape[2:] if first else shape[1:-1]
    out = tuple(None if n is None else length(i, n) for i, n in enumerate(spatial))
    if any(n is not None and n <= 0 for n in out):
        raise layer._shape_error("the window does not fit the (padded) input", "a longer input", shape)
    return (shape[0], channels, *out) if first else (shape[0], *out, channels)


def bias_weight(layer, size):
    """The layer's ``bias`` weight of ``size`` (None when ``use_bias`` is off)."""
    if not layer.use_bias:
        return None
    return layer.add_weight("bias", (size,), layer.bias_initializer, regularizer=layer.bias_regularizer,
                            constraint=layer.bias_constraint)


def biased_activation(layer, y):
    """``activation(y + bias)``, the bias added along the channel axis."""
    if layer.bias is not None:
        y = add_bias(y, layer.bias, layer.data_format)
    return layer.activation(y)


_WEIGHTS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
            "kernel_constraint", "bias_constraint")


class Conv(Layer):
    """N-d convolution layer (the base of Conv1D, Conv2D, Conv3D).

    Subclasses set the class attribute ``rank`` (the number of spatial axes).

    Args:
        filters: the number of output channels.
        kernel_size: int or tuple of ``rank`` ints.
        strides: int or tuple; ``strides > 1`` cannot be combined with ``dilation_rate > 1``.
        padding: "valid", "same" (or "causal" for Conv1D).
        data_format: "channels_last" (default) or "channels_first".
        dilation_rate: int or tuple.
        groups: split the input channels into this many groups, each convolved with its own filters.
        activation: a name, a callable, or None.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint,
            bias_constraint: names, objects or configs.

    Shape:
        ``(batch, *spatial, channels) -> (batch, *out_spatial, filters)`` (channels first: channels after
        batch).
    """

    rank = None

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name, rank = type(self).__name__, self.rank
        if rank is None:
            raise TypeError(f"{name} is a base class: use Conv1D, Conv2D or Conv3D (or set `rank`)")
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{name}: `filters` must be a positive integer. Received: filters={filters!r}")
        if not isinstance(groups, int) or groups <= 0 or filters % groups:
            raise ValueError(
                f"{name}: `groups` must be a positive integer dividing `filters`. "
                f"Received: groups={groups!r}, filters={filters}"
            )
        self.filters = filters
        self.kernel_size = C.normalize_tuple(kernel_size, rank, "kernel_size", name)
        self.strides = C.normalize_tuple(strides, rank, "strides", name)
        self.padding = C.normalize_padding(padding, name, allow_causal=rank == 1)
        self.data_format = C.normalize_data_format(data_format, name)
        self.dilation_rate = C.normalize_tuple(dilation_rate, rank, "dilation_rate", name)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{name}: `strides > 1` is not compatible with `dilation_rate > 1`. Received: "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        self.groups = groups
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = input_shape[channel_axis(self.data_format)]
        if channels is None or channels % self.groups:
            raise self._shape_error(
                f"the channel count must be known and divisible by groups={self.groups}",
                "channels % groups == 0",
                input_shape,
            )
        shape, initializer = self._kernel_shape(channels), self.kernel_initializer
        self.kernel = self.add_weight("kernel", shape, initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = bias_weight(self, self.filters)

    def compute_output_shape(self, input_shape):
        """The output shape from shapes alone (no data is made): Keras's lengths, ``filters`` channels."""
        return spatial_output_shape(self, input_shape, self.rank, self.filters, self._output_length)

    def _output_length(self, axis, length):
        return C.conv_output_length(length, self.kernel_size[axis], self.strides[axis],
                                    self.dilation_rate[axis], self.padding)

    def _kernel_shape(self, channels):
        return (*self.kernel_size, channels // self.groups, self.filters)

    def call(self, inputs):
        fused = fused_activation(self.activation)
        y = C.conv(inputs, self.kernel, self.strides, self.padding, self.dilation_rate, self.groups,
                   self.data_format, bias=self.bias, activation=fused or fusable.LINEAR)
        return y if fused else self.activation(y)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_config(self, *_WEIGHTS),
        }


@register_serializable
class Conv1D(Conv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding="causal"`` makes output t see inputs <= t.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Conv1D(4, 3, padding="causal")(tp.ones((2, 10, 3))).shape
        (2, 10, 4)
    """

    rank = 1


@register_serializable
class Conv2D(Conv):
    """2-D convolution over images ``(batch, height, width, channels)``.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")
        >>> layer(tp.ones((2, 28, 28, 1))).shape
        (2, 14, 14, 8)
    """

    rank = 2


@register_serializable
class Conv3D(Conv):
    """3-D convolution over volumes or video ``(batch, depth, height, width, channels)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Conv3D(2, 3)(tp.ones((1, 5, 6, 7, 1))).shape
        (1, 3, 4, 5, 2)
    """

    rank = 3


class ConvTranspose(Conv):
    """N-d transposed convolution (base of Conv1D/2D/3DTranspose): a conv's input gradient run forward.

    Args:
        output_padding: None, or an int/tuple of extra output length per axis (each < its stride).
        Others as :class:`Conv` (no ``groups``).

    Shape:
        ``(batch, *spatial, channels) -> (batch, *out_spatial, filters)``; "valid":
        ``length * stride + max(kernel - stride, 0)``, "same": ``length * stride``.
    """

    def __init__(self, filters, kernel_size, output_padding=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        if self.padding == "causal":
            raise ValueError(f"{type(self).__name__}: `padding` must be 'valid' or 'same'. Received: causal")
        if output_padding is not None:
            output_padding = C.normalize_tuple(
                output_padding, self.rank, "output_padding", type(self).__name__, minimum=0
            )
        self.output_padding = output_padding

    def _output_length(self, axis, length):
        extra = None if self.output_padding is None else self.output_padding[axis]
        return C.deconv_output_length(length, self.kernel_size[axis], self.strides[axis],
                                      self.dilation_rate[axis], self.padding, extra)

    def _kernel_shape(self, channels):
        return (*self.kernel_size, self.filters, channels)

    def call(self, inputs):
        y = C.conv_transpose(
            inputs,
            self.kernel,
            self.strides,
            self.padding,
            self.output_padding,
            self.dilation_rate,
            self.data_format,
        )
        return biased_activation(self, y)

    def get_config(self):
        config = super().get_config()
        del config["groups"]
        config["output_padding"] = None if self.output_padding is None else list(self.output_padding)
        return config


@register_serializable
class Conv1DTranspose(ConvTranspose):
    """1-D transposed convolution."""

    rank = 1


@register_serializable
class Conv2DTranspose(ConvTranspose):
    """2-D transposed convolution (learned up-sampling).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Conv2DTranspose(3, 3, strides=2, padding="same")(tp.ones((1, 7, 7, 4))).shape
        (1, 14, 14, 3)
    """

    rank = 2


@register_serializable
class Conv3DTranspose(ConvTranspose):
    """3-D transposed convolution."""

    rank = 3


class DepthwiseConv(Layer):
    """Convolve each input channel with its own ``depth_multiplier`` filters (a grouped convolution); the
    base of DepthwiseConv1D/2D, which set ``rank``.

    Args:
        kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias: as :class:`Conv`.
        depth_multiplier: filters per input channel.
        depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
            depthwise_constraint, bias_constraint: weights' settings.

    Shape:
        ``(batch, *spatial, channels) -> (batch, *out_spatial, channels * depth_multiplier)``; the kernel is
        ``(*kernel_size, channels, depth_multiplier)`` as in Keras.
    """

    rank = None
    _DEPTHWISE = ("depthwise_initializer", "bias_initializer", "depthwise_regularizer", "bias_regularizer",
                  "depthwise_constraint", "bias_constraint")

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name, rank = type(self).__name__, self.rank
        if rank is None:
            raise TypeError(f"{name} is a base class: use DepthwiseConv1D or DepthwiseConv2D")
        if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(
                f"{name}: `depth_multiplier` must be a positive integer. "
                f"Received: depth_multiplier={depth_multiplier!r}"
            )
        self.kernel_size = C.normalize_tuple(kernel_size, rank, "kernel_size", name)
        self.strides = C.normalize_tuple(strides, rank, "strides", name)
        self.padding = C.normalize_padding(padding, name, allow_causal=rank == 1)
        self.depth_multiplier = depth_multiplier
        self.data_format = C.normalize_data_format(data_format, name)
        self.dilation_rate = C.normalize_tuple(dilation_rate, rank, "dilation_rate", name)
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        set_weight_args(
            self,
            depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
        )

    def build(self, input_shape):
        channels = self._build_depthwise(input_shape)
        self.bias = bias_weight(self, channels * self.depth_multiplier)

    def _build_depthwise(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = input_shape[channel_axis(self.data_format)]
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel",
            (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        return channels

    def compute_output_shape(self, input_shape):
        """The output shape from shapes alone (no data is made)."""
        shape = tuple(input_shape)
        channels = self._output_channels(shape[channel_axis(self.data_format)] if shape else None)
        return spatial_output_shape(self, shape, self.rank, channels, self._output_length)

    def _output_channels(self, channels):
        return None if channels is None else channels * self.depth_multiplier

    def _output_length(self, axis, length):
        return C.conv_output_length(length, self.kernel_size[axis], self.strides[axis],
                                    self.dilation_rate[axis], self.padding)

    def _depthwise(self, inputs):
        from tapeflow.ops import reshape

        channels = self.depthwise_kernel.shape[-2]
        kernel = reshape(self.depthwise_kernel, (*self.kernel_size, 1, channels * self.depth_multiplier))
        return C.conv(
            inputs, kernel, self.strides, self.padding, self.dilation_rate, channels, self.data_format
        )

    def call(self, inputs):
        return biased_activation(self, self._depthwise(inputs))

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_config(self, *self._DEPTHWISE),
        }


@register_serializable
class DepthwiseConv1D(DepthwiseConv):
    """Depthwise 1-D convolution over ``(batch, steps, channels)`` (see :class:`DepthwiseConv`).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.DepthwiseConv1D(3, depth_multiplier=2)(tp.ones((1, 8, 3))).shape
        (1, 6, 6)
    """

    rank = 1


@register_serializable
class DepthwiseConv2D(DepthwiseConv):
    """Depthwise 2-D convolution over images (see :class:`DepthwiseConv`).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.DepthwiseConv2D(3, depth_multiplier=2)(tp.ones((1, 5, 5, 3))).shape
        (1, 3, 3, 6)
    """

    rank = 2


class SeparableConv(DepthwiseConv):
    """A depthwise convolution followed by a pointwise (kernel size 1) convolution to ``filters`` channels;
    the base of SeparableConv1D/2D.

    Args:
        filters: output channels. Others as :class:`DepthwiseConv`, plus ``pointwise_initializer``,
            ``pointwise_regularizer`` and ``pointwise_constraint``.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        pointwise_initializer="glorot_uniform",
        pointwise_regularizer=None,
        pointwise_constraint=None,
        **kwargs,
    ):
        super().__init__(kernel_size, **kwargs)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(
                f"{type(self).__name__}: `filters` must be a positive integer. Received: filters={filters!r}"
            )
        self.filters = filters
        set_weight_args(
            self,
            pointwise_initializer=pointwise_initializer,
            pointwise_regularizer=pointwise_regularizer,
            pointwise_constraint=pointwise_constraint,
        )

    def build(self, input_shape):
        channels = self._build_depthwise(input_shape)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            (*(1,) * self.rank, channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
        )
        self.bias = bias_weight(self, self.filters)

    def _output_channels(self, channels):
        return self.filters

    def call(self, inputs):
        y = C.conv(self._depthwise(inputs), self.pointwise_kernel, data_format=self.data_format)
        return biased_activation(self, y)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            **weight_config(self, "pointwise_initializer", "pointwise_regularizer", "pointwise_constraint"),
        }


@register_serializable
class SeparableConv1D(SeparableConv):
    """Separable 1-D convolution (see :class:`SeparableConv`).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.SeparableConv1D(4, 3, padding="same")(tp.ones((1, 6, 3))).shape
        (1, 6, 4)
    """

    rank = 1


@register_serializable
class SeparableConv2D(SeparableConv):
    """Separable 2-D convolution (see :class:`SeparableConv`).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.SeparableConv2D(8, 3, padding="same")(tp.ones((1, 6, 6, 3))).shape
        (1, 6, 6, 8)
    """

    rank = 2


__all__ = [
    "Conv",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "ConvTranspose",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "DepthwiseConv",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv",
    "SeparableConv1D",
    "SeparableConv2D",
]
