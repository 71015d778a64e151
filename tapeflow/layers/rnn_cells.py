"""Recurrent cells and the generic ``RNN(cell)`` layer that runs one over a sequence.

A cell is a layer computing one timestep: ``output, new_states = cell(x_t, states)``, with ``state_size``
(an int, or a list for several states) and, optionally, ``get_initial_state(batch, dtype)``. ``RNN`` runs any
such cell (your own too) step by step with ordinary tapeflow ops, so every cell gets gradients and second
derivatives for free; :class:`~tapeflow.layers.SimpleRNN`, :class:`~tapeflow.layers.LSTM` and
:class:`~tapeflow.layers.GRU` compute the same functions with fused whole-sequence ops and are faster. The
cells' weights have the layers' shapes and names, so weights move between the two.
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
from tapeflow.layers.serialization import deserialize, register_serializable, serialize

_WEIGHTS = ("kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
            "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
            "bias_constraint")


def lstm_step(z, c, units, activation, recurrent_activation):
    """An LSTM step's new ``(h, c)`` from the gates' pre-activations ``z = x W + h U + b`` (order i, f, c, o);
    shared by :class:`LSTMCell` and the per-step path of :class:`~tapeflow.layers.LSTM`."""
    n = units
    i = recurrent_activation(z[:, :n])
    f = recurrent_activation(z[:, n:2 * n])
    c = f * c + i * activation(z[:, 2 * n:3 * n])
    return recurrent_activation(z[:, 3 * n:]) * activation(c), c


def gru_step(zx, h, hr, recurrent_kernel, recurrent_bias, units, activation, recurrent_activation,
             reset_after):
    """A GRU step's new state from the input projection ``zx`` (its bias included), the state ``h`` and ``hr``
    (the state after recurrent dropout); ``recurrent_bias`` (or None) is added to the recurrent product when
    ``reset_after``. Shared by :class:`GRUCell` and the per-step path of :class:`~tapeflow.layers.GRU`."""
    n, u = units, recurrent_kernel
    if reset_after:
        rec = ops.matmul(hr, u)
        if recurrent_bias is not None:
            rec = rec + recurrent_bias
        zg = recurrent_activation(zx[:, :n] + rec[:, :n])
        r = recurrent_activation(zx[:, n:2 * n] + rec[:, n:2 * n])
        hh = activation(zx[:, 2 * n:] + r * rec[:, 2 * n:])
    else:
        rec = ops.matmul(hr, u[:, :2 * n])
        zg = recurrent_activation(zx[:, :n] + rec[:, :n])
        r = recurrent_activation(zx[:, n:2 * n] + rec[:, n:])
        hh = activation(zx[:, 2 * n:] + ops.matmul(r * hr, u[:, 2 * n:]))
    return zg * h + (1 - zg) * hh


def _sizes(state_size):
    return list(state_size) if isinstance(state_size, (list, tuple)) else [state_size]



def unit_forget_bias(base, n):
    """An LSTM bias initializer: ``base`` for the four gates' ``4 * n`` biases, then the forget gate's set
    to 1 (Keras's ``unit_forget_bias``). Shared by LSTMCell, LSTM and ConvLSTM."""

    def init(shape, dtype=None):
        value = B.xp.array(base((4 * n,), dtype=dtype))
        value[n:2 * n] = 1.0
        return value

    return init

class _Cell(Layer):
    """Shared by the three cells: arguments, weights, per-sequence dropout masks, config."""

    _gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"{name}: `units` must be a positive integer. Received: units={units!r}")
        for arg, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= float(value) < 1:
                raise ValueError(f"{name}: `{arg}` must be in [0, 1). Received: {arg}={value!r}")
        self.units = units
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        set_weight_args(
            self, kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.seed, self._rng = seed, None
        self._masks = {}

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        width = self._gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, width), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def get_initial_state(self, batch_size, dtype="float32"):
        """Zero states, one ``(batch_size, size)`` tensor per entry of ``state_size``."""
        return [zeros((batch_size, s), dtype=dtype) for s in _sizes(self.state_size)]

    def reset_dropout_mask(self):
        """Draw new dropout masks at the next step (``RNN`` calls this at the start of each sequence, so
        every timestep of a sequence shares one mask, as in Keras)."""
        self._masks = {}

    def _dropped(self, x, rate, key, training):
        if not rate or not in_training(training):
            return x
        if key not in self._masks:
            keep = _random.generator_of(self).random(tuple(x.shape)) >= rate
            self._masks[key] = (keep / (1.0 - rate)).astype(x.dtype)
        return x * self._masks[key]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": _activations.serialize(self.activation),
            "recurrent_activation": _activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            **weight_config(self, *_WEIGHTS),
        }


