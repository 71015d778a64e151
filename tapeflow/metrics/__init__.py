"""Metrics (``tp.metrics``): stateful summaries of predictions with ``update_state`` / ``result`` /
``reset_state``.

Metrics keep their running state as backend arrays (on the device with CuPy), so updating them inside a
training step waits for nothing; reading ``result()`` as a number (``float(m.result())``) is where a value
reaches the host.

Example:
    >>> import tapeflow as tp
    >>> m = tp.metrics.SparseCategoricalAccuracy()
    >>> m.update_state([1, 0], [[0.1, 0.9], [0.2, 0.8]])
    >>> float(m.result())
    0.5
"""

from __future__ import annotations

import re

import numpy as np

from tapeflow import _backend as B
from tapeflow._catalog import Catalog, Configurable
from tapeflow._tensor import Tensor
from tapeflow._trace import host

xp = B.xp


def _arr(x, dtype=None):
    """``x`` as a backend array (Tensors unwrap; host data are copied in)."""
    arr = x._value if isinstance(x, Tensor) else xp.asarray(x)
    return arr.astype(dtype, copy=False) if dtype is not None else arr


def _ratio(num, den, empty=0.0):
    """``num / den``, ``empty`` where ``den`` is 0 (no division by zero, no host round trip)."""
    return xp.where(den != 0, num / xp.where(den != 0, den, 1.0), empty)


def _weights(sample_weight, n):
    if sample_weight is None:
        return None
    sw = _arr(sample_weight, xp.float64)
    sw = sw.reshape(sw.shape[0], -1).mean(axis=1) if sw.ndim > 1 else sw
    return xp.broadcast_to(sw, (n,))


def _per_sample(values):
    values = xp.asarray(values, dtype=xp.float64)
    if values.ndim == 0:
        return values.reshape(1)
    return values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values


class Metric(Configurable):
    """Base class of metrics.

    Args:
        name: the name logs use (default: the class name in snake case).
        dtype: the result's dtype (float32).
    """

    def __init_subclass__(cls, **kwargs):
        # Inside a tp.function, updates happen on every call and results are read on every call.
        super().__init_subclass__(**kwargs)
        for name, run in (("update_state", False), ("result", True)):
            fn = cls.__dict__.get(name)
            if fn is not None and not hasattr(fn, "__wrapped_host__"):
                setattr(cls, name, host(run=run)(fn))

    def __init__(self, name=None, dtype=None):
        from tapeflow.layers.naming import snake_case

        self.name = name or snake_case(type(self).__name__)
        self.dtype = np.dtype(dtype or "float32")
        self.reset_state()

    def reset_state(self):
        """Forget everything seen so far."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch of targets and predictions."""
        raise NotImplementedError

    def _value(self) -> float:
        raise NotImplementedError

    @host(run=True)
    def result(self) -> Tensor:
        """The metric over everything seen since the last reset, as a scalar Tensor."""
        return Tensor(xp.asarray(self._value(), dtype=self.dtype))

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The (weighted) mean of the values given.

    Example:
        >>> import tapeflow as tp
        >>> m = tp.metrics.Mean()
        >>> m.update_state([1.0, 3.0])
        >>> float(m.result())
        2.0
    """

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        v = _arr(values, xp.float64)
        if v.ndim == 0 and (sample_weight is None or isinstance(sample_weight, (int, float))):
            w = 1.0 if sample_weight is None else float(sample_weight)  # the loss tracker's case, every step
            self.total = self.total + v * w
            self.count += w
            return
        v = v.reshape(-1)
        if sample_weight is None:
            self.total = self.total + v.sum()
            self.count += v.size
        else:
            w = _arr(sample_weight, xp.float64)
            w = xp.broadcast_to(w.reshape(-1) if w.ndim else w, v.shape)
            self.total = self.total + (v * w).sum()
            self.count = self.count + w.sum()

    def _value(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Metric):
    """The weighted mean of a per-sample function ``fn(y_true, y_pred, **kwargs)`` (NumPy arrays in)."""

    fn = None

    def __init__(self, fn=None, name=None, dtype=None, **kwargs):
        self._fn = fn or type(self).fn
        self._kwargs = kwargs
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = _per_sample(self._fn(_arr(y_true), _arr(y_pred), **self._kwargs))
        w = _weights(sample_weight, values.shape[0])
        if w is None:
            self.total = self.total + values.sum()
            self.count += values.shape[0]
        else:
            self.total = self.total + (values * w).sum()
            self.count = self.count + w.sum()

    def _value(self):
        return self.total / self.count if self.count else 0.0

    def get_config(self):
        return {**super().get_config(), **self._kwargs}


# --- per-sample functions (NumPy) ---------------------------------------------------------------------------
def _labels(y_true, y_pred):
    lab = y_true
    if lab.ndim == y_pred.ndim and lab.shape[-1] == 1:
        lab = lab.reshape(lab.shape[:-1])
    return lab


def accuracy(y_true, y_pred):
    """1 where ``y_true == y_pred`` exactly."""
    y_true, y_pred = xp.asarray(y_true), xp.asarray(y_pred)
    if y_true.shape != y_pred.shape and y_true.size == y_pred.size:
        y_true = y_true.reshape(y_pred.shape)
    return (y_true == y_pred).astype(xp.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where ``(y_pred > threshold) == y_true``, averaged over the last axis."""
    y_pred = xp.asarray(y_pred)
    y_true = (
        xp.asarray(y_true).reshape(y_pred.shape) if xp.size(y_true) == y_pred.size else xp.asarray(y_true)
    )
    return ((y_pred > threshold) == (y_true > 0.5)).astype(xp.float64)


