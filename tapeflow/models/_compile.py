"""What ``compile`` sets up: the loss of each output (with weights) and the metrics, with Keras's naming.

``"accuracy"`` is resolved from the loss and the shapes of the first batch, as Keras does: sparse labels give
SparseCategoricalAccuracy, one-hot labels CategoricalAccuracy, a single output unit BinaryAccuracy.
"""

from __future__ import annotations

import numpy as np

from tapeflow import losses as _losses
from tapeflow import metrics as _metrics
from tapeflow._nest import flatten
from tapeflow._tensor import Tensor


def _per_output(spec, output_names, what):
    """Spread ``spec`` (one item, a list per output, or a dict by output name) to a list, one per output."""
    n = len(output_names)
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(output_names))
        if unknown:
            raise ValueError(
                f"compile: {what} names output(s) {unknown}, but the model's outputs are {output_names}"
            )
        return [spec.get(name) for name in output_names]
    if isinstance(spec, (list, tuple)) and n > 1 and what == "loss":
        if len(spec) != n:
            raise ValueError(f"compile: {len(spec)} losses given for a model with {n} outputs {output_names}")
        return list(spec)
    return [spec] * n


def _predictions(y_pred, output_names):
    """A model's outputs as a list in ``output_names`` order (a dict of outputs is read by name)."""
    if isinstance(y_pred, dict):
        return [y_pred[k] for k in output_names]
    return list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]


def _as_list(y, output_names):
    if isinstance(y, dict):
        missing = [k for k in output_names if k not in y]
        if missing:
            raise ValueError(f"targets for output(s) {missing} are missing; received keys {sorted(y)}")
        return [y[k] for k in output_names]
    if isinstance(y, (list, tuple)) and len(output_names) > 1:
        if len(y) != len(output_names):
            raise ValueError(
                f"the model has {len(output_names)} outputs {output_names}; received {len(y)} targets"
            )
        return list(y)
    return [y]


class CompiledLoss:
    """The total loss: the weighted sum of each output's loss."""

    def __init__(self, loss, loss_weights, output_names):
        self.output_names = list(output_names)
        specs = _per_output(loss, self.output_names, "loss")
        self.losses = [None if s is None else _losses.get(s) for s in specs]
        self.trackers = []  # the model's loss trackers: the total first, then one per output with a loss
        if loss_weights is None:
            self.weights = [1.0] * len(self.output_names)
        elif isinstance(loss_weights, dict):
            self.weights = [float(loss_weights.get(k, 1.0)) for k in self.output_names]
        else:
            lw = list(loss_weights) if isinstance(loss_weights, (list, tuple)) else [loss_weights]
            if len(lw) != len(self.output_names):
                raise ValueError(f"compile: {len(lw)} loss_weights for {len(self.output_names)} outputs")
            self.weights = [float(w) for w in lw]

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        """The total loss, as tf.keras's ``model.compiled_loss(y, y_pred, sample_weight,
        regularization_losses=model.losses)`` gives it (the loss trackers count it)."""
        return self.total(y_true, y_pred, sample_weight, regularization_losses or [])

    def total(self, y_true, y_pred, sample_weight, extra_losses):
        """The compiled losses plus ``extra_losses`` (regularization, ``add_loss``); updates the trackers.

        Raises:
            ValueError: when there is no loss at all (compiled without one, and no extra losses).
        """
        total, parts = self.parts(y_true, y_pred, sample_weight)
        for term in extra_losses:
            total = term if total is None else total + term
        if total is None:
            raise ValueError(
                "compute_loss: the model was compiled without a loss. Pass loss=... to compile(), or compute "
                "the loss in your own train_step."
            )
        first = flatten(y_pred)[0]
        batch = first.shape[0] if getattr(first, "ndim", 0) else 1
        if self.trackers:
            self.trackers[0].count_loss(total, batch)
            for tracker, part in zip(self.trackers[1:], [p for p in parts if p is not None]):
                tracker.count_loss(part, batch)
        return total

    def parts(self, y_true, y_pred, sample_weight=None):
        """``(total, [loss of each output])`` (None for outputs without a loss; total None when none has
        one)."""
        if all(fn is None for fn in self.losses):
            return None, [None] * len(self.losses)
        ys = _as_list(y_true, self.output_names)
        ps = _predictions(y_pred, self.output_names)
        sws = (
            _as_list(sample_weight, self.output_names)
            if isinstance(sample_weight, (list, dict))
            else [sample_weight] * len(ps)
        )
        total, parts = None, []
        for fn, w, yt, yp, sw in zip(self.losses, self.weights, ys, ps, sws):
            if fn is None:
                parts.append(None)
                continue
            if yt is None:
                raise ValueError("the model was compiled with a loss, but no targets (y) were given")
            value = fn(yt, yp, sample_weight=sw)
            parts.append(value)
            term = value if w == 1.0 else value * w
            total = term if total is None else total + term
        return total, parts


