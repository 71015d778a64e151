"""Image preprocessing and augmentation layers: Rescaling, Resizing, CenterCrop, and the random ones
(RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, RandomCrop).

Images are ``(batch, height, width, channels)`` (or one ``(height, width, channels)`` image), channels last
unless ``data_format="channels_first"``. Everything is written in tensor ops, so gradients flow through these
layers to their inputs: a resize is two products with fixed interpolation matrices, and the random geometric
transforms gather the four neighbours of each sampled point. The random layers act only while training
(``training=True``; ``fit`` sets it) and are the identity at inference (RandomCrop: a center crop-and-resize),
as in Keras. Their draws come from the layer's own generator when ``seed`` is given, else from
``tp.random.generator()``.
"""

from __future__ import annotations

import numpy as np

from tapeflow import _trace, ops
from tapeflow import random as _random
from tapeflow._tensor import Tensor
from tapeflow.layers.base import Layer, in_training, register_serializable
from tapeflow.ops import conv as C

_INTERPOLATIONS = ("bilinear", "nearest")
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _choice(layer_name, arg, value, choices):
    if value not in choices:
        raise ValueError(f"{layer_name}: `{arg}` must be one of {list(choices)}. Received: {arg}={value!r}")
    return value


def _size(layer_name, arg, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer_name}: `{arg}` must be a positive integer. Received: {arg}={value!r}")
    return int(value)


def _factor_range(layer_name, arg, factor, low=-np.inf, high=np.inf):
    """Keras's factor argument: a number ``f`` means ``(-f, f)``, a pair is ``(lower, upper)``."""
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        pair = (-abs(float(factor)), abs(float(factor)))
    else:
        pair = tuple(float(f) for f in factor)
        if len(pair) != 2 or pair[0] > pair[1]:
            raise ValueError(f"{layer_name}: `{arg}` must be a number or a pair (lower, upper) with "
                             f"lower <= upper. Received: {arg}={factor!r}")
    if pair[0] < low or pair[1] > high:
        raise ValueError(f"{layer_name}: `{arg}` must lie in [{low}, {high}]. Received: {arg}={factor!r}")
    return pair


class _ImageLayer(Layer):
    """Shared: one image or a batch, channels first or last; the work is done on a channels-last batch."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = C.normalize_data_format(data_format, type(self).__name__)

    def call(self, inputs, training=None):
        if inputs.ndim not in (3, 4):
            raise self._shape_error("needs images", "(batch, height, width, channels) or one image",
                                    inputs.shape)
        single = inputs.ndim == 3
        x = ops.expand_dims(inputs, 0) if single else inputs
        x = C.to_channels_last(x, self.data_format)
        y = self._images(x, training)
        y = C.from_channels_last(y, self.data_format)
        return y[0] if single else y

    def _images(self, x, training):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


# --- resizing: two products with interpolation matrices -----------------------------------------------------
def interpolation_matrix(n_in, n_out, interpolation, dtype):
    """``(n_out, n_in)`` weights that resize one axis (half-pixel centers, edges clamped)."""
    scale = n_in / n_out
    centers = (np.arange(n_out) + 0.5) * scale - 0.5
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if interpolation == "nearest":
        m[rows, np.clip(np.floor((np.arange(n_out) + 0.5) * scale), 0, n_in - 1).astype(int)] = 1.0
        return m.astype(dtype)
    src = np.clip(centers, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    np.add.at(m, (rows, lo), 1 - frac)
    np.add.at(m, (rows, hi), frac)
    return m.astype(dtype)


def resize_images(x, height, width, interpolation="bilinear"):
    """Resize a channels-last batch ``(b, h, w, c)`` to ``(b, height, width, c)`` (differentiable)."""
    _, h, w, _ = x.shape
    if (h, w) == (height, width):
        return x
    mh = Tensor(interpolation_matrix(h, height, interpolation, x.dtype))
    mw = Tensor(interpolation_matrix(w, width, interpolation, x.dtype))
    return ops.einsum("Hh,bhwc,Ww->bHWc", mh, x, mw)


def _aspect_crop(h, w, height, width):
    """The centered window of ``(h, w)`` with the aspect ratio of ``(height, width)``: (top, left, ch, cw)."""
    ch, cw = min(h, int(round(w * height / width))), min(w, int(round(h * width / height)))
    ch, cw = max(ch, 1), max(cw, 1)
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def crop_and_resize(x, height, width, interpolation):
    """Keras's "smart resize": the largest centered window of the target aspect ratio, resized."""
    _, h, w, _ = x.shape
    top, left, ch, cw = _aspect_crop(h, w, height, width)
    return resize_images(x[:, top:top + ch, left:left + cw, :], height, width, interpolation)


