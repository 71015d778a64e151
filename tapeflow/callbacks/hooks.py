"""Training hooks: the small interface through which ``fit``, ``evaluate`` and ``predict`` let another object
change how they run, without reaching into the model.

Callbacks are told what happened (``on_epoch_end``, ...); hooks are asked how to do it. A data-parallel
strategy (:class:`tapeflow.distributed.DataParallel`) is a set of hooks: it gives each process its shard of
every batch, averages the gradients and metric states over processes, and leaves the output to rank 0.
Subclass :class:`TrainingHooks`, override what you need, and compile a model inside ``hooks.scope()``; the
loops call the hooks in this order:

- ``begin(model, loop)``: once per ``fit``/``evaluate``/``predict`` call (``loop`` names it); returns the
  hooks for that call (``self`` by default; a fresh object keeps per-call state, as ``DataParallel``'s do).
- ``data(adapter)``: the batches this process reads (for ``fit``, the training and the validation data). An
  adapter has ``epoch()`` (an iterator of batches), ``steps``, ``batch_size`` and ``num_samples``.
- ``callbacks(callbacks, verbose)``: the callbacks to run and the verbosity, as ``(callbacks, verbose)``.
- ``run_batch(step, batch)``: one batch; calls ``step(batch)``, the model's ``train_step``, ``test_step`` or
  ``predict_step`` (``step.name`` says which), and returns what it returns (logs; ``predict``'s outputs).
  ``batch`` is what ``data`` yielded, a tuple ``(x, y, sample_weight)`` packed as the steps take it.
- ``reduce_gradients(grads)``: the gradients ``train_step`` applies (``Model.reduce_gradients`` asks it).
- ``end_epoch(epoch)``: after each epoch's training batches (``fit``).
- ``end()``: when the call ends, also on an error.

A model compiled with ``jit_compile=True`` runs its steps through :func:`tapeflow.function`, which traces a
step once and then replays the ops it recorded: Python code in the step, ``reduce_gradients`` included, would
run only while tracing. So under hooks the loops run the steps eagerly, unless the hooks set
``compiled_steps = True`` (hooks whose ``reduce_gradients`` returns ``grads`` unchanged, or only combines them
with tapeflow ops).

Example:
    >>> import numpy as np
    >>> import tapeflow as tp
    >>> class ClipGradients(tp.callbacks.TrainingHooks):
    ...     def reduce_gradients(self, grads):
    ...         return [tp.clip_by_value(g, -0.1, 0.1) for g in grads]
    >>> with ClipGradients().scope():
    ...     model = tp.Sequential([tp.layers.Dense(1, input_shape=(2,))])
    ...     model.compile(optimizer="sgd", loss="mse")
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=1, verbose=0)
"""

from __future__ import annotations

import contextlib
import threading


class _Scopes(threading.local):  # each thread's own stack: a scope opened in one thread is not another's
    def __init__(self):
        self.stack = []  # the hooks of the active ``scope()`` blocks, innermost last


_scopes = _Scopes()


def current():
    """The hooks of this thread's innermost active ``scope()`` block, or ``None``."""
    return _scopes.stack[-1] if _scopes.stack else None


class TrainingHooks:
    """The points where ``fit``, ``evaluate`` and ``predict`` consult another object (see the module
    docstring). Every method's default leaves the loop as it would run without hooks."""

    compiled_steps = False  # see the module docstring

    @contextlib.contextmanager
    def scope(self):
        """Models compiled inside this block run ``fit``/``evaluate``/``predict`` with these hooks (blocks
        nest; the innermost wins; a block belongs to the thread that opened it).

        Example:
            >>> import tapeflow as tp
            >>> hooks = tp.callbacks.TrainingHooks()
            >>> with hooks.scope():
            ...     tp.callbacks.hooks.current() is hooks
            True
        """
        _scopes.stack.append(self)
        try:
            yield self
        finally:
            _scopes.stack.pop()

    def begin(self, model, loop):
        """The hooks for one call of ``loop`` (``"fit"``, ``"evaluate"`` or ``"predict"``) on ``model``."""
        return self

    def data(self, adapter):
        """The batches this process reads: ``adapter`` or an object with the same ``epoch()``, ``steps``,
        ``batch_size`` and ``num_samples``."""
        return adapter

    def callbacks(self, callbacks, verbose):
        """``(callbacks, verbose)``: the callbacks (a list) this process runs, and its verbosity."""
        return callbacks, verbose

    def run_batch(self, step, batch):
        """Run ``step`` (``step.name``: ``"train_step"``, ``"test_step"`` or ``"predict_step"``) on one
        batch of :meth:`data`; return its logs (for ``predict``, its outputs)."""
        return step(batch)

    def reduce_gradients(self, grads):
        """The gradients to apply, given this process's (a list, as ``tape.gradient`` returns them)."""
        return grads

    def end_epoch(self, epoch):
        """Called after each epoch's training batches, before validation."""

    def end(self):
        """Called when the loop ends (normally or by an error)."""


class _NoHooks(TrainingHooks):
    compiled_steps = True  # every method is the identity: nothing to miss in a traced step


NO_HOOKS = _NoHooks()  # what a model compiled outside any scope() uses
