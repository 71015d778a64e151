"""GradientTape and the functional autodiff API (`grad`, `value_and_grad`, `custom_gradient`,
`check_gradients`)."""

from __future__ import annotations

import contextlib
import functools
import weakref

import numpy as np

from tapeflow import _backend as B
from tapeflow import ops
from tapeflow._nest import flatten, flatten_with_rebuild
from tapeflow._tape import Node, _Recorder, _state, backward, release
from tapeflow._tensor import Tensor, Variable, to_array
from tapeflow.dtypes import is_floating
from tapeflow.errors import DTypeError
from tapeflow.ops._registry import Op


class GradientTape:
    """Records operations for automatic differentiation, as TensorFlow's ``tf.GradientTape``.

    Trainable Variables read inside the ``with`` block are watched automatically (unless
    ``watch_accessed_variables=False``); other tensors only after :meth:`watch`.

    Args:
        persistent: allow several :meth:`gradient`/:meth:`jacobian` calls; a non-persistent tape frees what it
            recorded after the first.
        watch_accessed_variables: watch trainable Variables read while recording.

    Example:
        >>> import tapeflow as tp
        >>> x = tp.Variable([[1.0, 2.0], [3.0, 4.0]])
        >>> with tp.GradientTape() as tape:
        ...     y = 2 * x + 3
        >>> tape.gradient(y, x)
        tapeflow.Tensor(
        [[2. 2.]
         [2. 2.]], shape=(2, 2), dtype=float32)
    """

    __slots__ = ("_persistent", "_watch_accessed", "_recorder", "_spent", "_outcome", "__weakref__")

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = persistent
        self._watch_accessed = watch_accessed_variables
        self._recorder = _Recorder(watch_accessed_variables)
        self._spent = False
        # once gradient() spent it: (targets, sources, weak references to the gradients, ids of the source
        # nodes the walk reached), for tape.explain (see tapeflow.explain)
        self._outcome = None

    def __enter__(self):
        recorder = self._recorder
        recorder.active = True
        _state.recording.append(recorder)
        return self

    def __exit__(self, exc_type, exc, tb):
        recorder = self._recorder
        recorder.active = False
        recording = _state.recording
        if recording and recording[-1] is recorder:  # the usual case: the innermost tape closes
            recording.pop()
        elif recorder in recording:
            recording.remove(recorder)
        return False

    def _pause(self):
        recording = _state.recording
        if self._recorder in recording:
            recording.remove(self._recorder)
            return True
        return False

    def watch(self, tensor):
        """Watch a tensor (or a nest of them) so gradients with respect to it can be taken.

        Raises:
            DTypeError: for a non-float tensor (gradients need a float dtype: cast it first).
        """
        for t in flatten(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"watch: expected a Tensor or Variable, got {type(t).__name__}; use tp.constant()"
                )
            if not is_floating(t.dtype):
                raise DTypeError(
                    f"watch: cannot watch a tensor of dtype {t.dtype.name}: gradients need floats. "
                    f"Cast it first: tp.cast(x, 'float32')."
                )
            self._recorder.watch(t)

    def watched_variables(self):
        """The Variables this tape watched, in the order first watched."""
        return tuple(t for t in self._recorder.watched.values() if isinstance(t, Variable))

    @contextlib.contextmanager
    def stop_recording(self):
        """Temporarily stop recording inside the ``with`` block (what runs there is not differentiated)."""
        was = self._pause()
        try:
            yield
        finally:
            if was:
                _state.recording.append(self._recorder)

    def reset(self):
        """Forget everything recorded so far (the tape keeps recording if inside its ``with`` block)."""
        old, self._recorder = self._recorder, _Recorder(self._watch_accessed)
        if old in _state.recording:
            _state.recording[_state.recording.index(old)] = self._recorder
            self._recorder.active = True
        old.active = False
        self._spent = False
        self._outcome = None

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """Gradients of ``target`` with respect to ``sources``.

        A non-scalar target is summed first (so the result is the gradient of ``sum(target)``, as in
        TensorFlow); ``output_gradients`` weights it instead. ``target`` may also be a list of tensors.

        Args:
            target: a tensor (or list of tensors) computed inside the tape's ``with`` block.
            sources: a tensor, Variable, or a nest (list/tuple/dict) of them.
            output_gradients: the gradient of some final value with respect to ``target`` (same shape).
            unconnected_gradients: ``"none"`` gives None for a source the target does not depend on,
                ``"zero"`` gives zeros.

        Returns:
            Gradients in the structure of ``sources``.

        Raises:
            RuntimeError: on a second call to a non-persistent tape.
            ValueError: for a target computed outside the tape's ``with`` block.
        """
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(
                f"`unconnected_gradients` must be 'none' or 'zero'. Received: {unconnected_gradients!r}"
            )
        self._check_usable("gradient")
        flat, rebuild = flatten_with_rebuild(sources)
        for s in flat:
            if not isinstance(s, Tensor):
                raise TypeError(f"gradient: sources must be Tensors or Variables, got {type(s).__name__}")
        targets = flatten(target)
        targets = [t if isinstance(t, Tensor) else Tensor(t) for t in targets]
        ogs = [None] * len(targets) if output_gradients is None else flatten(output_gradients)
        was = self._pause()
        reached = None if self._persistent else set()
        try:
            grads = backward(self._recorder, targets, ogs, flat, release=reached is not None, reached=reached)
        finally:
            if was:
                _state.recording.append(self._recorder)
        if reached is not None:  # what tape.explain needs once the graph is freed: a few references, no walk
            self._outcome = (targets, flat, [g if g is None else weakref.ref(g) for g in grads], reached)
        if unconnected_gradients == "zero":
            grads = [ops.zeros_like(s) if g is None else g for g, s in zip(grads, flat)]
        if not self._persistent:
            self._spend(targets, released=True)
        return rebuild(grads)

    def _check_usable(self, what):
        if self._spent:
            raise RuntimeError(
                f"{what}: a non-persistent GradientTape computes gradients once and then frees what it "
                f"recorded. Create it with tp.GradientTape(persistent=True) to call gradient() or jacobian() "
                f"more than once."
            )

    def _spend(self, targets, released=False):
        self._spent = True
        if not released:
            release(self._recorder, [t._node for t in targets if self._recorder.tracks(t._node)])
        self._recorder.watched.clear()

    def jacobian(self, target, source, unconnected_gradients="none"):
        """The full Jacobian: result shape ``target.shape + source.shape``.

        Example:
            >>> import tapeflow as tp
            >>> x = tp.Variable([1.0, 2.0])
            >>> with tp.GradientTape() as tape:
            ...     y = x * x
            >>> tape.jacobian(y, x)
            tapeflow.Tensor(
            [[2. 0.]
             [0. 4.]], shape=(2, 2), dtype=float32)
        """
        self._check_usable("jacobian")
        flat, rebuild = flatten_with_rebuild(source)
        rows = [[] for _ in flat]
        n = int(np.prod(target.shape))
        was = self._pause()
        try:
            for i in range(n):
                onehot = B.xp.zeros(n, dtype=target.dtype)
                onehot[i] = 1
                grads = backward(self._recorder, [target], [Tensor(onehot.reshape(target.shape))], flat)
                for k, (g, s) in enumerate(zip(grads, flat)):
                    rows[k].append(ops.zeros_like(s) if g is None else g)
        finally:
            if was:
                _state.recording.append(self._recorder)
        out = []
        for k, s in enumerate(flat):
            if all(r is None for r in rows[k]) and unconnected_gradients == "none":
                out.append(None)
                continue
            jac = ops.stack(rows[k], axis=0) if rows[k] else ops.zeros((0,) + s.shape)
            out.append(ops.reshape(jac, tuple(target.shape) + tuple(s.shape)))
        if unconnected_gradients == "none":
            out = [None if o is not None and not self._connected(target, s) else o for o, s in zip(out, flat)]
        if not self._persistent:
            self._spend([target])
        return rebuild(out)

    def _connected(self, target, source):
        grads = backward(self._recorder, [target], [ops.ones_like(target)], [source])
        return grads[0] is not None

    def batch_jacobian(self, target, source, unconnected_gradients="none"):
        """Per-example Jacobians: for ``target`` (b, ...) and ``source`` (b, ...), shape ``(b,) +
        target.shape[1:] + source.shape[1:]``, assuming example i of the target depends only on example i of
        the source."""
        jac = self.jacobian(target, source, unconnected_gradients=unconnected_gradients)
        return None if jac is None else _batch_diag(jac, target, source)

    # --- reading the tape (implemented in tapeflow.explain; drawn by the drawer registered below) ---------
    def summary(self, target=None):
        """A text table of what this tape recorded (the ops behind ``target`` when given); see
        :func:`tapeflow.explain.summary`."""
        from tapeflow.explain import summary

        return summary(self, target)

    def explain(self, target, source):
        """Why the gradient of ``target`` with respect to ``source`` is None or zero, and the fix (or the
        chain of ops that carries it); see :func:`tapeflow.explain.explain`."""
        from tapeflow.explain import explain

        return explain(self, target, source)

    def graph(self, target, **kwargs):
        """Draw the recorded computation behind ``target`` (a matplotlib Figure); see
        :func:`tapeflow.plot.tape`, which ``import tapeflow`` registers as the drawer (the data drawn is
        :func:`tapeflow.explain.tape_graph`'s)."""
        draw = _graph_drawer.get("draw")
        if draw is None:
            raise RuntimeError("GradientTape.graph: no drawer is registered; call tp.plot.tape(tape, target)")
        return draw(self, target, **kwargs)

    def __repr__(self):
        return f"<tapeflow.GradientTape persistent={self._persistent} watched={len(self._recorder.watched)}>"