@register_serializable
class Rescaling(Layer):
    """``inputs * scale + offset`` (e.g. ``scale=1/255`` maps pixels to [0, 1]).

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Rescaling(1 / 255)(tp.constant([[0.0, 255.0]]))
        tapeflow.Tensor(
        [[0. 1.]], shape=(1, 2), dtype=float32)
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, inputs):
        y = inputs * self.scale
        return y + self.offset if self.offset else y

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@register_serializable
class Resizing(_ImageLayer):
    """Resize images to ``(height, width)``.

    Args:
        height, width: the output size.
        interpolation: "bilinear" (half-pixel centers, as TensorFlow's resize without antialiasing) or
            "nearest".
        crop_to_aspect_ratio: first crop the largest centered window of the target aspect ratio, so the
            image is not distorted.
        data_format: "channels_last" (default) or "channels_first".

    Shape:
        ``(batch, h, w, c) -> (batch, height, width, c)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Resizing(4, 6)(tp.ones((2, 8, 8, 3))).shape
        (2, 4, 6, 3)
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, data_format=None,
                 **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = _size("Resizing", "height", height), _size("Resizing", "width", width)
        self.interpolation = _choice("Resizing", "interpolation", interpolation, _INTERPOLATIONS)
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)

    def _images(self, x, training):
        if self.crop_to_aspect_ratio:
            return crop_and_resize(x, self.height, self.width, self.interpolation)
        return resize_images(x, self.height, self.width, self.interpolation)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


@register_serializable
class CenterCrop(_ImageLayer):
    """Crop the central ``(height, width)`` window; an image smaller than that along an axis is first
    cropped to the target aspect ratio and resized (as Keras does).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.CenterCrop(2, 3)(tp.ones((1, 5, 5, 1))).shape
        (1, 2, 3, 1)
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = _size("CenterCrop", "height", height), _size("CenterCrop", "width", width)

    def _images(self, x, training):
        _, h, w, _ = x.shape
        if h < self.height or w < self.width:
            return crop_and_resize(x, self.height, self.width, "bilinear")
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return x[:, top:top + self.height, left:left + self.width, :]

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


# --- the random layers --------------------------------------------------------------------------------------
class _RandomImageLayer(_ImageLayer):
    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed, self._rng = seed, None

    def _images(self, x, training):
        if not in_training(training):
            return self._inference(x)
        if _trace.state.recorder is not None:
            raise _trace.state.recorder.error(
                f"{type(self).__name__} draws its random transforms in NumPy, which a trace cannot repeat; "
                f"run it eagerly (or outside the traced function, in the input pipeline)"
            )
        return self._augment(x, _random.generator_of(self))

    def _inference(self, x):
        return x

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@register_serializable
class RandomFlip(_RandomImageLayer):
    """Flip each image left-right and/or up-down with probability 1/2 while training.

    Args:
        mode: "horizontal", "vertical" or "horizontal_and_vertical".
        seed: an optional seed for this layer's own generator.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.RandomFlip("horizontal", seed=0)
        >>> layer(tp.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    _MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.mode = _choice("RandomFlip", "mode", mode, self._MODES)

    def _augment(self, x, rng):
        b = x.shape[0]
        for axis, name in ((2, "horizontal"), (1, "vertical")):
            if name in self.mode:
                flip = Tensor((rng.random(b) < 0.5).reshape(b, 1, 1, 1))
                x = ops.where(flip, ops.flip(x, axis=axis), x)
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _map_coordinates(c, n, fill_mode):
    """Keras/TensorFlow's fill modes for a coordinate outside ``[0, n - 1]`` (constant: left as it is)."""
    if fill_mode == "reflect":
        if n == 1:
            return np.zeros_like(c)
        c = np.mod(c + 0.5, 2 * n) - 0.5
        return np.where(c > n - 0.5, 2 * n - 1 - c, c)
    if fill_mode == "wrap":
        return np.mod(c + 0.5, n) - 0.5
    if fill_mode == "nearest":
        return np.clip(c, 0, n - 1)
    return c


def transform_images(x, rows, cols, interpolation="bilinear", fill_mode="reflect", fill_value=0.0):
    """Sample a channels-last batch ``(b, h, w, c)`` at input coordinates ``rows, cols`` (``(b, H, W)``
    arrays): the value at output pixel ``(i, j)`` of image ``k`` is ``x[k]`` at ``(rows[k, i, j], cols[k, i,
    j])``, interpolated, with points outside handled by ``fill_mode``. Differentiable in ``x``."""
    b, h, w, c = x.shape
    rows, cols = _map_coordinates(rows, h, fill_mode), _map_coordinates(cols, w, fill_mode)
    if interpolation == "nearest":
        corners = [(np.round(rows), np.round(cols), np.ones_like(rows))]
    else:
        r0, c0 = np.floor(rows), np.floor(cols)
        fr, fc = rows - r0, cols - c0
        corners = [(r0, c0, (1 - fr) * (1 - fc)), (r0, c0 + 1, (1 - fr) * fc),
                   (r0 + 1, c0, fr * (1 - fc)), (r0 + 1, c0 + 1, fr * fc)]
    flat = ops.reshape(x, (b * h * w, c))
    base = (np.arange(b) * h * w).reshape(b, 1, 1)
    out, outside = None, np.zeros(rows.shape)
    for r, q, weight in corners:
        inside = (r >= 0) & (r <= h - 1) & (q >= 0) & (q <= w - 1)
        idx = base + np.clip(r, 0, h - 1).astype(np.int64) * w + np.clip(q, 0, w - 1).astype(np.int64)
        if fill_mode == "constant":
            outside = outside + weight * ~inside
            weight = weight * inside
        term = ops.reshape(ops.take(flat, idx.ravel(), axis=0), (*rows.shape, c))
        term = term * Tensor(weight[..., None].astype(x.dtype))
        out = term if out is None else out + term
    if fill_mode == "constant" and fill_value:
        out = out + Tensor((outside * fill_value)[..., None].astype(x.dtype))
    return out


def _grid(h, w):
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    return rows, cols


class _RandomTransform(_RandomImageLayer):
    """Shared by the geometric layers: interpolation and fill settings, and the sampling."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", fill_value=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        name = type(self).__name__
        self.fill_mode = _choice(name, "fill_mode", fill_mode, _FILL_MODES)
        self.interpolation = _choice(name, "interpolation", interpolation, _INTERPOLATIONS)
        self.fill_value = float(fill_value)

    def _augment(self, x, rng):
        b, h, w, _ = x.shape
        rows, cols = self._coordinates(rng, b, h, w)
        return transform_images(x, rows, cols, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


@register_serializable
class RandomRotation(_RandomTransform):
    """Rotate each image by a random angle while training.

    Args:
        factor: a fraction of a full turn: ``f`` draws angles in ``[-f * 2pi, f * 2pi]``, a pair
            ``(lower, upper)`` in ``[lower * 2pi, upper * 2pi]``; positive angles turn counter-clockwise.
        fill_mode: "reflect" (default), "wrap", "constant" (``fill_value``) or "nearest": how points outside
            the image are filled.
        interpolation: "bilinear" or "nearest".

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.RandomRotation(0.1, seed=1)(tp.ones((2, 5, 5, 1)), training=True).shape
        (2, 5, 5, 1)
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, **kwargs)
        self.factor = _factor_range("RandomRotation", "factor", factor)

    def _coordinates(self, rng, b, h, w):
        angle = rng.uniform(*self.factor, size=(b, 1, 1)) * 2 * np.pi
        rows, cols = _grid(h, w)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        dy, dx = rows - cy, cols - cx
        cos, sin = np.cos(angle), np.sin(angle)
        return cos * dy + sin * dx + cy, cos * dx - sin * dy + cx

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


