"""Automatic differentiation: the graph nodes that ops record and the GradientTape that walks them back.

How recording works. Every op output gets a :class:`Node` when at least one of its inputs is tracked by a tape
that is recording. A node lists the *recorders* (one per tape) that tracked it, its parent nodes, and only what
its gradient rules need (inputs and/or output, as the op declares) — nothing else is kept alive.
``tape.gradient`` walks the nodes its recorder tracked, in reverse topological order, with an explicit stack
(no recursion: a chain of 100,000 ops differentiates). The gradient rules are written with tapeflow ops, so
while an outer tape records, the backward pass is itself recorded: tapes nest for higher derivatives.
"""

from __future__ import annotations

import sys
import threading
from collections import deque

from tapeflow import _backend as B
from tapeflow._tensor import Tensor, Variable, wrap
from tapeflow.dtypes import is_floating
from tapeflow.errors import ShapeError


class _State(threading.local):
    def __init__(self):
        self.recording = []  # recorders of the tapes recording now, innermost last


_state = _State()


class Node:
    """One recorded op application (or a watched leaf when ``op`` is None)."""

    __slots__ = ("op", "parents", "inputs", "params", "out_value", "shapes", "tapes", "__weakref__")

    def __init__(self, op=None, parents=(), inputs=None, params=None, out_value=None, shapes=(), tapes=()):
        self.op = op
        self.parents = parents
        self.inputs = inputs
        self.params = params
        self.out_value = out_value
        self.shapes = shapes
        self.tapes = tapes


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
        elif self not in node.tapes:
            keep = node.tapes if node.op is not None else tuple(r for r in node.tapes if r.active)
            node.tapes = keep + (self,)
        self.watched[id(t)] = t
        self.leaf_ids.add(id(node))

    def tracks(self, node) -> bool:
        return node is not None and (self in node.tapes or id(node) in self.leaf_ids)


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


def record(op, args, vals, params, out):
    """Return the node for an op output whose inputs include tracked tensors (called by the op registry)."""
    recording = _state.recording
    if not recording:
        return OUTSIDE
    parents = []
    inputs = []
    shapes = []
    for a, v in zip(args, vals):
        if isinstance(a, Tensor):
            if type(a) is Variable:
                if a.trainable:
                    for r in recording:
                        if r.watch_accessed and id(a) not in r.watched and is_floating(a.dtype):
                            r.watch(a)
                a = wrap(a._value, a._node)  # snapshot: a later assign must not change what was recorded
            parents.append(a._node)
            inputs.append(a)
            shapes.append(Spec(v.shape, v.dtype))
        else:
            parents.append(None)
            inputs.append(v)
            shapes.append(Spec(B.xp.shape(v), getattr(v, "dtype", None)))
    tapes = tuple(r for r in recording if any(p is not None and (r in p.tapes) for p in parents))
    if not tapes:  # untracked Variables (trainable=False, integer) give constants; others' nodes, OUTSIDE
        return OUTSIDE if any(p is not None for p in parents) else None
    return Node(
        op,
        tuple(parents),
        tuple(inputs) if op.save_inputs else None,
        params,
        out if op.save_output else None,
        tuple(shapes),
        tapes,
    )


def _flatten(structure):
    """Flatten a nest of lists/tuples/dicts into a list of leaves, plus a function that rebuilds it."""
    if isinstance(structure, dict):
        keys = list(structure)
        parts = [_flatten(structure[k]) for k in keys]

        def rebuild(leaves):
            out, i = {}, 0
            for k, (flat, sub) in zip(keys, parts):
                out[k] = sub(leaves[i : i + len(flat)])
                i += len(flat)
            return out

        return [leaf for flat, _ in parts for leaf in flat], rebuild
    if isinstance(structure, (list, tuple)):
        parts = [_flatten(s) for s in structure]

        def rebuild(leaves):
            out, i = [], 0
            for flat, sub in parts:
                out.append(sub(leaves[i : i + len(flat)]))
                i += len(flat)
            return type(structure)(out) if not hasattr(structure, "_fields") else type(structure)(*out)

        return [leaf for flat, _ in parts for leaf in flat], rebuild
    return [structure], lambda leaves: leaves[0]


def _reduce_to_shape(g, shape, op_name):
    """Sum a broadcast gradient back to an input's shape, or say which op returned a wrong shape."""
    from tapeflow import ops

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


def backward(recorder, targets, output_gradients, sources):
    """Gradients of ``sum(targets * output_gradients)`` with respect to each source (None if unconnected)."""
    from tapeflow import ops

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
    for node in order:
        key = id(node)
        g = grads.get(key) if key in keep else grads.pop(key, None)
        op = node.op
        if g is None or op is None:
            continue
        _propagate(recorder, node, op, g, grads)
    return [grads.get(id(s._node)) if recorder.tracks(s._node) else None for s in sources]


def _propagate(recorder, node, op, g, grads):
    from tapeflow import ops

    params = node.params or {}
    out = wrap(node.out_value, node) if op.save_output else None
    inputs = node.inputs if node.inputs is not None else node.shapes
    needed = [recorder.tracks(p) for p in node.parents]
    if op.vjp is not None:
        results = op.vjp(g, out, *inputs, **params)
    else:
        results = [op.grads[i](g, out, *inputs, **params) if need else None for i, need in enumerate(needed)]
    for parent, need, gi, spec in zip(node.parents, needed, results, node.shapes):
        if not need or gi is None:
            continue
        if not isinstance(gi, Tensor):
            gi = Tensor(gi)
        if gi._value.shape != spec.shape:
            gi = _reduce_to_shape(gi, spec.shape, op.name)
        if gi._value.dtype != spec.dtype:
            gi = ops.cast(gi, spec.dtype)
        key = id(parent)
        prev = grads.get(key)
        grads[key] = gi if prev is None else ops.add(prev, gi)


def _topological(recorder, roots):
    """Nodes reachable from ``roots`` through ``recorder``'s nodes, outputs before inputs (iterative DFS)."""
    order, visited = [], set()
    stack = [(n, False) for n in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node.op is None:
            continue
        for p in node.parents:
            if p is not None and id(p) not in visited and recorder.tracks(p):
                stack.append((p, False))
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
