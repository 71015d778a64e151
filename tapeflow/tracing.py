"""``tp.function``: trace a Python function once per input signature, then run it as a compiled plan.

How it works. On the first call for a signature (the shapes and dtypes of the tensor arguments, the values of
the others), the Python function runs once, eagerly, while a recorder (:class:`_Recorder`) notes every op it
runs, every gradient rule a ``GradientTape`` inside applies, every random draw and every host call (Variable
assignments, ``apply_gradients``, metric updates, ``tp.print``). Host calls are not made while tracing: the
trace only learns the plan. The recording becomes a :class:`Plan`: a flat list of steps on NumPy arrays,
compiled into one generated Python function, with dead steps removed and constants folded. Each later call
with the same signature runs the plan without running the Python body, so Python side effects happen at trace
time only. See docs/function.md for the semantics and the pitfalls.
"""

from __future__ import annotations

import functools
import statistics
import sys
import threading
import time
import warnings

import numpy as np

from tapeflow import _backend as B
from tapeflow import _trace
from tapeflow._nest import flatten, flatten_with_rebuild, map_structure
from tapeflow._tape import _state as _tape_state
from tapeflow._tensor import Tensor, Variable, wrap
from tapeflow.dtypes import as_dtype

__all__ = ["function", "Function", "TensorSpec", "TracingError", "print"]

_builtin_print = print
RETRACE_WARNING = 5  # warn (once per function) when it has traced more often than this


class TracingError(TypeError):
    """A traced function needs the Python value of a tensor (an ``if``/``while`` on a tensor, ``float(t)``,
    ``t.numpy()``): while tracing, values computed from the inputs have no fixed value."""


class TensorSpec:
    """The shape and dtype a traced function's tensor argument must have (``None`` in ``shape``: any size).

    Example:
        >>> import tapeflow as tp
        >>> spec = tp.TensorSpec((None, 3), "float32")
        >>> spec.is_compatible_with(tp.zeros((5, 3)))
        True
    """

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
        self.dtype = as_dtype(dtype)
        self.name = name

    def is_compatible_with(self, value) -> bool:
        """Whether ``value`` (a Tensor or array) fits this spec."""
        shape, dtype = B.xp.shape(value), getattr(value, "dtype", None)
        if dtype != self.dtype:
            return False
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(s is None or s == d for s, d in zip(self.shape, shape))

    def __repr__(self):
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype.name}, name={self.name!r})"


# --- the recording ------------------------------------------------------------------------------------------
class _Var:
    """A Variable read by a step: its value at the moment the step runs."""

    __slots__ = ("var",)

    def __init__(self, var):
        self.var = var


