"""Recurrent layers: SimpleRNN, LSTM, GRU, and the wrappers Bidirectional and TimeDistributed.

Inputs are ``(batch, timesteps, features)``. The input projection of every timestep is one matrix product;
the recurrence itself runs in a fused whole-sequence op (:mod:`tapeflow.ops.recurrent`) with a hand-written
backward through time, so each step costs one small matrix product and a few in-place updates. Activations
the fused ops do not know (any callable) fall back to a per-step loop of ordinary tapeflow ops — slower, but
any activation works and second derivatives are available there.

Masks (from ``Masking``, ``Embedding(mask_zero=True)`` or ``mask=``) make a layer skip padded timesteps: the
state carries over, and with ``return_sequences`` the output at a skipped step repeats the previous output."""

from __future__ import annotations

import functools

from tapeflow import _backend as B
from tapeflow import _trace, ops
from tapeflow import activations as _activations
from tapeflow import random as _random
from tapeflow.creation import zeros
from tapeflow.layers.base import Layer, in_training
from tapeflow.layers.convolutional import set_weight_args, weight_config
from tapeflow.layers.masking import get_mask, set_mask
from tapeflow.layers.rnn_cells import RNN, gru_step, lstm_step, unit_forget_bias
from tapeflow.layers.serialization import deserialize, register_serializable, serialize
from tapeflow.ops import fusable, fused
from tapeflow.ops import recurrent as R

_WEIGHTS = (
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
)


def _keep_mask(rng, shape, rate, dtype):  # a tp.function draws it again on every call
    return ((B.uniform(rng, shape) >= rate) / (1 - rate)).astype(dtype)


