"""The op registry: each op is defined once, with its gradient beside it.

An :class:`Op` couples a forward function on backend arrays with gradient rules written in tapeflow ops (so the
backward pass is itself differentiable). The tape, not the rules, sums broadcast gradients back to each input's
shape and checks them. ``REGISTRY`` lists every op; the test suite checks each one.
"""

from __future__ import annotations

from types import MethodType as _MethodType

from tapeflow import _backend as B
from tapeflow._tape import note_nondiff, record, record2
from tapeflow._tensor import _SCALARS, Tensor, Variable, to_array
from tapeflow.errors import ShapeError

REGISTRY: dict[str, Op] = {}
_new = object.__new__
_ndarray = B.ndarray


class Op:
    """A primitive operation.

    Args:
        name: the op's public name (used in errors and tape summaries).
        forward: ``forward(*arrays, **params) -> array``.
        grads: one rule per positional input, ``rule(g, out, *inputs, **params) -> gradient`` (or None when that
            input is not differentiable). ``g`` is the gradient of the output; ``out`` is the output when
            ``save_output`` is set; ``inputs`` are the inputs when ``save_inputs`` is set (else None).
        vjp: instead of ``grads``, one rule returning every input's gradient at once.
        save_inputs / save_output: what the gradient rules need kept alive.
        differentiable: False for ops with no gradient (comparisons, argmax): their outputs are constants.
        explain: ``explain(*arrays, **params) -> message`` producing the error when the forward fails.
    """

    __slots__ = ("name", "forward", "grads", "vjp", "save_inputs", "save_output", "differentiable", "explain",
                 "call2")

    def __init__(self, name, forward, grads=None, vjp=None, save_inputs=True, save_output=False,
                 differentiable=True, explain=None):
        self.name = name
        self.forward = forward
        self.grads = grads
        self.vjp = vjp
        self.save_inputs = save_inputs
        self.save_output = save_output
        self.differentiable = differentiable and (grads is not None or vjp is not None)
        self.explain = explain
        self.call2 = _binary_call(self)
        REGISTRY[name] = self

    def __call__(self, *args, **params):
        if not params and len(args) == 2:
            return self.call2(*args)
        return self._general(*args, **params)

    def _general(self, *args, **params):
        vals = []
        tracked = False
        arrays = False
        for a in args:
            if isinstance(a, Tensor):
                vals.append(a._value)
                arrays = True
                if a._node is not None or isinstance(a, Variable):
                    tracked = True
            elif isinstance(a, _SCALARS):
                vals.append(a)
            else:
                vals.append(to_array(a))
                arrays = True
        if not arrays:
            vals = [to_array(v) for v in vals]
        try:
            out = self.forward(*vals, **params)
        except (ValueError, IndexError, TypeError) as e:
            raise self._error(e, vals, params) from e
        return self._output(out, args, vals, params or None, tracked)

    def _output(self, out, args, vals, params, tracked):
        if out.__class__ is not _ndarray:
            out = B.xp.asarray(out)
        t = _new(Tensor)
        t._value = out
        if not tracked:
            t._node = None
        elif self.differentiable:
            t._node = record(self, args, vals, params, out)
        else:
            t._node = None
            note_nondiff(self, args)  # so tape.explain can say where the gradient path was cut
        return t

    def __get__(self, obj, owner=None):  # so an op can serve as a Tensor method (`Tensor.sum = sum`)
        return self if obj is None else _MethodType(self, obj)

    def _error(self, e, vals, params):
        if isinstance(e, ShapeError):
            return e
        if self.explain is not None:
            message = self.explain(*vals, **params)
            if message:
                return (IndexError if isinstance(e, IndexError) else ShapeError)(f"{self.name}: {message}")
        shapes = " and ".join(str(B.xp.shape(v)) for v in vals)
        if "broadcast" in str(e):
            return ShapeError(f"{self.name}: shapes {shapes} cannot be broadcast")
        return type(e)(f"{self.name}: {e} (input shapes {shapes})")

    def __repr__(self):
        return f"<tapeflow op {self.name}>"


def _binary_call(op):
    """``op(a, b)`` without keyword parameters: the hot path of every arithmetic operator (``x * 2 + 1``).

    The same steps as :meth:`Op.__call__`, unrolled for two arguments that are Tensors, Variables or Python
    scalars; anything else (lists, arrays, two scalars) takes the general path.
    """
    forward = op.forward
    general = op._general
    output = op._output
    error = op._error
    differentiable = op.differentiable

    def call2(a, b):
        ca = a.__class__
        if ca is Tensor:
            va = a._value
            tracked = a._node is not None
        elif ca is Variable:
            va = a._value
            tracked = True
        elif ca is float or ca is int:
            va = a
            tracked = False
        else:
            return general(a, b)
        cb = b.__class__
        if cb is Tensor:
            vb = b._value
            tracked = tracked or b._node is not None
        elif cb is Variable:
            vb = b._value
            tracked = True
        elif (cb is float or cb is int) and ca is not float and ca is not int:
            vb = b
        else:
            return general(a, b)
        try:
            out = forward(va, vb)
        except (ValueError, IndexError, TypeError) as e:
            raise error(e, (va, vb), {}) from e
        if tracked and differentiable:
            if out.__class__ is not _ndarray:
                out = B.xp.asarray(out)
            t = _new(Tensor)
            t._value = out
            t._node = record2(op, a, b, va, vb, out)
            return t
        return output(out, (a, b), (va, vb), None, tracked)

    return call2


def defop(name, forward, *grads, save_inputs=True, save_output=False, explain=None):
    """Register an element-wise or general op with one gradient rule per input (see :class:`Op`)."""
    return Op(name, forward, grads=grads or None, save_inputs=save_inputs, save_output=save_output,
              explain=explain)


def nondiff(name, forward, explain=None):
    """Register an op with no gradient; its outputs are constants to every tape."""
    return Op(name, forward, differentiable=False, explain=explain)