@register_serializable
class RandomZoom(_RandomTransform):
    """Zoom each image in or out by a random amount while training.

    Args:
        height_factor: ``f`` or ``(lower, upper)``, in ``(-1, ...)``: the image is scaled by
            ``1 / (1 + draw)``: a positive draw zooms out (the image shrinks), a negative one zooms in.
        width_factor: the same for the width; None (default) uses the height's draw, keeping the aspect
            ratio.
        fill_mode, interpolation, fill_value, seed: as :class:`RandomRotation`.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.RandomZoom(0.2, seed=1)(tp.ones((2, 5, 5, 1)), training=True).shape
        (2, 5, 5, 1)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, **kwargs)
        self.height_factor = _factor_range("RandomZoom", "height_factor", height_factor, low=-1)
        self.width_factor = (None if width_factor is None
                             else _factor_range("RandomZoom", "width_factor", width_factor, low=-1))

    def _coordinates(self, rng, b, h, w):
        zy = 1 + rng.uniform(*self.height_factor, size=(b, 1, 1))
        zx = zy if self.width_factor is None else 1 + rng.uniform(*self.width_factor, size=(b, 1, 1))
        rows, cols = _grid(h, w)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        return (rows - cy) * zy + cy, (cols - cx) * zx + cx

    def get_config(self):
        wf = None if self.width_factor is None else list(self.width_factor)
        return {**super().get_config(), "height_factor": list(self.height_factor), "width_factor": wf}


@register_serializable
class RandomTranslation(_RandomTransform):
    """Shift each image by a random fraction of its height and width while training.

    Args:
        height_factor, width_factor: ``f`` or ``(lower, upper)``, fractions of the size in ``[-1, 1]``;
            positive values shift down / right.
        fill_mode, interpolation, fill_value, seed: as :class:`RandomRotation`.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.RandomTranslation(0.2, 0.2, seed=1)(tp.ones((2, 5, 5, 1)), training=True).shape
        (2, 5, 5, 1)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, **kwargs)
        self.height_factor = _factor_range("RandomTranslation", "height_factor", height_factor, -1, 1)
        self.width_factor = _factor_range("RandomTranslation", "width_factor", width_factor, -1, 1)

    def _coordinates(self, rng, b, h, w):
        dy = rng.uniform(*self.height_factor, size=(b, 1, 1)) * h
        dx = rng.uniform(*self.width_factor, size=(b, 1, 1)) * w
        rows, cols = _grid(h, w)
        return rows - dy, cols - dx

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": list(self.width_factor)}


