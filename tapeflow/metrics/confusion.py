"""Metrics built on confusion counts (public as ``tp.metrics``): the four counts, F1/F-beta, the
constrained curve metrics (precision at a recall, ...) and the intersection-over-union family.

Example:
    >>> import tapeflow as tp
    >>> float(tp.metrics.TruePositives()([0, 1, 1, 1], [1.0, 1.0, 0.0, 1.0]))
    2.0
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.metrics import Metric, _arr, _Confusion, _ratio, curve_counts, curve_thresholds

xp = B.xp


def _divide(a, b):
    """``a / b``, 0 where ``b`` is 0."""
    return _ratio(xp.asarray(a, xp.float64), xp.asarray(b, xp.float64))


class TruePositives(_Confusion):
    """The (weighted) number of positives predicted above ``thresholds`` (default 0.5); one count per
    threshold when given a list."""

    def _value(self):
        return self._out(self.tp)


class FalsePositives(_Confusion):
    """The (weighted) number of negatives predicted above ``thresholds``."""

    def _value(self):
        return self._out(self.fp)


class TrueNegatives(_Confusion):
    """The (weighted) number of negatives predicted at or below ``thresholds``."""

    def _value(self):
        return self._out(self.tn)


class FalseNegatives(_Confusion):
    """The (weighted) number of positives predicted at or below ``thresholds``."""

    def _value(self):
        return self._out(self.fn)


class FBetaScore(Metric):
    """The F-beta score of multi-class (or multi-label) predictions, from per-class counts.

    Formula:
        ``(1 + beta**2) * precision * recall / (beta**2 * precision + recall)`` per class, then averaged.

    Args:
        average: None (one score per class), "micro" (from the counts summed over classes), "macro" (the
            mean over classes) or "weighted" (the mean weighted by each class's number of true samples).
        beta: the weight of recall against precision.
        threshold: predictions above it count as positive; None: the arg-max of each row is the positive.

    Shape:
        ``y_true`` one-hot (or multi-hot) ``(batch, classes)``, ``y_pred`` scores of the same shape.

    Example:
        >>> import tapeflow as tp
        >>> m = tp.metrics.F1Score(average="macro")
        >>> float(m([[1, 0], [0, 1], [0, 1]], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]))
        0.6666666865348816
    """

    _AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(self, average=None, beta=1.0, threshold=None, name=None, dtype=None):
        if average not in self._AVERAGES:
            raise ValueError(
                f"`average` must be one of {list(self._AVERAGES)}. Received: average={average!r}")
        if not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f"`beta` must be a positive number. Received: beta={beta!r}")
        if threshold is not None and not 0 < threshold <= 1:
            raise ValueError(f"`threshold` must be in (0, 1] or None. Received: threshold={threshold!r}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.tp = self.fp = self.fn = self.support = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred, xp.float64)
        p = p.reshape(len(p), -1)
        t = _arr(y_true, xp.float64).reshape(p.shape)
        if self.threshold is None:
            pred = (p >= p.max(axis=-1, keepdims=True)).astype(xp.float64)
        else:
            pred = (p > self.threshold).astype(xp.float64)
        w = xp.ones((len(p), 1)) if sample_weight is None else _arr(sample_weight, xp.float64).reshape(-1, 1)
        counts = ((pred * t * w).sum(0), (pred * (1 - t) * w).sum(0), ((1 - pred) * t * w).sum(0),
                  (t * w).sum(0))
        if self.tp is None:
            self.tp, self.fp, self.fn, self.support = (xp.zeros(p.shape[1]) for _ in range(4))
        for total, batch in zip((self.tp, self.fp, self.fn, self.support), counts):
            total += batch

    def _value(self):
        if self.tp is None:
            return 0.0
        tp, fp, fn = self.tp, self.fp, self.fn
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision, recall = _divide(tp, tp + fp), _divide(tp, tp + fn)
        b2 = self.beta**2
        score = (1 + b2) * _divide(precision * recall, b2 * precision + recall)
        if self.average == "macro":
            return float(score.mean())
        if self.average == "weighted":
            return float((score * _divide(self.support, self.support.sum())).sum())
        return score if self.average is None else float(score)

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score: :class:`FBetaScore` with ``beta=1`` (the harmonic mean of precision and recall)."""

    def __init__(self, average=None, threshold=None, name=None, dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class _AtConstraint(Metric):
    """Base of the metrics that read one value of a curve where another reaches a target: confusion counts
    at ``num_thresholds`` thresholds (as AUC), then the best ``dependent`` value among the thresholds whose
    ``constraint`` value is at least the target (0 when none is)."""

    _target_name = None

    def __init__(self, target, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= target <= 1:
            raise ValueError(
                f"`{self._target_name}` must be in [0, 1]. Received: {self._target_name}={target!r}")
        if num_thresholds <= 1:
            raise ValueError(f"`num_thresholds` must be > 1. Received: num_thresholds={num_thresholds}")
        self.target, self.num_thresholds, self.class_id = float(target), int(num_thresholds), class_id
        self.thresholds = curve_thresholds(self.num_thresholds)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.tp, self.fp, self.tn, self.fn = (xp.zeros(self.num_thresholds) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        p, t = _arr(y_pred, xp.float64), _arr(y_true, xp.float64)
        if self.class_id is not None:
            p, t = p[..., self.class_id], t.reshape(p.shape)[..., self.class_id]
        for total, batch in zip((self.tp, self.fp, self.tn, self.fn), curve_counts(self.thresholds, t, p,
                                                                                   sample_weight)):
            total += batch

    def _rates(self):
        return {"precision": _divide(self.tp, self.tp + self.fp),
                "recall": _divide(self.tp, self.tp + self.fn),
                "specificity": _divide(self.tn, self.tn + self.fp)}

    def _value(self):
        rates = self._rates()
        constraint, dependent = rates[self._constraint], rates[self._dependent]
        feasible = constraint >= self.target
        return float(dependent[feasible].max()) if feasible.any() else 0.0

    def get_config(self):
        return {**super().get_config(), self._target_name: self.target, "num_thresholds": self.num_thresholds,
                "class_id": self.class_id}


def _at_constraint(class_name, target_name, constraint, dependent, doc):
    def __init__(self, *args, **kwargs):
        if target_name in kwargs:
            args = (kwargs.pop(target_name), *args)
        _AtConstraint.__init__(self, *args, **kwargs)

    namespace = {"__init__": __init__, "__doc__": doc, "_target_name": target_name, "_constraint": constraint,
                 "_dependent": dependent}
    return type(class_name, (_AtConstraint,), namespace)


PrecisionAtRecall = _at_constraint(
    "PrecisionAtRecall", "recall", "recall", "precision",
    "The best precision among the thresholds whose recall is at least ``recall``.")
RecallAtPrecision = _at_constraint(
    "RecallAtPrecision", "precision", "precision", "recall",
    "The best recall among the thresholds whose precision is at least ``precision``.")
SensitivityAtSpecificity = _at_constraint(
    "SensitivityAtSpecificity", "specificity", "specificity", "recall",
    "The best sensitivity (recall) among the thresholds whose specificity is at least ``specificity``.")
SpecificityAtSensitivity = _at_constraint(
    "SpecificityAtSensitivity", "sensitivity", "recall", "specificity",
    "The best specificity among the thresholds whose sensitivity (recall) is at least ``sensitivity``.")


class IoU(Metric):
    """Intersection over union per class, from a confusion matrix, averaged over ``target_class_ids``.

    Formula:
        ``IoU_c = tp_c / (tp_c + fp_c + fn_c)``; classes that never occur (a zero denominator) are left out of
        the mean.

    Args:
        num_classes: the number of classes.
        target_class_ids: the classes to average.
        ignore_class: a label whose entries are skipped.
        sparse_y_true, sparse_y_pred: whether labels / predictions are class indices (else: scores or
            one-hot along ``axis``, reduced by arg-max).

    Example:
        >>> import tapeflow as tp
        >>> m = tp.metrics.IoU(num_classes=2, target_class_ids=[0])
        >>> float(m([0, 0, 1, 1], [0, 1, 0, 1]))
        0.3333333432674408
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"`num_classes` must be a positive integer. Received: num_classes={num_classes!r}")
        ids = [int(c) for c in target_class_ids]
        if any(not 0 <= c < num_classes for c in ids):
            raise ValueError(f"`target_class_ids` must lie in [0, {num_classes}). Received: {ids}")
        self.num_classes, self.target_class_ids = num_classes, ids
        self.ignore_class, self.sparse_y_true, self.sparse_y_pred = ignore_class, sparse_y_true, sparse_y_pred
        self.axis = axis
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.confusion = xp.zeros((self.num_classes, self.num_classes))

    def _classes(self, y, sparse):
        y = _arr(y)
        return (y if sparse else xp.argmax(y, axis=self.axis)).reshape(-1)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t = self._classes(y_true, self.sparse_y_true).astype(xp.int64)
        p = self._classes(self._predictions(y_pred), self.sparse_y_pred).astype(xp.int64)
        w = xp.ones(t.shape)
        if sample_weight is not None:  # one weight per entry, or per sample (repeated over its entries)
            sw = _arr(sample_weight, xp.float64).reshape(-1)
            w = xp.broadcast_to(sw, t.shape) if sw.size in (1, t.size) else xp.repeat(sw, t.size // sw.size)
        keep = xp.ones(t.shape, bool) if self.ignore_class is None else t != self.ignore_class
        t, p, w = t[keep], p[keep], w[keep]
        for name, values in (("labels", t), ("predictions", p)):
            if values.size and (values.min() < 0 or values.max() >= self.num_classes):
                raise ValueError(f"{type(self).__name__}: {name} must lie in [0, {self.num_classes}). "
                                 f"Received: values from {values.min()} to {values.max()}")
        xp.add.at(self.confusion, (t, p), w)

    def _predictions(self, y_pred):
        return y_pred

    def _value(self):
        tp = xp.diag(self.confusion)
        denominator = self.confusion.sum(0) + self.confusion.sum(1) - tp
        ids = self.target_class_ids
        iou = _divide(tp[ids], denominator[ids])
        valid = (denominator[ids] != 0).sum()
        return float(iou.sum() / valid) if valid else 0.0

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class MeanIoU(IoU):
    """The mean :class:`IoU` over all ``num_classes`` classes.

    Example:
        >>> import tapeflow as tp
        >>> float(tp.metrics.MeanIoU(num_classes=2)([0, 0, 1, 1], [0, 1, 0, 1]))
        0.3333333432674408
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred,
                         axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """:class:`IoU` of binary predictions: scores above ``threshold`` are class 1.

    Example:
        >>> import tapeflow as tp
        >>> float(tp.metrics.BinaryIoU(target_class_ids=[1])([0, 1, 1], [0.2, 0.7, 0.4]))
        0.5
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        self.threshold = float(threshold)
        super().__init__(2, target_class_ids, name=name, dtype=dtype)

    def _predictions(self, y_pred):
        return (_arr(y_pred, xp.float64) > self.threshold).astype(xp.int64)

    def get_config(self):
        config = Metric.get_config(self)
        return {**config, "target_class_ids": self.target_class_ids, "threshold": self.threshold}


class OneHotIoU(IoU):
    """:class:`IoU` of one-hot labels and score predictions (both reduced by arg-max)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=False, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"], config["sparse_y_pred"]
        return config


class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` of one-hot labels and score predictions (both reduced by arg-max)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=False, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"], config["sparse_y_pred"]
        return config


__all__ = ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "FBetaScore", "F1Score",
           "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
           "IoU", "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU"]