class _Const:
    """A value fixed when the function was traced."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Seq:
    """A tuple or list parameter holding values of the plan (``x[idx]``'s key)."""

    __slots__ = ("type", "items")

    def __init__(self, type_, items):
        self.type, self.items = type_, items


class Step:
    """One step of a plan.

    ``kind`` is ``"op"`` (a registered op's forward), ``"rule"`` (a gradient rule that is not written in ops,
    applied as a whole), ``"host"`` (a call with side effects, made on every run) or ``"source"`` (a random
    draw). ``ins`` are the arguments: slot numbers, :class:`_Var` or :class:`_Const`; ``outs`` the slots it
    fills.
    """

    __slots__ = ("kind", "fn", "op", "ins", "params", "outs", "meta")

    def __init__(self, kind, fn, op, ins, params, outs, meta=None):
        self.kind, self.fn, self.op, self.ins, self.params, self.outs, self.meta = (
            kind, fn, op, ins, params, outs, meta
        )

    @property
    def name(self):
        if self.kind == "op":
            return self.op.name
        if self.kind == "rule":
            return f"grad[{self.meta[0]}]"
        return f"{self.kind}:{getattr(self.fn, '__qualname__', type(self.fn).__name__)}"


class _Recorder:
    """What a trace records: the steps, the slot of each value produced, the inputs, created Variables."""

    def __init__(self, parent=None, captured=None):
        self.parent = parent  # the enclosing trace, for a branch of tp.cond or a loop of tp.while_loop
        self.captured = captured  # values read from the enclosing trace (shared by sibling branches)
        self.capture_slot = {}  # index in `captured` -> slot
        self.steps = []
        self.slots = []  # trace-time value of each slot (an array or a float)
        self.slot_of = {}  # id(Tensor, array or float) -> slot
        self.var_of = {}  # id(Variable's array) -> Variable: a snapshot a tape saved reads the Variable
        self.keep = []  # keeps every mapped object alive, so no id is reused during the trace
        self.inputs = []
        self.new_variables = []
        self.folded = set()  # ids of constants computed by ops from constants
        self.sources = []  # (step, trace-time array): the first run reuses what tracing drew

    # --- values
    def new_slot(self, obj, arr):
        k = len(self.slots)
        self.slots.append(arr)
        self.slot_of[id(obj)] = k
        self.slot_of.setdefault(id(arr), k)
        self.keep.append(obj)
        self.keep.append(arr)
        return k

    def input(self, t):
        self.inputs.append(self.new_slot(t, t._value))

    def lookup(self, a):
        """The reference of an op argument that is a Tensor or array."""
        k = self.slot_of.get(id(a))
        if k is not None:
            return k
        given = a
        if isinstance(a, Tensor):
            if isinstance(a, Variable) and self.parent is not None:  # an input of the branch's op, so that
                return self._capture(a)  # tapes see the dependence
            if isinstance(a, Variable):
                self.var_of.setdefault(id(a._value), a)
                self.keep.append(a._value)
                return _Var(a)
            a = a._value
            k = self.slot_of.get(id(a))
            if k is not None:
                return k
        v = self.var_of.get(id(a))
        if v is not None:
            return _Var(v)
        if self.parent is not None:  # a value of the enclosing trace: an extra input of this plan
            ref = self.parent.lookup(a)
            if ref.__class__ is _Var:
                return self._capture(ref.var)
            if ref.__class__ is int:
                return self._capture(given)
        return None

    def _capture(self, a):
        i = next((i for i, c in enumerate(self.captured) if c is a), None)  # a sibling branch's capture
        if i is None:
            i = len(self.captured)
            self.captured.append(a)
        k = self.new_slot(a, a._value if isinstance(a, Tensor) else a)
        self.capture_slot[i] = k
        return k

    @staticmethod
    def dynamic(ref):
        return ref.__class__ is int or ref.__class__ is _Var

    # --- hooks (see tapeflow._trace)
    def op(self, op, args, vals, params, t):
        if op.name in _SHAPE_ONLY:  # reads only its input's shape and dtype, which the signature fixes
            self._fold(t)
            return
        ins = []
        live = False
        for a, v in zip(args, vals):
            ref = self.lookup(a) if isinstance(a, (Tensor, B.ndarray)) else None
            if ref is None:
                ref = _Const(v)
            else:
                live = True
            ins.append(ref)
        dynamic_params = None
        for key, value in (params or {}).items():  # arrays passed as parameters: masks, gather's indices
            ref = self._param_ref(value)
            if ref is not None:
                dynamic_params = dynamic_params or {}
                dynamic_params[key] = ref
        if not live and dynamic_params is None:  # computed from constants only: a constant of the plan
            self._fold(t)
            return
        out = self.new_slot(t, t._value)
        self.steps.append(Step("op", op.forward, op, ins, params, [out], dynamic_params))

    def _fold(self, t):
        """``t`` is a constant that ops computed from constants (not a value tapeflow cannot see)."""
        self.folded.add(id(t))
        self.keep.append(t)

    def _param_ref(self, value):
        """The reference of a parameter computed from the trace (an array, or a tuple holding arrays, as
        ``x[idx, :]``'s key), else None."""
        if isinstance(value, (Tensor, B.ndarray)):
            return self.lookup(value)
        if isinstance(value, (tuple, list)):
            refs = [self._param_ref(v) for v in value]
            if any(r is not None for r in refs):
                return _Seq(type(value), [_Const(v) if r is None else r for v, r in zip(value, refs)])
        return None

    def rule(self, fn, g, out, inputs, params):
        """A gradient rule: recorded op by op when it is written in ops, else as one step."""
        mark = len(self.steps)
        results = fn(g, out, *inputs, **params)
        listed = isinstance(results, (list, tuple))
        flat = list(results) if listed else [results]
        if all(r is None or (isinstance(r, Tensor) and (id(r) in self.folded or self.lookup(r) is not None))
               for r in flat):
            return results
        args = (g, out, *inputs)
        ins = [self._host_ref(a) for a in args]
        if not any(self.dynamic(r) for r in ins):
            return results
        del self.steps[mark:]  # the rule's inner ops: the whole rule is one step instead
        outs = []
        fixed = []
        for r in flat:
            if r is None:
                outs.append(None)
                fixed.append(None)
                continue
            if not isinstance(r, Tensor):
                r = Tensor(r)
            outs.append(self.new_slot(r, r._value))
            fixed.append(r)
        name = getattr(fn, "__qualname__", "rule")
        self.steps.append(Step("rule", fn, None, ins, params or None, outs, (name, listed)))
        return fixed if listed else fixed[0]

    def _host_ref(self, a):
        if isinstance(a, (Tensor, B.ndarray)) and not isinstance(a, Variable):
            ref = self.lookup(a)
            if ref is not None:
                return ref
        elif a.__class__ is float:
            k = self.slot_of.get(id(a))
            if k is not None:
                return k
        return _Const(a)

    def host(self, fn, args, kwargs, returns, run):
        leaves, rebuild = flatten_with_rebuild([list(args), kwargs])
        ins = [self._host_ref(a) for a in leaves]
        kinds = [_kind(a) for a in leaves]
        if not run:
            self.steps.append(Step("host", fn, None, ins, None, [], (rebuild, kinds, None, None)))
            return None if returns is None else returns(*args, **kwargs)
        previous = _trace.state.recorder
        _trace.state.recorder = None
        try:
            result = fn(*args, **kwargs)
        finally:
            _trace.state.recorder = previous
        out_leaves, out_rebuild = flatten_with_rebuild(result)
        # a fresh object per float (0.0 from two metrics may be one object), so each maps to its own slot
        out_leaves = [float.fromhex(x.hex()) if x.__class__ is float else x for x in out_leaves]
        result = out_rebuild(out_leaves)
        outs, out_kinds = [], []
        for leaf in out_leaves:
            kind = _kind(leaf)
            if kind in ("t", "a", "f"):
                outs.append(self.new_slot(leaf, leaf._value if kind == "t" else leaf))
            else:
                outs.append(None)
            out_kinds.append(kind)
        self.steps.append(Step("host", fn, None, ins, None, outs, (rebuild, kinds, out_rebuild, out_kinds)))
        self.keep.append(out_leaves)
        return result

    def source(self, rng_of, draw, args):
        arr = draw(rng_of(), *args)
        step = Step("source", draw, None, [], None, [self.new_slot(arr, arr)], (rng_of, args))
        self.steps.append(step)
        self.sources.append((step, arr))
        return arr

    def created(self, var):
        self.new_variables.append(var)

    @staticmethod
    def error(message):
        """A :class:`TracingError` for code that cannot be traced."""
        return TracingError(f"tp.function: {message}")

    def python_value(self, t, how):
        if isinstance(t, Variable):
            what = f"the Variable '{t.name}'"
        elif self.lookup(t) is not None:
            what = f"a tensor of shape {t.shape} computed from the function's inputs"
        else:
            return  # a constant: its value is known
        raise TracingError(
            f"tp.function: {how} reads the Python value of {what} while the function is traced, where it "
            f"has no fixed value. Use tp.cond or tp.while_loop for control flow on tensor values, tapeflow "
            f"ops to compute with it, tp.print to print it, or return it from the function."
        )


_SHAPE_ONLY = frozenset({"ones_like", "zeros_like"})


def _array(x):
    return x._value if isinstance(x, Tensor) else x


def _kind(a):
    if isinstance(a, Tensor) and not isinstance(a, Variable):
        return "t"
    if isinstance(a, B.ndarray):
        return "a"
    if a.__class__ is float:
        return "f"
    return "c"


# --- the plan -----------------------------------------------------------------------------------------------
class Plan:
    """The steps a trace recorded, pruned to those the outputs and side effects need, compiled into one
    generated Python function that passes NumPy arrays from step to step (no Tensor, no tape node)."""

    def __init__(self, recorder, outputs, name="function", shape_generic=False):
        leaves, self._rebuild = flatten_with_rebuild(outputs)
        self.outputs = []
        for leaf in leaves:
            kind = _kind(leaf)
            k = recorder._host_ref(leaf) if kind in ("t", "a", "f") else None
            if k.__class__ is int:
                self.outputs.append((kind, k))
            else:
                self.outputs.append(("c", leaf))
        self.inputs = list(recorder.inputs) + list(recorder.capture_slot.values())
        # where each input comes from in run_flat's list: the explicit inputs, then the captured values
        n = len(recorder.inputs)
        self.positions = list(range(n)) + [n + c for c in recorder.capture_slot]
        self._grad_plans = {}
        self.shapes = {k: (np.shape(v), getattr(v, "dtype", None)) for k, v in enumerate(recorder.slots)}
        self.steps = _prune(recorder.steps, {k for kind, k in self.outputs if kind != "c"})
        self.name = name
        pending = {id(step): [arr] for step, arr in recorder.sources}
        self._runners = [_runner(step, pending.get(id(step))) for step in self.steps]
        # a plan run for several shapes (reduce_retracing) writes no buffer sized for one of them
        self.shape_generic = shape_generic
        self.targets, self.buffers = ({}, []) if shape_generic else _memory_plan(self, recorder.slots)
        self.recording = (recorder, outputs)  # what a shape-generic plan of the same trace is built from
        self._lock = threading.RLock()  # the buffers are the plan's own: one run at a time
        self._run = self._compile()

    # --- running
    def __call__(self, arrays):
        """Run the plan on the input arrays; returns the outputs in the function's structure."""
        vals = self._run_locked(self._run, arrays)
        out = []
        for (kind, k), v in zip(self.outputs, vals):
            out.append(k if kind == "c" else wrap(v) if kind == "t" else v)
        return self._rebuild(out)

    def _run_locked(self, run, arrays):
        """``run(arrays)``, under the plan's lock when it owns buffers (one run at a time writes them)."""
        if self.buffers:
            with self._lock:
                return run(arrays)
        return run(arrays)

    def profile(self, arrays, repeat=20):
        """Run the plan ``repeat`` times on ``arrays`` (host calls and updates included) and return each
        step's median CPU time: ``[(step, seconds)]``. CPU time is the process's (``time.process_time``), so
        threads a step starts count."""
        lines = self.source.split("\n")
        head = 2 if self.inputs else 1  # "def run(inputs):" and the unpacking of the inputs
        timed = lines[:head] + ["    _t = _clock()"]
        for i, line in enumerate(lines[head:-1]):  # one line per step
            timed += [line, f"    _times[{i}].append(_clock() - _t); _t = _clock()"]
        timed.append(lines[-1])
        times = [[] for _ in self.steps]
        ns = dict(self._namespace, _clock=time.process_time, _times=times)
        exec(compile("\n".join(timed), f"<tp.function profile of {self.name}>", "exec"), ns)  # noqa: S102
        for _ in range(repeat):
            self._run_locked(ns["run"], arrays)
        return [(step, statistics.median(t)) for step, t in zip(self.steps, times)]

    def run_flat(self, xs):
        """Run on the arrays ``xs`` (explicit inputs, then every captured value); the outputs as arrays."""
        vals = self._run([xs[p] for p in self.positions])
        return [B.xp.asarray(_array(k)) if kind == "c" else B.xp.asarray(v)
                for (kind, k), v in zip(self.outputs, vals)]

    def run_eager_flat(self, xs, effects=True):
        """:meth:`run_eager` on the tensors ``xs`` (as :meth:`run_flat`); the outputs as Tensors."""
        out = self.run_eager([xs[p] for p in self.positions], effects=effects, flat=True)
        return [v if isinstance(v, Tensor) else Tensor(v) for v in out]

    def output_specs(self):
        """``(shape, dtype)`` of each output."""
        specs = []
        for kind, k in self.outputs:
            if kind == "c":
                arr = B.xp.asarray(_array(k))
                specs.append((arr.shape, arr.dtype))
            else:
                specs.append(self.shapes[k])
        return specs

    def rebuild_outputs(self, leaves):
        """The outputs' structure around ``leaves``."""
        return self._rebuild(leaves)

    def gradient_plan(self, index, j, xs, g):
        """A plan of ``(*xs, g)`` giving the gradient of output ``index`` with respect to input ``j`` (zeros
        where it does not depend on it); made once per (index, j)."""
        key = (index, j)
        plan = self._grad_plans.get(key)
        if plan is None:
            plan = self._grad_plans[key] = trace_plan(functools.partial(_gradient_of, self, index, j),
                                                      [*xs, g], what=f"gradient of {self.name}")
        return plan

    def run_eager(self, tensors, effects=True, flat=False):
        """Run the plan op by op through the registry, so that the tapes recording now see every op."""
        env = dict(zip(self.inputs, tensors))

        def get(ref):
            if ref.__class__ is int:
                return env[ref]
            if ref.__class__ is _Seq:
                return ref.type(_array(get(r)) for r in ref.items)
            return ref.var if ref.__class__ is _Var else ref.value

        for step, runner in zip(self.steps, self._runners):
            args = [get(r) for r in step.ins]
            if step.kind == "op":
                params = step.params or {}
                if step.meta:
                    params = {**params, **{key: _array(get(r)) for key, r in step.meta.items()}}
                env[step.outs[0]] = step.op(*args, **params)
            elif step.kind == "rule":
                results = step.fn(*args, **(step.params or {}))
                flat = results if step.meta[1] else (results,)
                for k, r in zip(step.outs, flat):
                    if k is not None:
                        env[k] = r if isinstance(r, Tensor) else Tensor(r)
            elif step.kind == "host":
                if not effects and not step.outs:
                    continue
                results = runner(*[a._value if isinstance(a, Tensor) and not isinstance(a, Variable) else a
                                   for a in args])
                for k, r in zip(step.outs, results):
                    if k is not None:
                        env[k] = wrap(r) if isinstance(r, B.ndarray) else r
            else:
                env[step.outs[0]] = wrap(runner())
        out = []
        for kind, k in self.outputs:
            v = k if kind == "c" else env[k]
            out.append(v._value if kind == "a" and not flat else v)
        return out if flat else self._rebuild(out)

    # --- compiling
    def _compile(self):
        ns = {"asarray": B.xp.asarray}
        for j, buf in enumerate(self.buffers):
            ns[f"b{j}"] = buf
        lines = ["def run(inputs):"]
        if self.inputs:
            lines.append(f"    {''.join(f's{k}, ' for k in self.inputs)}= inputs")
        consts = {}

        def arg(ref):
            if ref.__class__ is int:
                return f"s{ref}"
            if ref.__class__ is _Seq:
                items = "".join(arg(r) + ", " for r in ref.items)
                return f"({items})" if ref.type is tuple else f"[{items}]"
            if ref.__class__ is _Var:
                name = consts.setdefault(id(ref.var), f"v{len(consts)}")
                ns[name] = ref.var
                return f"{name}._value"
            name = f"c{len(ns)}"
            ns[name] = ref.value
            return name

        for i, (step, runner) in enumerate(zip(self.steps, self._runners)):
            args = ", ".join(arg(r) for r in step.ins)
            f = f"f{i}"
            if step.kind == "op":
                ns[f] = step.fn
                if isinstance(step.fn, np.ufunc):
                    args = ", ".join(arg(r) for r in self._typed_scalars(step))
                kw = ""
                for key, value in (step.params or {}).items():
                    if step.meta and key in step.meta:
                        kw += f", {key}={arg(step.meta[key])}"
                        continue
                    ns[f"p{i}_{key}"] = value
                    kw += f", {key}=p{i}_{key}"
                target = self.targets.get(i)
                if target is not None:  # write into a dead input's array or a buffer of the plan
                    kw += f", out={target}"
                call = f"{f}({args}{kw})"
                out = step.outs[0]
                if self.shapes[out][0] == ():  # NumPy reductions return scalars, ops return arrays
                    call = f"asarray({call})"
                lines.append(f"    s{out} = {call}")
                continue
            ns[f] = runner
            targets = [f"s{k}" if k is not None else "_" for k in step.outs]
            if step.kind == "source":
                lines.append(f"    {targets[0]} = {f}()")
            elif targets:
                lines.append(f"    {''.join(t + ', ' for t in targets)}= {f}({args})")
            else:
                lines.append(f"    {f}({args})")
        results = "".join(f"s{k}, " if kind != "c" else "None, " for kind, k in self.outputs)
        lines.append(f"    return ({results})")
        self.source = "\n".join(lines)
        self._namespace = dict(ns)  # what the source refers to (for profile)
        exec(compile(self.source, f"<tp.function plan of {self.name}>", "exec"), ns)  # noqa: S102
        return ns["run"]


    def _typed_scalars(self, step):
        """A ufunc's Python-number arguments as NumPy scalars of its float array argument's dtype: NumPy casts
        such a number to the array's dtype anyway (NEP 50), so the result is the same to the bit, and NumPy
        skips converting the number on every call."""
        dtypes = [self.shapes[r][1] for r in step.ins if r.__class__ is int]
        dtypes += [r.var.dtype for r in step.ins if r.__class__ is _Var]
        if len(set(dtypes)) != 1 or dtypes[0] is None or dtypes[0].kind != "f":
            return step.ins
        cast = dtypes[0].type
        out = []
        for r in step.ins:
            if r.__class__ is _Const and r.value.__class__ in (float, int):
                with np.errstate(over="ignore"):
                    value = cast(r.value)
                if np.isfinite(value):
                    r = _Const(value)
            out.append(r)
        return out


IN_PLACE_SIZE = 1024  # smaller arrays: NumPy's `out=` costs more than the allocation it saves


def _memory_plan(plan, values):
    """Where each element-wise op (a NumPy ufunc) of ``plan`` writes its result, ``{step index: "sK" or
    "bJ"}``, and the buffers ``bJ`` the plan owns (allocated once, reused by every call).

    Values are grouped with the values that are views of them (found on the trace's arrays). An op writes into
    an input whose group dies at this op (a chain ``exp(x * 2 + 1)`` then runs in one array), else into a
    buffer of the plan that no live group holds. Never written: the function's inputs, Variables' arrays,
    what host calls and gradient rules return, and any group that leaves the plan (outputs, host-call
    arguments, inputs of ops that keep per-run state).
    """
    steps = plan.steps
    parent = {}  # union-find over slots: a value and the views of it

    def find(k):
        while parent.get(k, k) != k:
            k = parent[k]
        return k

    def union(a, b):
        a, b = find(a), find(b)
        if a != b:
            parent[b] = a
        return a

    foreign = set(plan.inputs)  # arrays the plan does not own
    for step in steps:
        ins = list(_slots_in(step.ins))
        variables = [r.var._value for r in step.ins if r.__class__ is _Var]
        for k in step.outs:
            if k is None or not isinstance(values[k], B.ndarray):
                continue
            for r in ins:
                if isinstance(values[r], B.ndarray) and B.xp.may_share_memory(values[k], values[r]):
                    union(r, k)
            if step.kind not in ("op", "source") or any(B.xp.may_share_memory(values[k], a)
                                                         for a in variables):
                foreign.add(k)
    last = {}  # slot -> index of the last step that reads it
    escaped = {k for kind, k in plan.outputs if kind != "c"}
    for i, step in enumerate(steps):
        refs = list(_slots_in(list(step.ins) + list((step.meta or {}).values() if step.kind == "op" else [])))
        for r in refs:
            last[r] = i
        if step.kind == "host" or (step.kind == "op" and "box" in (step.params or {})):
            escaped.update(refs)
    fixed = {find(k) for k in foreign | escaped}  # groups never written into
    group_last = {}
    for k, i in last.items():
        g = find(k)
        group_last[g] = max(group_last.get(g, -1), i)
    targets, buffers, busy = {}, [], []  # busy: (slot, buffer index) of the buffers holding live groups
    for i, step in enumerate(steps):
        busy = [(k, j) for k, j in busy if group_last.get(find(k), -1) >= i]
        if step.kind != "op" or not isinstance(step.fn, np.ufunc) or step.fn.nout != 1:
            continue
        k = step.outs[0]
        value = values[k]
        if not isinstance(value, B.ndarray) or value.size < IN_PLACE_SIZE or find(k) in fixed:
            continue
        for r in _slots_in(step.ins):
            g, v = find(r), values[r]
            if (g not in fixed and group_last.get(g) == i and isinstance(v, B.ndarray)
                    and v.shape == value.shape and v.dtype == value.dtype):
                targets[i] = f"s{r}"  # the input dies here: write over it
                later = group_last.get(find(k), i)
                group_last[union(g, k)] = later
                break
        else:
            taken = {j for _, j in busy}
            j = next((j for j, buf in enumerate(buffers) if j not in taken and buf.shape == value.shape
                      and buf.dtype == value.dtype), len(buffers))
            if j == len(buffers):
                buffers.append(B.xp.empty_like(value))
            targets[i] = f"b{j}"
            busy.append((k, j))
    return targets, buffers


def _prune(steps, needed):
    """Drop the steps nothing needs (host calls and random draws always run)."""
    needed = set(needed)
    kept = []
    for step in reversed(steps):
        if step.kind in ("host", "source") or any(k in needed for k in step.outs if k is not None):
            kept.append(step)
            needed.update(r for r in step.ins if r.__class__ is int)
            if step.kind == "op" and step.meta:
                needed.update(_slots_in(list(step.meta.values())))
    kept.reverse()
    return kept


def _slots_in(refs):
    for r in refs:
        if r.__class__ is int:
            yield r
        elif r.__class__ is _Seq:
            yield from _slots_in(r.items)


def _runner(step, pending):
    """The callable a compiled plan calls for a step that is not an op (array arguments, array results)."""
    fn = step.fn
    params = step.params or {}
    if step.kind == "rule":
        listed = step.meta[1]
        wraps = [Recorder_dynamic(r) for r in step.ins]

        def run_rule(*vals):
            args = [wrap(v) if w else v for v, w in zip(vals, wraps)]
            results = fn(*args, **params)
            flat = results if listed else (results,)
            return [None if r is None else B.xp.asarray(_array(r)) for r in flat]

        return run_rule
    if step.kind == "host":
        rebuild, kinds, _, out_kinds = step.meta
        wraps = [kind == "t" and Recorder_dynamic(r) for kind, r in zip(kinds, step.ins)]

        def run_host(*vals):
            args, kwargs = rebuild([wrap(v) if w else v for v, w in zip(vals, wraps)])
            result = fn(*args, **kwargs)
            if out_kinds is None:
                return ()
            leaves = flatten(result)
            return [leaf._value if kind == "t" else leaf for leaf, kind in zip(leaves, out_kinds)]

        return run_host
    if step.kind == "source":
        rng_of, args = step.meta

        def run_source():
            if pending:
                return pending.pop()
            return fn(rng_of(), *args)

        return run_source
    return None


Recorder_dynamic = _Recorder.dynamic


def _gradient_of(plan, index, j, *ts):
    from tapeflow.autodiff import GradientTape
    from tapeflow.ops import zeros_like

    xs, g = list(ts[:-1]), ts[-1]
    with GradientTape() as tape:
        tape.watch(xs[j])
        outs = plan.run_eager_flat(xs, effects=False)
    grad = tape.gradient(outs[index], xs[j], output_gradients=g)
    return zeros_like(xs[j]) if grad is None else grad


def trace_plan(fn, inputs, captured=None, what="function"):
    """Trace ``fn(*inputs)`` into a :class:`Plan` with explicit inputs. With a ``captured`` list, inside
    another trace, the values ``fn`` reads from that trace are appended to ``captured`` and become extra
    inputs (see :meth:`Plan.run_flat`)."""
    recorder = _Recorder(_trace.state.recorder if captured is not None else None, captured)
    placeholders = []
    for x in inputs:
        t = wrap(_array(x))
        recorder.input(t)
        placeholders.append(t)
    outputs = _record(recorder, fn, placeholders, {})
    return Plan(recorder, outputs, what)


def _record(recorder, fn, args, kwargs):
    """Run ``fn`` with ``recorder`` recording and no tape from outside watching."""
    saved_recorder = _trace.state.recorder
    saved_tapes = list(_tape_state.recording)
    _tape_state.recording.clear()
    _trace.state.recorder = recorder
    try:
        return fn(*args, **kwargs)
    finally:
        _trace.state.recorder = saved_recorder
        _tape_state.recording[:] = saved_tapes


# --- the decorator ------------------------------------------------------------------------------------------
class Function:
    """A Python function traced once per input signature and then run as a compiled :class:`Plan`.

    Made by :func:`function`; call it like the function it wraps.
    """

    def __init__(self, fn, input_signature=None, reduce_retracing=False, jit_compile=None):
        if not callable(fn):
            raise TypeError(f"tp.function: expected a callable, got {type(fn).__name__}")
        functools.update_wrapper(self, fn)
        self.python_function = fn
        self.input_signature = None if input_signature is None else list(input_signature)
        self.reduce_retracing = bool(reduce_retracing)
        self.jit_compile = jit_compile
        self._plans = {}
        self._generic = []  # (relaxed key, plan) of the shape-generic plans (reduce_retracing)
        self._traces = 0
        self._warned = False

    def __get__(self, obj, owner=None):  # a decorated method: bind the instance as the first argument
        if obj is None:
            return self
        return _BoundFunction(self, obj)

    def __call__(self, *args, **kwargs):
        return self._call(args, kwargs)

    def _call(self, args, kwargs, bound=0):
        """Call with ``args``; the first ``bound`` of them (a method's instance) are not in the signature."""
        if _trace.state.recorder is not None:  # called while another function is traced: inline it
            return self.python_function(*args, **kwargs)
        if self.input_signature is not None:
            self._check_signature(args[bound:], kwargs)
        leaves = []
        key = _key((args, kwargs), leaves)
        plan = self._known_plan(key)
        if plan is None:
            plan = self._trace(args, kwargs)
            if self.reduce_retracing:
                plan = self._generalize(key, plan)
            self._plans[key] = plan
        if _tape_state.recording:  # a tape outside records: run op by op so that it sees the ops
            return plan.run_eager([x if isinstance(x, Tensor) else wrap(x) for x in leaves])
        return plan([x._value if isinstance(x, Tensor) else x for x in leaves])

    def _trace(self, args, kwargs):
        recorder = _Recorder()

        def placeholder(x):
            t = wrap(x._value if isinstance(x, Tensor) else x)
            recorder.input(t)
            return t

        targs, tkwargs = map_structure(lambda x: placeholder(x) if _is_input(x) else x, (args, kwargs))
        outputs = _record(recorder, self.python_function, targs, tkwargs)
        if self._traces and recorder.new_variables:
            names = ", ".join(repr(v.name) for v in recorder.new_variables[:3])
            raise ValueError(
                f"tp.function: {self.__name__} created Variables ({names}) on a later trace. A traced "
                f"function may create Variables on its first trace only (create them once, outside the "
                f"function or guarded by `if self.v is None:`)."
            )
        self._traces += 1
        if self._traces > RETRACE_WARNING and not self._warned and not self.reduce_retracing:
            self._warned = True
            warnings.warn(
                f"tp.function: {self.__name__} has been traced {self._traces} times: the shapes or dtypes "
                f"of its tensor arguments, or the values of its Python arguments, keep changing. Every trace "
                f"runs the Python function again. Pass tensors of fixed shapes, and values that change as "
                f"tensors.",
                stacklevel=3,
            )
        return Plan(recorder, outputs, self.__name__)

    def _known_plan(self, key):
        """The plan for the signature ``key``: its own, or a relaxed one it fits; None when not traced."""
        plan = self._plans.get(key)
        if plan is None and self._generic:
            plan = next((p for relaxed, p in self._generic if _fits(relaxed, key)), None)
        return plan

    def _generalize(self, key, plan):
        """With ``reduce_retracing``: when ``plan`` was traced for tensor shapes that differ from an
        earlier trace's only in some dimensions (the rest of the signature equal), and the two traces recorded
        the same steps with the same constants (so no Python code read a size that changed), the plan made
        from this trace serves every call whose shapes fit the relaxed signature (those dimensions ``None``):
        no trace per new size. Otherwise ``plan`` (for this signature only)."""
        for other_key, other in [*reversed(self._generic), *self._plans.items()]:  # the most relaxed first
            relaxed = _relax(other_key, key)
            if relaxed is not None and _same_steps(other, plan):
                generic = Plan(*plan.recording, self.__name__, shape_generic=True)
                self._generic.append((relaxed, generic))
                return generic
        return plan

    def _check_signature(self, args, kwargs):
        flat = flatten(list(args) + list(kwargs.values()))
        specs = flatten(self.input_signature)
        if len(flat) != len(specs) or not all(
            isinstance(x, (Tensor, B.ndarray)) and s.is_compatible_with(x) for x, s in zip(flat, specs)
        ):
            got = [f"{type(x).__name__}{tuple(B.xp.shape(x))}:{getattr(x, 'dtype', '')}" for x in flat]
            raise TypeError(
                f"tp.function: {self.__name__} was called with arguments {got} that do not match its "
                f"input_signature {self.input_signature}"
            )

    # --- looking inside
    @property
    def tracing_count(self) -> int:
        """How many times the Python function has been traced."""
        return self._traces

    experimental_get_tracing_count = tracing_count.fget

    def _last_plan(self):
        if not self._plans:
            raise RuntimeError(f"{self.__name__} has not been traced yet: call it first")
        return next(reversed(self._plans.values()))

    def plan_summary(self) -> str:
        """A text table of the most recent plan: its steps, the kinds of step, the bytes of its values."""
        return plan_summary(self._last_plan())

    def graph(self, **kwargs):
        """Draw the most recent plan like ``tape.graph()`` (a matplotlib Figure); see
        :func:`tapeflow.plot.tape`."""
        from tapeflow.plot import tape

        return tape(self, **kwargs)

    def plan_profile(self, *args, repeat=20, **kwargs) -> str:
        """Where a call's time goes: run the plan for these arguments ``repeat`` times (tracing first if
        needed; its updates and host calls happen each time) and tabulate each step's median CPU time.

        Example:
            >>> import tapeflow as tp
            >>> f = tp.function(lambda x: tp.exp(x) * 2.0)
            >>> print(f.plan_profile(tp.ones((3,)), repeat=3).splitlines()[0][:38])
            Profile of <lambda>: 2 steps, CPU time
        """
        return self._profile(args, kwargs, repeat)

    def _profile(self, args, kwargs, repeat, bound=0):
        leaves = []
        key = _key((args, kwargs), leaves)
        if self._known_plan(key) is None:
            self._call(args, kwargs, bound)
        plan = self._known_plan(key)
        rows = plan.profile([x._value if isinstance(x, Tensor) else x for x in leaves], repeat)
        total = sum(t for _, t in rows) or 1.0
        lines = [f"Profile of {self.__name__}: {len(rows)} steps, CPU time per call (median of {repeat}), "
                 f"{total * 1e6:,.1f} us in all"]
        for i, (step, t) in enumerate(rows):
            lines.append(f"  {i:4d} {step.name:<28} {t * 1e6:10.1f} us {100 * t / total:5.1f}%")
        return "\n".join(lines)

    def plan_graph(self):
        """The most recent plan as a :class:`tapeflow.explain.TapeGraph` (what :meth:`graph` draws)."""
        return plan_graph(self._last_plan())

    def __repr__(self):
        return f"<tp.function {self.__name__} traces={self._traces}>"


class _BoundFunction:
    """A traced method bound to its instance (one cache for all instances: the instance is in the key)."""

    def __init__(self, function, obj):
        self._function, self._obj = function, obj
        functools.update_wrapper(self, function.python_function)

    def __call__(self, *args, **kwargs):
        return self._function._call((self._obj, *args), kwargs, bound=1)

    def plan_profile(self, *args, repeat=20, **kwargs) -> str:
        """:meth:`Function.plan_profile` of this instance's call."""
        return self._function._profile((self._obj, *args), kwargs, repeat, bound=1)

    def __getattr__(self, name):
        return getattr(self._function, name)


def _key(x, leaves):
    """The trace key of an argument nest; its tensor leaves are appended to ``leaves``."""
    if isinstance(x, Tensor):
        if isinstance(x, Variable):
            return ("Variable", id(x))
        leaves.append(x)
        return ("Tensor", x._value.shape, x._value.dtype.str)
    if isinstance(x, B.ndarray):
        leaves.append(x)
        return ("Tensor", x.shape, x.dtype.str)
    if isinstance(x, (list, tuple)):
        return (type(x), tuple(_key(v, leaves) for v in x))
    if isinstance(x, dict):
        return (dict, tuple((k, _key(v, leaves)) for k, v in x.items()))
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return (type(x), x)


def _relax(a, b):
    """The signature with ``None`` where the tensor shapes of the keys ``a`` and ``b`` differ, when they
    differ in tensor dimensions only (same structure, ranks, dtypes and other values); else None."""
    if a == b:
        return None
    found = []

    def walk(x, y):
        if x.__class__ is not tuple or y.__class__ is not tuple or len(x) != len(y):
            return x == y
        if len(x) == 3 and x[0] == "Tensor" and y[0] == "Tensor":
            if x[2] != y[2] or len(x[1]) != len(y[1]):
                return False
            found.append(1)
            return ("Tensor", tuple(d if d == e else None for d, e in zip(x[1], y[1])), x[2])
        parts = [walk(u, v) for u, v in zip(x, y)]
        if any(p is False for p in parts):
            return False
        return tuple(u if p is True else p for u, p in zip(x, parts))

    relaxed = walk(a, b)
    return relaxed if relaxed is not False and found else None


def _fits(relaxed, key):
    """Whether the signature ``key`` fits ``relaxed`` (its ``None`` dimensions match any size)."""
    if relaxed.__class__ is not tuple or key.__class__ is not tuple or len(relaxed) != len(key):
        return relaxed == key
    if len(relaxed) == 3 and relaxed[0] == "Tensor" and key[0] == "Tensor":
        return relaxed[2] == key[2] and len(relaxed[1]) == len(key[1]) and all(
            d is None or d == e for d, e in zip(relaxed[1], key[1]))
    return all(_fits(r, k) for r, k in zip(relaxed, key))


def _same_steps(a, b):
    """Whether plans ``a`` and ``b`` are the same steps on the same constants and parameters (traced for
    different shapes: then nothing they fixed at trace time depended on the sizes that changed)."""
    if a.inputs != b.inputs or len(a.steps) != len(b.steps) or len(a.outputs) != len(b.outputs):
        return False
    if any(x[0] != y[0] or (x[0] == "c" and not _same_value(x[1], y[1])) or (x[0] != "c" and x[1] != y[1])
           for x, y in zip(a.outputs, b.outputs)):
        return False
    for x, y in zip(a.steps, b.steps):
        if x.kind != y.kind or x.fn is not y.fn or x.outs != y.outs or not _same_value(x.ins, y.ins):
            return False
        if not _same_value(x.params, y.params):
            return False
        if x.kind == "host":
            if x.meta[1] != y.meta[1] or x.meta[3] != y.meta[3]:  # the kinds of its arguments and results
                return False
        elif not _same_value(x.meta, y.meta):
            return False
    return True


def _same_value(x, y):
    """Equality of trace-time constants: arrays by shape, dtype and values, references by what they name."""
    if x.__class__ is not y.__class__:
        return False
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_same_value(u, v) for u, v in zip(x, y))
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_same_value(x[k], y[k]) for k in x)
    if x.__class__ is _Var:
        return x.var is y.var
    if x.__class__ is _Const:
        return _same_value(x.value, y.value)
    if x.__class__ is _Seq:
        return x.type is y.type and _same_value(x.items, y.items)
    if isinstance(x, Tensor):
        x, y = x._value, y._value
    if isinstance(x, B.ndarray):
        return x.shape == y.shape and x.dtype == y.dtype and bool(B.xp.array_equal(x, y, equal_nan=True))
    if x is y:
        return True
    try:
        return bool(x == y)
    except (TypeError, ValueError):
        return False