@register_serializable
class SimpleRNNCell(_Cell):
    """One step of :class:`~tapeflow.layers.SimpleRNN`: ``h' = activation(x W + h U + b)``.

    Example:
        >>> import tapeflow as tp
        >>> cell = tp.layers.SimpleRNNCell(4)
        >>> out, [h] = cell(tp.ones((2, 3)), [tp.zeros((2, 4))])
        >>> out.shape
        (2, 4)
    """

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, (list, tuple)) else states
        x = self._dropped(inputs, self.dropout, "input", training)
        hr = self._dropped(h, self.recurrent_dropout, "recurrent", training)
        z = ops.matmul(x, self.kernel) + ops.matmul(hr, self.recurrent_kernel)
        out = self.activation(z + self.bias if self.bias is not None else z)
        return out, [out]

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config


@register_serializable
class LSTMCell(_Cell):
    """One step of :class:`~tapeflow.layers.LSTM` (gates i, f, c, o; states ``[h, c]``).

    Args:
        unit_forget_bias: initialise the forget gate's bias to 1, as Keras does.
        Others: as :class:`SimpleRNNCell`, plus ``recurrent_activation`` (default sigmoid).

    Example:
        >>> import tapeflow as tp
        >>> cell = tp.layers.LSTMCell(4)
        >>> out, (h, c) = cell(tp.ones((2, 3)), cell.get_initial_state(2))
        >>> out.shape, c.shape
        ((2, 4), (2, 4))
    """

    _gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_init(self):
        return unit_forget_bias(self.bias_initializer, self.units) if self.unit_forget_bias \
            else self.bias_initializer

    def call(self, inputs, states, training=None):
        h, c = states
        x = self._dropped(inputs, self.dropout, "input", training)
        hr = self._dropped(h, self.recurrent_dropout, "recurrent", training)
        z = ops.matmul(x, self.kernel) + ops.matmul(hr, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        h, c = lstm_step(z, c, self.units, self.activation, self.recurrent_activation)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register_serializable
class GRUCell(_Cell):
    """One step of :class:`~tapeflow.layers.GRU` (gates z, r, h).

    Args:
        reset_after: apply the reset gate after the recurrent product (default, Keras's; bias ``(2, 3 *
            units)``) or before it (bias ``(3 * units,)``).

    Example:
        >>> import tapeflow as tp
        >>> out, [h] = tp.layers.GRUCell(4)(tp.ones((2, 3)), [tp.zeros((2, 4))])
        >>> h.shape
        (2, 4)
    """

    _gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, (list, tuple)) else states
        x = self._dropped(inputs, self.dropout, "input", training)
        hr = self._dropped(h, self.recurrent_dropout, "recurrent", training)
        zx = ops.matmul(x, self.kernel)
        if self.bias is not None:
            zx = zx + (self.bias[0] if self.reset_after else self.bias)
        recurrent_bias = self.bias[1] if self.bias is not None and self.reset_after else None
        h = gru_step(zx, h, hr, self.recurrent_kernel, recurrent_bias, self.units, self.activation,
                     self.recurrent_activation, self.reset_after)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@register_serializable
