"""Reading a GradientTape: its recorded graph as data and text, and why a gradient is None or zero.

``tape.summary(target)`` lists the ops the tape recorded for ``target``; ``tape.graph(target)`` (or
``tp.plot.tape``) draws them; ``tape.explain(target, source)`` names the cause of a None (or zero) gradient
and the fix, or prints the chain of ops that carries the gradient. Everything here reads what the tape
recorded; the only extras the core keeps for it are a short list of the places where a tracked value left the
tape (``.numpy()``, ``float()``, ``assign``, ``stop_gradient`` and other non-differentiable ops) and, once a
non-persistent tape's gradient() has freed the graph, which of that call's sources its walk reached and weak
references to the gradients it returned (so the cause can still be named, without the chain of ops).
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field

import numpy as np

from tapeflow import _backend as B
from tapeflow._printing import TextView
from tapeflow._tape import OUTSIDE, _propagate, _state, _topological
from tapeflow._tensor import Tensor, Variable
from tapeflow.dtypes import is_floating

_ZERO_HINTS = {
    "relu": "relu passes no gradient where its input is <= 0 (dead units); try leaky_relu or a smaller "
            "learning rate",
    "maximum": "maximum passes gradient only to the larger input",
    "minimum": "minimum passes gradient only to the smaller input",
    "clip": "clip passes no gradient where its input lies outside [lo, hi]",
    "round": "round is piecewise constant: its gradient is zero almost everywhere",
    "floor": "floor is piecewise constant: its gradient is zero almost everywhere",
    "ceil": "ceil is piecewise constant: its gradient is zero almost everywhere",
    "sign": "sign is piecewise constant: its gradient is zero almost everywhere",
    "where": "where passes gradient only to the branch it picked",
}
_LEFT = ("numpy()", "np.asarray()", "float()", "int()")
_FIXES = {
    "integer_dtype": "Gradients flow only to floating-point tensors. Make it a float: "
                     "tp.Variable(..., dtype='float32') or tp.cast(x, 'float32') before watching it.",
    "outside_tape": "Compute the target inside `with tp.GradientTape() as tape:` (and not under "
                    "tape.stop_recording()).",
    "left_tapeflow": "Keep the computation in tapeflow: use the Tensor itself instead of x.numpy(), float(x) "
                     "or np.asarray(x) (NumPy functions called on a Tensor run tapeflow ops and stay on the "
                     "tape).",
    "assign": "An assign stores a value, not how it was computed: the tape sees the Variable as a leaf. Use "
              "the computed tensor directly (y = g(f(w))) instead of v.assign(f(w)); y = g(v).",
    "stop_gradient": "stop_gradient blocks the gradient by design: remove it from the path if this gradient "
                     "is wanted.",
    "non_differentiable": "This op has no gradient. Use a smooth stand-in (softmax instead of argmax, "
                          "sigmoid instead of a comparison).",
    "no_path": "Check that the target is computed from this very tensor (not a copy or an older value).",
    "released": "Create the tape with tp.GradientTape(persistent=True), or call tape.explain before "
                "tape.gradient.",
}


@dataclass
class GraphNode:
    """One box of the drawn graph: an op application, a watched source, or a constant input."""

    key: int
    kind: str  # "op", "source" or "constant"
    label: str
    shape: tuple
    dtype: str
    depth: int = 0
    grad: Tensor | None = None  # gradient of sum(target) with respect to this node's output


@dataclass
class GraphEdge:
    """An input of an op: ``src`` feeds input ``slot`` of ``dst`` (indices into ``TapeGraph.nodes``)."""

    src: int
    dst: int
    slot: int
    grad: Tensor | None = None  # the gradient flowing back along this edge


@dataclass
class TapeGraph:
    """The computation a tape recorded for a target: nodes inputs-first, the target last."""

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)

    @property
    def ops(self) -> list[str]:
        """The op names, inputs first."""
        return [n.label for n in self.nodes if n.kind == "op"]


@dataclass
class Explanation:
    """Why the gradient of ``target`` with respect to ``source`` is what it is.

    Attributes:
        cause: ``"connected"``, ``"zero_gradient"``, ``"integer_dtype"``, ``"not_watched"``,
            ``"outside_tape"``, ``"left_tapeflow"``, ``"assign"``, ``"stop_gradient"``,
            ``"non_differentiable"``, ``"no_path"`` or ``"released"`` (a spent non-persistent tape asked
            about a target or source its gradient() call was not given).
        message: what happened, in words.
        fix: what to change ('' when nothing is wrong).
        chain: for a connected source, the ops that carry its gradient, from the source to the target.
        where: ``file:line`` where the path was cut, when known.
    """

    cause: str
    message: str
    fix: str = ""
    chain: list[str] = field(default_factory=list)
    where: str | None = None
    lines: list[str] = field(default_factory=list)

    def __str__(self):
        text = [f"cause: {self.cause}", textwrap.fill(self.message, 100)]
        if self.where:
            text.append(f"where: {self.where}")
        text.extend(self.lines)
        if self.fix:
            text.append(textwrap.fill(f"fix: {self.fix}", 100, subsequent_indent="     "))
        return "\n".join(text)

    __repr__ = __str__

    def _repr_html_(self):  # notebooks: the cause as a heading, the rest as the text shows it
        rest = str(self).split("\n", 1)[1]
        color = "#2ca02c" if self.cause == "connected" else "#d62728"
        return (f'<div><b style="color:{color}">cause: {html.escape(self.cause)}</b>'
                f"<pre>{html.escape(rest)}</pre></div>")


# --- reading the recorded graph -------------------------------------------------------------------------
def _describe(t) -> str:
    if isinstance(t, Variable):
        return f"Variable '{t.name}' shape={t.shape} dtype={t.dtype.name}"
    return f"tensor shape={t.shape} dtype={t.dtype.name}"


def _dtype_name(dtype) -> str:
    return getattr(dtype, "name", None) or ("python" if dtype is None else str(dtype))


def _constant_label(node, slot) -> str:
    """A scalar constant shows its value (when the op kept it); others read 'constant'."""
    value = node.inputs[slot] if node.inputs is not None else None
    value = value._value if isinstance(value, Tensor) else value
    if value is not None and np.size(value) == 1:
        return f"{B.to_numpy(value).item():g}"
    return "constant"


def _fmt(shape, dtype) -> str:
    return f"{tuple(shape)} {_dtype_name(dtype)}"


class _Paused:
    """Run gradient rules without any tape recording them."""

    def __enter__(self):
        self.saved = list(_state.recording)
        _state.recording.clear()

    def __exit__(self, *exc):
        _state.recording[:] = self.saved
        return False


def _order(recorder, target):
    """The tape's nodes behind ``target``, outputs first (empty when it recorded none)."""
    node = target._node
    if node is None or node is OUTSIDE or not recorder.tracks(node):
        return []
    return _topological(recorder, [node])