# The core draws nothing and imports no room above it: the package's top (tapeflow/__init__.py) registers
# tapeflow.plot's drawer here, loaded on the first call.
_graph_drawer = {}


def register_graph_drawer(draw):
    """Make ``GradientTape.graph(target, **kwargs)`` call ``draw(tape, target, **kwargs)``; returns the drawer
    it replaces (``None`` if none). ``import tapeflow`` registers :func:`tapeflow.plot.tape`."""
    previous = _graph_drawer.get("draw")
    _graph_drawer["draw"] = draw
    return previous


def _batch_diag(jac, target, source):
    b = target.shape[0]
    t_rest, s_rest = tuple(target.shape[1:]), tuple(source.shape[1:])
    j = ops.reshape(jac, (b, int(np.prod(t_rest)), b, int(np.prod(s_rest))))
    idx = np.arange(b)
    diag = ops.getitem(j, (idx, slice(None), idx, slice(None)))
    return ops.reshape(diag, (b,) + t_rest + s_rest)


# --- functional API
# --------------------------------------------------------------------------------------------
def value_and_grad(f, argnums=0):
    """Return a function computing ``(f(*args), gradient of f with respect to args[argnums])``.

    ``argnums`` may be an int or a tuple of ints (then the gradient is a tuple). ``f`` must return a scalar
    (or a tensor, whose sum is differentiated).

    Example:
        >>> import tapeflow as tp
        >>> value, slope = tp.value_and_grad(lambda x: x ** 3)(2.0)
        >>> float(value), float(slope)
        (8.0, 12.0)
    """

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        args = list(args)
        for i in nums:
            if not isinstance(args[i], Tensor):
                arr = to_array(args[i])
                args[i] = Tensor(arr if is_floating(arr.dtype) else arr.astype(np.float32))
        with GradientTape() as tape:
            for i in nums:
                tape.watch(args[i])
            value = f(*args, **kwargs)
        grads = tape.gradient(value, [args[i] for i in nums], unconnected_gradients="zero")
        return value, grads[0] if isinstance(argnums, int) else tuple(grads)

    return wrapped


