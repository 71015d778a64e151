"""What ``model.fit`` does differently under a :class:`~tapeflow.distributed.DataParallel` strategy.

The strategy is a set of :class:`~tapeflow.callbacks.TrainingHooks`: for each ``fit`` of a model compiled
inside ``strategy.scope()`` it gives ``fit`` one :class:`FitSession`, which ``fit`` consults at the hooks'
points (``data``, ``callbacks``, ``run_batch``, ``reduce_gradients``, ``end_epoch``, ``end``). Everything
else in ``fit`` (callbacks, validation, history) runs unchanged on every rank, fed with logs that are already
global.

- **Same start.** At the first step (after callbacks' ``on_train_begin``, so a state restored on rank 0
  counts) rank 0 broadcasts every model variable and the optimizer's state.
- **Same batches.** Every rank shuffles with a copy of rank 0's generator, so all ranks walk the same global
  batches; rank ``r`` keeps its slice (:func:`~tapeflow.distributed.shard_bounds`). Other random draws
  (dropout) stay each rank's own.
- **Same update.** ``Model.reduce_gradients`` asks the session, which averages gradients weighted by each
  rank's number of samples. A rank whose slice is empty skips the forward pass, joins the all-reduce with
  weight 0 and applies the same averaged update, so every rank runs the same number of steps.
- **Global logs.** Metric states (sums and counts) are summed over ranks before each step's logs are read.
  Validation is sharded the same way: each rank evaluates its slice of every validation batch.
- **Rank 0 does the I/O.** On other ranks ``verbose`` becomes 0 and chief-only callbacks (progress,
  checkpoints, CSV logs, live plots, and any callback with ``_chief_only = True``) are left out.
"""

from __future__ import annotations

import zlib

import numpy as np

from tapeflow import _backend as B
from tapeflow import random as _random
from tapeflow._nest import flatten
from tapeflow._tensor import to_array
from tapeflow.callbacks import Callback, TrainingHooks

# Callbacks whose only effect is output, run by rank 0 alone (matched by class name along the MRO, so
# callbacks defined elsewhere, such as tp.plot's LivePlot, need not be imported here).
CHIEF_ONLY_CALLBACKS = ("ProgbarLogger", "ModelCheckpoint", "CSVLogger", "LivePlot", "TensorBoard")
# Callbacks that restore state when training starts (every rank must, to agree on where training resumes) and
# write it later (rank 0 alone must).
RESTORE_EVERYWHERE_WRITE_ON_CHIEF = ("BackupAndRestore",)

# The state variables of tapeflow's metric classes (sums and counts, so summing over ranks gives the global
# state). A metric class of your own declares ``_state_names``.
_METRIC_STATES = {
    "Mean": ("total", "count"),
    "MeanMetricWrapper": ("total", "count"),
    "_Confusion": ("tp", "fp", "tn", "fn"),
    "AUC": ("tp", "fp", "tn", "fn"),
    "R2Score": ("sum", "sum_sq", "res", "count"),
}


def metric_state_names(metric) -> tuple:
    """The names of ``metric``'s additive state attributes.

    Raises:
        TypeError: the metric neither declares ``_state_names`` nor is one of tapeflow's metric classes.
    """
    names = getattr(metric, "_state_names", None)
    if names is not None:
        return tuple(names)
    for cls in type(metric).__mro__:
        if cls.__module__ == "tapeflow.metrics" and cls.__name__ in _METRIC_STATES:
            return _METRIC_STATES[cls.__name__]
    raise TypeError(
        f"tapeflow.distributed: metric '{getattr(metric, 'name', metric)}' ({type(metric).__name__}) "
        "cannot be combined across ranks: give its class `_state_names = (...)`, the attributes holding "
        "its additive state (sums and counts)"
    )


def _is_chief_only(callback) -> bool:
    if getattr(callback, "_chief_only", False):
        return True
    return _class_named(callback, CHIEF_ONLY_CALLBACKS)