class _RandomIntensity(_RandomImageLayer):
    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        name = type(self).__name__
        low, high = (float(v) for v in value_range)
        if low >= high:
            raise ValueError(f"{name}: `value_range` must be (low, high) with low < high. "
                             f"Received: value_range={tuple(value_range)}")
        self.value_range = (low, high)
        self.factor = self._factor(name, factor)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


@register_serializable
class RandomContrast(_RandomIntensity):
    """Scale each image's deviation from its per-channel mean by a random factor while training, then clip
    to ``value_range``.

    Formula:
        ``y = clip((x - mean) * f + mean, *value_range)``, ``f`` drawn from ``[1 - lower, 1 + upper]``.

    Args:
        factor: ``f`` (in ``[0, 1]``, meaning ``(f, f)``) or ``(lower, upper)``.
        value_range: the range of the pixel values (default ``(0, 255)``).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.RandomContrast(0.5, seed=1)(tp.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    @staticmethod
    def _factor(name, factor):
        pair = (factor, factor) if isinstance(factor, (int, float)) else tuple(factor)
        if len(pair) != 2 or not all(0 <= float(f) <= 1 for f in pair):
            raise ValueError(f"{name}: `factor` must be a number in [0, 1] or a pair of them (the contrast "
                             f"is drawn from [1 - lower, 1 + upper]). Received: factor={factor!r}")
        return tuple(float(f) for f in pair)

    def _augment(self, x, rng):
        lower, upper = self.factor
        f = Tensor(rng.uniform(1 - lower, 1 + upper, size=(x.shape[0], 1, 1, 1)).astype(x.dtype))
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        return ops.clip((x - mean) * f + mean, *self.value_range)


@register_serializable
class RandomBrightness(_RandomIntensity):
    """Add a random offset to each image while training, then clip to ``value_range``.

    Formula:
        ``y = clip(x + d * (high - low), low, high)``, ``d`` drawn from ``[lower, upper]``.

    Args:
        factor: ``f`` (in ``[-1, 1]``) or ``(lower, upper)``: the offset as a fraction of the value range.
        value_range: the range of the pixel values (default ``(0, 255)``).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.RandomBrightness(0.2, seed=1)(tp.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    @staticmethod
    def _factor(name, factor):
        return _factor_range(name, "factor", factor, -1.0, 1.0)

    def _augment(self, x, rng):
        low, high = self.value_range
        d = rng.uniform(*self.factor, size=(x.shape[0], 1, 1, 1)) * (high - low)
        return ops.clip(x + Tensor(d.astype(x.dtype)), low, high)


@register_serializable
class RandomCrop(_RandomImageLayer):
    """Crop a random ``(height, width)`` window of each image while training; at inference (and for images
    smaller than the window) crop the largest centered window of that aspect ratio and resize it.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.RandomCrop(3, 3, seed=0)(tp.ones((2, 5, 6, 1)), training=True).shape
        (2, 3, 3, 1)
    """

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height, self.width = _size("RandomCrop", "height", height), _size("RandomCrop", "width", width)

    def _inference(self, x):
        return crop_and_resize(x, self.height, self.width, "bilinear")

    def _augment(self, x, rng):
        b, h, w, _ = x.shape
        if h < self.height or w < self.width:
            return self._inference(x)
        tops = rng.integers(0, h - self.height + 1, size=b)
        lefts = rng.integers(0, w - self.width + 1, size=b)
        rows = tops[:, None, None] + np.arange(self.height)[None, :, None] + np.zeros((1, 1, self.width))
        cols = lefts[:, None, None] + np.arange(self.width)[None, None, :] + np.zeros((1, self.height, 1))
        return transform_images(x, rows, cols, "nearest", "nearest")

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


__all__ = ["Rescaling", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom",
           "RandomTranslation", "RandomContrast", "RandomBrightness", "RandomCrop"]