def _is_input(x):
    """A tensor argument of a traced function: a Tensor that is not a Variable, or an array."""
    return isinstance(x, B.ndarray) or (isinstance(x, Tensor) and not isinstance(x, Variable))


def plan_summary(plan) -> str:
    """The table :meth:`Function.plan_summary` prints."""
    counts = {}
    for step in plan.steps:
        counts[step.kind] = counts.get(step.kind, 0) + 1
    nbytes = 0
    for step in plan.steps:
        for k in step.outs:
            if k is not None:
                shape, dtype = plan.shapes[k]
                if dtype is not None:
                    nbytes += int(np.prod(shape)) * np.dtype(dtype).itemsize
    in_place = sorted(i for i, t in plan.targets.items() if t[0] == "s")
    producer = {k: i for i, step in enumerate(plan.steps) for k in step.outs if k is not None}
    chains = sum(1 for i in in_place if producer.get(int(plan.targets[i][1:])) not in plan.targets)
    lines = [f"Plan of {plan.name}: {len(plan.steps)} steps "
             f"({', '.join(f'{n} {kind}' for kind, n in sorted(counts.items()))})",
             f"inputs: {len(plan.inputs)}, values: {nbytes:,} bytes; fusions: {len(in_place)} element-wise "
             f"steps in place in {chains} chains; buffers: {len(plan.buffers)} reused between calls "
             f"({sum(b.nbytes for b in plan.buffers):,} bytes)"]
    for i, step in enumerate(plan.steps):
        outs = [plan.shapes[k][0] for k in step.outs if k is not None]
        where = {"s": "  (in place)", "b": "  (buffer)"}.get(plan.targets.get(i, " ")[0], "")
        lines.append(f"  {i:4d} {step.name:<28} -> {', '.join(str(s) for s in outs)}{where}")
    return "\n".join(lines)