def _flow(recorder, target, order):
    """Gradient of sum(target) at every node, and along every edge ``(id(parent), id(child))``."""
    from tapeflow import ops

    with _Paused():
        grads = {id(target._node): ops.ones_like(target)}
        edges = {}
        for node in order:
            g = grads.get(id(node))
            if g is None or node.op is None:
                continue
            local = {}
            _propagate(recorder, node, node.op, g, local)
            for key, gi in local.items():
                edges[(key, id(node))] = gi
                grads[key] = gi if key not in grads else ops.add(grads[key], gi)
    return grads, edges


def _names(recorder) -> dict:
    return {id(t._node): t for t in recorder.watched.values() if t._node is not None}


def tape_graph(tape, target, gradients=True, constants=True) -> TapeGraph:
    """The ops ``tape`` recorded for ``target`` as a :class:`TapeGraph` (with the gradient on every edge).

    Args:
        tape: a GradientTape (persistent, or not yet used for ``gradient``).
        target: a tensor computed inside the tape's ``with`` block.
        gradients: also compute the gradient of ``sum(target)`` flowing along each edge (the tape's rules).
        constants: include untracked inputs (constants) as nodes.

    Raises:
        ValueError: when the tape recorded nothing for ``target`` or already freed it.

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([1.0, 2.0], name="w")
        >>> with tp.GradientTape() as tape:
        ...     loss = tp.sum(w * w)
        >>> from tapeflow.explain import tape_graph
        >>> g = tape_graph(tape, loss)
        >>> g.ops, [float(v) for v in g.nodes[0].grad.numpy()]
        (['multiply', 'sum'], [2.0, 4.0])
    """
    recorder = tape._recorder
    _check_graph(tape, target)
    order = _order(recorder, target)
    grads, edges = _flow(recorder, target, order) if gradients else ({}, {})
    out_spec = {id(target._node): (target.shape, target.dtype)}
    for node in order:
        for p, spec in zip(node.parents, node.shapes):
            if p is not None:
                out_spec[id(p)] = (spec.shape, spec.dtype)
    names = _names(recorder)
    graph, index, depth = TapeGraph(), {}, {}
    for node in reversed(order):  # inputs first
        shape, dtype = out_spec.get(id(node), ((), None))
        if node.op is None:
            t = names.get(id(node))
            label = t.name if isinstance(t, Variable) else "watched"
            kind, d = "source", 0
        else:
            label, kind = node.op.name, "op"
            d = 1 + max((depth[id(p)] for p in node.parents if p is not None and id(p) in depth), default=0)
        depth[id(node)] = d
        inputs = []
        seen = set()
        for slot, (p, spec) in enumerate(zip(node.parents if node.op is not None else (), node.shapes)):
            if p is not None and id(p) in index:
                if id(p) not in seen:  # x * x: one edge, carrying both contributions
                    seen.add(id(p))
                    inputs.append((index[id(p)], slot, edges.get((id(p), id(node)))))
            elif constants:
                inputs.append((len(graph.nodes), slot, None))
                graph.nodes.append(GraphNode(-len(graph.nodes) - 1, "constant", _constant_label(node, slot),
                                             tuple(spec.shape), _dtype_name(spec.dtype), max(d - 1, 0)))
        index[id(node)] = len(graph.nodes)
        graph.nodes.append(GraphNode(id(node), kind, label, tuple(shape), _dtype_name(dtype), d,
                                     grads.get(id(node))))
        graph.edges += [GraphEdge(src, index[id(node)], slot, g) for src, slot, g in inputs]
    first_use = {}
    for e in graph.edges:  # place each source and constant just left of the first op that reads it
        d = graph.nodes[e.dst].depth - 1
        first_use[e.src] = min(first_use.get(e.src, d), d)
    for i, d in first_use.items():
        if graph.nodes[i].kind != "op":
            graph.nodes[i].depth = d
    return graph


