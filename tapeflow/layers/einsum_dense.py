"""EinsumDense: a dense layer whose product is any einsum equation between the input and a kernel."""

from __future__ import annotations

import re

from tapeflow import activations as _activations
from tapeflow import ops
from tapeflow.layers.base import Layer, register_serializable
from tapeflow.layers.convolutional import set_weight_args, weight_config

_WEIGHTS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
            "kernel_constraint", "bias_constraint")


def _parse(equation):
    """``(input_spec, kernel_spec, output_spec, ellipsis)`` of ``"ab,bc->ac"`` or ``"...b,bc->...c"``."""
    m = re.fullmatch(r"(\.\.\.)?([a-zA-Z]+),([a-zA-Z]+)->(\.\.\.)?([a-zA-Z]+)", equation.replace(" ", ""))
    if m is None or bool(m.group(1)) != bool(m.group(4)):
        raise ValueError(
            "EinsumDense: `equation` must look like 'ab,bc->ac' or '...b,bc->...c' (an ellipsis on the "
            f"left of both the input and the output, or on neither). Received: equation={equation!r}"
        )
    return m.group(2), m.group(3), m.group(5), bool(m.group(1))


@register_serializable
class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``, the kernel's shape read from the equation.

    Args:
        equation: ``"<input>,<kernel>-><output>"``, e.g. ``"ab,bc->ac"`` (a Dense layer) or
            ``"abc,cd->abd"`` (a Dense over the last axis of a sequence); a leading ``...`` on the input and
            the output stands for any leading axes.
        output_shape: the output's shape without the batch axis (and the ``...`` axes); an int for one
            axis; ``None`` entries are taken from the input.
        activation: a name or callable (None: linear).
        bias_axes: letters of the output that get a bias (the bias spans from the first of them to the last
            output axis, size 1 along the others); None: no bias.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint,
            bias_constraint: as :class:`Dense`.

    Shape:
        as the equation says; every kernel letter must appear in the input or the output.

    Raises:
        ValueError: for a malformed equation, a kernel letter that appears in neither operand, or an
            ``output_shape`` of the wrong length.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de")
        >>> layer(tp.ones((3, 5, 6))).shape
        (3, 5, 2, 4)
        >>> [w.shape for w in layer.weights]
        [(6, 2, 4), (2, 4)]
    """

    def __init__(
        self,
        equation,
        output_shape,
        activation=None,
        bias_axes=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._specs = _parse(equation)
        self.equation = equation
        shape = (output_shape,) if isinstance(output_shape, int) or output_shape is None else output_shape
        self.partial_output_shape = [None if s is None else int(s) for s in shape]
        in_spec, _, out_spec, _ = self._specs
        if len(self.partial_output_shape) != len(out_spec) - (0 if self._specs[3] else 1):
            raise ValueError(
                f"EinsumDense: `output_shape` must have one size per output letter after the batch one "
                f"({out_spec!r}). Received: output_shape={output_shape!r}"
            )
        if bias_axes is not None and any(c not in out_spec for c in bias_axes):
            raise ValueError(
                f"EinsumDense: `bias_axes` must be letters of the output {out_spec!r}. "
                f"Received: bias_axes={bias_axes!r}"
            )
        self.bias_axes = bias_axes
        self.activation = _activations.get(activation)
        set_weight_args(self, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                        kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                        kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)

    def build(self, input_shape):
        in_spec, k_spec, out_spec, ellipsis = self._specs
        if len(input_shape) < len(in_spec) or (not ellipsis and len(input_shape) != len(in_spec)):
            raise self._shape_error(f"the input does not fit the equation {self.equation!r}",
                                    f"{len(in_spec)} axes", input_shape)
        own_in = input_shape[len(input_shape) - len(in_spec):]
        given = self.partial_output_shape if ellipsis else [input_shape[0], *self.partial_output_shape]
        full_out = [own_in[in_spec.index(c)] if s is None and c in in_spec else s
                    for c, s in zip(out_spec, given)]
        kernel_shape = []
        for c in k_spec:
            size = own_in[in_spec.index(c)] if c in in_spec else (
                full_out[out_spec.index(c)] if c in out_spec else None)
            if size is None:
                raise ValueError(
                    f"Layer '{self.name}' (EinsumDense): the size of kernel axis {c!r} is unknown: it must "
                    f"appear in the input {in_spec!r} (with a known size) or in the output {out_spec!r}"
                )
            kernel_shape.append(size)
        self._full_output_shape = full_out
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None
        if self.bias_axes:
            first = min(out_spec.index(c) for c in self.bias_axes)
            bias_shape = [full_out[i] if out_spec[i] in self.bias_axes else 1
                          for i in range(first, len(out_spec))]
            self.bias = self.add_weight("bias", bias_shape, self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def call(self, inputs):
        y = ops.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def get_config(self):
        return {
            **super().get_config(),
            "equation": self.equation,
            "output_shape": list(self.partial_output_shape),
            "activation": _activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            **weight_config(self, *_WEIGHTS),
        }
