"""The op registry: each op is defined once, with its gradient beside it.

An :class:`Op` couples a forward function on backend arrays with gradient rules written in tapeflow ops (so
the backward pass is itself differentiable). The tape, not the rules, sums broadcast gradients back to each
input's shape and checks them. ``REGISTRY`` lists every op; the test suite checks each one.

Every op call takes one path, :data:`_CALL`, written once below: unwrap the inputs, run the forward (an error
keeps its own exception object, with the op's name and the input shapes added as a note), wrap the output as a
new Tensor, and record its node on the tapes recording now (:mod:`tapeflow._tape` holds the node and the
tapes). The operators take it too: ``x * 2`` is ``multiply.binary()(x, 2)``.

Naming: an :class:`Op` object is bound to the public name itself (``exp``, ``relu``) when it is what users
call; when a Python function of that name wraps it (to normalize arguments: ``matmul``, ``clip``,
``reshape``), the object gets the ``_op`` suffix (``matmul_op``, ``clip_op``, ``reshape_op``).
"""

from __future__ import annotations

import linecache
from types import MethodType as _MethodType

from tapeflow import _backend as B
from tapeflow import _tape
from tapeflow._tensor import Tensor, Variable, to_array, wrap
from tapeflow._trace import state as _trace
from tapeflow.errors import ShapeError, add_note

REGISTRY: dict[str, Op] = {}


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
                 "differentiable", "explain", "_calls")

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
        # the call path made for any number of inputs, for one, and for two without keyword parameters
        self._calls = tuple(_call_path(n, params)(self) for n, params in _FORMS)
        REGISTRY[name] = self

    def __call__(self, *args, **params):
        """Run the op on Tensors, Variables, arrays or Python scalars (see :data:`_CALL`): ``forward`` on
        their arrays; the output is a new Tensor, which the recording tapes record if an input is tracked."""
        n = len(args)
        if n == 1:
            return self._calls[1](args[0], params)
        if n == 2 and not params:
            return self._calls[2](args[0], args[1])
        return self._calls[0](args, params)

    def binary(self):
        """``op(a, b)`` as a plain function of two arguments: what the Tensor operators are (``__add__`` is
        ``add.binary()``), so ``x + 1`` runs the call path with no call in between."""
        return self._calls[2]

    def __get__(self, obj, owner=None):  # so an op can serve as a Tensor method (`Tensor.sum = sum`)
        return self if obj is None else _MethodType(self, obj)

    def _error(self, e, vals, params):
        """The exception to raise for ``e``, raised by the forward: a ShapeError from ``explain`` or for
        shapes that do not broadcast, else ``e`` itself, the op's name and input shapes added as a note (its
        type, arguments, attributes and traceback kept)."""
        if isinstance(e, ShapeError):
            return e
        shapes = " and ".join(str(B.xp.shape(v)) for v in vals)
        if isinstance(e, (ValueError, IndexError, TypeError)):
            if self.explain is not None:
                message = self.explain(*vals, **params)
                if message:
                    kind = IndexError if isinstance(e, IndexError) else ShapeError
                    return kind(f"{self.name}: {message}")
            if "broadcast" in str(e):
                return ShapeError(f"{self.name}: shapes {shapes} cannot be broadcast")
        return add_note(e, f"(while running op '{self.name}' on inputs of shapes {shapes})")

    def __repr__(self):
        return f"<tapeflow op {self.name}>"


