"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization, RMSNormalization and
UnitNormalization."""

from __future__ import annotations

from tapeflow import initializers as _initializers
from tapeflow import ops
from tapeflow import regularizers as _regularizers
from tapeflow._trace import host
from tapeflow.layers.base import Layer, in_training, register_serializable


def _axes(axis, ndim, layer):
    axes = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise layer._shape_error(
                f"axis {a} is out of range", f"an input of rank > {max(a, -a - 1)}", (None,) * ndim
            )
        out.append(a % ndim)
    return sorted(out)


def _initializer_config(init):
    return init if isinstance(init, str) else _initializers.serialize(_initializers.get(init))


def _moments(x, axes):
    """``mean``, ``x - mean`` and the (biased) variance over ``axes``, reduced axes kept."""
    mean = ops.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    return mean, centered, ops.mean(ops.square(centered), axis=axes, keepdims=True)


class _Normalization(Layer):
    """Shared by both: the normalized axes, epsilon, and the learned scale (gamma) and shift (beta)."""

    supports_masking = True

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]
        if epsilon <= 0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon}")
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self._inits = (beta_initializer, gamma_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)

    def _build_params(self, input_shape):
        ndim = len(input_shape)
        self._param_axes = _axes(self.axis, ndim, self)
        shape = tuple(input_shape[a] for a in self._param_axes)
        if None in shape:
            raise self._shape_error("the normalized axes must have known sizes", "known sizes", input_shape)
        self._param_shape = shape
        self._broadcast = tuple(input_shape[a] if a in self._param_axes else 1 for a in range(ndim))
        self._ndim = ndim
        # gamma and beta broadcast as they are over the last axis; other axes need them reshaped
        self._reshape_params = self._param_axes != [ndim - 1]
        self.gamma = (
            self.add_weight("gamma", shape, self._inits[1], regularizer=self.gamma_regularizer)
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight("beta", shape, self._inits[0], regularizer=self.beta_regularizer)
            if self.center
            else None
        )

    def _check(self, inputs):
        if inputs.ndim != self._ndim or any(
            inputs.shape[a] != s for a, s in zip(self._param_axes, self._param_shape)
        ):
            expected = tuple(self._param_shape)
            raise self._shape_error(
                f"the sizes of axes {self._param_axes} differ from those it was built for",
                f"sizes {expected} on those axes (rank {self._ndim})",
                inputs.shape,
            )

    def _affine(self, y):
        if self.gamma is not None:
            y = y * (ops.reshape(self.gamma, self._broadcast) if self._reshape_params else self.gamma)
        if self.beta is not None:
            y = y + (ops.reshape(self.beta, self._broadcast) if self._reshape_params else self.beta)
        return y

    def _base_config(self):
        inits = [_initializer_config(i) for i in self._inits]
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": inits[0],
            "gamma_initializer": inits[1],
            "beta_regularizer": _regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": _regularizers.serialize(self.gamma_regularizer),
        }


@register_serializable
class BatchNormalization(_Normalization):
    """Normalize each feature over the batch while training; use moving averages at inference.

    Formula:
        training: ``y = gamma * (x - mean_batch) / sqrt(var_batch + epsilon) + beta``, and
        ``moving = momentum * moving + (1 - momentum) * batch_statistic``; inference uses the moving
        statistics.

    Args:
        axis: the feature axis (default -1, channels last).
        momentum: of the moving averages.
        epsilon: added to the variance.
        center, scale: learn ``beta`` / ``gamma``.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> bn = tp.layers.BatchNormalization(name="bn")
        >>> y = bn(tp.constant([[1.0, 2.0], [3.0, 6.0]]), training=True)
        >>> [round(float(v), 3) for v in tp.mean(y, axis=0)]
        [0.0, 0.0]
        >>> [w.name for w in bn.non_trainable_weights]
        ['bn/moving_mean', 'bn/moving_variance']
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        **kwargs,
    ):
        super().__init__(axis=axis, epsilon=epsilon, **kwargs)  # center, scale, beta_/gamma_ options
        if not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be in [0, 1]. Received: momentum={momentum}")
        self.momentum = float(momentum)
        self._moving_inits = (moving_mean_initializer, moving_variance_initializer)

    def build(self, input_shape):
        self._build_params(input_shape)
        self.moving_mean = self.add_weight(
            "moving_mean", self._param_shape, self._moving_inits[0], trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", self._param_shape, self._moving_inits[1], trainable=False
        )
        self._reduce = tuple(a for a in range(self._ndim) if a not in self._param_axes)

    def call(self, inputs, training=None):
        self._check(inputs)
        if in_training(training):
            mean, centered, var = _moments(inputs, self._reduce)
            self._update_moving(mean, var)
            y = centered / ops.sqrt(var + self.epsilon)
        else:
            mean = ops.reshape(self.moving_mean, self._broadcast)
            var = ops.reshape(self.moving_variance, self._broadcast)
            y = (inputs - mean) / ops.sqrt(var + self.epsilon)
        return self._affine(y)

    @host()  # inside a tp.function: on every call, with that call's batch statistics
    def _update_moving(self, mean, var):
        m = self.momentum
        self.moving_mean.assign(
            self.moving_mean._value * m + mean._value.reshape(self._param_shape) * (1 - m)
        )
        self.moving_variance.assign(
            self.moving_variance._value * m + var._value.reshape(self._param_shape) * (1 - m)
        )

    def get_config(self):
        inits = [_initializer_config(i) for i in self._moving_inits]
        return {
            **self._base_config(),
            "momentum": self.momentum,
            "moving_mean_initializer": inits[0],
            "moving_variance_initializer": inits[1],
        }