def grad(f, argnums=0):
    """Return a function computing the gradient of ``f`` with respect to ``args[argnums]`` (JAX's ``grad``).

    Example:
        >>> import tapeflow as tp
        >>> df = tp.grad(lambda x: tp.sin(x) * x)
        >>> round(float(df(0.0)), 6)
        0.0
    """
    vg = value_and_grad(f, argnums)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return wrapped


def _custom_vjp(g, out, *inputs, fn, nvars, value):
    result = fn(g)
    if nvars:
        if not (isinstance(result, (list, tuple)) and len(result) == 2):
            raise TypeError(
                "custom_gradient: the function read Variables, so grad_fn(upstream, variables=None) must "
                "return (input_gradients, variable_gradients)"
            )
        input_grads, var_grads = result
        grads = _as_list(input_grads) + list(var_grads)
    else:
        grads = _as_list(result)
    if len(grads) != len(inputs):
        raise ValueError(
            f"custom_gradient: grad_fn returned {len(grads)} gradient(s) for {len(inputs) - nvars} input(s)"
            + (f" and {nvars} variable(s)" if nvars else "")
        )
    return grads


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


_CUSTOM = Op("custom_gradient", lambda *xs, fn, nvars, value: value, vjp=_custom_vjp, save_inputs=False)


