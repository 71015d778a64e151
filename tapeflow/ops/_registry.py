"""The op registry: each op is defined once, with its gradient beside it.

An :class:`Op` couples a forward function on backend arrays with gradient rules written in tapeflow ops (so
the backward pass is itself differentiable). The tape, not the rules, sums broadcast gradients back to each
input's shape and checks them. ``REGISTRY`` lists every op; the test suite checks each one.

Naming: an :class:`Op` object is bound to the public name itself (``exp``, ``relu``) when it is what users
call; when a Python function of that name wraps it (to normalize arguments: ``matmul``, ``clip``,
``reshape``), the object gets the ``_op`` suffix (``matmul_op``, ``clip_op``, ``reshape_op``).
"""

from __future__ import annotations

from types import MethodType as _MethodType

from tapeflow import _backend as B
from tapeflow._tape import OUTSIDE, Node, _state, _watch_accessed, note_nondiff, record
from tapeflow._tape import _scalar_spec as _spec
from tapeflow._tensor import _SCALARS, Tensor, Variable, to_array
from tapeflow._tensor import wrap as _wrap
from tapeflow._trace import state as _trace
from tapeflow.errors import ShapeError

REGISTRY: dict[str, Op] = {}
_new = object.__new__
_ndarray = B.ndarray


class Op:
    """A primitive operation.

    Args:
        name: the op's public name (used in errors and tape summaries).
        forward: ``forward(*arrays, **params) -> array``.
        grads: one rule per positional input, ``rule(g, out, *inputs, **params) -> gradient`` (or None when
            that input is not differentiable). ``g`` is the gradient of the output; ``out`` is the output when
            ``save_output`` is set (else None); ``inputs`` are the inputs when ``save_inputs`` is set, else
            one :class:`~tapeflow._tape.Spec` per input (its ``shape``, ``dtype`` and ``ndim`` only).
        vjp: instead of ``grads``, one rule returning every input's gradient at once.
        vjp_needs: the ``vjp`` takes a keyword ``needs``, a tuple with one bool per input (True where the tape
            wants that input's gradient), and may return None for the others, so it skips their work.
        save_inputs / save_output: what the gradient rules need kept alive.
        differentiable: False for ops with no gradient (comparisons, argmax): their outputs are constants.
        explain: ``explain(*arrays, **params) -> message`` producing the error when the forward fails.
    """

    __slots__ = ("name", "forward", "grads", "vjp", "vjp_needs", "save_inputs", "save_output",
                 "differentiable", "explain", "call2")

    def __init__(self, name, forward, grads=None, vjp=None, save_inputs=True, save_output=False,
                 differentiable=True, explain=None, vjp_needs=False):
        self.name = name
        self.forward = forward
        self.grads = grads
        self.vjp = vjp
        self.vjp_needs = vjp_needs
        self.save_inputs = save_inputs
        self.save_output = save_output
        self.differentiable = differentiable and (grads is not None or vjp is not None)
        self.explain = explain
        self.call2 = _binary_call(self)
        REGISTRY[name] = self

    def __call__(self, *args, **params):
        n = len(args)
        if n == 1 and args[0].__class__ is Tensor:  # the unary hot path: relu(x), sum(x, axis=1), ...
            a = args[0]
            va = a._value
            try:
                out = self.forward(va, **params)
            except (ValueError, IndexError, TypeError) as e:
                raise self._error(e, (va,), params) from e
            return self._output(out, args, (va,), params or None, a._node is not None)
        if n == 2 and not params:
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
                handler = getattr(type(a), "__tapeflow_op__", None)
                if handler is not None:  # a placeholder (the functional API's symbolic tensor) records the op
                    return handler(self, args, params)
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
        if _trace.recorder is not None:  # tp.function is tracing: record the op
            _trace.recorder.op(self, args, vals, params, t)
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

    The same steps as :meth:`Op.__call__` and :func:`~tapeflow._tape.record`, unrolled for two arguments that
    are Tensors, Variables or Python scalars in the common case (every tracked input recorded by exactly the
    tapes recording now); anything else takes the general path.
    """
    forward = op.forward
    general = op._general
    error = op._error
    differentiable = op.differentiable
    save_inputs = op.save_inputs
    save_output = op.save_output
    state = _state

    def call2(a, b):
        if _trace.recorder is not None:  # tp.function is tracing: the general path records the op
            return general(a, b)
        ca = a.__class__
        if ca is Tensor:
            va = a._value
            pa = a._node
        elif ca is Variable:
            va = a._value
            pa = a
        elif ca is float or ca is int:
            va = a
            pa = None
        else:
            return general(a, b)
        cb = b.__class__
        if cb is Tensor:
            vb = b._value
            pb = b._node
        elif cb is Variable:
            vb = b._value
            pb = b
        elif (cb is float or cb is int) and ca is not float and ca is not int:
            vb = b
            pb = None
        else:
            return general(a, b)
        try:
            out = forward(va, vb)
        except (ValueError, IndexError, TypeError) as e:
            raise error(e, (va, vb), {}) from e
        if out.__class__ is not _ndarray:
            out = B.xp.asarray(out)
        t = _new(Tensor)
        t._value = out
        if pa is None and pb is None:
            t._node = None
            return t
        if not differentiable:
            t._node = None
            note_nondiff(op, (a, b))  # so tape.explain can say where the gradient path was cut
            return t
        recording = state.recording
        if not recording:
            t._node = OUTSIDE
            return t
        now = recording.frozen
        if ca is Variable:
            pa = a._node
            if pa is None or pa.tapes is not now:  # not yet watched by every tape recording now
                pa = _watch_accessed(a, va, recording, now)
                if pa is None:
                    t._node = record(op, (a, b), (va, vb), None, out)
                    return t
            a = _wrap(va, pa)  # a snapshot: a later assign must not change what was recorded
        elif pa is not None and pa.tapes is not now:
            t._node = record(op, (a, b), (va, vb), None, out)
            return t
        if cb is Variable:
            pb = b._node
            if pb is None or pb.tapes is not now:
                pb = _watch_accessed(b, vb, recording, now)
                if pb is None:
                    t._node = record(op, (a, b), (va, vb), None, out)
                    return t
            b = _wrap(vb, pb)
        elif pb is not None and pb.tapes is not now:
            t._node = record(op, (a, b), (va, vb), None, out)
            return t
        node = _new(Node)
        node.op = op
        node.parents = (pa, pb)
        node.params = None
        node.out_value = out if save_output else None
        node.tapes = now
        if save_inputs:
            node.inputs = (va if pa is None else a, vb if pb is None else b)
            node.specs = None
        else:
            node.inputs = None
            node.specs = (_spec(va) if pa is None else (va.shape, va.dtype),
                          _spec(vb) if pb is None else (vb.shape, vb.dtype))
        t._node = node
        return t

    return call2


def defop(name, forward, *grads, save_inputs=True, save_output=False, explain=None):
    """Register an element-wise or general op with one gradient rule per input (see :class:`Op`)."""
    return Op(name, forward, grads=grads or None, save_inputs=save_inputs, save_output=save_output,
              explain=explain)


def nondiff(name, forward, explain=None):
    """Register an op with no gradient; its outputs are constants to every tape."""
    return Op(name, forward, differentiable=False, explain=explain)
