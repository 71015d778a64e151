"""Automatic differentiation: the graph nodes that ops record and the GradientTape that walks them back.

How recording works. Every op output gets a :class:`Node` when at least one of its inputs is tracked by a tape
that is recording (the op call path, ``tapeflow.ops._registry._CALL``, makes it with the steps defined here:
:func:`watch_accessed`, :func:`tapes_for`, :func:`untracked_output`). A node lists the *recorders* (one per
tape) that tracked it, its parent nodes, and only what its gradient rules need (inputs and/or output, as the
op declares) — nothing else is kept alive. ``tape.gradient`` walks the nodes its recorder tracked, in reverse
topological order, with an explicit stack (no recursion: a chain of 100,000 ops differentiates). The gradient
rules are written with tapeflow ops, so while an outer tape records, the backward pass is itself recorded:
tapes nest for higher derivatives.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import deque

from tapeflow import _backend as B
from tapeflow import _tensor as _tensor_module
from tapeflow._tensor import Tensor, Variable, wrap
from tapeflow._trace import call_rule
from tapeflow.errors import ShapeError


class _Recording(list):
    """The recorders of the tapes recording now, innermost last; ``frozen`` is the same as a tuple, kept up to
    date on every change so that the op call path can tell with one identity test that a parent node was
    recorded by exactly the tapes recording now (then its children share the parent's ``tapes`` tuple)."""

    __slots__ = ("frozen",)

    def __init__(self, *args):
        super().__init__(*args)
        self.frozen = tuple(self)

    def append(self, recorder):  # the hot ones (entering and leaving a tape) spelled out
        list.append(self, recorder)
        self.frozen = tuple(self)

    def remove(self, recorder):
        list.remove(self, recorder)
        self.frozen = tuple(self)

    def pop(self, index=-1):
        recorder = list.pop(self, index)
        self.frozen = tuple(self)
        return recorder


def _mutator(name):
    method = getattr(list, name)

    def mutate(self, *args):
        result = method(self, *args)
        self.frozen = tuple(self)
        return result

    mutate.__name__ = name
    return mutate


for _name in ("clear", "insert", "extend", "__setitem__", "__delitem__", "__iadd__"):
    setattr(_Recording, _name, _mutator(_name))
del _name


class _State(threading.local):
    def __init__(self):
        self.recording = _Recording()  # recorders of the tapes recording now, innermost last


_state = _State()


def _listen(t, how, into):
    if _state.recording:
        note_break(t, how, into)


_tensor_module._break_listener = _listen  # _tensor tells the tapes when a tracked value leaves


class Node:
    """One recorded op application (or a watched leaf when ``op`` is None).

    ``inputs`` holds the input tensors when the op's rules need them (``save_inputs``), else None and
    ``specs`` their ``(shape, dtype)``; ``shapes`` gives :class:`Spec` objects for every input either way.
    """

    __slots__ = ("op", "parents", "inputs", "params", "out_value", "specs", "tapes", "__weakref__")

    def __init__(self, op=None, parents=(), inputs=None, params=None, out_value=None, specs=None, tapes=()):
        self.op = op
        self.parents = parents
        self.inputs = inputs
        self.params = params
        self.out_value = out_value
        self.specs = specs
        self.tapes = tapes

    @property
    def shapes(self):
        """A :class:`Spec` (shape, dtype) per input."""
        if self.specs is not None:
            return tuple([_SCALAR if dtype is None and shape == () else Spec(shape, dtype)
                          for shape, dtype in self.specs])
        if self.inputs is None:
            return ()
        return tuple(_spec_of(x) for x in self.inputs)


def _spec_of(x):
    if isinstance(x, Tensor):
        return Spec(x._value.shape, x._value.dtype)
    return Spec(B.xp.shape(x), getattr(x, "dtype", None))


# Marks a tensor computed from tracked tensors while no tape recorded it (after a `with` block, say).
OUTSIDE = Node()


class Spec:
    """Shape and dtype of an input whose value a gradient rule did not ask to keep."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)


_SCALAR = Spec((), None)  # a Python scalar input


class _Recorder:
    """The part of a tape that nodes refer to; `reset()` swaps in a fresh one."""

    __slots__ = ("active", "watch_accessed", "watched", "leaf_ids", "breaks", "__weakref__")

    def __init__(self, watch_accessed):
        self.active = False
        self.watch_accessed = watch_accessed
        self.watched = {}  # id(tensor) -> tensor; keeps ids stable while watched
        self.leaf_ids = set()
        self.breaks = None  # where tracked values left the tape: (node, how, call site, Variable or None)

    def watch(self, t):
        node = t._node
        if node is None or node is OUTSIDE:
            node = t._node = Node(tapes=(self,))
        else:
            tapes = node.tapes
            if self not in tapes:
                if node.op is not None:
                    node.tapes = tapes + (self,)
                elif len(tapes) == 1 and not tapes[0].active:  # a leaf last watched by a closed tape
                    node.tapes = (self,)
                else:  # a leaf: forget tapes that stopped recording, so the tuple never grows
                    node.tapes = (*[r for r in tapes if r.active], self)
        now = _state.recording.frozen
        if node.tapes == now:
            node.tapes = now  # share the tuple: the op call path's fast test
        self.watched[id(t)] = t
        self.leaf_ids.add(id(node))

    def tracks(self, node) -> bool:
        return node is not None and (self in node.tapes or id(node) in self.leaf_ids)


@contextlib.contextmanager
def no_recording():
    """Run code that no tape records, whatever tapes are open (a layer's shape inference on placeholder data).
    The tapes recording before record again after."""
    recording = _state.recording
    saved = list(recording)
    recording.clear()
    try:
        yield
    finally:
        recording[:] = saved


def note_break(t, how, into=None):
    """Remember where a tracked value (or a Variable) left the recording tapes (``.numpy()``, ``float()``,
    ``assign``, a non-differentiable op), so ``tape.explain`` can name the cause of a None gradient.

    Each entry is ``(node, how, file:line, assigned Variable or None)``, with the Variable itself in place of
    the node when this tape never recorded it; the last 64 are kept."""
    where = None
    node = t._node
    for r in _state.recording:
        if r.tracks(node):
            key = node
        elif type(t) is Variable:
            key = t
        else:
            continue
        if where is None:
            where = _call_site()
        if r.breaks is None:
            r.breaks = deque(maxlen=64)
        r.breaks.append((key, how, where, into))


def note_nondiff(op, args):
    """A non-differentiable op (stop_gradient, argmax, a comparison) read tracked tensors: note the break."""
    if _state.recording:
        for a in args:
            if isinstance(a, Tensor) and (a._node is not None or type(a) is Variable):
                note_break(a, op.name)


def _call_site():
    """``file:line`` of the innermost caller outside tapeflow."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tapeflow."):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "?"


# What an op call records is written once, in the op registry's call path (tapeflow.ops._registry._CALL):
# a node whose parents are the inputs' nodes and whose ``tapes`` are the tapes recording now that track one
# of them. These are the steps it takes from here.


def watch_accessed(v, value, recording):
    """A Variable read while tapes record: each recording tape that watches accessed variables watches it
    (when it is trainable and of a float dtype). Its leaf node then shares the ``recording.frozen`` tuple when
    exactly the recording tapes track it (a persistent tape entered again records a new tuple)."""
    if v.trainable and (value.dtype.kind == "f" or value.dtype.name == "bfloat16"):
        for r in recording:
            if r.watch_accessed and id(v) not in r.watched:
                r.watch(v)
    node = v._node
    now = recording.frozen
    if node is not None and node.tapes is not now and node.tapes == now:
        node.tapes = now  # the same tapes, entered again: share their new tuple (see _Recorder.watch)


def tapes_for(parents, recording, now):
    """The ``tapes`` of a new node whose parents are not all tracked by exactly the tapes recording now: the
    recording tapes that track a parent (``now`` itself when that is all of them, so that children share the
    tuple); empty when none does (see :func:`untracked_output`)."""
    found = [r for r in recording if any(p is not None and r in p.tapes for p in parents)]
    return now if len(found) == len(now) else tuple(found)


def untracked_output(parents):
    """The node of an op output whose tracked inputs no recording tape tracks: :data:`OUTSIDE` when a tape
    that tracks one is open but paused (``stop_recording``: its ``gradient()`` then says so), else None, a
    constant (untracked Variables, values from closed tapes: no gradient, as TensorFlow)."""
    paused = any(p is not None and any(r.active for r in p.tapes) for p in parents)
    return OUTSIDE if paused else None


def scalar_spec(v):
    """``(shape, dtype)`` of an op input the node does not keep (dtype None for a Python scalar)."""
    if v.__class__ is float or v.__class__ is int or v.__class__ is bool:
        return (), None
    if v.__class__ is _ndarray:
        return v.shape, v.dtype
    return B.xp.shape(v), getattr(v, "dtype", None)


_ndarray = B.ndarray


def _reduce_to_shape(g, shape, op_name):
    """Sum a broadcast gradient back to an input's shape, or say which op returned a wrong shape."""
    ops = _OPS
    lead = g.ndim - len(shape)
    if lead > 0:
        g = ops.sum(g, axis=tuple(range(lead)))
    if g.ndim == len(shape):
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
        if axes:
            g = ops.sum(g, axis=axes, keepdims=True)
    if g.shape != shape:
        raise ShapeError(f"{op_name}: gradient of shape {g.shape} does not fit its input of shape {shape}")
    return g


def backward(recorder, targets, output_gradients, sources, release=False, reached=None):
    """Gradients of ``sum(targets * output_gradients)`` with respect to each source (None if unconnected).

    With ``release`` (a non-persistent tape's one call), each node no other tape shares drops what it kept as
    soon as its gradient has been passed on, so memory falls during the walk. ``reached``, a set, receives
    ``id(node)`` of each source the walk from the targets met (whether or not a gradient arrived), which
    ``tape.explain`` reads once the graph is gone; it costs nothing per node.
    """
    ops = _OPS
    grads = {}
    roots = []
    for target, og in zip(targets, output_gradients):
        node = target._node
        if node is OUTSIDE:
            raise ValueError(
                "gradient: the target was not recorded by this tape: it was computed outside the tape's "
                "`with` block (or under stop_recording()). Compute it inside `with tape:`."
            )
        if not recorder.tracks(node):
            continue
        g = og if og is not None else ops.ones_like(target)
        if not isinstance(g, Tensor):
            g = Tensor(g, dtype=target.dtype)
        if g.shape != target.shape:
            raise ShapeError(
                f"gradient: output_gradients shape {g.shape} differs from the target's shape {target.shape}"
            )
        key = id(node)
        grads[key] = g if key not in grads else ops.add(grads[key], g)
        roots.append(node)

    order = _topological(recorder, roots)
    keep = {id(s._node) for s in sources if s is not None and s._node is not None}
    pop = grads.pop
    for node in order:
        key = id(node)
        if key in keep:
            g = grads.get(key)
            if reached is not None:
                reached.add(key)
        else:
            g = pop(key, None)
        op = node.op
        if op is None:
            continue
        if g is not None:
            _propagate(recorder, node, op, g, grads)
        if release and len(node.tapes) == 1:
            node.inputs = node.out_value = None
            node.parents = ()
            node.op = None
    return [grads.get(id(s._node)) if recorder.tracks(s._node) else None for s in sources]


# tapeflow.ops, set by it when it loads: the backward pass adds and sums gradients with ops, which build on
# this module (so it imports nothing above it)
_OPS = None


def _propagate(recorder, node, op, g, grads):
    """Apply ``node``'s gradient rules to its output gradient ``g``; add each result, summed back to its
    input's shape and cast to its dtype, into ``grads`` (keyed by parent node id)."""
    ops = _OPS

    params = node.params or _NO_PARAMS
    out = wrap(node.out_value, node) if op.save_output else None
    inputs = node.inputs
    if inputs is None:
        inputs = node.shapes
    parents = node.parents
    leaves = recorder.leaf_ids
    results = None
    if op.vjp is not None:
        if op.vjp_needs:
            needs = tuple([p is not None and (recorder in p.tapes or id(p) in leaves) for p in parents])
            results = call_rule(op.vjp, g, out, inputs, {**params, "needs": needs})
        else:
            results = call_rule(op.vjp, g, out, inputs, params)
        if len(results) != len(parents):
            raise ValueError(f"{op.name}: the gradient rule returned {len(results)} gradients for "
                             f"{len(parents)} inputs")
    for i, parent in enumerate(parents):
        if parent is None or not (recorder in parent.tapes or id(parent) in leaves):
            continue
        gi = results[i] if results is not None else call_rule(op.grads[i], g, out, inputs, params)
        if gi is None:
            continue
        if not isinstance(gi, Tensor):
            gi = Tensor(gi)
        x = inputs[i]
        if x.__class__ is Tensor:
            x = x._value
        shape, dtype = x.shape, x.dtype
        if gi._value.shape != shape:
            gi = _reduce_to_shape(gi, shape, op.name)
        if gi._value.dtype != dtype:
            gi = ops.cast(gi, dtype)
        key = id(parent)
        prev = grads.get(key)
        grads[key] = gi if prev is None else ops.add(prev, gi)


_NO_PARAMS = {}


def _topological(recorder, roots):
    """Nodes reachable from ``roots`` through ``recorder``'s nodes, outputs before inputs (iterative DFS)."""
    order, visited = [], set()
    leaves = recorder.leaf_ids
    stack = [(n, False) for n in roots]
    push, pop, seen, emit = stack.append, stack.pop, visited.add, order.append
    while stack:
        node, done = pop()
        if done:
            emit(node)
            continue
        key = id(node)
        if key in visited:
            continue
        seen(key)
        push((node, True))
        if node.op is None:
            continue
        for p in node.parents:
            if p is not None and id(p) not in visited and (recorder in p.tapes or id(p) in leaves):
                push((p, False))
    order.reverse()
    return order


def release(recorder, roots):
    """Drop what a spent non-persistent tape recorded (nodes no other tape shares)."""
    for node in _topological(recorder, roots):
        if node.tapes == (recorder,):
            node.inputs = None
            node.out_value = None
            node.parents = ()
            node.op = None