# What calling an op does, written once. `_call_path` makes Python of it for `n` positional inputs: each
# `for i in INPUTS:` block is written out once per input with `{i}` replaced by 0, 1, ... (`a{i}` becomes the
# local `a0`), so the hot calls (operators, one-input ops) build no lists and run no loops, which would cost
# 10% or more of `x * 2 + 1` on a 4x4 tensor on a tape; for any other number of inputs each block stays a loop
# over lists (`a{i}` becomes `a[i]`). Per input: `a{i}` the argument, `v{i}` its array (or Python scalar),
# `p{i}` its node, or the Variable itself (tracked even before a tape watches it), or None for a constant;
# `s{i}` what the op's node keeps of it. `{args}`, `{vals}`, `{parents}` and `{saved}` list those of every
# input; `_render` fills in the other `{...}` (the keyword parameters, or none for the operators' form).
_CALL = """\
def make(op):
    forward = op.forward
    differentiable = op.differentiable
    save_inputs = op.save_inputs
    save_output = op.save_output

    def call({signature}):
        {prologue}
        for i in INPUTS:
            c{i} = a{i}.__class__
            if c{i} is Tensor:
                v{i} = a{i}._value
                p{i} = a{i}._node
            elif c{i} is Variable:
                v{i} = a{i}._value
                p{i} = a{i}
            elif c{i} is float or c{i} is int or c{i} is bool:
                v{i} = a{i}
                p{i} = None
            elif isinstance(a{i}, Tensor):  # a subclass: of Variable, or a Variable's slice
                v{i} = a{i}._value
                p{i} = a{i} if isinstance(a{i}, Variable) else a{i}._node
            elif hasattr(c{i}, "__tapeflow_op__"):  # a placeholder (the functional API's symbolic tensor)
                return c{i}.__tapeflow_op__(op, ({args},), {params})
            else:
                v{i} = to_array(a{i})
                p{i} = None
        if {scalars_only}:  # Python scalars only: arrays of TensorFlow's default dtypes
            for i in INPUTS:
                v{i} = to_array(v{i})
        try:
            out = {forward}
        except Exception as e:
            error = op._error(e, ({vals},), {params})
            if error is e:
                raise
            raise error from e
        if out.__class__ is not ndarray:
            out = B.xp.asarray(out)
        t = new(Tensor)
        t._value = out
        if {untracked}:
            t._node = None
        elif not differentiable:
            t._node = None
            note_nondiff(op, ({args},))  # so tape.explain can say where the gradient path was cut
        elif not (recording := state.recording):
            t._node = OUTSIDE  # computed from tracked values while no tape records
        else:
            now = recording.frozen
            tapes = now  # the node shares this tuple, unless a parent is tracked by other tapes (then None)
            for i in INPUTS:
                if p{i} is None:  # a constant: kept as the Tensor it is, else as its array (`v{i} is a{i}`
                    # for Python scalars and backend arrays), or its shape and dtype only
                    if not save_inputs:
                        s{i} = spec(v{i})
                    elif v{i} is a{i} or not isinstance(a{i}, Tensor):
                        s{i} = v{i}
                    else:
                        s{i} = a{i}
                elif p{i} is a{i}:  # a Variable: watched now by each tape that watches accessed variables
                    p{i} = a{i}._node
                    if p{i} is None or p{i}.tapes is not now:
                        watch_accessed(a{i}, v{i}, recording)
                        p{i} = a{i}._node
                        if p{i} is None or p{i}.tapes is not now:
                            tapes = None
                    # a snapshot of its value: a later update of the Variable cannot change the gradient
                    s{i} = wrap(v{i}, p{i}) if save_inputs else (v{i}.shape, v{i}.dtype)
                else:
                    if p{i}.tapes is not now:
                        tapes = None
                    s{i} = a{i} if save_inputs else (v{i}.shape, v{i}.dtype)
            if tapes is not None or (tapes := tapes_for(({parents},), recording, now)):
                node = new(Node)
                node.op = op
                node.parents = ({parents},)
                node.params = {params_or_none}
                node.out_value = out if save_output else None
                node.tapes = tapes
                if save_inputs:
                    node.inputs = ({saved},)
                    node.specs = None
                else:
                    node.inputs = None
                    node.specs = ({saved},)
                t._node = node
            else:  # no recording tape tracks an input
                t._node = untracked_output(({parents},))
        if trace.recorder is not None:  # tp.function is tracing: it records the op
            trace.recorder.op(op, ({args},), ({vals},), {params_or_none}, t)
        return t

    return call
"""