class FusedRNN(Layer):
    """Common machinery of SimpleRNN, LSTM and GRU (not used directly; ``tp.layers.RNN(cell)`` is the layer
    that runs any cell).

    Args:
        units: the size of the state.
        activation: the state activation (default tanh).
        recurrent_activation: the gates' activation (LSTM, GRU; default sigmoid).
        use_bias: whether to add biases.
        kernel_initializer, recurrent_initializer, bias_initializer: default glorot_uniform, orthogonal,
            zeros.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties on those weights.
        dropout: fraction of the input features dropped while training (one mask for all timesteps).
        recurrent_dropout: fraction of the state dropped before the recurrent product while training.
        return_sequences: return every timestep's output ``(batch, timesteps, units)``, not only the last.
        return_state: also return the final state(s): ``[output, h]`` (``[output, h, c]`` for LSTM).
        go_backwards: read the sequence from the end (the output sequence is then in reversed order, as
            Keras).
        seed: optional seed for the dropout masks.

    Call arguments:
        inputs: ``(batch, timesteps, features)``.
        mask: optional boolean ``(batch, timesteps)``; default the mask attached to ``inputs``, if any.
        training: dropout only while training.
        initial_state: a tensor or list of tensors ``(batch, units)`` (LSTM: ``[h, c]``); default zeros.
    """

    _gates = 1
    _n_states = 1

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"{name}: `units` must be a positive integer. Received: units={units!r}")
        for arg, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= float(value) < 1:
                raise ValueError(f"{name}: `{arg}` must be in [0, 1). Received: {arg}={value!r}")
        self.units = units
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
        )
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.seed = seed
        self._rng = None

    # --- weights --------------------------------------------------------------------------------------------
    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise self._shape_error(
                "needs (batch, timesteps, features) with known features", "rank 3", input_shape
            )
        width = self._gates * self.units
        self.kernel = self.add_weight(
            "kernel", (input_shape[-1], width), self.kernel_initializer, regularizer=self.kernel_regularizer
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            (self.units, width),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
        )
        self.bias = (
            self.add_weight("bias", self._bias_shape(), self._bias_init(), regularizer=self.bias_regularizer)
            if self.use_bias
            else None
        )

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def _input_bias(self):
        return self.bias

    def compute_output_shape(self, input_shape):
        """``(batch, units)``, or ``(batch, timesteps, units)`` with ``return_sequences``, followed by the
        final states with ``return_state``: from shapes alone (no timestep is run)."""
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise self._shape_error("needs (batch, timesteps, features)", "rank 3", shape)
        out = (shape[0], shape[1], self.units) if self.return_sequences else (shape[0], self.units)
        return [out, *[(shape[0], self.units)] * self._n_states] if self.return_state else out

    # --- the call -------------------------------------------------------------------------------------------
    def _keep_mask(self, shape, rate, dtype):
        return _trace.source(functools.partial(_random.generator_of, self), _keep_mask, shape, rate, dtype)

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if inputs.ndim != 3:
            raise self._shape_error("needs (batch, timesteps, features)", "rank 3", inputs.shape)
        batch, steps, features = inputs.shape
        if mask is None:
            mask = get_mask(inputs)
        training = in_training(training)
        x = inputs
        if training and self.dropout > 0:
            x = x * self._keep_mask((batch, 1, features), self.dropout, x.dtype)
        rec_mask = None
        if training and self.recurrent_dropout > 0:
            rec_mask = self._keep_mask((batch, self.units), self.recurrent_dropout, x.dtype)
        xt = ops.transpose(x, (1, 0, 2))
        step_mask = None
        if mask is not None:
            mask = B.xp.asarray(getattr(mask, "_value", mask)).astype(bool)
            if mask.shape != (batch, steps):
                raise self._shape_error(
                    f"the mask must be (batch, timesteps) = {(batch, steps)}; got {mask.shape}",
                    "a matching mask",
                    inputs.shape,
                )
            step_mask = mask.T[:, :, None].astype(x.dtype)
        if self.go_backwards:
            xt = ops.flip(xt, axis=0)
            step_mask = None if step_mask is None else step_mask[::-1]
        # the input projection of every timestep: one matrix product with the bias fused in
        zx = ops.reshape(
            fused.dense(ops.reshape(xt, (steps * batch, features)), self.kernel, self._input_bias()),
            (steps, batch, self._gates * self.units),
        )
        states = self._initial_states(initial_state, batch, x.dtype)
        seq, final = self._run(zx, states, step_mask, rec_mask)
        output = ops.transpose(seq, (1, 0, 2)) if self.return_sequences else final[0]
        if self.return_sequences and mask is not None:
            set_mask(output, mask[:, ::-1] if self.go_backwards else mask)
        return [output, *final] if self.return_state else output

    def _initial_states(self, initial_state, batch, dtype):
        if initial_state is None:
            return [zeros((batch, self.units), dtype=dtype) for _ in range(self._n_states)]
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != self._n_states:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': `initial_state` needs {self._n_states} "
                f"tensor(s) of shape (batch, {self.units}). Received {len(states)}"
            )
        out = []
        for s in states:
            s = ops.cast(s, dtype) if getattr(s, "dtype", None) != dtype else s
            if tuple(s.shape) != (batch, self.units):
                raise self._shape_error(
                    f"each initial state must be (batch, units) = {(batch, self.units)}",
                    (batch, self.units),
                    s.shape,
                )
            out.append(s)
        return out

    def _run(self, zx, states, step_mask, rec_mask):
        """Return ``(sequence (timesteps, batch, units), [final states])``."""
        act = fusable.lookup(self.activation)
        ract = fusable.lookup(self.recurrent_activation)
        if act is not None and ract is not None and self._fusable():
            return self._fused(zx, states, step_mask, rec_mask, act, ract)
        if zx.shape[0] == 0:  # no timesteps: an empty sequence and the initial states, as Keras
            return zeros((0, zx.shape[1], self.units), dtype=zx.dtype), [ops.identity(s) for s in states]
        outputs = []
        for t in range(zx.shape[0]):
            hr = states[0] if rec_mask is None else states[0] * rec_mask
            new = self._step(zx[t], hr, states)
            if step_mask is not None:
                m = step_mask[t]
                new = [m * n + (1 - m) * s for n, s in zip(new, states)]
            states = new
            outputs.append(states[0])
        return ops.stack(outputs), states

    def _fusable(self):
        return True

    def get_config(self):
        config = {
            **super().get_config(),
            "units": self.units,
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "seed": self.seed,
            **weight_config(self, *_WEIGHTS),
        }
        if self._gates > 1:
            config["recurrent_activation"] = _activations.serialize(self.recurrent_activation)
        return config


