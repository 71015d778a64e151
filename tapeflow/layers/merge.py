"""Merge layers for the functional API: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""

from __future__ import annotations

import functools

from tapeflow import _backend as B
from tapeflow import ops
from tapeflow.layers.base import Layer, register_serializable


class _Merge(Layer):
    """Base: combines a list of at least two tensors of the same shape (broadcasting size-1 axes)."""

    def compute_mask(self, inputs, mask=None):
        """A timestep is kept where every masked input keeps it (Keras's rule)."""
        if not isinstance(mask, list):
            return None
        masks = [m for m in mask if m is not None]
        return functools.reduce(lambda a, b: a & b, masks)

    _min_inputs = 2
    _max_inputs = None

    def _check_inputs(self, inputs):
        if (
            not isinstance(inputs, (list, tuple))
            or len(inputs) < self._min_inputs
            or (self._max_inputs is not None and len(inputs) > self._max_inputs)
        ):
            count = f"exactly {self._max_inputs}" if self._max_inputs else f"at least {self._min_inputs}"
            n = len(inputs) if isinstance(inputs, (list, tuple)) else "a single tensor"
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects a list of {count} inputs. Received: {n}"
            )

    def build(self, input_shape):
        self._check_inputs(input_shape)

    def call(self, inputs):
        self._check_inputs(inputs)
        shapes = [tuple(x.shape) for x in inputs]
        first = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(first) or any(a != b and a != 1 and b != 1 for a, b in zip(s, first)):
                raise self._shape_error(
                    "inputs must have the same shape", "equal shapes", shapes
                ).with_traceback(None)
        return self._merge(list(inputs))


@register_serializable
class Add(_Merge):
    """Element-wise sum of a list of inputs.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Add()([tp.ones((1, 2)), tp.ones((1, 2))])
        tapeflow.Tensor(
        [[2. 2.]], shape=(1, 2), dtype=float32)
    """

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


@register_serializable
class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    _max_inputs = 2

    def _merge(self, xs):
        return xs[0] - xs[1]


@register_serializable
class Multiply(_Merge):
    """Element-wise product of a list of inputs.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Multiply()([tp.fill((1, 2), 3.0), tp.fill((1, 2), 2.0)])
        tapeflow.Tensor(
        [[6. 6.]], shape=(1, 2), dtype=float32)
    """

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


@register_serializable
class Average(_Merge):
    """Element-wise mean of a list of inputs.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Average()([tp.fill((1, 2), 3.0), tp.fill((1, 2), 1.0)])
        tapeflow.Tensor(
        [[2. 2.]], shape=(1, 2), dtype=float32)
    """

    def _merge(self, xs):
        return Add._merge(self, xs) / float(len(xs))


@register_serializable
class Maximum(_Merge):
    """Element-wise maximum of a list of inputs."""

    def _merge(self, xs):
        return functools.reduce(ops.maximum, xs)


@register_serializable
class Minimum(_Merge):
    """Element-wise minimum of a list of inputs."""

    def _merge(self, xs):
        return functools.reduce(ops.minimum, xs)


@register_serializable
class Concatenate(_Merge):
    """Join a list of inputs along ``axis`` (every other axis must match).

    Shape:
        ``[(batch, a), (batch, b)] -> (batch, a + b)`` for ``axis=-1``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Concatenate()([tp.ones((2, 3)), tp.ones((2, 4))]).shape
        (2, 7)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_mask(self, inputs, mask=None):
        """Joined along the time axis, the masks are joined too (unmasked inputs count as all kept)."""
        if not isinstance(mask, list) or self.axis % len(inputs[0].shape) != 1:
            return super().compute_mask(inputs, mask)
        xp = B.xp
        return xp.concatenate(
            [xp.ones(t.shape[:2], bool) if m is None else xp.asarray(m) for t, m in zip(inputs, mask)], axis=1
        )

    def call(self, inputs):
        self._check_inputs(inputs)
        shapes = [tuple(x.shape) for x in inputs]
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise self._shape_error(
                f"axis {self.axis} is out of range", f"inputs of rank > {self.axis}", shapes
            )
        ax = self.axis % rank
        rest = {s[:ax] + s[ax + 1 :] for s in shapes}
        if len({len(s) for s in shapes}) != 1 or len(rest) != 1:
            raise self._shape_error(f"all axes but axis {self.axis} must match", "matching shapes", shapes)
        return ops.concatenate(list(inputs), axis=ax)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Functional form of :class:`Add`."""
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of :class:`Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def _l2_normalize(x, axis):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-12))


@register_serializable
class Dot(_Merge):
    """The dot product of two inputs along ``axes``, sample by sample (a batched contraction).

    Args:
        axes: an int (the same axis of both) or a pair ``(axis_of_x, axis_of_y)``; never the batch axis.
        normalize: L2-normalize both along those axes first, giving the cosine similarity.

    Shape:
        ``[(batch, n), (batch, n)] -> (batch, 1)``; ``[(batch, t, d), (batch, s, d)]`` with ``axes=2`` ->
        ``(batch, t, s)``: the remaining axes of ``x``, then those of ``y``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Dot(axes=1)([tp.constant([[1.0, 2.0]]), tp.constant([[3.0, 4.0]])])
        tapeflow.Tensor(
        [[11.]], shape=(1, 1), dtype=float32)
    """

    _max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        pair = (axes, axes) if isinstance(axes, int) else tuple(axes)
        if len(pair) != 2 or not all(isinstance(a, int) for a in pair):
            raise ValueError(f"`axes` must be an int or a pair of ints. Received: axes={axes!r}")
        self.axes, self.normalize = axes if isinstance(axes, int) else list(pair), bool(normalize)
        self._pair = pair

    def _resolved(self, shapes):
        out = []
        for a, s in zip(self._pair, shapes):
            if not -len(s) <= a < len(s) or a % len(s) == 0:
                raise self._shape_error(
                    f"axes={self.axes} must name a non-batch axis of each input", "valid axes", shapes
                )
            out.append(a % len(s))
        if shapes[0][out[0]] != shapes[1][out[1]]:
            raise self._shape_error(f"the sizes along axes {tuple(out)} differ", "equal sizes", shapes)
        return out

    def call(self, inputs):
        self._check_inputs(inputs)
        x, y = inputs
        ax, ay = self._resolved([tuple(x.shape), tuple(y.shape)])
        if self.normalize:
            x, y = _l2_normalize(x, ax), _l2_normalize(y, ay)
        letters = iter("bcdefghijklmnopqrstuvwxyz")
        xs = ["a"] + [next(letters) for _ in range(x.ndim - 1)]
        ys = ["a"] + [next(letters) for _ in range(y.ndim - 1)]
        ys[ay] = xs[ax]
        out = [c for i, c in enumerate(xs) if i != ax] + [c for i, c in enumerate(ys) if i not in (0, ay)]
        result = ops.einsum(f"{''.join(xs)},{''.join(ys)}->{''.join(out)}", x, y)
        return ops.expand_dims(result, -1) if result.ndim == 1 else result

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def subtract(inputs, **kwargs):
    """Functional form of :class:`Subtract`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of :class:`Multiply`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of :class:`Average`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of :class:`Maximum`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of :class:`Minimum`."""
    return Minimum(**kwargs)(inputs)


def dot(inputs, axes, normalize=False, **kwargs):
    """Functional form of :class:`Dot`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
