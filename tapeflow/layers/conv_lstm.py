"""Convolutional LSTMs (Shi et al., 2015): an LSTM whose input and recurrent products are convolutions, for
sequences of images (ConvLSTM2D), of 1-D signals (ConvLSTM1D) or of volumes (ConvLSTM3D).

The input convolution of every timestep is one convolution over the batch and time folded together; the
recurrence then runs step by step with a "same"-padded convolution of the state.
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow import activations as _activations
from tapeflow import ops
from tapeflow import random as _random
from tapeflow.creation import zeros
from tapeflow.layers.base import Layer, in_training
from tapeflow.layers.convolutional import set_weight_args, weight_config
from tapeflow.layers.masking import get_mask, set_mask
from tapeflow.layers.rnn_cells import unit_forget_bias
from tapeflow.layers.serialization import register_serializable
from tapeflow.ops import conv as C

_WEIGHTS = ("kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
            "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
            "bias_constraint")


class ConvLSTM(Layer):
    """The base of ConvLSTM1D/2D/3D (which set ``rank``).

    Args:
        filters: the channels of the state and output.
        kernel_size, strides, padding ("valid" or "same"), data_format, dilation_rate: of the input
            convolution, as :class:`~tapeflow.layers.Conv2D`; the recurrent convolution uses the same kernel
            size with stride 1 and "same" padding.
        activation, recurrent_activation: default tanh and sigmoid.
        unit_forget_bias: start the forget gate's bias at 1.
        dropout, recurrent_dropout: fractions of the input / state dropped while training (one mask for the
            whole sequence).
        return_sequences, return_state, go_backwards: as :class:`~tapeflow.layers.LSTM`.
        Initializers, regularizers and constraints of ``kernel``, ``recurrent_kernel`` and ``bias``.

    Shape:
        ``(batch, time, *spatial, channels) -> (batch, [time,] *out_spatial, filters)`` (channels first:
        channels after time); the kernel is ``(*kernel_size, channels, 4 * filters)`` (gates i, f, c, o) as
        in Keras.
    """

    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 seed=None, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 **kwargs):
        super().__init__(**kwargs)
        name, rank = type(self).__name__, self.rank
        if rank is None:
            raise TypeError(f"{name} is a base class: use ConvLSTM1D, ConvLSTM2D or ConvLSTM3D")
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{name}: `filters` must be a positive integer. Received: filters={filters!r}")
        if stateful:
            raise ValueError(f"{name}: stateful=True is not supported; pass the states with initial_state=")
        for arg, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= float(value) < 1:
                raise ValueError(f"{name}: `{arg}` must be in [0, 1). Received: {arg}={value!r}")
        self.filters = filters
        self.kernel_size = C.normalize_tuple(kernel_size, rank, "kernel_size", name)
        self.strides = C.normalize_tuple(strides, rank, "strides", name)
        self.padding = C.normalize_padding(padding, name)
        self.data_format = C.normalize_data_format(data_format, name)
        self.dilation_rate = C.normalize_tuple(dilation_rate, rank, "dilation_rate", name)
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.use_bias, self.unit_forget_bias = bool(use_bias), bool(unit_forget_bias)
        set_weight_args(
            self, kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.seed, self._rng = seed, None
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 3:
            raise self._shape_error(f"needs (batch, time, {self.rank} spatial axes, channels)",
                                    f"rank {self.rank + 3}", input_shape)
        channels = input_shape[2] if self.data_format == "channels_first" else input_shape[-1]
        f = self.filters
        self.kernel = self.add_weight("kernel", (*self.kernel_size, channels, 4 * f), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (*self.kernel_size, f, 4 * f), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            init = self.bias_initializer
            if self.unit_forget_bias:
                init = unit_forget_bias(init, f)
            self.bias = self.add_weight("bias", (4 * f,), init, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def _keep(self, shape, rate, dtype):
        return ((_random.generator_of(self).random(shape) >= rate) / (1.0 - rate)).astype(dtype)

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if inputs.ndim != self.rank + 3:
            raise self._shape_error(f"needs (batch, time, {self.rank} spatial axes, channels)",
                                    f"rank {self.rank + 3}", inputs.shape)
        if mask is None:
            mask = get_mask(inputs)
        x = inputs
        if self.data_format == "channels_first":  # (b, t, c, *s) -> (b, t, *s, c)
            x = ops.transpose(x, (0, 1, *range(3, self.rank + 3), 2))
        batch, steps = x.shape[:2]
        training = in_training(training)
        if training and self.dropout:
            x = x * self._keep((batch, 1, *x.shape[2:]), self.dropout, x.dtype)
        folded = ops.reshape(x, (batch * steps, *x.shape[2:]))
        zx = C.conv(folded, self.kernel, self.strides, self.padding, self.dilation_rate, bias=self.bias)
        zx = ops.reshape(zx, (batch, steps, *zx.shape[1:]))
        state_shape = (batch, *zx.shape[2:-1], self.filters)
        h, c = self._initial_states(initial_state, state_shape, x.dtype)
        rec_mask = None
        if training and self.recurrent_dropout:
            rec_mask = self._keep(state_shape, self.recurrent_dropout, x.dtype)
        f = self.filters
        keep_steps = None if mask is None else B.xp.asarray(getattr(mask, "_value", mask)).astype(bool)
        outputs = []
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        for t in order:
            hr = h if rec_mask is None else h * rec_mask
            z = zx[:, t] + C.conv(hr, self.recurrent_kernel, 1, "same")
            i = self.recurrent_activation(z[..., :f])
            g = self.recurrent_activation(z[..., f:2 * f])
            new_c = g * c + i * self.activation(z[..., 2 * f:3 * f])
            new_h = self.recurrent_activation(z[..., 3 * f:]) * self.activation(new_c)
            if keep_steps is not None:
                m = keep_steps[:, t].reshape(-1, *(1,) * (len(state_shape) - 1)).astype(new_h.dtype)
                new_h, new_c = m * new_h + (1 - m) * h, m * new_c + (1 - m) * c
            h, c = new_h, new_c
            outputs.append(h)
        out = ops.stack(outputs, axis=1) if self.return_sequences else h
        if self.data_format == "channels_first":
            out = self._channels_first(out)
            h, c = self._channels_first(h), self._channels_first(c)
        if self.return_sequences and keep_steps is not None:
            set_mask(out, keep_steps[:, ::-1] if self.go_backwards else keep_steps)
        return [out, h, c] if self.return_state else out

    def _channels_first(self, y):
        n = y.ndim
        if n == self.rank + 2:  # a state (b, *s, f)
            return ops.transpose(y, (0, n - 1, *range(1, n - 1)))
        return ops.transpose(y, (0, 1, n - 1, *range(2, n - 1)))

    def _initial_states(self, initial_state, shape, dtype):
        if initial_state is None:
            return zeros(shape, dtype=dtype), zeros(shape, dtype=dtype)
        states = list(initial_state)
        if self.data_format == "channels_first":
            states = [ops.transpose(s, (0, *range(2, s.ndim), 1)) for s in states]
        if len(states) != 2 or any(tuple(s.shape) != shape for s in states):
            raise ValueError(f"{type(self).__name__} '{self.name}': `initial_state` must be [h, c] of shape "
                             f"{shape} (channels last). Received shapes {[tuple(s.shape) for s in states]}")
        return states

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
            "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate), "activation": _activations.serialize(self.activation),
            "recurrent_activation": _activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias, "unit_forget_bias": self.unit_forget_bias, "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, **weight_config(self, *_WEIGHTS),
        }


@register_serializable
class ConvLSTM1D(ConvLSTM):
    """ConvLSTM over sequences of 1-D signals ``(batch, time, length, channels)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.ConvLSTM1D(4, 3, padding="same")(tp.ones((2, 5, 8, 3))).shape
        (2, 8, 4)
    """

    rank = 1


@register_serializable
class ConvLSTM2D(ConvLSTM):
    """ConvLSTM over sequences of images ``(batch, time, rows, cols, channels)`` (video frames).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.ConvLSTM2D(4, 3, return_sequences=True)(tp.ones((2, 3, 6, 6, 1))).shape
        (2, 3, 4, 4, 4)
    """

    rank = 2


@register_serializable
class ConvLSTM3D(ConvLSTM):
    """ConvLSTM over sequences of volumes ``(batch, time, d1, d2, d3, channels)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.ConvLSTM3D(2, 2)(tp.ones((1, 2, 3, 3, 3, 1))).shape
        (1, 2, 2, 2, 2)
    """

    rank = 3


__all__ = ["ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
