"""Activation layers: ``ReLU``, ``LeakyReLU``, ``PReLU`` (a learned slope), ``ELU`` and ``Softmax``.

Each is the function of the same name in :mod:`tapeflow.activations` as a layer, with Keras's arguments, so
it can sit in a ``Sequential`` list between a linear layer and the next.
"""

from __future__ import annotations

from tapeflow import activations as _activations
from tapeflow import initializers as _initializers
from tapeflow import ops
from tapeflow import regularizers as _regularizers
from tapeflow.layers.base import Layer, register_serializable


def _float(name, value, low=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (low is not None and value < low):
        bound = f" >= {low}" if low is not None else ""
        raise ValueError(f"`{name}` must be a number{bound}. Received: {name}={value!r}")
    return float(value)


@register_serializable
class ReLU(Layer):
    """Rectified linear unit: ``x`` above ``threshold``, ``negative_slope * (x - threshold)`` below, capped
    at ``max_value``.

    Args:
        max_value: the cap (None: no cap).
        negative_slope: the slope below the threshold (0: plain ReLU).
        threshold: where the slope changes.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.ReLU(max_value=1.0)([[-1.0, 0.5, 3.0]])
        tapeflow.Tensor(
        [[0.  0.5 1. ]], shape=(1, 3), dtype=float32)
    """

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _float("max_value", max_value, 0.0)
        self.negative_slope = _float("negative_slope", negative_slope, 0.0)
        self.threshold = _float("threshold", threshold)

    def call(self, inputs):
        return _activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@register_serializable
class LeakyReLU(Layer):
    """``x`` if ``x > 0`` else ``negative_slope * x``.

    Args:
        negative_slope: the slope for negative inputs (Keras 3's default 0.3); tf.keras's ``alpha=`` is
            accepted as the same thing.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.LeakyReLU(negative_slope=0.2)([[-1.0, 2.0]])
        tapeflow.Tensor(
        [[-0.2  2. ]], shape=(1, 2), dtype=float32)
    """

    supports_masking = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _float("negative_slope", negative_slope, 0.0)

    def call(self, inputs):
        return ops.leaky_relu(inputs, alpha=self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@register_serializable
class PReLU(Layer):
    """Parametric ReLU: ``x`` if ``x > 0`` else ``alpha * x``, with ``alpha`` learned per input element.

    Args:
        alpha_initializer: the initial slopes (default zeros: starts as a ReLU).
        alpha_regularizer: a penalty on the slopes.
        alpha_constraint: a callable applied to the slopes after each update.
        shared_axes: axes (counted without the batch axis, from 1) along which one slope is shared, e.g.
            ``[1, 2]`` for one slope per channel of an image.

    Shape:
        unchanged; ``alpha`` has the input's shape without the batch axis, with 1 on ``shared_axes``.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.PReLU(alpha_initializer=tp.initializers.Constant(0.5))
        >>> layer([[-2.0, 2.0]])
        tapeflow.Tensor(
        [[-1.  2.]], shape=(1, 2), dtype=float32)
        >>> layer.weights[0].shape
        (2,)
    """

    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = _initializers.get(alpha_initializer)
        self._config_init = alpha_initializer
        self.alpha_regularizer = _regularizers.get(alpha_regularizer)
        self.alpha_constraint = alpha_constraint
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            self.shared_axes = [int(a) for a in axes]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis <= len(shape):
                raise ValueError(
                    f"Layer '{self.name}' (PReLU): shared axis {axis} is outside 1..{len(shape)} for inputs "
                    f"of shape {tuple(input_shape)}"
                )
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(
                f"Layer '{self.name}' (PReLU): every non-batch axis needs a known size or a place in "
                f"shared_axes; received input shape {tuple(input_shape)}"
            )
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)

    def call(self, inputs):
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def get_config(self):
        init = self._config_init
        return {**super().get_config(),
                "alpha_initializer": init if isinstance(init, str) else _initializers.serialize(init),
                "alpha_regularizer": _regularizers.serialize(self.alpha_regularizer),
                "shared_axes": self.shared_axes}


@register_serializable
class ELU(Layer):
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.ELU()([[0.0, 1.0]])
        tapeflow.Tensor(
        [[0. 1.]], shape=(1, 2), dtype=float32)
    """

    supports_masking = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _float("alpha", alpha)

    def call(self, inputs):
        return ops.elu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register_serializable
class Softmax(Layer):
    """Softmax over ``axis``; positions where ``mask`` is False get probability 0.

    Args:
        axis: the axis (or list of axes) normalized over.

    Call arguments:
        mask: optional booleans broadcastable to the input; False excludes a position.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Softmax()([[1.0, 1.0]], mask=[[True, False]])
        tapeflow.Tensor(
        [[1. 0.]], shape=(1, 2), dtype=float32)
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]

    def call(self, inputs, mask=None):
        if mask is not None:
            # a large negative score underflows to exactly 0 after the exponential
            inputs = ops.where(ops.cast(mask, "bool"), inputs, -1e9)
        if isinstance(self.axis, int):
            return _activations.softmax(inputs, axis=self.axis)
        return ops.exp(inputs - ops.logsumexp(inputs, axis=tuple(self.axis), keepdims=True))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