def custom_gradient(f):
    """Decorate ``f(*x) -> (y, grad_fn)`` to give it a hand-written gradient (TensorFlow's contract).

    ``grad_fn(upstream)`` returns the gradients for each input (a list when there are several; None for an
    input with no gradient). If ``f`` reads trainable Variables, ``grad_fn(upstream, variables=None)`` must
    take a ``variables`` argument and return ``(input_grads, variable_grads)``. ``f`` runs on the tapes as
    usual, so a ``grad_fn`` written with tapeflow ops is itself differentiable (higher derivatives work).
    ``y`` must be one tensor.

    Example:
        >>> import tapeflow as tp
        >>> @tp.custom_gradient
        ... def clip_grad(x):
        ...     def grad_fn(g):
        ...         return tp.clip(g, -1.0, 1.0)
        ...     return tp.identity(x), grad_fn
        >>> x = tp.Variable(2.0)
        >>> with tp.GradientTape() as tape:
        ...     y = clip_grad(x * 10.0)
        >>> tape.gradient(y, x)
        tapeflow.Tensor(10.0, shape=(), dtype=float32)
    """

    @functools.wraps(f)
    def wrapped(*args):
        with GradientTape(watch_accessed_variables=True) as watcher:  # sees the Variables f reads
            y, grad_fn = f(*args)
        variables = [v for v in watcher.watched_variables() if not any(v is a for a in args)]
        if not isinstance(y, Tensor):
            y = Tensor(y)
        fn = functools.partial(_with_variables, grad_fn, variables) if variables else grad_fn
        return _CUSTOM(*args, *variables, fn=fn, nvars=len(variables), value=y._value)

    return wrapped


def _with_variables(grad_fn, variables, g):
    return grad_fn(g, variables=variables)


def check_gradients(f, *inputs, eps=1e-6, rtol=1e-5, atol=1e-7, raise_on_error=False, seed=0):
    """Compare tape gradients of ``f`` with central finite differences, in float64.

    For each input x: draws random directions u (output) and v (input) and compares ``<grad, v>`` (the tape's
    vector-Jacobian product against u) with ``(<f(x + eps v), u> - <f(x - eps v), u>) / (2 eps)``, after
    checking the gradient's shape equals the input's.

    Args:
        f: a function of the inputs returning a tensor.
        inputs: array-likes (converted to float64).
        eps, rtol, atol: the finite-difference step and the tolerances.
        raise_on_error: raise AssertionError when any input fails.
        seed: seed for the random directions.

    Returns:
        A list with one dict per input: ``{"ok", "abs_error", "rel_error", "analytic", "numeric"}``.

    Example:
        >>> import tapeflow as tp
        >>> report = tp.check_gradients(lambda x: tp.sum(tp.exp(x) * x), [0.5, -1.0])
        >>> report[0]["ok"]
        True
    """
    rng = np.random.default_rng(seed)
    xs = [np.array(B.to_numpy(to_array(x)), dtype=np.float64) for x in inputs]  # host copies to perturb
    tensors = [Tensor(x) for x in xs]
    with GradientTape(persistent=True) as tape:
        for t in tensors:
            tape.watch(t)
        out = f(*tensors)
    out = out if isinstance(out, Tensor) else Tensor(out)
    u = rng.standard_normal(out.shape)
    grads = tape.gradient(out, tensors, output_gradients=Tensor(u), unconnected_gradients="zero")
    reports = []
    for i, (x, g) in enumerate(zip(xs, grads)):
        if g.shape != x.shape:
            raise AssertionError(
                f"check_gradients: gradient for input {i} has shape {g.shape}, input {x.shape}"
            )
        v = rng.standard_normal(x.shape)
        analytic = float(np.sum(g.numpy() * v))

        def at(step, i=i, v=v):
            args = [Tensor(x + step * v) if j == i else Tensor(x) for j, x in enumerate(xs)]
            return float(np.sum(np.asarray(f(*args), dtype=np.float64) * u))

        numeric = (at(eps) - at(-eps)) / (2 * eps)
        err = abs(analytic - numeric)
        rel = err / max(abs(numeric), abs(analytic), 1e-12)
        reports.append({"ok": bool(err <= atol + rtol * abs(numeric)), "abs_error": err, "rel_error": rel,
                        "analytic": analytic, "numeric": numeric})
    if raise_on_error and not all(r["ok"] for r in reports):
        raise AssertionError(f"check_gradients: mismatch {reports}")
    return reports


__all__ = ["GradientTape", "grad", "value_and_grad", "custom_gradient", "check_gradients", "Node"]