def _check_graph(tape, target):
    if not isinstance(target, Tensor):
        raise TypeError(f"graph: the target must be a Tensor, got {type(target).__name__}")
    if tape._spent:
        raise ValueError("graph: this non-persistent tape already ran gradient() and freed what it recorded. "
                         + _FIXES["released"])
    node = target._node
    if node is None or node is OUTSIDE or not tape._recorder.tracks(node):
        raise ValueError(f"graph: this tape recorded nothing for the target "
                         f"({_fmt(target.shape, target.dtype)}): {explain(tape, target, None).message}")


def summary(tape, target=None) -> TextView:
    """A text table of what ``tape`` recorded: the watched sources and, given ``target``, its ops (a ``str``
    that the REPL and notebooks show as the table itself).

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([1.0, 2.0], name="w")
        >>> with tp.GradientTape() as tape:
        ...     loss = tp.sum(w * 3.0)
        >>> print(tape.summary(loss))
        GradientTape(persistent=False, watch_accessed_variables=True)
        watched: Variable 'w' shape=(2,) dtype=float32
        #  op        inputs  output         grad norm
        0  w         -       (2,) float32   4.243
        1  3         -       () python      -
        2  multiply  #0, #1  (2,) float32   1.414
        3  sum       #2      () float32     1
    """
    recorder = tape._recorder
    lines = [f"GradientTape(persistent={tape._persistent}, watch_accessed_variables={tape._watch_accessed})"]
    watched = list(recorder.watched.values())
    lines.append("watched: " + ("\n         ".join(_describe(t) for t in watched) if watched else "nothing"))
    if target is not None:
        graph = tape_graph(tape, target)
        rows = [("#", "op", "inputs", "output", "grad norm")]
        for i, n in enumerate(graph.nodes):
            ins = [f"#{e.src}" for e in sorted((e for e in graph.edges if e.dst == i), key=lambda e: e.slot)]
            norm = "-" if n.grad is None else f"{float(np.linalg.norm(n.grad._value)):.4g}"
            rows.append((str(i), n.label, ", ".join(ins) or "-", f"{n.shape} {n.dtype}", norm))
        widths = [max(len(r[k]) for r in rows) for k in range(4)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    if recorder.breaks:
        lines.append("values that left the tape:")
        lines += [f"  {how} at {where}" for _, how, where, _ in recorder.breaks]
    return TextView("\n".join(line.rstrip() for line in lines))


# --- explain ------------------------------------------------------------------------------------------------
def _reaches(recorder, start, source) -> bool:
    """Whether ``start`` (a recorded node, or a Variable the tape never recorded) depends on ``source``."""
    if isinstance(start, Tensor):
        return start is source
    goal_key = id(source._node) if source._node is not None else None
    stack, seen = [start], set()
    while stack:
        node = stack.pop()
        if id(node) == goal_key:
            return True
        if id(node) in seen or node.op is None:
            continue
        seen.add(id(node))
        stack.extend(p for p in node.parents if p is not None and recorder.tracks(p))
    return False


def _path(order, source_key):
    """The shortest op chain from the source node to the target node (order[0]), as nodes source-first."""
    parent_of = {id(order[0]): None}
    queue = [order[0]]
    for node in queue:  # breadth-first from the target
        if id(node) == source_key:
            chain = [node]
            while parent_of[id(chain[-1])] is not None:
                chain.append(parent_of[id(chain[-1])])
            return chain
        if node.op is not None:
            for p in node.parents:
                if p is not None and id(p) not in parent_of:
                    parent_of[id(p)] = node
                    queue.append(p)
    return []


def _not_watched(tape, source) -> Explanation:
    if isinstance(source, Variable):
        if not source.trainable:
            why = f"{_describe(source)} has trainable=False, so the tape does not watch it when it is read"
            fix = "Call tape.watch(v) inside the with block before using it, or create it trainable=True."
        elif not tape._watch_accessed:
            why = (f"{_describe(source)} was not watched: this tape was created with "
                   f"watch_accessed_variables=False")
            fix = "Call tape.watch(v) inside the with block before using it."
        else:
            return Explanation("no_path", f"{_describe(source)} was never read by a tapeflow op while this "
                               f"tape recorded, so the target cannot depend on it (reading it with float() "
                               f"or .numpy() does not count)", _FIXES["no_path"])
    else:
        why = (f"the source ({_describe(source)}) is a constant this tape never watched: tapes watch "
               f"trainable Variables automatically, other tensors only after tape.watch")
        fix = "Call tape.watch(x) inside the with block before computing with x, or make x a tp.Variable."
    return Explanation("not_watched", why, fix)


def _break_cause(in_graph, breaks) -> tuple[str, object]:
    ranked = []
    for b in breaks:
        node, how, where, into = b
        if into is not None:
            rank = 0 if into._node is not None and id(into._node) in in_graph else 3
            ranked.append((rank, "assign", b))
        elif how == "stop_gradient":
            ranked.append((1, "stop_gradient", b))
        elif how in _LEFT:
            ranked.append((2, "left_tapeflow", b))
        else:
            ranked.append((2, "non_differentiable", b))
    rank, cause, b = min(ranked, key=lambda r: r[0])
    return cause, b


def _break_message(cause, b, source) -> str:
    _, how, _, into = b
    src = _describe(source)
    if cause == "assign":
        return (f"a value computed from {src} was stored with {into.name!r}.{how}; the tape records a "
                f"Variable's reads, not what was assigned to it, so the path from the source stops there")
    if cause == "stop_gradient":
        return f"a value computed from {src} went through stop_gradient, which passes no gradient"
    if cause == "left_tapeflow":
        return (f"a value computed from {src} left tapeflow through {how}: what came back is a plain number "
                f"or array with no history")
    return f"a value computed from {src} went through {how}, which has no gradient"


def explain(tape, target, source) -> Explanation:
    """Why ``tape.gradient(target, source)`` is None (or zero), with the fix; or the ops that carry it.

    Args:
        tape: the GradientTape that recorded ``target``.
        target: the tensor differentiated.
        source: the tensor or Variable whose gradient is in question (None: only check the target).

    Returns:
        An :class:`Explanation` (``print`` it; ``.cause`` names the cause).

    Example:
        >>> import tapeflow as tp
        >>> x = tp.constant(3.0)
        >>> with tp.GradientTape() as tape:
        ...     y = x * x
        >>> tape.explain(y, x).cause
        'not_watched'
    """
    recorder = tape._recorder
    if not isinstance(target, Tensor):
        raise TypeError(f"explain: the target must be one Tensor, got {type(target).__name__}")
    if source is not None and not isinstance(source, Tensor):
        raise TypeError(f"explain: the source must be a Tensor or Variable, got {type(source).__name__}")
    if source is not None and not is_floating(source.dtype):
        return Explanation("integer_dtype", f"the source ({_describe(source)}) has an integer dtype: a tape "
                           f"neither watches nor differentiates integers", _FIXES["integer_dtype"])
    tnode = target._node
    if tnode is OUTSIDE or (tnode is not None and not recorder.tracks(tnode)):
        other = "" if tnode is OUTSIDE else " (another tape recorded it, not this one)"
        return Explanation("outside_tape", f"the target (shape {target.shape}, {target.dtype.name}) was "
                           f"computed from tracked values while this tape was not recording: outside its "
                           f"`with` block or under stop_recording(){other}", _FIXES["outside_tape"])
    if source is None:
        return Explanation("connected" if tnode is not None else "no_path",
                           "the target was recorded by this tape" if tnode is not None
                           else "the target depends on nothing this tape watched")
    if tape._spent:
        return _explain_spent(tape, target, source)
    tracked = recorder.tracks(source._node)
    order = [] if not tracked else _order(recorder, target)
    if tracked and id(source._node) in {id(n) for n in order}:
        return _connected(tape, target, source, order, id(source._node))
    breaks = [b for b in (recorder.breaks or ()) if _reaches(recorder, b[0], source)]
    if not tracked and not breaks:
        return _not_watched(tape, source)
    if breaks:
        return _broken(breaks, {id(n) for n in order}, source)
    deps = [_describe(t) for k, t in _names(recorder).items() if k in {id(n) for n in order}]
    return _no_path(source, deps)


def _broken(breaks, in_graph, source) -> Explanation:
    cause, b = _break_cause(in_graph, breaks)
    e = Explanation(cause, _break_message(cause, b, source), _FIXES[cause], where=b[2])
    e.lines = [f"also: {other[1]} at {other[2]}" for other in breaks if other is not b]
    return e


def _no_path(source, deps) -> Explanation:
    return Explanation("no_path", f"the target does not depend on {_describe(source)}: no recorded op "
                       f"connects them" + (f"; it depends on {', '.join(deps)}" if deps else ""),
                       _FIXES["no_path"])


def _explain_spent(tape, target, source) -> Explanation:
    """:func:`explain` once a non-persistent tape's gradient() has freed the graph.

    That call kept, at no cost per node, which of its sources the walk from the target reached and weak
    references to the gradients it returned; the places where values left the tape lie off the freed graph
    (that is why they are breaks), so they can still be traced back to the source. What is lost is the chain
    of ops and where along it a gradient stopped or vanished."""
    recorder = tape._recorder
    targets, sources, grads, reached = tape._outcome or ((), (), (), set())
    index = next((i for i, s in enumerate(sources) if s is source), None)
    if len(targets) != 1 or targets[0] is not target or index is None:
        return Explanation("released", "this non-persistent tape already ran gradient() for another target "
                           "or other sources and freed what it recorded, so this path cannot be traced",
                           _FIXES["released"])
    lost = "this tape has run gradient() and freed its graph, so the ops along the path are no longer known"
    if source._node is not None and id(source._node) in reached:
        ref = grads[index]
        if ref is None:  # on the graph, yet no gradient arrived
            return Explanation("non_differentiable", "the target depends on the source, but no gradient "
                               "arrived: an op on the path has no gradient for its input (an integer tensor "
                               f"on the path, or a non-differentiable op); {lost}",
                               _FIXES["non_differentiable"] + " " + _FIXES["released"])
        g = ref()
        if g is not None and not np.any(g._value != 0):
            return Explanation("zero_gradient", f"the source is connected but its gradient is zero; {lost}, "
                               f"so the op where it vanishes cannot be told",
                               "Look for ops with a zero derivative at these inputs on the path (relu, clip, "
                               "round, ...). " + _FIXES["released"])
        return Explanation("connected", f"the gradient reaches {_describe(source)} ({lost})")
    breaks = [b for b in (recorder.breaks or ()) if _reaches(recorder, b[0], source)]
    if breaks:
        return _broken(breaks, reached, source)
    if not recorder.tracks(source._node):
        return _not_watched(tape, source)
    return _no_path(source, [_describe(s) for s in sources if s._node is not None and id(s._node) in reached])


def _connected(tape, target, source, order, skey) -> Explanation:
    recorder = tape._recorder
    grads, edges = _flow(recorder, target, order)
    chain = _path(order, skey)
    lines = [f"  {_describe(source)}"]
    for child, node in zip(chain[1:], chain):
        g = edges.get((id(node), id(child)))
        norm = "none" if g is None else f"of norm {float(np.linalg.norm(g._value)):.4g}"
        lines.append(f"  -> {child.op.name:<14} (sends back a gradient {norm})")
    total = grads.get(skey)
    ops_ = [c.op.name for c in chain[1:]]
    if total is not None and np.any(total._value != 0):
        return Explanation("connected", f"the gradient reaches {_describe(source)} through {len(ops_)} "
                           f"op(s):", chain=ops_, lines=lines)
    if total is None:  # connected, yet nothing arrives: an integer tensor or a rule with no gradient
        for child, node in zip(chain[1:], chain):
            slot = next(i for i, p in enumerate(child.parents) if p is node)
            dtype = child.shapes[slot].dtype
            if dtype is not None and not is_floating(dtype):
                why = (f"the path from the source passes through an integer tensor ({dtype.name}, the input "
                       f"of {child.op.name}): integers carry no gradient")
                fix = "Keep the values on this path floating-point; cast to integers off the gradient path."
                return Explanation("integer_dtype", why, fix, chain=ops_, lines=lines)
        stop = next((c.op.name for c, n in zip(chain[1:], chain) if edges.get((id(n), id(c))) is None), None)
        return Explanation("non_differentiable", f"the gradient stops at {stop}: its rule gives no gradient "
                           f"for this input", _FIXES["non_differentiable"], chain=ops_, lines=lines)
    # zero: find where along the chain the gradient first vanishes (walking back from the target)
    culprit = None
    for child, node in reversed(list(zip(chain[1:], chain))):
        g = edges.get((id(node), id(child)))
        if g is None or not np.any(g._value != 0):
            culprit = child.op.name
            break
    hint = _ZERO_HINTS.get(culprit, f"{culprit}'s derivative is zero at these inputs") if culprit else (
        "the contributions of several paths cancel")
    return Explanation("zero_gradient", f"the source is connected but its gradient is zero: {hint}",
                       "Check the inputs of that op (or choose an op with a useful gradient there).",
                       chain=ops_, lines=lines)


__all__ = ["explain", "summary", "tape_graph", "Explanation", "TapeGraph", "GraphNode", "GraphEdge"]