def _class_named(obj, names) -> bool:
    return any(cls.__name__ in names for cls in type(obj).__mro__)


class RestoreEverywhereWriteOnChief(Callback):
    """Wraps a backup callback: its ``on_train_begin`` (the restore) runs on every rank, after a barrier so
    rank 0 has finished writing or deleting the backup; its other hooks (the writes) on rank 0 only."""

    def __init__(self, callback, strategy):
        super().__init__()
        self.callback = callback
        self.strategy = strategy

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    def on_train_begin(self, logs=None):
        self.strategy.barrier()
        self.callback.on_train_begin(logs)

    def resume_epoch(self, epoch):
        return self.callback.resume_epoch(epoch)  # restored on every rank, so every rank resumes alike


def _on_chief(hook):
    def call(self, *args):
        if self.strategy.is_chief:
            getattr(self.callback, hook)(*args)

    call.__name__ = hook
    return call


for _hook in [h for h in dir(Callback) if h.startswith("on_") and h != "on_train_begin"]:
    setattr(RestoreEverywhereWriteOnChief, _hook, _on_chief(_hook))


class Shard:
    """This rank's part of one global batch: ``batch`` (None when empty), its number of samples, and, when
    empty, the global batch's first sample (``first``, to build metrics from)."""

    __slots__ = ("batch", "weight", "first")

    def __init__(self, batch, weight, first=None):
        self.batch = batch
        self.weight = weight
        self.first = first


class ShardedData:
    """Wraps ``fit``'s data adapter: the same global batches on every rank, each yielding its :class:`Shard`.

    Exposes the adapter's ``steps``, ``batch_size`` (the global batch) and ``num_samples``.
    """

    def __init__(self, data, session):
        self._data = data
        self._session = session
        self._strategy = session.strategy
        self.steps = data.steps
        self.batch_size = data.batch_size
        self.num_samples = data.num_samples

    def __getattr__(self, name):  # anything else the loop may ask of the adapter
        return getattr(self._data, name)

    def epoch(self):
        """Yield this epoch's shards (one per global batch)."""
        from tapeflow.models import _data

        shared = self._session.shared_generator()
        # Arrays are batched here from the shared generator, so every rank sees the same global batches. Other
        # inputs (datasets, sequences, generators) batch themselves: check that the ranks agree, every step.
        check = not isinstance(self._data, _data.ArrayAdapter)
        batches = self._data.epoch()
        step = 0
        while True:
            # Draws made while the adapter produces a batch (its shuffling) come from the shared generator.
            with _random.use_global_generator(shared):
                batch = next(batches, None)
            if check:
                self._check_same_batch(batch, step)
            if batch is None:
                return
            step += 1
            x, y, sample_weight = _data.unpack(batch)
            n = _data.num_samples(x, y, sample_weight)
            lo, hi = self._strategy.shard_bounds(n)
            if hi == lo:
                one = slice(0, 1)
                yield Shard(None, 0, (_data.take(x, one), _data.take(y, one), _data.take(sample_weight, one)))
                continue
            part = slice(lo, hi)
            yield Shard((_data.take(x, part), _data.take(y, part), _data.take(sample_weight, part)), hi - lo)


    def _check_same_batch(self, batch, step):
        """Raise on every rank if the ranks read different batches, or if some ran out before the others."""
        if batch is None:
            signature = [-1.0, 0.0]
        else:
            signature = [float(sum(np.size(a) for a in _leaves(batch))), _crc(batch)]
        low, high = self._strategy.comm.allreduce_min_max(signature)
        if low[0] < 0 <= high[0]:
            raise ValueError(
                f"tapeflow.distributed: the ranks' data ran out at different steps (step {step}): every rank "
                "must read the same batches"
            )
        if not np.array_equal(low, high):
            raise ValueError(
                f"tapeflow.distributed: the ranks read different batches at step {step}. Every rank must "
                "read the same global batches: seed the data (tp.random.set_seed(s) at the start of the "
                "script, or dataset.shuffle(buffer, seed=s)) identically on every rank"
            )