_ACCURACY_BY_LOSS = {
    "SparseCategoricalCrossentropy": "SparseCategoricalAccuracy",
    "CategoricalCrossentropy": "CategoricalAccuracy",
    "BinaryCrossentropy": "BinaryAccuracy",
}


def _resolve_accuracy(name, loss, y_true, y_pred):
    kind = _ACCURACY_BY_LOSS.get(type(loss).__name__)
    if kind is not None:
        return getattr(_metrics, kind)(name=name)
    yt = y_true._value if isinstance(y_true, Tensor) else y_true
    yt_shape = tuple(yt.shape) if hasattr(yt, "shape") else np.shape(yt)
    yp_shape = tuple(y_pred.shape)
    if yp_shape and yp_shape[-1] == 1:
        return _metrics.BinaryAccuracy(name=name)
    if len(yt_shape) == len(yp_shape) - 1 or (len(yt_shape) == len(yp_shape) and yt_shape[-1:] == (1,)):
        return _metrics.SparseCategoricalAccuracy(name=name)
    if yt_shape == yp_shape and len(yp_shape) >= 2:
        return _metrics.CategoricalAccuracy(name=name)
    return _metrics.Accuracy(name=name)


class CompiledMetrics:
    """The metrics of every output, built on the first batch (so ``"accuracy"`` can see the shapes)."""

    def __init__(self, metrics, loss_fns, output_names, weighted=False):
        self.output_names = list(output_names)
        self._specs = self._spread(metrics)
        for specs in self._specs:  # unknown names fail at compile time, not at the first batch
            for spec in specs:
                if isinstance(spec, str) and spec not in ("accuracy", "acc", "crossentropy", "ce"):
                    _metrics.get(spec)
        self._loss_fns = loss_fns
        self._weighted = weighted
        self.metrics = None  # [(output index, Metric)]
        if not any(self._needs_data(i, spec) for i, specs in enumerate(self._specs) for spec in specs):
            self.build(None, None)  # so model.metrics lists them from compile on, as Keras does

    def _needs_data(self, i, spec):
        """Whether ``spec`` can be resolved only from the first batch (an "accuracy" the loss leaves open)."""
        if spec not in ("accuracy", "acc"):
            return False
        loss = self._loss_fns[i] if i < len(self._loss_fns) else None
        return type(loss).__name__ not in _ACCURACY_BY_LOSS

    def _spread(self, metrics):
        n = len(self.output_names)
        if metrics is None:
            return [[] for _ in range(n)]
        if isinstance(metrics, dict):
            return [list(_wrap_list(metrics.get(k))) for k in self.output_names]
        metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        if n > 1 and len(metrics) == n and all(isinstance(m, (list, tuple)) or m is None for m in metrics):
            return [list(_wrap_list(m)) for m in metrics]
        return [list(metrics) for _ in range(n)]

    def build(self, y_true, y_pred):
        n = len(self.output_names)
        ys = _as_list(y_true, self.output_names) if y_true is not None else [None] * n
        ps = _predictions(y_pred, self.output_names) if y_pred is not None else [None] * n
        multi = len(self.output_names) > 1
        self.metrics = []
        for i, specs in enumerate(self._specs):
            for spec in specs:
                if spec in ("accuracy", "acc"):
                    m = _resolve_accuracy(spec, self._loss_fns[i], ys[i], ps[i])
                elif isinstance(spec, str) and spec in ("crossentropy", "ce"):
                    m = _metrics.MeanMetricWrapper(lambda t, p: p, name=spec)
                else:
                    m = _metrics.get(spec)
                    if not isinstance(spec, _metrics.Metric):
                        m = type(m).from_config(m.get_config()) if isinstance(spec, (str, dict)) else m
                if multi:
                    m.name = f"{self.output_names[i]}_{m.name}"
                if self._weighted:
                    m.name = f"weighted_{m.name}"
                self.metrics.append((i, m))

    def update(self, y_true, y_pred, sample_weight=None):
        if self.metrics is None:
            self.build(y_true, y_pred)
        if not self.metrics:
            return
        ys = _as_list(y_true, self.output_names)
        ps = _predictions(y_pred, self.output_names)
        sw = sample_weight if self._weighted else None
        for i, m in self.metrics:
            m.update_state(ys[i], ps[i], sw)

    update_state = update  # tf.keras's name: model.compiled_metrics.update_state(y, y_pred)

    def reset(self):
        for _, m in self.metrics or []:
            m.reset_state()


def _wrap_list(m):
    if m is None:
        return []
    return m if isinstance(m, (list, tuple)) else [m]