def plan_graph(plan):
    """A plan's steps as a :class:`tapeflow.explain.TapeGraph`: the inputs and Variables it reads as sources,
    one box per step (constants left out), inputs left and outputs right."""
    from tapeflow.explain import GraphEdge, GraphNode, TapeGraph

    graph = TapeGraph()
    node_of = {}  # slot or id(Variable) -> node index

    def source(key, label, shape, dtype):
        node_of[key] = len(graph.nodes)
        graph.nodes.append(GraphNode(len(graph.nodes), "source", label, tuple(shape), str(dtype)))

    for i, k in enumerate(plan.inputs):
        source(k, f"input {i}", *plan.shapes[k])
    for step in plan.steps:
        edges = []
        for slot, ref in enumerate(step.ins):
            if ref.__class__ is _Var and id(ref.var) not in node_of:
                source(id(ref.var), ref.var.name, ref.var.shape, ref.var.dtype)
            src = node_of.get(ref if ref.__class__ is int else id(ref.var) if ref.__class__ is _Var else None)
            if src is not None:
                edges.append((src, slot))
        outs = [k for k in step.outs if k is not None]
        shape, dtype = plan.shapes[outs[0]] if outs else ((), "")
        index = len(graph.nodes)
        depth = max((graph.nodes[src].depth + 1 for src, _ in edges), default=0)
        graph.nodes.append(GraphNode(index, "op", step.name, tuple(shape), str(dtype or ""), depth))
        graph.edges.extend(GraphEdge(src, index, slot) for src, slot in edges)
        for k in outs:
            node_of[k] = index
    return graph


