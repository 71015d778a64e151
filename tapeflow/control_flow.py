"""``tp.cond`` and ``tp.while_loop``: control flow on tensor values, eagerly and inside ``tp.function``.

Eagerly they are plain Python: ``cond`` calls the branch that ``pred`` picks, ``while_loop`` loops while
``cond`` holds, and tapes record the ops that ran. Inside a traced function the predicate has no value yet, so
each branch (or the loop's condition and body) is traced into a plan of its own, and one op, registered like
any other, picks the branch (or runs the loop) on every call. Its gradient runs the chosen branch (or the
loop) again under a tape, so gradients, and gradients of gradients, flow through both.
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow import _trace
from tapeflow._tensor import Tensor, to_array, wrap
from tapeflow.ops._registry import Op
from tapeflow.tracing import trace_plan

__all__ = ["cond", "while_loop", "fori_loop"]


def _traced(value) -> bool:
    """Whether ``value`` (a predicate) is computed from a traced function's inputs."""
    recorder = _trace.state.recorder
    return recorder is not None and isinstance(value, Tensor) and recorder.lookup(value) is not None


# --- cond ---------------------------------------------------------------------------------------------------
def cond(pred, true_fn, false_fn, name=None):
    """``true_fn()`` if ``pred`` else ``false_fn()``: TensorFlow's ``tf.cond``.

    Both functions take no arguments and return tensors of the same structure, shapes and dtypes. Inside
    ``tp.function`` both are traced (their Python side effects happen once each) and the branch is picked on
    every call; gradients flow through the branch taken.

    Args:
        pred: a scalar bool tensor (or Python bool).
        true_fn, false_fn: the branches.
        name: accepted for TensorFlow compatibility.

    Example:
        >>> import tapeflow as tp
        >>> @tp.function
        ... def relu_or_square(x):
        ...     return tp.cond(tp.sum(x) > 0, lambda: tp.relu(x), lambda: x * x)
        >>> relu_or_square(tp.constant([1.0, -2.0]))
        tapeflow.Tensor([1. 4.], shape=(2,), dtype=float32)
    """
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("cond: `true_fn` and `false_fn` must be callables taking no arguments")
    if not _traced(pred):
        return true_fn() if bool(pred) else false_fn()
    if pred.shape != () and pred.size != 1:
        raise ValueError(f"cond: `pred` must be a scalar; got shape {pred.shape}")
    plans, captured = _trace_together([true_fn, false_fn], [], "cond")
    structure, outs = _check_outputs(plans, "cond", ("true_fn", "false_fn"))
    box = _Box()
    results = [_COND(pred, *captured, branches=tuple(plans), index=k, box=box) for k in range(outs)]
    return structure(results)


def _trace_together(fns, inputs, what):
    """Trace each function of ``inputs`` into a plan; the values they read from the enclosing trace become
    extra inputs (the same, in the same order, for every plan). Returns the plans and those values."""
    captured = []
    return [trace_plan(fn, inputs, captured, what) for fn in fns], captured


def _check_outputs(plans, what, names):
    first = plans[0]
    for plan, name in zip(plans[1:], names[1:]):
        if plan.output_specs() != first.output_specs():
            raise ValueError(
                f"{what}: {names[0]} and {name} must return tensors of the same structure, shapes and "
                f"dtypes; got {first.output_specs()} and {plan.output_specs()}"
            )
    return first.rebuild_outputs, len(first.outputs)


class _Box:
    """One run's outputs, shared by the ops that each return one of them (an op has one output)."""

    __slots__ = ("key", "outs")

    def __init__(self):
        self.key, self.outs = (), None

    def get(self, arrays, compute):
        key = self.key
        if self.outs is None or len(key) != len(arrays) or any(a is not b for a, b in zip(key, arrays)):
            self.outs = compute()
            self.key = tuple(arrays)
        return self.outs

    def __repr__(self):  # plan summaries print parameters
        return "<outputs>"


def _cond_forward(pred, *xs, branches, index, box):
    plan = branches[0] if bool(pred) else branches[1]
    return box.get((pred, *xs), lambda: plan.run_flat(xs))[index]


def _cond_vjp(g, out, pred, *xs, branches, index, box):
    grads = [None]
    for j, x in enumerate(xs):
        if x.dtype.kind != "f":
            grads.append(None)
            continue
        grad_plans = tuple(plan.gradient_plan(index, j, xs, g) for plan in branches)
        grads.append(_COND(pred, *xs, g, branches=grad_plans, index=0, box=_Box()))
    return grads


_COND = Op("cond", _cond_forward, vjp=_cond_vjp)


