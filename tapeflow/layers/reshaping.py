"""Spatial reshaping layers: UpSampling1D/2D/3D, ZeroPadding1D/2D/3D, Cropping1D/2D/3D.

Each works on ``(batch, *spatial, channels)`` (or channels first) and changes only the spatial lengths:
up-sampling multiplies them by ``size``, padding adds ``before + after`` zeros, cropping removes them.
"""

from __future__ import annotations

from tapeflow.layers.base import Layer, register_serializable
from tapeflow.layers.convolutional import check_rank
from tapeflow.ops import conv as C


def _pairs(value, rank, name, layer):
    """Keras's padding/cropping argument: an int, ``rank`` ints, or ``rank`` (before, after) pairs."""
    message = (
        f"{layer}: `{name}` must be an int, a tuple of {rank} ints, or a tuple of {rank} (before, after) "
        f"pairs. Received: {name}={value!r}"
    )
    if isinstance(value, int):
        value = (value,) * rank
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(message) from None
    if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        value = (value,)  # Keras's 1-D form: (before, after)
    if len(value) != rank:
        raise ValueError(message)
    out = []
    for v in value:
        pair = (v, v) if isinstance(v, int) else tuple(v)
        if len(pair) != 2 or any(not isinstance(p, int) or p < 0 for p in pair):
            raise ValueError(message)
        out.append(pair)
    return tuple(out)


class _Spatial(Layer):
    rank = None

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = C.normalize_data_format(data_format, type(self).__name__)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)

    def _map_spatial(self, input_shape, length):
        """``input_shape`` with spatial axis ``i`` of length ``n`` replaced by ``length(i, n)``."""
        shape = list(input_shape)
        check_rank(self, shape, self.rank)
        for i, axis in enumerate(self._spatial_axes()):
            shape[axis] = None if shape[axis] is None else length(i, shape[axis])
        return tuple(shape)

    def _spatial_axes(self):
        start = 2 if self.data_format == "channels_first" else 1
        return range(start, start + self.rank)

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.rank == 1:  # the 1-D layers have no data_format argument in Keras, only channels last
            del config["data_format"]
        return config


class UpSampling(_Spatial):
    """Repeat every spatial element ``size`` times per axis (base of UpSampling1D/2D/3D).

    Args:
        size: int or tuple, one factor per spatial axis.
        data_format: "channels_last" (default) or "channels_first".
        interpolation: "nearest" or "bilinear" (2-D only in Keras; any rank here).
    """

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = C.normalize_tuple(size, self.rank, "size", type(self).__name__)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"{type(self).__name__}: `interpolation` must be 'nearest' or 'bilinear'. "
                f"Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        """Each spatial length times its ``size``, from shapes alone (no data is made)."""
        return self._map_spatial(input_shape, lambda i, n: n * self.size[i])

    def call(self, inputs):
        return C.upsample(inputs, self.size, self.data_format, self.interpolation)

    def get_config(self):
        config = {**super().get_config(), "size": list(self.size)}
        if self.rank == 2:
            config["interpolation"] = self.interpolation
        return config


@register_serializable
class UpSampling1D(UpSampling):
    """Repeat each timestep ``size`` times: ``(batch, steps, features) -> (batch, steps * size, features)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.UpSampling1D(2)(tp.constant([[[1.0], [2.0]]]))[0, :, 0]
        tapeflow.Tensor([1. 1. 2. 2.], shape=(4,), dtype=float32)
    """

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, **kwargs)


@register_serializable
class UpSampling2D(UpSampling):
    """Scale images up: ``(batch, h, w, c) -> (batch, h * size[0], w * size[1], c)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.UpSampling2D((2, 3))(tp.ones((1, 4, 4, 2))).shape
        (1, 8, 12, 2)
    """

    rank = 2


@register_serializable
class UpSampling3D(UpSampling):
    """Scale volumes up along all three spatial axes."""

    rank = 3


class ZeroPadding(_Spatial):
    """Pad the spatial axes with zeros (base of ZeroPadding1D/2D/3D).

    Args:
        padding: int (same on both sides of every axis), tuple of ints (per axis), or tuple of (before,
            after).
        data_format: "channels_last" (default) or "channels_first".
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _pairs(padding, self.rank, "padding", type(self).__name__)

    def compute_output_shape(self, input_shape):
        """Each spatial length plus its padding, from shapes alone (no data is made)."""
        return self._map_spatial(input_shape, lambda i, n: n + sum(self.padding[i]))

    def call(self, inputs):
        from tapeflow.ops import pad

        widths = [(0, 0)] * inputs.ndim
        for axis, pair in zip(self._spatial_axes(), self.padding):
            widths[axis] = pair
        return pad(inputs, widths)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


@register_serializable
class ZeroPadding1D(ZeroPadding):
    """Zeros before and after the steps of ``(batch, steps, features)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.ZeroPadding1D((1, 2))(tp.ones((1, 3, 1)))[0, :, 0]
        tapeflow.Tensor([0. 1. 1. 1. 0. 0.], shape=(6,), dtype=float32)
    """

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, **kwargs)


@register_serializable
class ZeroPadding2D(ZeroPadding):
    """Zeros around images: ``(batch, h, w, c) -> (batch, h + top + bottom, w + left + right, c)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.ZeroPadding2D(((1, 0), (2, 2)))(tp.ones((1, 3, 3, 1))).shape
        (1, 4, 7, 1)
    """

    rank = 2


@register_serializable
class ZeroPadding3D(ZeroPadding):
    """Zeros around volumes."""

    rank = 3


class Cropping(_Spatial):
    """Remove elements from both ends of the spatial axes (base of Cropping1D/2D/3D).

    Args:
        cropping: int, tuple of ints (per axis), or tuple of (before, after) pairs.
        data_format: "channels_last" (default) or "channels_first".
    """

    def __init__(self, cropping=1, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs(cropping, self.rank, "cropping", type(self).__name__)

    def build(self, input_shape):
        super().build(input_shape)
        for axis, (a, b) in zip(self._spatial_axes(), self.cropping):
            length = input_shape[axis]
            if length is not None and a + b >= length:
                raise self._shape_error(
                    f"cropping {(a, b)} leaves nothing of axis {axis}", f"length > {a + b}", input_shape
                )

    def call(self, inputs):
        index = [slice(None)] * inputs.ndim
        for axis, (a, b) in zip(self._spatial_axes(), self.cropping):
            index[axis] = slice(a, inputs.shape[axis] - b)
        return inputs[tuple(index)]

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}


@register_serializable
class Cropping1D(Cropping):
    """Drop steps from both ends of ``(batch, steps, features)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Cropping1D((1, 2))(tp.ones((1, 6, 2))).shape
        (1, 3, 2)
    """

    rank = 1

    def __init__(self, cropping=1, **kwargs):
        super().__init__(cropping, **kwargs)


@register_serializable
class Cropping2D(Cropping):
    """Crop images: ``((top, bottom), (left, right))``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Cropping2D(((2, 2), (4, 4)))(tp.ones((1, 28, 28, 3))).shape
        (1, 24, 20, 3)
    """

    rank = 2


@register_serializable
class Cropping3D(Cropping):
    """Crop volumes along their three spatial axes."""

    rank = 3