def function(func=None, input_signature=None, reduce_retracing=False, jit_compile=None):
    """Trace ``func`` once per input signature and run later calls as a compiled plan (TensorFlow's
    ``tf.function``).

    The signature of a call is the shape and dtype of each tensor (or NumPy array) argument, the identity of
    each Variable, and the value of every other argument. The first call with a new signature runs ``func``
    once to record it (a *trace*); calls with a signature seen before run the recorded plan without running
    the Python body. So Python side effects (``print``, appending to a list) happen while tracing only, while
    ``tp.print``, ``Variable.assign*``, ``optimizer.apply_gradients`` and metric updates happen on every call.

    Args:
        func: the function (or use ``@tp.function(...)`` with arguments).
        input_signature: a list of :class:`TensorSpec`: calls must pass tensors that fit them.
        reduce_retracing: on a retrace for tensor shapes that differ only in some dimensions, relax those
            dimensions to ``None`` and serve every fitting call with the plan of that trace, when the two
            traces recorded the same steps (no Python code read a size that changed); and do not warn.
        jit_compile: accepted for TensorFlow compatibility; every plan is compiled the same way.

    Returns:
        A :class:`Function`.

    Raises:
        TracingError: when the function needs the Python value of a tensor computed from its inputs
            (``if t > 0:``, ``float(t)``): use :func:`tapeflow.cond` / :func:`tapeflow.while_loop`.

    Example:
        >>> import tapeflow as tp
        >>> traces = []
        >>> @tp.function
        ... def f(x):
        ...     traces.append(x.shape)  # a Python side effect: at trace time only
        ...     return x * x + 1.0
        >>> f(tp.constant([1.0, 2.0]))
        tapeflow.Tensor([2. 5.], shape=(2,), dtype=float32)
        >>> f(tp.constant([3.0, 4.0]))  # same signature: the plan runs, the Python body does not
        tapeflow.Tensor([10. 17.], shape=(2,), dtype=float32)
        >>> traces
        [(2,)]
    """
    if func is None:
        return functools.partial(function, input_signature=input_signature, reduce_retracing=reduce_retracing,
                                 jit_compile=jit_compile)
    return Function(func, input_signature, reduce_retracing, jit_compile)


@_trace.host()
def print(*values, sep=" ", end="\n", file=None):  # noqa: A001 - TensorFlow's name, tp.print (shadows print here)
    """Print tensors' values on every call, also inside a :func:`function` (unlike Python's ``print``, which a
    traced function runs while tracing only).

    Example:
        >>> import tapeflow as tp
        >>> tp.print("x =", tp.constant([1.0, 2.0]))
        x = [1. 2.]
    """
    _builtin_print(*[str(v) for v in values], sep=sep, end=end, file=file if file is not None else sys.stdout)