def _render(n, params):
    """The source of :data:`_CALL` for ``n`` positional inputs (None: any number), with keyword parameters
    or (``params`` False) without."""
    lines = _CALL.splitlines()
    out = []
    k = 0
    while k < len(lines):
        line = lines[k]
        k += 1
        if line.strip() != "for i in INPUTS:":
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        while k < len(lines) and len(lines[k]) - len(lines[k].lstrip()) > indent:
            body.append(lines[k])
            k += 1
        if n is None:
            out.append(f"{' ' * indent}for i in range(len(a)):")
            out += [b.replace("{i}", "[i]") for b in body]
        else:
            out += [b[4:].replace("{i}", str(i)) for i in range(n) for b in body]
    if n is None:
        each = {"{args}": "*a", "{vals}": "*v", "{parents}": "*p", "{saved}": "*s",
                "{signature}": "a, params",
                "{prologue}": "c = [None] * len(a); v = list(a); p = [None] * len(a); s = [None] * len(a)",
                "{untracked}": "all(q is None for q in p)", "{scalars_only}": "all(k in SCALARS for k in c)"}
    else:
        each = {f"{{{name}}}": ", ".join(f"{x}{i}" for i in range(n))
                for name, x in (("args", "a"), ("vals", "v"), ("parents", "p"), ("saved", "s"))}
        each["{signature}"] = each["{args}"] + (", params" if params else "")
        each["{prologue}"] = ""
        each["{untracked}"] = " and ".join(f"p{i} is None" for i in range(n))
        # `v{i} is a{i}` first: false for any Tensor, and cheaper than a set lookup
        each["{scalars_only}"] = " and ".join([f"v{i} is a{i}" for i in range(n)]
                                              + [f"c{i} in SCALARS" for i in range(n)])
    if params:
        each["{forward}"] = "forward({vals}, **params) if params else forward({vals})"
        each["{params_or_none}"] = "params or None"
        each["{params}"] = "params"
    else:
        each["{forward}"] = "forward({vals})"
        each["{params_or_none}"] = "None"
        each["{params}"] = "NO_PARAMS"
    source = "\n".join(out) + "\n"
    for key in ("{forward}", "{params_or_none}", *each):  # {forward} first: it holds {vals}
        source = source.replace(key, each[key])
    return source


# The forms each op gets: (number of inputs or None for any, keyword parameters allowed). Two inputs without
# parameters are the operators; one input covers unary ops and reductions (`sum(x, axis=1)`).
_FORMS = ((None, True), (1, True), (2, False))
_MAKERS = {}  # (n, params) -> make(op) -> op's call in that form


def _call_path(n, params):
    """``make(op)``, which returns ``op``'s call for ``n`` positional inputs (None: any number), with keyword
    parameters or without. Each form is compiled once; its source is registered with :mod:`linecache`, so a
    traceback through it shows its lines."""
    make = _MAKERS.get((n, params))
    if make is None:
        source = _render(n, params)
        inputs = "any number of inputs" if n is None else f"{n} input{'s' if n != 1 else ''}"
        filename = f"<tapeflow op call: {inputs}{'' if params else ', no parameters'}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace = {"B": B, "Tensor": Tensor, "Variable": Variable, "to_array": to_array, "wrap": wrap,
                     "new": object.__new__, "ndarray": B.ndarray, "trace": _trace, "state": _tape._state,
                     "Node": _tape.Node, "OUTSIDE": _tape.OUTSIDE, "note_nondiff": _tape.note_nondiff,
                     "watch_accessed": _tape.watch_accessed, "tapes_for": _tape.tapes_for,
                     "untracked_output": _tape.untracked_output, "spec": _tape.scalar_spec, "NO_PARAMS": {},
                     "SCALARS": frozenset((float, int, bool))}
        exec(compile(source, filename, "exec"), namespace)
        make = _MAKERS[n, params] = namespace["make"]
    return make


def defop(name, forward, *grads, save_inputs=True, save_output=False, explain=None):
    """Register an element-wise or general op with one gradient rule per input (see :class:`Op`)."""
    return Op(name, forward, grads=grads or None, save_inputs=save_inputs, save_output=save_output,
              explain=explain)


def nondiff(name, forward, explain=None):
    """Register an op with no gradient; its outputs are constants to every tape."""
    return Op(name, forward, differentiable=False, explain=explain)
