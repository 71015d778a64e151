"""The hooks through which :func:`tapeflow.function` watches a Python function run once (a *trace*).

While a function is traced, ``state.recorder`` holds its recorder (see :mod:`tapeflow.function`); otherwise it
is None and every hook here costs one attribute test. The op registry reports each op it runs, the tape each
gradient rule it applies, Tensors each Python read of their value (``float(t)``, ``if t:``), Variables their
creation and assignments, and code with side effects or random draws marks itself with :func:`host` or
:func:`source`, so that a traced plan repeats them on every call.

This module is the bottom of the import order: it imports nothing from tapeflow.
"""

from __future__ import annotations

import functools
import threading


class _State(threading.local):
    recorder = None  # the recorder of the function being traced in this thread, or None


state = _State()


def host(returns=None, run=False):
    """Mark a function with side effects (or one that reads state) as a *host call*: inside a traced function
    it is recorded and then called on every call of the plan, with the current values of its tensor arguments.

    Args:
        returns: while tracing, a function of the same arguments giving the value the call stands for
            (``None``: the call returns None). Ignored with ``run``.
        run: run the call while tracing too (for calls that read state and change nothing, such as a metric's
            ``result()``); its Tensor and float results then become values of the plan.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            recorder = state.recorder
            if recorder is None:
                return fn(*args, **kwargs)
            return recorder.host(fn, args, kwargs, returns, run)

        wrapper.__wrapped_host__ = fn
        return wrapper

    return decorate


def source(rng_of, draw, *args):
    """``draw(rng_of(), *args)``: a random array that a traced function draws again on every call.

    ``rng_of`` is called each time (a ``tp.random.set_seed`` between calls replaces the global generator),
    so a traced step consumes the same random stream as the eager one.
    """
    recorder = state.recorder
    if recorder is None:
        return draw(rng_of(), *args)
    return recorder.source(rng_of, draw, args)


def call_rule(fn, g, out, inputs, params):
    """Apply a gradient rule ``fn(g, out, *inputs, **params)`` (the tape's one call site for rules)."""
    recorder = state.recorder
    if recorder is None:
        return fn(g, out, *inputs, **params)
    return recorder.rule(fn, g, out, inputs, params)


def python_value(t, how):
    """A tensor's value is read into Python (``float``, ``bool``, ``.numpy()``) while a function is traced."""
    recorder = state.recorder
    if recorder is not None:
        recorder.python_value(t, how)