def categorical_accuracy(y_true, y_pred):
    """1 where the arg-max of one-hot ``y_true`` equals the arg-max of ``y_pred``."""
    return (xp.argmax(y_true, axis=-1) == xp.argmax(y_pred, axis=-1)).astype(xp.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the integer label equals the arg-max of ``y_pred``."""
    return (_labels(y_true, y_pred).astype(xp.int64) == xp.argmax(y_pred, axis=-1)).astype(xp.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the one-hot label is among the ``k`` largest predictions."""
    return sparse_top_k_categorical_accuracy(xp.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the integer label is among the ``k`` largest predictions."""
    y_pred = xp.asarray(y_pred)
    lab = _labels(xp.asarray(y_true), y_pred).astype(xp.int64)
    picked = xp.take_along_axis(y_pred, lab[..., None], axis=-1)
    return ((y_pred > picked).sum(axis=-1) < k).astype(xp.float64)


def _squared_error(y_true, y_pred):
    y_pred = xp.asarray(y_pred, dtype=xp.float64)
    return xp.square(y_pred - xp.asarray(y_true, dtype=xp.float64).reshape(y_pred.shape))


def _absolute_error(y_true, y_pred):
    y_pred = xp.asarray(y_pred, dtype=xp.float64)
    return xp.abs(y_pred - xp.asarray(y_true, dtype=xp.float64).reshape(y_pred.shape))


def _wrapper(class_name, fn, doc, params=()):
    default_name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name.replace("TopK", "TopK_")).lower()

    def __init__(self, *args, name=None, dtype=None, **kwargs):
        opts = dict(params)
        for (key, _), value in zip(params, args):
            opts[key] = value
        opts.update(kwargs)
        MeanMetricWrapper.__init__(self, name=name or default_name, dtype=dtype, **opts)

    namespace = {"__init__": __init__, "fn": staticmethod(fn), "__doc__": doc}
    return type(class_name, (MeanMetricWrapper,), namespace)


Accuracy = _wrapper("Accuracy", accuracy, "How often predictions equal the labels exactly.")
BinaryAccuracy = _wrapper(
    "BinaryAccuracy",
    binary_accuracy,
    "How often ``y_pred > threshold`` matches binary labels.",
    (("threshold", 0.5),),
)
CategoricalAccuracy = _wrapper(
    "CategoricalAccuracy", categorical_accuracy, "How often the arg-max matches one-hot labels."
)
SparseCategoricalAccuracy = _wrapper(
    "SparseCategoricalAccuracy", sparse_categorical_accuracy, "How often the arg-max matches integer labels."
)
TopKCategoricalAccuracy = _wrapper(
    "TopKCategoricalAccuracy",
    top_k_categorical_accuracy,
    "How often the one-hot label is in the top ``k`` predictions.",
    (("k", 5),),
)
SparseTopKCategoricalAccuracy = _wrapper(
    "SparseTopKCategoricalAccuracy",
    sparse_top_k_categorical_accuracy,
    "How often the integer label is in the top ``k`` predictions.",
    (("k", 5),),
)
MeanSquaredError = _wrapper("MeanSquaredError", _squared_error, "Mean of squared errors.")
MeanAbsoluteError = _wrapper("MeanAbsoluteError", _absolute_error, "Mean of absolute errors.")


def _from_loss(name):
    """A per-sample function (backend arrays in and out) computing the loss ``tp.losses.<name>``."""

    def fn(y_true, y_pred, **kwargs):
        from tapeflow import losses

        return getattr(losses, name)(xp.asarray(y_true, xp.float64), xp.asarray(y_pred, xp.float64),
                                     **kwargs)._value

    fn.__name__ = name
    return fn


def _cosine(y_true, y_pred, axis=-1):
    return -_from_loss("cosine_similarity")(y_true, y_pred, axis=axis)


MeanAbsolutePercentageError = _wrapper(
    "MeanAbsolutePercentageError", _from_loss("mean_absolute_percentage_error"), "Mean absolute % error."
)
MeanSquaredLogarithmicError = _wrapper(
    "MeanSquaredLogarithmicError", _from_loss("mean_squared_logarithmic_error"), "Mean squared log error."
)
CosineSimilarity = _wrapper("CosineSimilarity", _cosine, "Mean cosine similarity along ``axis`` (1: same "
                            "direction).", (("axis", -1),))
LogCoshError = _wrapper("LogCoshError", _from_loss("log_cosh"), "Mean of ``log(cosh(error))``.")
Poisson = _wrapper("Poisson", _from_loss("poisson"), "Mean Poisson loss.")
KLDivergence = _wrapper("KLDivergence", _from_loss("kl_divergence"), "Mean Kullback-Leibler divergence.")
Hinge = _wrapper("Hinge", _from_loss("hinge"), "Mean hinge loss.")
SquaredHinge = _wrapper("SquaredHinge", _from_loss("squared_hinge"), "Mean squared hinge loss.")
CategoricalHinge = _wrapper("CategoricalHinge", _from_loss("categorical_hinge"),
                            "Mean categorical hinge loss.")
BinaryCrossentropy = _wrapper("BinaryCrossentropy", _from_loss("binary_crossentropy"),
                              "Mean binary cross-entropy.",
                              (("from_logits", False), ("label_smoothing", 0.0)))
CategoricalCrossentropy = _wrapper("CategoricalCrossentropy", _from_loss("categorical_crossentropy"),
                                   "Mean categorical cross-entropy.",
                                   (("from_logits", False), ("label_smoothing", 0.0), ("axis", -1)))
SparseCategoricalCrossentropy = _wrapper("SparseCategoricalCrossentropy",
                                         _from_loss("sparse_categorical_crossentropy"),
                                         "Mean sparse categorical cross-entropy.",
                                         (("from_logits", False), ("axis", -1)))


def _pearson(y_true, y_pred, axis=-1):
    t, p = xp.asarray(y_true, xp.float64), xp.asarray(y_pred, xp.float64).reshape(xp.shape(y_true))
    t = (t - t.mean(axis, keepdims=True)) / xp.maximum(t.std(axis, keepdims=True), 1e-7)
    p = (p - p.mean(axis, keepdims=True)) / xp.maximum(p.std(axis, keepdims=True), 1e-7)
    return (t * p).mean(axis)


def _concordance(y_true, y_pred, axis=-1):
    t, p = xp.asarray(y_true, xp.float64), xp.asarray(y_pred, xp.float64).reshape(xp.shape(y_true))
    mt, mp = t.mean(axis, keepdims=True), p.mean(axis, keepdims=True)
    cov = ((t - mt) * (p - mp)).mean(axis)
    denominator = t.var(axis) + p.var(axis) + xp.squeeze(mt - mp, axis) ** 2
    return 2 * cov / xp.maximum(denominator, 1e-7)


PearsonCorrelation = _wrapper("PearsonCorrelation", _pearson, "Mean Pearson correlation along ``axis``.",
                              (("axis", -1),))
ConcordanceCorrelation = _wrapper("ConcordanceCorrelation", _concordance,
                                  "Mean concordance correlation coefficient along ``axis``.", (("axis", -1),))


class Sum(Metric):
    """The (weighted) sum of the values given.

    Example:
        >>> import tapeflow as tp
        >>> float(tp.metrics.Sum()([1.0, 3.0]))
        4.0
    """

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        v = xp.asarray(_arr(values), dtype=xp.float64)
        if sample_weight is not None:
            v = v * xp.broadcast_to(_arr(sample_weight, xp.float64).reshape(
                _arr(sample_weight).shape + (1,) * (v.ndim - xp.ndim(_arr(sample_weight)))), v.shape)
        self.total = self.total + v.sum()

    def __call__(self, values, sample_weight=None):
        self.update_state(values, sample_weight)
        return self.result()

    def _value(self):
        return self.total


class RootMeanSquaredError(MeanMetricWrapper):
    """Square root of the mean squared error.

    Example:
        >>> import tapeflow as tp
        >>> round(float(tp.metrics.RootMeanSquaredError()([0.0, 0.0], [3.0, 4.0])), 4)
        3.5355
    """

    fn = staticmethod(_squared_error)

    def _value(self):
        return xp.sqrt(super()._value())


class _Confusion(Metric):
    """True/false positive/negative counts at one or more thresholds."""

    def __init__(self, thresholds=None, class_id=None, name=None, dtype=None):
        t = 0.5 if thresholds is None else thresholds
        self.thresholds = [float(x) for x in np.atleast_1d(t)]
        self._single = np.ndim(t) == 0
        self.class_id = class_id
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        n = len(self.thresholds)
        self.tp, self.fp, self.tn, self.fn = (xp.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _arr(y_pred, xp.float64)
        y_true = _arr(y_true, xp.float64)
        if self.class_id is not None:
            y_pred, y_true = y_pred[..., self.class_id], y_true.reshape(y_pred.shape)[..., self.class_id]
        y_true = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        w = (
            xp.ones_like(y_pred)
            if sample_weight is None
            else xp.broadcast_to(
                _arr(sample_weight, xp.float64).reshape((-1,) + (1,) * (y_pred.ndim - 1)), y_pred.shape
            )
        )
        pos = y_true > 0.5
        for i, t in enumerate(self.thresholds):
            pred = y_pred > t
            self.tp[i] += (w * (pred & pos)).sum()  # masks as weights: no data-dependent shapes to wait for
            self.fp[i] += (w * (pred & ~pos)).sum()
            self.tn[i] += (w * (~pred & ~pos)).sum()
            self.fn[i] += (w * (~pred & pos)).sum()

    def _true_positives_over(self, d):
        """``tp / d`` per threshold (0 where ``d`` is 0), as the metric's result."""
        return self._out(_ratio(self.tp, d))

    def _out(self, values):
        return values[0] if self._single else values

    def result(self):
        return Tensor(xp.asarray(self._value(), dtype=self.dtype))

    def get_config(self):
        t = self.thresholds[0] if self._single else self.thresholds
        return {**super().get_config(), "thresholds": t, "class_id": self.class_id}


class Precision(_Confusion):
    """``tp / (tp + fp)`` for predictions above ``thresholds`` (default 0.5).

    Example:
        >>> import tapeflow as tp
        >>> float(tp.metrics.Precision()([0, 1, 1, 1], [1.0, 1.0, 0.0, 1.0]))
        0.6666666865348816
    """

    def _value(self):
        return self._true_positives_over(self.tp + self.fp)


class Recall(_Confusion):
    """``tp / (tp + fn)`` for predictions above ``thresholds`` (default 0.5).

    Example:
        >>> import tapeflow as tp
        >>> float(tp.metrics.Recall()([0, 1, 1, 1], [1.0, 0.0, 1.0, 1.0]))
        0.6666666865348816
    """

    def _value(self):
        return self._true_positives_over(self.tp + self.fn)


def curve_counts(thresholds, y_true, y_pred, sample_weight=None):
    """Weighted ``(tp, fp, tn, fn)`` arrays, one entry per threshold of the sorted ``thresholds``, for
    predictions ``y_pred > threshold`` against labels ``y_true > 0.5`` (flattened; weights per sample)."""
    p = _arr(y_pred, xp.float64).reshape(-1)
    y = _arr(y_true, xp.float64).reshape(-1) > 0.5
    w = xp.ones_like(p)
    if sample_weight is not None:
        sw = _arr(sample_weight, xp.float64).reshape(-1)
        w = xp.broadcast_to(sw.reshape(-1, 1), (len(sw), p.size // max(1, len(sw)))).reshape(-1)
    # p > thresholds[j] exactly for j < bucket(p): a histogram, then cumulative sums from the top
    bucket = xp.searchsorted(thresholds, p, side="left")
    n = len(thresholds)
    pos = xp.bincount(bucket, weights=w * y, minlength=n + 1)
    neg = xp.bincount(bucket, weights=w * ~y, minlength=n + 1)
    above_pos = xp.cumsum(pos[::-1])[::-1][1:]
    above_neg = xp.cumsum(neg[::-1])[::-1][1:]
    return above_pos, above_neg, neg.sum() - above_neg, pos.sum() - above_pos


def curve_thresholds(num_thresholds):
    """Keras's thresholds for curve metrics: evenly spaced in (0, 1), plus one just below 0 and one just above
    1."""
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return xp.array([-1e-7, *inner, 1.0 + 1e-7])


class AUC(Metric):
    """Area under the ROC (or precision-recall) curve, from counts at ``num_thresholds`` thresholds.

    As Keras: thresholds evenly spaced in [0, 1] (plus one just below 0 and one just above 1); the area is the
    trapezoidal sum over the curve's points. With ``from_logits=True`` predictions pass through a sigmoid.

    Example:
        >>> import tapeflow as tp
        >>> float(tp.metrics.AUC()([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]))
        0.75
    """

    def __init__(self, num_thresholds=200, curve="ROC", from_logits=False, name=None, dtype=None):
        if num_thresholds <= 1:
            raise ValueError(f"`num_thresholds` must be > 1. Received: num_thresholds={num_thresholds}")
        if curve not in ("ROC", "PR"):
            raise ValueError(f"`curve` must be 'ROC' or 'PR'. Received: curve={curve!r}")
        self.num_thresholds, self.curve, self.from_logits = int(num_thresholds), curve, bool(from_logits)
        self.thresholds = curve_thresholds(self.num_thresholds)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        n = self.num_thresholds
        self.tp, self.fp, self.tn, self.fn = (xp.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred, xp.float64).reshape(-1)
        if self.from_logits:
            p = 1.0 / (1.0 + xp.exp(-p))
        counts = curve_counts(self.thresholds, y_true, p, sample_weight)
        for total, batch in zip((self.tp, self.fp, self.tn, self.fn), counts):
            total += batch

    def _value(self):
        tpr = _ratio(self.tp, self.tp + self.fn)
        if self.curve == "ROC":
            fpr = _ratio(self.fp, self.fp + self.tn)
            return xp.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
        precision = _ratio(self.tp, self.tp + self.fp, empty=1.0)
        return xp.sum((tpr[:-1] - tpr[1:]) * (precision[:-1] + precision[1:]) / 2)

    def get_config(self):
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "from_logits": self.from_logits,
        }


class R2Score(Metric):
    """The coefficient of determination ``1 - SS_res / SS_tot``, averaged over outputs.

    Args:
        class_aggregation: ``"uniform_average"``, ``"variance_weighted_average"`` or None (one per output).
        num_regressors: for the adjusted R^2 (0: plain R^2).

    Example:
        >>> import tapeflow as tp
        >>> float(tp.metrics.R2Score()([[1.0], [2.0], [3.0]], [[1.0], [2.0], [4.0]]))
        0.5
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        aggs = ("uniform_average", "variance_weighted_average", None)
        if class_aggregation not in aggs:
            raise ValueError(f"`class_aggregation` must be one of {aggs}. Received: {class_aggregation!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.sum = self.sum_sq = self.res = None
        self.count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _arr(y_pred, xp.float64)
        y_pred = y_pred.reshape(len(y_pred), -1)
        y_true = _arr(y_true, xp.float64).reshape(y_pred.shape)
        w = (
            xp.ones((len(y_pred), 1))
            if sample_weight is None
            else _arr(sample_weight, xp.float64).reshape(-1, 1)
        )
        if self.sum is None:
            k = y_pred.shape[1]
            self.sum, self.sum_sq, self.res = xp.zeros(k), xp.zeros(k), xp.zeros(k)
        self.sum += (w * y_true).sum(axis=0)
        self.sum_sq += (w * y_true**2).sum(axis=0)
        self.res += (w * (y_true - y_pred) ** 2).sum(axis=0)
        self.count = self.count + w.sum()

    def _value(self):
        if self.sum is None or not self.count:
            return 0.0
        mean = self.sum / self.count
        total = self.sum_sq - self.count * mean**2
        scores = 1.0 - _ratio(self.res, total)
        if self.class_aggregation == "uniform_average":
            r2 = float(scores.mean())
        elif self.class_aggregation == "variance_weighted_average":
            r2 = float((scores * total).sum() / total.sum())
        else:
            r2 = scores
        if self.num_regressors:
            n, p = self.count, self.num_regressors
            r2 = 1 - (1 - r2) * (n - 1) / (n - p - 1)
        return r2

    def result(self):
        return Tensor(xp.asarray(self._value(), dtype=self.dtype))

    def get_config(self):
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }


_CLASSES = {
    c.__name__: c
    for c in (
        Mean,
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        TopKCategoricalAccuracy,
        SparseTopKCategoricalAccuracy,
        MeanSquaredError,
        MeanAbsoluteError,
        RootMeanSquaredError,
        Precision,
        Recall,
        AUC,
        R2Score,
        Sum,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        LogCoshError,
        Poisson,
        KLDivergence,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        PearsonCorrelation,
        ConcordanceCorrelation,
    )
}
_NAMES = {
    "accuracy": Accuracy,
    "acc": Accuracy,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "precision": Precision,
    "recall": Recall,
    "auc": AUC,
    "r2": R2Score,
    "r2_score": R2Score,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "cosine_similarity": CosineSimilarity,
    "logcosh": LogCoshError,
    "log_cosh_error": LogCoshError,
    "poisson": Poisson,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "pearson_correlation": PearsonCorrelation,
    "concordance_correlation": ConcordanceCorrelation,
}

# the confusion-count metrics live in their own module (which builds on the classes above; importing it
# first imports this package first, so there is no cycle)
from tapeflow.metrics import confusion as _cm  # noqa: E402

for _name in _cm.__all__:
    _CLASSES[_name] = getattr(_cm, _name)
    globals()[_name] = getattr(_cm, _name)
_NAMES.update({
    "true_positives": _cm.TruePositives, "false_positives": _cm.FalsePositives,
    "true_negatives": _cm.TrueNegatives, "false_negatives": _cm.FalseNegatives, "f1_score": _cm.F1Score,
    "fbeta_score": _cm.FBetaScore,
})
_CATALOG = Catalog("metric", _CLASSES.values(), aliases=_NAMES)


def get(identifier):
    """Resolve a metric from a name, a Metric, a config dict or a per-sample function.

    (``"accuracy"`` here is exact-match accuracy; ``compile`` resolves it from the loss, as Keras does.)

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        cls = _CATALOG.lookup(identifier)
        return cls(name=identifier if identifier in _NAMES else None)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise TypeError(f"Cannot interpret {identifier!r} as a metric")


def serialize(metric) -> dict:
    """``{"class_name", "config"}`` (JSON data) for a built-in metric."""
    return _CATALOG.serialize(metric)


def deserialize(config, custom_objects=None):
    """The metric described by :func:`serialize`'s output (unknown class names are refused)."""
    return _CATALOG.deserialize(config, custom_objects)


__all__ = [
    "Metric",
    "MeanMetricWrapper",
    "get",
    "serialize",
    "deserialize",
    *_CLASSES,
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
]
