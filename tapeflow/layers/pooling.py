"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D and the global poolings.

Shapes follow Keras: with ``pool_size`` p and ``strides`` s (default p), "valid" gives ``floor((length - p)
/ s) + 1`` and "same" ``ceil(length / s)``; global poolings drop the spatial axes (or keep them as size 1
with ``keepdims=True``)."""

from __future__ import annotations

from tapeflow.layers._masks import get_mask
from tapeflow.layers.base import Layer, register_serializable
from tapeflow.layers.convolutional import check_rank
from tapeflow.ops import conv as C
from tapeflow.ops import pooling as P


class Pooling(Layer):
    """N-d max or average pooling (the base of the MaxPooling/AveragePooling layers).

    Args:
        rank: the number of spatial axes.
        pool_size: int or tuple, the window.
        strides: int or tuple; None means ``pool_size``.
        padding: "valid" or "same".
        data_format: "channels_last" (default) or "channels_first".
    """

    _pool = None

    def __init__(self, rank, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.rank = rank
        self.pool_size = C.normalize_tuple(pool_size, rank, "pool_size", name)
        self.strides = (
            self.pool_size if strides is None else C.normalize_tuple(strides, rank, "strides", name)
        )
        self.padding = C.normalize_padding(padding, name)
        self.data_format = C.normalize_data_format(data_format, name)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)

    def call(self, inputs):
        return type(self)._pool(inputs, self.pool_size, self.strides, self.padding, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


def _pooling_class(name, rank, kind, example):
    pool = P.max_pool if kind == "max" else P.avg_pool
    what = "Largest value" if kind == "max" else "Mean (padded positions excluded)"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        Pooling.__init__(self, rank, pool_size, strides, padding, data_format, **kwargs)

    doc = (
        f"{what} of each {rank}-D window.\n\n    Shape:\n        ``(batch, *spatial, channels) -> "
        f"(batch, *pooled, channels)``.\n\n    Example:\n        >>> import tapeflow as tp\n{example}\n"
    )
    cls = type(
        name,
        (Pooling,),
        {"__init__": __init__, "_pool": staticmethod(pool), "__doc__": doc, "__module__": __name__},
    )
    return register_serializable(cls)


MaxPooling1D = _pooling_class(
    "MaxPooling1D",
    1,
    "max",
    "        >>> tp.layers.MaxPooling1D(2)(tp.ones((2, 9, 3))).shape\n        (2, 4, 3)",
)
MaxPooling2D = _pooling_class(
    "MaxPooling2D",
    2,
    "max",
    "        >>> tp.layers.MaxPooling2D(2)(tp.ones((2, 26, 26, 8))).shape\n        (2, 13, 13, 8)",
)
MaxPooling3D = _pooling_class(
    "MaxPooling3D",
    3,
    "max",
    "        >>> tp.layers.MaxPooling3D(2, padding='same')(tp.ones((1, 3, 4, 5, 2))).shape\n"
    "        (1, 2, 2, 3, 2)",
)
AveragePooling1D = _pooling_class(
    "AveragePooling1D",
    1,
    "avg",
    "        >>> tp.layers.AveragePooling1D(3, strides=1)(tp.ones((2, 9, 3))).shape\n        (2, 7, 3)",
)
AveragePooling2D = _pooling_class(
    "AveragePooling2D",
    2,
    "avg",
    "        >>> tp.layers.AveragePooling2D()(tp.ones((1, 4, 4, 1)))[0, :, :, 0]\n"
    "        tapeflow.Tensor(\n        [[1. 1.]\n         [1. 1.]], shape=(2, 2), dtype=float32)",
)
AveragePooling3D = _pooling_class(
    "AveragePooling3D",
    3,
    "avg",
    "        >>> tp.layers.AveragePooling3D(2)(tp.ones((1, 4, 4, 4, 2))).shape\n        (1, 2, 2, 2, 2)",
)
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D


class GlobalPooling(Layer):
    """Reduce every spatial axis with ``max`` or ``mean`` (the base of the Global*Pooling layers).

    Args:
        rank: the number of spatial axes.
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the spatial axes with length 1.
    """

    _reduce = None

    def __init__(self, rank, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        self.data_format = C.normalize_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)

    def call(self, inputs):
        from tapeflow import ops

        start = 2 if self.data_format == "channels_first" else 1
        axes = tuple(range(start, start + self.rank))
        if self._reduce == "mean" and self.rank == 1:
            mask = get_mask(inputs)
            if mask is not None:
                return self._masked_mean(inputs, mask, start)
        fn = ops.max if self._reduce == "max" else ops.mean
        return fn(inputs, axis=axes, keepdims=self.keepdims)

    def _masked_mean(self, inputs, mask, axis):
        """The mean over the unmasked timesteps only, as Keras's GlobalAveragePooling1D with a mask."""
        from tapeflow import ops

        expected = (inputs.shape[0], inputs.shape[axis])
        if mask.shape != expected:
            raise self._shape_error(
                f"the mask must be (batch, timesteps) = {expected}; got {mask.shape}",
                "a matching mask",
                inputs.shape,
            )
        weights = mask.astype(inputs.dtype)
        weights = weights[:, :, None] if axis == 1 else weights[:, None, :]
        total = ops.sum(inputs * weights, axis=axis, keepdims=self.keepdims)
        count = weights.sum(axis=axis, keepdims=self.keepdims)
        return total / count.clip(min=1)  # a fully masked sample averages to zeros, not NaN

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


def _global_class(name, rank, kind):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        GlobalPooling.__init__(self, rank, data_format, keepdims, **kwargs)

    shape = "(batch, " + ", ".join("s" + str(i) for i in range(rank)) + ", channels)"
    doc = (
        f"{'Largest value' if kind == 'max' else 'Mean'} over the {rank} spatial axes.\n\n    Shape:\n"
        f"        ``{shape} -> (batch, channels)``.\n"
    )
    cls = type(
        name,
        (GlobalPooling,),
        {"__init__": __init__, "_reduce": kind, "__doc__": doc, "__module__": __name__},
    )
    return register_serializable(cls)


GlobalMaxPooling1D = _global_class("GlobalMaxPooling1D", 1, "max")
GlobalMaxPooling2D = _global_class("GlobalMaxPooling2D", 2, "max")
GlobalMaxPooling3D = _global_class("GlobalMaxPooling3D", 3, "max")
GlobalAveragePooling1D = _global_class("GlobalAveragePooling1D", 1, "mean")
GlobalAveragePooling2D = _global_class("GlobalAveragePooling2D", 2, "mean")
GlobalAveragePooling3D = _global_class("GlobalAveragePooling3D", 3, "mean")
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
)