@register_serializable
class LayerNormalization(_Normalization):
    """Normalize each sample over ``axis`` (the features), then scale and shift.

    Formula:
        ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``, statistics over ``axis`` of each sample.

    Args:
        axis: the axis or axes to normalize over (default -1).
        epsilon: added to the variance.
        center, scale: learn ``beta`` / ``gamma``.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> y = tp.layers.LayerNormalization()(tp.constant([[1.0, 3.0]]))
        >>> [round(float(v), 4) for v in y[0]]
        [-0.9995, 0.9995]
    """

    def build(self, input_shape):
        self._build_params(input_shape)

    def call(self, inputs):
        self._check(inputs)
        _, centered, var = _moments(inputs, tuple(self._param_axes))
        return self._affine(centered / ops.sqrt(var + self.epsilon))

    def get_config(self):
        return self._base_config()


@register_serializable
class GroupNormalization(_Normalization):
    """Split the channels (``axis``) into ``groups`` and normalize each sample's groups separately, over the
    group's channels and every other non-batch axis; then scale and shift per channel.

    Formula:
        ``y = gamma * (x - mean_group) / sqrt(var_group + epsilon) + beta``

    Args:
        groups: the number of groups (it must divide the channel count); 1 is a layer normalization over all
            non-batch axes, ``groups == channels`` an instance normalization.
        axis: the channel axis (default -1). Others as :class:`LayerNormalization`.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> y = tp.layers.GroupNormalization(groups=2)(tp.constant([[1.0, 3.0, 10.0, 20.0]]))
        >>> [round(float(v), 3) for v in y[0]]
        [-1.0, 1.0, -1.0, 1.0]
    """

    def __init__(self, groups=32, axis=-1, **kwargs):
        if not isinstance(axis, int):
            raise ValueError(f"GroupNormalization: `axis` must be one int. Received: axis={axis!r}")
        super().__init__(axis=axis, **kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"`groups` must be a positive integer. Received: groups={groups!r}")
        self.groups = groups

    def build(self, input_shape):
        self._build_params(input_shape)
        channels = self._param_shape[0]
        if channels % self.groups:
            raise self._shape_error(
                f"groups={self.groups} must divide the {channels} channels", "channels % groups == 0",
                input_shape,
            )

    def call(self, inputs):
        self._check(inputs)
        axis = self._param_axes[0]
        shape = tuple(inputs.shape)
        split = (*shape[:axis], self.groups, shape[axis] // self.groups, *shape[axis + 1:])
        grouped = ops.reshape(inputs, split)
        reduce = tuple(a for a in range(1, len(split)) if a != axis)
        _, centered, var = _moments(grouped, reduce)
        return self._affine(ops.reshape(centered / ops.sqrt(var + self.epsilon), shape))

    def get_config(self):
        return {**self._base_config(), "groups": self.groups}


@register_serializable
class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm along ``axis``.

    Formula:
        ``y = x / sqrt(max(sum(x**2, axis), 1e-12))``

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.UnitNormalization()(tp.constant([[3.0, 4.0]]))
        tapeflow.Tensor(
        [[0.6 0.8]], shape=(1, 2), dtype=float32)
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]

    def call(self, inputs):
        axes = _axes(self.axis, inputs.ndim, self)
        squares = ops.sum(ops.square(inputs), axis=tuple(axes), keepdims=True)
        return inputs / ops.sqrt(ops.maximum(squares, 1e-12))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@register_serializable
class RMSNormalization(Layer):
    """Scale each sample by the root mean square of its values along ``axis``, then by a learned ``scale``
    (Zhang & Sennrich, 2019): a LayerNormalization without centering.

    Formula:
        ``y = x / sqrt(mean(x**2, axis) + epsilon) * scale``

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> y = tp.layers.RMSNormalization()(tp.constant([[3.0, 4.0]]))
        >>> [round(float(v), 4) for v in y[0]]
        [0.8485, 1.1314]
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]
        if epsilon <= 0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon}")
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        axes = _axes(self.axis, len(input_shape), self)
        self._axes = tuple(axes)
        shape = tuple(input_shape[a] if a in axes else 1 for a in range(len(input_shape)))[1:]
        self.scale = self.add_weight("scale", tuple(input_shape[a] for a in axes), "ones")
        self._broadcast = (1, *shape)

    def call(self, inputs):
        ms = ops.mean(ops.square(inputs), axis=self._axes, keepdims=True)
        scale = self.scale
        if self._axes != (inputs.ndim - 1,):  # the scale broadcasts as it is over the last axis only
            scale = ops.reshape(scale, self._broadcast)
        return inputs / ops.sqrt(ms + self.epsilon) * scale

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
