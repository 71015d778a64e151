"""Callback base class, the list that dispatches hooks, and History, LambdaCallback, TerminateOnNaN."""

from __future__ import annotations

import math
import sys

_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class Callback:
    """Base class: override any ``on_*`` hook; ``self.model`` and ``self.params`` are set before training.

    Hooks: ``on_{train,test,predict}_{begin,end}(logs)``, ``on_epoch_{begin,end}(epoch, logs)``,
    ``on_{train,test,predict}_batch_{begin,end}(batch, logs)``. ``logs`` holds the running metrics (floats);
    at ``on_epoch_end`` also the ``val_`` figures. One question: :meth:`resume_epoch`, the epoch ``fit``
    starts from (how ``BackupAndRestore`` resumes a run).

    Example:
        >>> import tapeflow as tp
        >>> class Count(tp.callbacks.Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(f"epoch {epoch}: loss is a {type(logs['loss']).__name__}")
        >>> Count().on_epoch_end(0, {"loss": 0.5})
        epoch 0: loss is a float
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def resume_epoch(self, epoch):
        """The epoch ``fit`` should start from, asked of every callback after ``on_train_begin``: ``epoch`` is
        where it would start (its ``initial_epoch``, or a later one an earlier callback asked for). Return it
        unchanged (the default) or a later epoch to resume a run.

        Example:
            >>> import tapeflow as tp
            >>> tp.callbacks.Callback().resume_epoch(3)
            3
        """
        return epoch

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


def _overrides(cb, hook):
    return hook in cb.__dict__ or getattr(type(cb), hook, None) is not getattr(Callback, hook)


class CallbackList:
    """Calls each hook on every callback that overrides it (so empty hooks cost nothing per batch)."""

    def __init__(self, callbacks, model=None, params=None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be tp.callbacks.Callback instances. Received: {cb!r}")
            cb.set_model(model)
            cb.set_params(dict(params or {}))
        self._by_hook = {h: [getattr(cb, h) for cb in self.callbacks if _overrides(cb, h)] for h in _HOOKS}

    def call(self, hook, *args):
        for fn in self._by_hook[hook]:
            fn(*args)

    def wants(self, hook) -> bool:
        return bool(self._by_hook[hook])

    def resume_epoch(self, epoch):
        """The epoch to start from: ``epoch`` passed through every callback's :meth:`Callback.resume_epoch`
        (never earlier than ``epoch``)."""
        for cb in self.callbacks:
            epoch = max(epoch, cb.resume_epoch(epoch))
        return epoch


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` is the list of epoch losses.

    Attributes:
        history: ``{name: [value per epoch]}`` (``loss``, metrics, ``val_*``).
        epoch: the epoch indices recorded.
        params: ``{"epochs", "steps", "verbose", ...}`` of the run.
        seed: ``tp.random.get_seed()`` when training started (None if never set).

    Example:
        >>> import tapeflow as tp
        >>> h = tp.callbacks.History()
        >>> h.on_epoch_end(0, {"loss": 0.5})
        >>> h.history, h.epoch
        ({'loss': [0.5]}, [0])
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.seed = None

    def on_train_begin(self, logs=None):
        from tapeflow import random

        self.seed = random.get_seed()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def plot(self, **kwargs):
        """Plot the curves (``tapeflow.plot.history(self, **kwargs)``; needs matplotlib)."""
        from tapeflow import plot

        return plot.history(self, **kwargs)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={sorted(self.history)} seed={self.seed}>"


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Accepts any hook name as a keyword (``on_epoch_begin``, ``on_train_batch_end``, ``on_batch_end``, ...).
    """

    def __init__(self, **hooks):
        super().__init__()
        aliases = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}
        for name, fn in hooks.items():
            name = aliases.get(name, name)
            if name not in _HOOKS:
                raise ValueError(f"LambdaCallback: unknown hook {name!r}. Choose from {sorted(_HOOKS)}.")
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite, and say so (printed to stdout and kept in
    ``model.stop_reason``).

    The bad batch's update has already been applied when its loss is seen, so the weights are usually
    non-finite by then. With ``restore_weights=True`` the callback keeps a copy of the weights before every
    batch (one copy of the model's weights in memory, and its cost each step) and puts back the copy taken
    before the bad batch: the last weights whose update had a finite loss. The optimizer's slots (momentum,
    Adam's moments) are not restored.

    Args:
        restore_weights: put back the weights from before the batch whose loss was not finite.

    Example:
        >>> import tapeflow as tp
        >>> cb = tp.callbacks.TerminateOnNaN()
        >>> class M: stop_training = False
        >>> cb.set_model(M())
        >>> cb.on_train_batch_end(3, {"loss": float("nan")})
        Batch 3: invalid loss nan, terminating training
        >>> cb.model.stop_training
        True
    """

    def __init__(self, restore_weights=False):
        super().__init__()
        self.restore_weights = bool(restore_weights)
        self._before = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.restore_weights:
            self._before = self.model.get_weights()

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            message = f"Batch {batch}: invalid loss {loss}, terminating training"
            if self.restore_weights and self._before is not None:
                self.model.set_weights(self._before)
                message += "; restored the weights from before this batch"
            print(message, file=sys.stdout)
            self.model.stop_training = True
            self.model.stop_reason = message


class SwapEMAWeights(Callback):
    """Evaluate with the optimizer's moving averages of the weights (``use_ema=True``): they replace the
    weights for each evaluation (validation included) and the training weights come back after it.

    Args:
        swap_on_epoch: also hold the averages from the end of each epoch to the start of the next, so that
            callbacks running after this one at the epoch's end (ModelCheckpoint) see them.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> model = tp.Sequential([tp.Input((2,)), tp.layers.Dense(1)])
        >>> model.compile(tp.optimizers.SGD(0.1, use_ema=True), "mse")
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0, validation_split=0.5,
        ...               callbacks=[tp.callbacks.SwapEMAWeights()])
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._swapped = False

    def _swap(self):
        self.model.optimizer.swap_with_averages(self.model.trainable_weights)
        self._swapped = not self._swapped

    def on_test_begin(self, logs=None):
        if not self._swapped:
            self._swap()
            self._for_test = True

    def on_test_end(self, logs=None):
        if getattr(self, "_for_test", False):
            self._swap()
            self._for_test = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._swapped:
            self._swap()

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._swapped:
            self._swap()

    def on_train_end(self, logs=None):
        if self._swapped:  # leave the training weights (fit then writes the averages itself)
            self._swap()