# --- while_loop ---------------------------------------------------------------------------------------------
def while_loop(cond, body, loop_vars, maximum_iterations=None, name=None):
    """Repeat ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``: TensorFlow's ``tf.while_loop``.

    ``body`` returns the loop variables' new values, in the same structure (a tuple or list of tensors;
    shapes and dtypes must not change). Inside ``tp.function`` the condition and the body are traced once and
    the loop runs on every call as long as the condition says; gradients flow through every iteration.

    Args:
        cond: ``cond(*loop_vars)`` -> a scalar bool tensor.
        body: ``body(*loop_vars)`` -> the new loop variables.
        loop_vars: a tuple or list of tensors (or Python numbers).
        maximum_iterations: stop after this many iterations even if ``cond`` still holds.
        name: accepted for TensorFlow compatibility.

    Returns:
        The final loop variables, in the structure of ``loop_vars``.

    Example:
        >>> import tapeflow as tp
        >>> @tp.function
        ... def halve_until_small(x):
        ...     return tp.while_loop(lambda v: tp.sum(v) > 1.0, lambda v: (v / 2.0,), (x,))[0]
        >>> halve_until_small(tp.constant([3.0, 5.0]))
        tapeflow.Tensor([0.375 0.625], shape=(2,), dtype=float32)
    """
    if not isinstance(loop_vars, (list, tuple)):
        raise TypeError(
            f"while_loop: `loop_vars` must be a tuple or list. Received: {type(loop_vars).__name__}"
        )
    loop_vars = [v if isinstance(v, Tensor) else Tensor(v) for v in loop_vars]
    limit = -1 if maximum_iterations is None else int(maximum_iterations)
    if _trace.state.recorder is None:
        return _type_of(loop_vars)(_eager_loop(cond, body, loop_vars, limit))
    plans, captured = _trace_together([cond, _as_list(body)], loop_vars, "while_loop")
    cond_plan, body_plan = plans
    if body_plan.output_specs() != [(v.shape, v.dtype) for v in loop_vars]:
        raise ValueError(
            f"while_loop: body must return the loop variables with their shapes and dtypes "
            f"{[(v.shape, v.dtype.name) for v in loop_vars]}; got {body_plan.output_specs()}"
        )
    box = _Box()
    n = len(loop_vars)
    outs = [_WHILE(*loop_vars, *captured, cond_plan=cond_plan, body_plan=body_plan, n=n, limit=limit, index=k,
                   box=box) for k in range(n)]
    return _type_of(loop_vars)(outs)


def _type_of(x):
    return tuple if isinstance(x, tuple) else list


def _as_list(body):
    def listed(*xs):
        out = body(*xs)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return listed


def _eager_loop(cond, body, loop_vars, limit):
    i = 0
    while (limit < 0 or i < limit) and bool(cond(*loop_vars)):
        out = body(*loop_vars)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        if len(out) != len(loop_vars):
            raise ValueError(
                f"while_loop: body returned {len(out)} values for {len(loop_vars)} loop variables"
            )
        loop_vars = [v if isinstance(v, Tensor) else Tensor(v) for v in out]
        i += 1
    return loop_vars


def _run_loop(xs, cond_plan, body_plan, n, limit):
    state, extra = list(xs[:n]), list(xs[n:])
    i = 0
    while (limit < 0 or i < limit) and bool(cond_plan.run_flat(state + extra)[0]):
        state = [B.xp.asarray(to_array(v)) for v in body_plan.run_flat(state + extra)]
        i += 1
    return state


def _while_forward(*xs, cond_plan, body_plan, n, limit, index, box):
    return box.get(xs, lambda: _run_loop(xs, cond_plan, body_plan, n, limit))[index]


def _while_vjp(g, out, *xs, cond_plan, body_plan, n, limit, index, box):
    """Run the loop again, op by op under a tape, and differentiate output ``index`` (the number of
    iterations depends on the values, so this rule is not traced into a fixed plan: it runs as a whole)."""
    from tapeflow.autodiff import GradientTape

    previous = _trace.state.recorder
    _trace.state.recorder = None
    try:
        inputs = [wrap(to_array(x)) if not isinstance(x, Tensor) else x for x in xs]
        floats = [t for t in inputs if t.dtype.kind == "f"]
        with GradientTape() as tape:
            tape.watch(floats)
            state, extra = inputs[:n], inputs[n:]
            i = 0
            while (limit < 0 or i < limit) and bool(cond_plan.run_eager_flat(state + extra)[0]):
                state = list(body_plan.run_eager_flat(state + extra))
                i += 1
        grads = tape.gradient(state[index], floats, output_gradients=g)
    finally:
        _trace.state.recorder = previous
    it = iter(grads)
    return [next(it) if t.dtype.kind == "f" else None for t in inputs]


_WHILE = Op("while_loop", _while_forward, vjp=_while_vjp)


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` from ``lower`` to ``upper - 1`` (Keras 3's ``ops.fori_loop``), as
    a :func:`while_loop` (so ``upper`` may be a tensor inside ``tp.function``).

    Example:
        >>> import tapeflow as tp
        >>> tp.fori_loop(0, 4, lambda i, v: v * 2.0, tp.constant(1.0))
        tapeflow.Tensor(16.0, shape=(), dtype=float32)
    """
    single = not isinstance(init_val, (list, tuple))
    vals = [init_val] if single else list(init_val)

    def body(i, *vs):
        out = body_fun(i, vs[0] if single else _type_of(init_val)(vs))
        return (i + 1, *([out] if single else list(out)))

    start = Tensor(to_array(lower, "int32"))
    result = while_loop(lambda i, *vs: i < upper, body, (start, *vals))
    return result[1] if single else _type_of(init_val)(result[1:])