def _leaves(nest):
    return [leaf for leaf in flatten(nest) if leaf is not None]


def _crc(batch) -> float:
    """A checksum of a batch's bytes (exact in a float64), to compare batches across ranks."""
    value = 0
    for leaf in _leaves(batch):
        value = zlib.crc32(np.ascontiguousarray(leaf).view(np.uint8), value)
    return float(value)


class FitSession(TrainingHooks):
    """The training hooks of one ``fit`` under a strategy (see the module docstring)."""

    def __init__(self, strategy, model):
        self.strategy = strategy
        self.comm = strategy.comm
        self.model = model
        self._weight = 1.0
        self._synced = False
        self._shared = None
        self._state_at_begin = None
        self._vars = None

    # -- the hooks fit calls --
    def data(self, adapter):
        """The same global batches on every rank, each yielding this rank's :class:`Shard`. Builds the model
        from the first sample if it has no weights yet (so every rank holds the same variables before the
        first step)."""
        self._build(adapter)
        return ShardedData(adapter, self)

    def callbacks(self, callbacks, verbose):
        """Backups restore on every rank and write on rank 0; other ranks run silent, without the chief-only
        callbacks (progress, checkpoints, logs, plots)."""
        callbacks = [
            RestoreEverywhereWriteOnChief(c, self.strategy)
            if _class_named(c, RESTORE_EVERYWHERE_WRITE_ON_CHIEF) else c
            for c in callbacks
        ]
        if not self.strategy.is_chief:
            verbose = 0
            callbacks = [c for c in callbacks if not _is_chief_only(c)]
        return callbacks, verbose

    def run_batch(self, step, batch):
        """One shard: the step on this rank's samples (a rank with none joins the gradient all-reduce with
        weight 0 and applies the same update), then the global logs. A batch that is not a shard (an
        ``evaluate`` a callback runs) goes to ``step`` unchanged."""
        if not isinstance(batch, Shard):
            return step(batch)
        training = step.name == "train_step"
        if training and not self._synced:
            self.sync()
        self._weight = batch.weight
        logs = {}
        if batch.weight:
            from tapeflow.models._data import pack

            logs = dict(step(pack(*batch.batch)) or {})
        else:
            self._build_metrics(batch.first)
            if training:
                self._apply_no_samples()
        logs.update(self.global_logs())
        return logs

    def reduce_gradients(self, grads):
        """The sample-weighted mean of the gradients over ranks."""
        return self.strategy.reduce_gradients(grads, variables=self._variables(), weight=self._weight)

    def end_epoch(self, epoch):
        """Average the non-trainable float variables (BatchNormalization's moving statistics) over ranks."""
        variables = [v for v in self.model.non_trainable_weights if v.dtype.kind == "f"]
        if not variables or self.comm.size == 1:
            return
        # mean = rank 0's value + the mean deviation from it: exactly rank 0's value where all ranks agree
        # (frozen weights), where a plain mean of n equal numbers may be off by a rounding step.
        local = [B.xp.array(to_array(v), copy=True) for v in variables]
        self.strategy.broadcast(variables, root=0)
        deviations = self.strategy.reduce_gradients([a - to_array(v) for a, v in zip(local, variables)])
        for v, d in zip(variables, deviations):
            v.assign_add(d)

    def end(self):
        """Leave the global generator where one process would have it."""
        generator = _random.generator()
        if self._shared is not None and generator.bit_generator.state == self._state_at_begin:
            # Nothing but shuffling drew numbers: continue from the shared stream, as one process would.
            generator.bit_generator.state = self._shared.bit_generator.state

    # -- helpers --
    def shared_generator(self):
        """The shuffling generator every rank shares: a copy of rank 0's global generator, taken when the
        first epoch starts (after callbacks' ``on_train_begin``, which may restore a saved state)."""
        if self._shared is None:
            generator = _random.generator()
            self._state_at_begin = generator.bit_generator.state
            shared = np.random.Generator(type(generator.bit_generator)())
            shared.bit_generator.state = self.comm.bcast_object(self._state_at_begin, root=0)
            self._shared = shared
        return self._shared

    def _build(self, data):
        """Create the model's weights if it has none yet (rank 0 broadcasts them at the first step)."""
        from tapeflow.models import _data

        model = self.model
        if model.weights:
            return
        x = getattr(data, "x", None)  # arrays: no side effect; other inputs give (and consume) one batch
        x = data.first_x() if x is None else x
        model(_data.take(x, slice(0, 1)), training=False)

    def _build_metrics(self, first):
        """On a rank with no samples yet, build the compiled metrics from the global batch's first sample
        (without updating them), so every rank holds the same metrics when their states are summed."""
        model = self.model
        pending = [cm for cm in (model.compiled_metrics, getattr(model, "_weighted_metrics", None))
                   if cm is not None and cm.metrics is None]
        if not pending or first is None:
            return
        x, y, _ = first
        y_pred = model(x, training=False)
        for cm in pending:
            cm.build(y, y_pred)

    def _apply_no_samples(self):
        """A step on no samples: weight 0 in the all-reduce, then the same update as the other ranks."""
        model = self.model
        variables = self._variables()
        grads = self.reduce_gradients([None] * len(variables))
        model.optimizer.apply_gradients(zip(grads, variables))
        if model._has_constraints:
            model._apply_constraints()

    def sync(self):
        """Broadcast rank 0's model variables and optimizer state (checked to match across ranks first)."""
        self._synced = True
        if self.comm.size > 1:
            self.strategy.broadcast(self.model.weights)
            self.strategy.broadcast_optimizer(self.model.optimizer, variables=self._variables())

    def _variables(self):
        if self._vars is None:  # looked up once per fit, as fit does (the model is built by then)
            self._vars = self.model.trainable_weights
        return self._vars

    # -- metrics --
    def global_logs(self):
        """``model.get_metrics_result()`` computed from metric states summed over ranks (2 small all-reduces).

        A state not created yet on some rank (``None``) counts as zeros of the size the other ranks have.
        """
        model = self.model
        slots = [(m, name) for m in model.metrics for name in metric_state_names(m)]
        if self.comm.size == 1:
            return model.get_metrics_result()
        values = [getattr(m, name) for m, name in slots]
        arrays = [None if v is None else np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
        sizes = np.array([-1.0 if a is None else a.size for a in arrays])
        low, high = self.comm.allreduce_min_max(sizes)
        bad = [(m.name, name) for (m, name), lo, hi in zip(slots, low, high) if lo >= 0 and lo != hi]
        if bad:
            raise ValueError(f"tapeflow.distributed: metric states differ in size between ranks: {bad}")
        sizes = high
        flat = np.zeros(int(sum(max(s, 0) for s in sizes)), dtype=np.float64)
        offset = 0
        for a, s in zip(arrays, sizes):
            if a is not None:
                flat[offset:offset + a.size] = a
            offset += int(max(s, 0))
        self.comm.allreduce_sum_(flat)
        offset = 0
        try:
            for (m, name), v, s in zip(slots, values, sizes):
                part = flat[offset:offset + int(max(s, 0))]
                offset += int(max(s, 0))
                if s < 0:
                    continue  # None on every rank
                if v is None or isinstance(v, np.ndarray):
                    shape = np.shape(v) if v is not None else part.shape
                    dtype = v.dtype if v is not None else np.float64
                    setattr(m, name, part.reshape(shape).astype(dtype))
                else:
                    setattr(m, name, type(v)(part[0]) if isinstance(v, (int, float)) else part[0])
            return model.get_metrics_result()
        finally:
            for (m, name), v in zip(slots, values):
                setattr(m, name, v)
