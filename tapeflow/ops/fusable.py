"""The one table of activations that fused ops apply themselves (dense, convolution, the recurrent ops and
their C kernels), looked up by object.

A :class:`Fusable` holds what a fused op needs of an element-wise activation: the forward written in place
into a fresh array, and the derivative expressed through the activation's *output* (so the op keeps only its
output for the backward pass), on arrays and in tapeflow ops (for higher derivatives). :func:`lookup` maps an
activation object (``tp.relu``, ``tp.activations.relu``, the :class:`Fusable` itself, ``None`` for linear) to
its entry, or None when no fused op can apply it; a name is resolved only at an op's public API.
"""

from __future__ import annotations

from tapeflow import _backend as B

xp = B.xp


class Fusable:
    """An activation a fused op can apply in place (see the module docstring).

    Args:
        name: the activation's name (``"relu"``, ...), for errors and tape summaries.
        forward_: ``forward_(a) -> a`` applies the activation in place to a fresh array and returns it.
        derivative: ``derivative(y)``, the activation's derivative as an array, from its output ``y``.
        backward: ``backward(g, y)``: ``g * derivative(y)`` on arrays (a new array, ``g``'s dtype).
        backward_op: the same in tapeflow ops (differentiable), for when a tape records the backward pass.
    """

    __slots__ = ("name", "forward_", "derivative", "backward", "backward_op")

    def __init__(self, name, forward_, derivative, backward, backward_op):
        self.name = name
        self.forward_ = forward_
        self.derivative = derivative
        self.backward = backward
        self.backward_op = backward_op

    def __repr__(self):
        return self.name

    def __reduce__(self):  # pickles as its name (a layer holding one pickles), unpickles as the same entry
        return (_named, (self.name,))


def _named(name):
    return _NAMES[name]


def _sigmoid_(a):
    # 0.5 * (1 + tanh(a / 2)): never overflows, three in-place passes
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def _relu_op(g, out):
    from tapeflow.ops.elementwise import cast

    return g * cast(out > 0, g.dtype)


LINEAR = Fusable("linear", lambda a: a, lambda y: xp.ones_like(y), lambda g, y: g, lambda g, out: g)
RELU = Fusable(
    "relu",
    lambda a: xp.maximum(a, 0, out=a),
    lambda y: (y > 0).astype(y.dtype),
    lambda g, y: xp.multiply(g, y > 0).astype(g.dtype, copy=False),
    _relu_op,
)
TANH = Fusable(
    "tanh",
    lambda a: xp.tanh(a, out=a),
    lambda y: 1 - y * y,
    lambda g, y: (g * (1 - y * y)).astype(g.dtype, copy=False),
    lambda g, out: g * (1 - out * out),
)
SIGMOID = Fusable(
    "sigmoid",
    _sigmoid_,
    lambda y: y * (1 - y),
    lambda g, y: (g * y * (1 - y)).astype(g.dtype, copy=False),
    lambda g, out: g * out * (1 - out),
)

_TABLE: dict = {None: LINEAR}
_NAMES = {f.name: f for f in (LINEAR, RELU, TANH, SIGMOID)}


def register(fn, fusable):
    """Let fused ops apply ``fn`` (an activation object) as ``fusable``."""
    _TABLE[fn] = fusable


def lookup(fn):
    """The :class:`Fusable` for the activation object ``fn``, or None when no fused op applies it."""
    try:
        return _TABLE.get(fn)
    except TypeError:  # an unhashable callable
        return None


def resolve(activation, op_name):
    """An op's ``activation`` argument (a :class:`Fusable`, an activation object, or a name) as its entry.

    Raises:
        ValueError: naming the op and the choices, for an activation no fused op can apply.
    """
    found = _NAMES.get(activation) if isinstance(activation, str) else lookup(activation)
    if found is None:
        raise ValueError(
            f"{op_name}: `activation` must be one of {sorted(_NAMES)} (or the function itself). "
            f"Received: activation={activation!r}"
        )
    return found


for _f in (LINEAR, RELU, TANH, SIGMOID):
    register(_f, _f)
del _f

NAMES = tuple(_NAMES)
