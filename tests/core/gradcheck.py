"""The float64 gradient check every op test uses (the random-direction method).

For ``f`` and inputs ``xs``: draw a random output cotangent ``u`` and a random direction ``v_i`` per input.
The tape gives ``g_i = d<f, u>/dx_i``; after asserting ``g_i.shape == x_i.shape`` (without it a missing
broadcast reduction slips through), ``<g_i, v_i>`` must equal the central difference
``(<f(x_i + eps v_i), u> - <f(x_i - eps v_i), u>) / (2 eps)``. Written independently of
``tp.check_gradients``, so the library's own utility is tested, not trusted.
"""

from __future__ import annotations

import numpy as np

import tapeflow as tp


def _as_f64(out):
    return np.asarray(out.numpy() if isinstance(out, tp.Tensor) else out, dtype=np.float64)


def is_float(a):
    return np.asarray(a).dtype.kind == "f"


def assert_gradients(fn, inputs, *, eps=1e-6, rtol=1e-5, atol=1e-6, seed=0, wrt=None):
    """Check the tape's gradients of ``fn(*inputs)`` against central differences, in float64.

    Args:
        fn: function of Tensors returning a Tensor.
        inputs: arrays; float ones are converted to float64 and checked, others passed as constants.
        wrt: indices of the inputs to check (default: every float input).
    """
    rng = np.random.default_rng(seed)
    xs = [np.asarray(x, np.float64) if is_float(x) else np.asarray(x) for x in inputs]
    wrt = [i for i, x in enumerate(xs) if is_float(x)] if wrt is None else list(wrt)
    tensors = [tp.constant(x) for x in xs]
    with tp.GradientTape() as tape:
        for i in wrt:
            tape.watch(tensors[i])
        out = fn(*tensors)
    assert isinstance(out, tp.Tensor), f"expected a Tensor, got {type(out).__name__}"
    u = rng.standard_normal(out.shape)
    grads = tape.gradient(out, [tensors[i] for i in wrt], output_gradients=tp.constant(u),
                          unconnected_gradients="zero")
    for i, g in zip(wrt, grads):
        assert g.shape == xs[i].shape, f"input {i}: gradient shape {g.shape} != input shape {xs[i].shape}"
        assert g.dtype == np.float64, f"input {i}: gradient dtype {g.dtype} != float64"
        v = rng.standard_normal(xs[i].shape)
        analytic = float(np.sum(g.numpy() * v))

        def at(step, i=i, v=v):
            args = [tp.constant(x + step * v if j == i else x) for j, x in enumerate(xs)]
            return float(np.sum(_as_f64(fn(*args)) * u))

        numeric = (at(eps) - at(-eps)) / (2 * eps)
        tol = atol + rtol * max(abs(numeric), abs(analytic))
        assert abs(analytic - numeric) <= tol, (
            f"input {i}: tape gives <grad, v> = {analytic!r}, finite differences {numeric!r} "
            f"(difference {abs(analytic - numeric):.3g} > {tol:.3g})"
        )


def assert_second_order(fn, inputs, *, seed=1, **kw):
    """Check that the backward pass is itself differentiable: gradient-check ``<grad fn(xs; u), w>`` as a
    function of the inputs and of the upstream gradient ``u`` (computed under an outer tape)."""
    rng = np.random.default_rng(seed)
    xs = [np.asarray(x, np.float64) if is_float(x) else np.asarray(x) for x in inputs]
    wrt = [i for i, x in enumerate(xs) if is_float(x)]
    shape = fn(*[tp.constant(x) for x in xs]).shape
    u0 = rng.standard_normal(shape)
    ws = [rng.standard_normal(xs[i].shape) for i in wrt]

    def first_order(*args):
        *ts, u = args
        with tp.GradientTape() as inner:
            for i in wrt:
                inner.watch(ts[i])
            out = fn(*ts)
        grads = inner.gradient(out, [ts[i] for i in wrt], output_gradients=u, unconnected_gradients="zero")
        total = tp.constant(0.0, dtype="float64")
        for g, w in zip(grads, ws):
            total = total + tp.sum(g * w)
        return total

    assert_gradients(first_order, [*xs, u0], seed=seed, wrt=[*wrt, len(xs)], **kw)