class StackedRNNCells(Layer):
    """Several cells run as one: each step feeds the output of a cell to the next; the states are all the
    cells' states, in order.

    Example:
        >>> import tapeflow as tp
        >>> cells = tp.layers.StackedRNNCells([tp.layers.LSTMCell(4), tp.layers.GRUCell(3)])
        >>> tp.layers.RNN(cells)(tp.ones((2, 5, 6))).shape
        (2, 3)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        self.cells = [deserialize(c) if isinstance(c, dict) else c for c in cells]
        if not self.cells:
            raise ValueError("StackedRNNCells: `cells` must be a non-empty list of cells")

    @property
    def state_size(self):
        return [s for cell in self.cells for s in _sizes(cell.state_size)]

    @property
    def output_size(self):
        return getattr(self.cells[-1], "output_size", _sizes(self.cells[-1].state_size)[0])

    def get_initial_state(self, batch_size, dtype="float32"):
        return [zeros((batch_size, s), dtype=dtype) for s in self.state_size]

    def reset_dropout_mask(self):
        for cell in self.cells:
            if hasattr(cell, "reset_dropout_mask"):
                cell.reset_dropout_mask()

    def call(self, inputs, states, training=None):
        new_states, pos, x = [], 0, inputs
        for cell in self.cells:
            n = len(_sizes(cell.state_size))
            x, cell_states = cell(x, list(states[pos:pos + n]), training=training)
            new_states.extend(cell_states if isinstance(cell_states, (list, tuple)) else [cell_states])
            pos += n
        return x, new_states

    def get_config(self):
        return {**super().get_config(), "cells": [serialize(c) for c in self.cells]}


@register_serializable
class RNN(Layer):
    """Run a cell over the timesteps of a sequence.

    Args:
        cell: a cell (a layer with ``state_size`` whose call is ``cell(x_t, states) -> (output,
            new_states)``), or a list of cells (stacked).
        return_sequences: return every step's output ``(batch, timesteps, output_size)``, not only the last.
        return_state: also return the final states: ``[output, *states]``.
        go_backwards: read the sequence from the end (the output sequence is then in reversed order, as
            Keras).
        zero_output_for_mask: at masked steps output zeros instead of repeating the previous output.

    Call arguments:
        inputs: ``(batch, timesteps, features)``.
        mask: optional boolean ``(batch, timesteps)`` (default: the mask attached to ``inputs``): masked steps
            keep the states unchanged.
        initial_state: a list of state tensors; default the cell's ``get_initial_state`` or zeros.
        training: passed to the cell (its dropout).

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.RNN(tp.layers.LSTMCell(8), return_sequences=True)
        >>> layer(tp.ones((2, 5, 3))).shape
        (2, 5, 8)
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = deserialize(cell)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell, dtype=self.dtype)
        if not hasattr(cell, "state_size") or not callable(cell):
            raise ValueError(f"RNN: `cell` must be a layer with a `state_size` (such as LSTMCell). "
                             f"Received: cell={cell!r}")
        if stateful:
            raise ValueError("RNN: stateful=True is not supported; pass the states with initial_state=")
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.unroll = bool(go_backwards), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    def _initial_states(self, initial_state, batch, dtype):
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            sizes = _sizes(self.cell.state_size)
            if len(states) != len(sizes) or any(tuple(s.shape) != (batch, n) for s, n in zip(states, sizes)):
                raise ValueError(f"RNN '{self.name}': `initial_state` must be {len(sizes)} tensor(s) of "
                                 f"shapes {[(batch, n) for n in sizes]}. Received shapes "
                                 f"{[tuple(s.shape) for s in states]}")
            return [ops.cast(s, dtype) if s.dtype != dtype else s for s in states]
        if hasattr(self.cell, "get_initial_state"):
            return list(self.cell.get_initial_state(batch, dtype))
        return [zeros((batch, n), dtype=dtype) for n in _sizes(self.cell.state_size)]

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if inputs.ndim < 3:
            raise self._shape_error("needs (batch, timesteps, features)", "rank >= 3", inputs.shape)
        batch, steps = inputs.shape[:2]
        if mask is None:
            mask = get_mask(inputs)
        if mask is not None:
            mask = B.xp.asarray(getattr(mask, "_value", mask)).astype(bool)
        states = self._initial_states(initial_state, batch, inputs.dtype)
        if hasattr(self.cell, "reset_dropout_mask"):
            self.cell.reset_dropout_mask()
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs, last = [], None
        for t in order:
            out, new = self.cell(inputs[:, t], states, training=training)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            if mask is not None:
                keep = mask[:, t].reshape(-1, *(1,) * (out.ndim - 1)).astype(out.dtype)
                new = [keep * n + (1 - keep) * s for n, s in zip(new, states)]
                previous = last if last is not None and not self.zero_output_for_mask else ops.zeros_like(out)
                out = keep * out + (1 - keep) * previous
            states, last = new, out
            outputs.append(out)
        if not outputs:
            raise self._shape_error("needs at least one timestep", "timesteps >= 1", inputs.shape)
        if self.return_sequences:
            output = ops.stack(outputs, axis=1)
            if mask is not None:
                set_mask(output, mask[:, ::-1] if self.go_backwards else mask)
        else:
            output = last
        return [output, *states] if self.return_state else output

    def get_config(self):
        return {
            **super().get_config(), "cell": serialize(self.cell), "return_sequences": self.return_sequences,
            "return_state": self.return_state, "go_backwards": self.go_backwards, "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN", "lstm_step", "gru_step"]