@register_serializable
class SimpleRNN(FusedRNN):
    """Fully connected recurrence ``h_t = activation(x_t W + h_{t-1} U + b)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.SimpleRNN(4, return_sequences=True)(tp.ones((2, 5, 3))).shape
        (2, 5, 4)
    """

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def _fused(self, zx, states, step_mask, rec_mask, act, ract):
        seq, last = R.simple_rnn(
            zx, states[0], self.recurrent_kernel, mask=step_mask, recurrent_mask=rec_mask, activation=act
        )
        return seq, [last]

    def _step(self, z, hr, states):
        return [self.activation(z + ops.matmul(hr, self.recurrent_kernel))]


@register_serializable
class LSTM(FusedRNN):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), Keras's gate order i, f, c, o.

    ``i, f, o = σ(x W + h U + b)``, ``c' = f c + i tanh(...)``, ``h' = o tanh(c')``; the four gates are one
    matrix
    product per step.

    Args:
        unit_forget_bias: initialise the forget gate's bias to 1 (Jozefowicz et al., 2015), as Keras does.
        Others as :class:`FusedRNN`.

    Example:
        >>> import tapeflow as tp
        >>> out, h, c = tp.layers.LSTM(8, return_state=True)(tp.ones((2, 5, 3)))
        >>> out.shape, c.shape
        ((2, 8), (2, 8))
    """

    _gates = 4
    _n_states = 2

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        return unit_forget_bias(self.bias_initializer, self.units) if self.unit_forget_bias \
            else self.bias_initializer

    def _fused(self, zx, states, step_mask, rec_mask, act, ract):
        seq, h, c = R.lstm(
            zx,
            states[0],
            states[1],
            self.recurrent_kernel,
            mask=step_mask,
            recurrent_mask=rec_mask,
            activation=act,
            recurrent_activation=ract,
        )
        return seq, [h, c]

    def _step(self, z, hr, states):
        z = z + ops.matmul(hr, self.recurrent_kernel)
        return list(lstm_step(z, states[1], self.units, self.activation, self.recurrent_activation))

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register_serializable
class GRU(FusedRNN):
    """Gated recurrent unit (Cho et al., 2014), Keras's gate order z, r, h.

    Args:
        reset_after: apply the reset gate after the recurrent product (Keras's default, True; the bias is then
            ``(2, 3 * units)``: input and recurrent rows) or before it (False; bias ``(3 * units,)``,
            per-step path).
        Others as :class:`FusedRNN`.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.GRU(6)(tp.ones((2, 5, 3))).shape
        (2, 6)
    """

    _gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self):
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def _recurrent_bias(self, dtype):
        if self.bias is None or not self.reset_after:
            return zeros((3 * self.units,), dtype=dtype)
        return self.bias[1]

    def _fusable(self):
        return self.reset_after

    def _fused(self, zx, states, step_mask, rec_mask, act, ract):
        seq, h = R.gru(
            zx,
            states[0],
            self.recurrent_kernel,
            self._recurrent_bias(zx.dtype),
            mask=step_mask,
            recurrent_mask=rec_mask,
            activation=act,
            recurrent_activation=ract,
        )
        return seq, [h]

    def _step(self, z, hr, states):
        return [gru_step(z, states[0], hr, self.recurrent_kernel, self._recurrent_bias(z.dtype), self.units,
                         self.activation, self.recurrent_activation, self.reset_after)]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


# --- wrappers -----------------------------------------------------------------------------------------------
_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@register_serializable
class Bidirectional(Layer):
    """Run a recurrent layer forwards and a copy of it backwards, and merge their outputs.

    Args:
        layer: a recurrent layer (SimpleRNN, LSTM, GRU, or RNN(cell)).
        merge_mode: "concat" (default), "sum", "mul", "ave", or None (a list of both outputs).
        backward_layer: optional explicit backward layer (default: a copy of ``layer`` with ``go_backwards``
            flipped).

    Shape:
        ``(batch, timesteps, features) -> (batch, [timesteps,] 2 * units)`` with "concat".

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Bidirectional(tp.layers.LSTM(4, return_sequences=True))(tp.ones((2, 5, 3))).shape
        (2, 5, 8)
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if isinstance(layer, dict):
            layer = deserialize(layer)
        if isinstance(backward_layer, dict):
            backward_layer = deserialize(backward_layer)
        super().__init__(**kwargs)
        if not isinstance(layer, (FusedRNN, RNN)):
            raise ValueError(f"Bidirectional: `layer` must be a recurrent layer (SimpleRNN, LSTM, GRU, RNN). "
                             f"Received: {layer!r}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Bidirectional: `merge_mode` must be one of {_MERGE_MODES}. "
                f"Received: merge_mode={merge_mode!r}"
            )
        self.forward_layer = layer
        self._explicit_backward = backward_layer is not None
        if backward_layer is None:
            config = layer.get_config()
            config.update(go_backwards=not layer.go_backwards, name=f"backward_{layer.name}")
            backward_layer = type(layer).from_config(config)
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if mask is None:
            mask = get_mask(inputs)
        fwd_state = bwd_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fwd_state, bwd_state = initial_state[:half], initial_state[half:]
        y_f = self.forward_layer(inputs, mask=mask, training=training, initial_state=fwd_state)
        y_b = self.backward_layer(inputs, mask=mask, training=training, initial_state=bwd_state)
        states = []
        if self.return_state:
            y_f, *s_f = y_f
            y_b, *s_b = y_b
            states = s_f + s_b
        if self.return_sequences:
            y_b = ops.flip(y_b, axis=1)  # back into forward time order
        if self.merge_mode == "concat":
            out = ops.concatenate([y_f, y_b], axis=-1)
        elif self.merge_mode == "sum":
            out = y_f + y_b
        elif self.merge_mode == "mul":
            out = y_f * y_b
        elif self.merge_mode == "ave":
            out = (y_f + y_b) * 0.5
        else:
            out = [y_f, y_b]
        if self.return_sequences and mask is not None and self.merge_mode is not None:
            set_mask(out, mask)
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def get_config(self):
        config = {
            **super().get_config(),
            "layer": serialize(self.forward_layer),
            "merge_mode": self.merge_mode,
        }
        if self._explicit_backward:
            config["backward_layer"] = serialize(self.backward_layer)
        return config


@register_serializable
class TimeDistributed(Layer):
    """Apply a layer to every timestep (every frame of a video) independently.

    The timesteps are folded into the batch, so the wrapped layer runs once on ``(batch * timesteps, ...)``
    — one big matrix product per convolution, not one per frame.

    Args:
        layer: the layer to apply (its weights are shared across timesteps).

    Shape:
        ``(batch, timesteps, *inner) -> (batch, timesteps, *layer_output)``.

    Example:
        >>> import tapeflow as tp
        >>> video = tp.ones((2, 6, 16, 16, 1))  # (samples, frames, h, w, channels)
        >>> tp.layers.TimeDistributed(tp.layers.Conv2D(4, 3))(video).shape
        (2, 6, 14, 14, 4)
    """

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):
            layer = deserialize(layer)
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: `layer` must be a Layer. Received: {layer!r}")
        self.layer = layer

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise self._shape_error(
                "needs (batch, timesteps, ...) with at least 3 dimensions", "rank >= 3", input_shape
            )

    def call(self, inputs, training=None):
        batch, steps = inputs.shape[:2]
        mask = get_mask(inputs)
        y = self.layer(ops.reshape(inputs, (batch * steps, *inputs.shape[2:])), training=training)
        out = ops.reshape(y, (batch, steps, *y.shape[1:]))
        return set_mask(out, mask) if mask is not None else out

    def get_config(self):
        return {**super().get_config(), "layer": serialize(self.layer)}
