"""Loss functions (``tp.losses``), as functions returning per-sample values and as classes that reduce.

Every loss is stable for extreme inputs: cross-entropies on logits go through ``log_softmax``/``softplus``
forms (no overflow for logits of +-1e4), and on probabilities clip to ``[1e-7, 1 - 1e-7]`` first, so no NaN or
inf.

Example:
    >>> import tapeflow as tp
    >>> loss = tp.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> round(float(loss([0, 1], [[1e4, 0.0], [0.0, 0.0]])), 4)
    0.3466
"""

from __future__ import annotations

import math

import numpy as np

from tapeflow import _backend as B
from tapeflow import _trace, ops
from tapeflow._catalog import Catalog, Configurable
from tapeflow._tensor import Tensor
from tapeflow.activations import logits_of
from tapeflow.errors import ShapeError
from tapeflow.ops import fused

EPSILON = 1e-7


def _t(x, dtype=None):
    t = x if isinstance(x, Tensor) else Tensor(x)
    return ops.cast(t, dtype) if dtype is not None and t.dtype != dtype else t


def _pair(y_true, y_pred, name):
    y_pred = _t(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = ops.cast(y_pred, "float32")
    y_true = _t(y_true, y_pred.dtype)
    if y_true.shape != y_pred.shape:
        if y_true.ndim == y_pred.ndim - 1 and y_true.shape == y_pred.shape[:-1] and y_pred.shape[-1] == 1:
            y_true = ops.expand_dims(y_true, -1)
        elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, -1)
        elif y_true.ndim == y_pred.ndim and all(
            a == b or a == 1 or b == 1 for a, b in zip(y_true.shape, y_pred.shape)
        ):
            pass
        else:
            raise ShapeError(
                f"{name}: y_true and y_pred shapes differ; got y_true.shape={y_true.shape}, "
                f"y_pred.shape={y_pred.shape}"
            )
    return y_true, y_pred


# --- per-sample functions -----------------------------------------------------------------------------------
def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_error")
    return ops.mean(ops.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_error")
    return ops.mean(ops.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_percentage_error")
    diff = ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), EPSILON))
    return 100.0 * ops.mean(diff, axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Quadratic for errors below ``delta``, linear above: ``0.5 e^2`` or ``delta (|e| - 0.5 delta)``."""
    y_true, y_pred = _pair(y_true, y_pred, "huber")
    err = ops.abs(y_pred - y_true)
    quad = ops.minimum(err, delta)
    return ops.mean(0.5 * ops.square(quad) + delta * (err - quad), axis=-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, as ``x + softplus(-2x) - log 2`` (no overflow)."""
    y_true, y_pred = _pair(y_true, y_pred, "log_cosh")
    x = y_pred - y_true
    return ops.mean(x + ops.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def _smooth(y_true, label_smoothing, classes):
    if not label_smoothing:
        return y_true
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"`label_smoothing` must be in [0, 1]. Received: label_smoothing={label_smoothing}")
    return y_true * (1.0 - label_smoothing) + label_smoothing / classes


def _check_binary_labels(y_true, name):
    """Refuse labels outside [0, 1]: cross-entropy of a label of 2 is a number, but not a loss. Labels a
    little outside (up to 0.5), as the label-noise trick of Keras's own GAN example gives
    (``labels += 0.05 * uniform``), pass: they are soft targets, not class indices."""
    labels = y_true._value if isinstance(y_true, Tensor) else y_true
    if not hasattr(labels, "min") or not labels.size:  # a symbolic value (tracing): nothing to check yet
        return
    low, high = labels.min(), labels.max()
    if low < -0.5 or high > 1.5:
        bad = low if low < 0 else high
        raise ValueError(
            f"{name}: labels must be in [0, 1] (0/1 classes or probabilities). Received a label "
            f"{float(bad):g}. For more than two classes use loss='sparse_categorical_crossentropy' (integer "
            f"labels) or 'categorical_crossentropy' (one-hot labels)"
        )


def _check_sparse_labels(labels, y_pred, name):
    """Labels for a sparse loss hold one class index per sample: refuse other shapes by the loss's name, and
    one-hot labels (the prediction's own shape) with the loss to use instead."""
    if not hasattr(labels, "shape") or not hasattr(y_pred, "shape"):
        return  # Python lists: the op checks them
    shape, pred = tuple(labels.shape), tuple(y_pred.shape)
    expected = pred[:-1]
    if shape in (expected, (*expected, 1)):
        return
    if shape == pred:
        raise ShapeError(
            f"{name}: labels of shape {shape} look one-hot (the shape of the predictions), but this loss "
            f"takes one class index per sample, shape {expected}. Compile with "
            f"loss='categorical_crossentropy' for one-hot labels, or pass labels.argmax(-1)"
        )
    raise ShapeError(
        f"{name}: labels of shape {shape} do not fit predictions of shape {pred}: expected one class index "
        f"per sample, shape {expected}"
    )


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """``-mean(y log p + (1 - y) log(1 - p), axis=-1)``; on logits ``max(x, 0) - x y + log(1 +
    exp(-|x|))``.

    Raises:
        ValueError: for labels outside [0, 1].
    """
    y_true, y_pred = _pair(y_true, y_pred, "binary_crossentropy")
    _check_binary_labels(y_true, "binary_crossentropy")
    if not from_logits and logits_of(y_pred, "sigmoid") is not None:
        y_pred, from_logits = logits_of(y_pred, "sigmoid"), True
    y_true = _smooth(y_true, label_smoothing, 2.0)
    if from_logits:
        per = ops.relu(y_pred) - y_pred * y_true + ops.softplus(-ops.abs(y_pred))
    else:
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        per = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.mean(per, axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(y_true * log(p), axis)`` with ``p = softmax(y_pred)`` on logits, else ``y_pred`` normalized."""
    y_true, y_pred = _pair(y_true, y_pred, "categorical_crossentropy")
    if not from_logits and axis in (-1, y_pred.ndim - 1) and logits_of(y_pred, "softmax") is not None:
        y_pred, from_logits = logits_of(y_pred, "softmax"), True
    if y_true.shape != y_pred.shape:
        raise ShapeError(
            f"categorical_crossentropy: y_true must be one-hot with the shape of y_pred; got "
            f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape} (integer labels need "
            f"sparse_categorical_crossentropy)"
        )
    y_true = _smooth(y_true, label_smoothing, float(y_pred.shape[axis]))
    if from_logits:
        return -ops.sum(y_true * ops.log_softmax(y_pred, axis=axis), axis=axis)
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return -ops.sum(y_true * ops.log(ops.clip(p, EPSILON, 1.0 - EPSILON)), axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, ignore_class=None):
    """Cross-entropy of integer labels: ``-log p[label]`` (on logits via one fused, stable op).

    ``ignore_class``: a label value (such as a padding class) whose entries get loss 0.

    Raises:
        ValueError: for labels outside ``[0, classes)`` (``ignore_class`` aside).
    """
    y_pred = _t(y_pred)
    labels = y_true._value if isinstance(y_true, Tensor) else y_true
    if ignore_class is not None:
        _trace.python_value(y_true, "ignore_class (a label mask computed in NumPy)")
        labels = B.xp.asarray(labels)
        valid = labels != ignore_class
        values = sparse_categorical_crossentropy(B.xp.where(valid, labels, 0), y_pred, from_logits, axis)
        return values * Tensor(valid.reshape(values.shape).astype(values.dtype))
    if not from_logits and axis in (-1, y_pred.ndim - 1) and logits_of(y_pred, "softmax") is not None:
        y_pred, from_logits = logits_of(y_pred, "softmax"), True
    if axis not in (-1, y_pred.ndim - 1):
        y_pred = ops.swapaxes(y_pred, axis, -1)
    _check_sparse_labels(labels, y_pred, "sparse_categorical_crossentropy")
    if from_logits:
        return fused.sparse_softmax_cross_entropy(labels, y_pred)
    logp = ops.log(ops.clip(y_pred, EPSILON, 1.0 - EPSILON))
    return fused.sparse_softmax_cross_entropy(labels, logp) - ops.logsumexp(logp, axis=-1)


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` with both clipped to ``[eps, 1]``."""
    y_true, y_pred = _pair(y_true, y_pred, "kl_divergence")
    t = ops.clip(y_true, EPSILON, 1.0)
    p = ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(t * ops.log(t / p), axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred, "poisson")
    return ops.mean(y_pred - y_true * ops.log(y_pred + EPSILON), axis=-1)


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``; labels in {0, 1} are mapped to {-1, 1}."""
    y_true, y_pred = _pair(y_true, y_pred, "hinge")
    y_true = _signed_labels(y_true)
    return ops.mean(ops.relu(1.0 - y_true * y_pred), axis=-1)


def _signed_labels(y_true):
    """Labels in {0, 1} mapped to {-1, 1}, others unchanged (in ops: a traced step decides on every call)."""
    binary = ops.reduce_all(ops.logical_or(ops.equal(y_true, 0), ops.equal(y_true, 1)))
    return ops.where(binary, 2.0 * y_true - 1.0, y_true)


def squared_hinge(y_true, y_pred):
    """``mean(square(max(1 - y_true * y_pred, 0)), axis=-1)`` (labels {0, 1} mapped to {-1, 1})."""
    y_true, y_pred = _pair(y_true, y_pred, "squared_hinge")
    y_true = _signed_labels(y_true)
    return ops.mean(ops.square(ops.relu(1.0 - y_true * y_pred)), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean(square(log(1 + max(y_pred, eps)) - log(1 + max(y_true, eps))), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_logarithmic_error")
    diff = ops.log1p(ops.maximum(y_pred, EPSILON)) - ops.log1p(ops.maximum(y_true, EPSILON))
    return ops.mean(ops.square(diff), axis=-1)


def _l2_normalize(x, axis):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-12))


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for the same direction (a loss to
    minimize), 0 for orthogonal vectors."""
    y_true, y_pred = _pair(y_true, y_pred, "cosine_similarity")
    return -ops.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def categorical_hinge(y_true, y_pred):
    """``max(0, 1 + max((1 - y_true) * y_pred) - sum(y_true * y_pred))`` over the last axis (one-hot
    labels)."""
    y_true, y_pred = _pair(y_true, y_pred, "categorical_hinge")
    positive = ops.sum(y_true * y_pred, axis=-1)
    negative = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.relu(negative - positive + 1.0)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy down-weighting easy examples (Lin et al., 2017).

    Formula:
        ``mean((1 - p_t)**gamma * bce, axis)``, ``p_t = y p + (1 - y)(1 - p)``; with
        ``apply_class_balancing`` each term is also weighted by ``alpha`` (positives) or ``1 - alpha``.
    """
    y_true, y_pred = _pair(y_true, y_pred, "binary_focal_crossentropy")
    if not from_logits and logits_of(y_pred, "sigmoid") is not None:
        y_pred, from_logits = logits_of(y_pred, "sigmoid"), True
    y_true = _smooth(y_true, label_smoothing, 2.0)
    if from_logits:
        bce = ops.relu(y_pred) - y_pred * y_true + ops.softplus(-ops.abs(y_pred))
        p = ops.sigmoid(y_pred)
    else:
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        bce = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
    focal = ops.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = focal * (y_true * alpha + (1.0 - y_true) * (1.0 - alpha))
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Categorical cross-entropy down-weighting well-classified examples.

    Formula:
        ``sum(-alpha * (1 - p)**gamma * y_true * log(p), axis)``, ``p`` the (softmax of the) prediction.
    """
    y_true, y_pred = _pair(y_true, y_pred, "categorical_focal_crossentropy")
    if not from_logits and logits_of(y_pred, "softmax") is not None:
        y_pred, from_logits = logits_of(y_pred, "softmax"), True
    y_true = _smooth(y_true, label_smoothing, float(y_pred.shape[axis]))
    if from_logits:
        log_p = ops.log_softmax(y_pred, axis=axis)
        p = ops.exp(log_p)
    else:
        p = ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)
        log_p = ops.log(p)
    return ops.sum(-alpha * ops.power(1.0 - p, gamma) * y_true * log_p, axis=axis)


def _overlap_axes(axis):
    return None if axis is None else (axis if isinstance(axis, int) else tuple(axis))


def dice(y_true, y_pred, axis=None):
    """``1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred))`` over ``axis`` (None: all of the batch, one
    value, as Keras)."""
    y_true, y_pred = _pair(y_true, y_pred, "dice")
    ax = _overlap_axes(axis)
    inter = ops.sum(y_true * y_pred, axis=ax)
    union = ops.sum(y_true, axis=ax) + ops.sum(y_pred, axis=ax)
    return 1.0 - 2.0 * inter / (union + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha FP + beta FN)`` with soft counts over ``axis`` (None: all of the batch);
    ``alpha = beta = 0.5`` is the Dice loss."""
    y_true, y_pred = _pair(y_true, y_pred, "tversky")
    ax = _overlap_axes(axis)
    tp = ops.sum(y_true * y_pred, axis=ax)
    fp = ops.sum((1.0 - y_true) * y_pred, axis=ax)
    fn = ops.sum(y_true * (1.0 - y_pred), axis=ax)
    return 1.0 - tp / (tp + alpha * fp + beta * fn + EPSILON)


# --- classes ----------------------------------------------------------------------------------------------
REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight")
_MEANS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


class Loss(Configurable):
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced loss.

    Args:
        reduction: ``"sum_over_batch_size"`` (default; ``"mean"`` is the same) divides the weighted sum by the
            number of values; ``"mean_with_sample_weight"`` by the sum of the weights; ``"sum"``; ``"none"``
            returns the per-sample values.
        name: the loss's name.
    """

    fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, **fn_kwargs):
        if reduction not in REDUCTIONS:
            raise ValueError(f"`reduction` must be one of {REDUCTIONS}. Received: reduction={reduction!r}")
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)
        self._fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred):
        """Per-sample loss values."""
        return type(self).fn(y_true, y_pred, **self._fn_kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None and self.reduction in _MEANS:
            mean = self._fused_mean(y_true, y_pred)
            if mean is not None:
                return mean
        values = self.call(y_true, y_pred)
        return reduce_weighted(values, sample_weight, self.reduction)

    def _fused_mean(self, y_true, y_pred):
        """The unweighted mean loss as one fused op, or None where there is none (override)."""
        return None

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name, **self._fn_kwargs}


def reduce_weighted(values, sample_weight, reduction):
    """Weight per-sample ``values`` (broadcasting the weights) and reduce them."""
    if sample_weight is not None:
        sw = _t(sample_weight, values.dtype)
        while sw.ndim > values.ndim and sw.shape[-1] == 1:
            sw = ops.squeeze(sw, -1)
        while sw.ndim < values.ndim:
            sw = ops.expand_dims(sw, -1)
        values = values * sw
    if reduction == "none":
        return values
    if sample_weight is None and reduction in _MEANS:
        return ops.mean(values)  # one op (the common case of fit)
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return total / ops.maximum(ops.sum(ops.broadcast_to(sw, values.shape)), EPSILON)
    return total / float(max(values.size, 1))


def _snake(name):
    import re

    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _loss_class(name, fn, doc, params=()):
    """A Loss subclass whose per-sample values are ``fn`` with keyword options ``params`` (name, default)."""

    def __init__(self, *args, reduction="sum_over_batch_size", name=None, **kwargs):
        opts = dict(params)
        for (key, _), value in zip(params, args):
            opts[key] = value
        unknown = set(kwargs) - set(opts)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(unknown)}")
        opts.update(kwargs)
        Loss.__init__(self, reduction=reduction, name=name, **opts)

    return type(name, (Loss,), {"__init__": __init__, "fn": staticmethod(fn), "__doc__": doc})


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error, 'Mean of squared errors ("mse").')
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error, 'Mean of absolute errors ("mae").')
MeanAbsolutePercentageError = _loss_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error, 'Mean absolute percentage error ("mape").'
)
Huber = _loss_class("Huber", huber, "Huber loss with threshold ``delta``.", (("delta", 1.0),))
LogCosh = _loss_class("LogCosh", log_cosh, "Logarithm of the hyperbolic cosine of the error.")
BinaryCrossentropy = _loss_class(
    "BinaryCrossentropy",
    binary_crossentropy,
    "Binary cross-entropy on probabilities or (``from_logits=True``) logits, with label smoothing.",
    (("from_logits", False), ("label_smoothing", 0.0)),
)
CategoricalCrossentropy = _loss_class(
    "CategoricalCrossentropy",
    categorical_crossentropy,
    "Cross-entropy of one-hot labels against probabilities or (``from_logits=True``) logits.",
    (("from_logits", False), ("label_smoothing", 0.0), ("axis", -1)),
)
SparseCategoricalCrossentropy = _loss_class(
    "SparseCategoricalCrossentropy",
    sparse_categorical_crossentropy,
    "Cross-entropy of integer labels against probabilities or (``from_logits=True``) logits.",
    (("from_logits", False), ("axis", -1), ("ignore_class", None)),
)


def _sparse_fused_mean(self, y_true, y_pred):
    # on logits along the last axis, the loss and its mean are one op (what fit runs every step)
    opts = self._fn_kwargs
    if not isinstance(y_pred, Tensor) or opts["axis"] not in (-1, y_pred.ndim - 1) or opts["ignore_class"] \
            is not None:
        return None
    if not opts["from_logits"]:
        y_pred = logits_of(y_pred, "softmax")  # the logits behind a softmax layer's output, if it is one
        if y_pred is None:
            return None
    labels = y_true._value if isinstance(y_true, Tensor) else y_true
    _check_sparse_labels(labels, y_pred, self.name)
    return fused.sparse_softmax_cross_entropy(labels, y_pred, mean=True)


def _sparse_call(self, y_true, y_pred, sample_weight=None):
    # ignored entries weigh 0, and a mean is over the entries kept (Keras's masked reduction)
    ignore = self._fn_kwargs["ignore_class"]
    if ignore is None or self.reduction not in _MEANS:
        return Loss.__call__(self, y_true, y_pred, sample_weight)
    values = self.call(y_true, y_pred)
    _trace.python_value(y_true, "ignore_class (a label mask computed in NumPy)")
    xp = B.xp
    labels = xp.asarray(y_true._value if isinstance(y_true, Tensor) else y_true)
    valid = (labels != ignore).reshape(values.shape).astype(np.float64)
    weights = valid * (valid.size / xp.maximum(valid.sum(), 1.0))
    if sample_weight is not None:
        sw = xp.asarray(sample_weight._value if isinstance(sample_weight, Tensor) else sample_weight)
        while sw.ndim > weights.ndim and sw.shape[-1] == 1:
            sw = sw[..., 0]
        weights = weights * sw.reshape(sw.shape + (1,) * (weights.ndim - sw.ndim))
    reduction = "sum_over_batch_size" if self.reduction == "mean" else self.reduction
    return reduce_weighted(values, Tensor(weights.astype(values.dtype)), reduction)


SparseCategoricalCrossentropy._fused_mean = _sparse_fused_mean
SparseCategoricalCrossentropy.__call__ = _sparse_call
MeanSquaredLogarithmicError = _loss_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error, 'Mean squared logarithmic error ("msle").'
)
CosineSimilarity = _loss_class(
    "CosineSimilarity", cosine_similarity, "Negative cosine similarity along ``axis``.", (("axis", -1),)
)
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge, "Categorical hinge loss.")
BinaryFocalCrossentropy = _loss_class(
    "BinaryFocalCrossentropy",
    binary_focal_crossentropy,
    "Binary focal cross-entropy (see :func:`binary_focal_crossentropy`).",
    (("apply_class_balancing", False), ("alpha", 0.25), ("gamma", 2.0), ("from_logits", False),
     ("label_smoothing", 0.0), ("axis", -1)),
)
CategoricalFocalCrossentropy = _loss_class(
    "CategoricalFocalCrossentropy",
    categorical_focal_crossentropy,
    "Categorical focal cross-entropy (see :func:`categorical_focal_crossentropy`).",
    (("alpha", 0.25), ("gamma", 2.0), ("from_logits", False), ("label_smoothing", 0.0), ("axis", -1)),
)
Dice = _loss_class("Dice", dice, "Dice loss (see :func:`dice`).", (("axis", None),))
Tversky = _loss_class("Tversky", tversky, "Tversky loss (see :func:`tversky`).",
                      (("alpha", 0.5), ("beta", 0.5), ("axis", None)))
KLDivergence = _loss_class(
    "KLDivergence", kl_divergence, "Kullback-Leibler divergence ``KL(y_true || y_pred)``."
)
Poisson = _loss_class("Poisson", poisson, "Poisson negative log-likelihood (up to a constant).")
Hinge = _loss_class("Hinge", hinge, "Hinge loss for labels in {-1, 1} (or {0, 1}).")
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, "Squared hinge loss.")

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence

_CLASSES = {
    c.__name__: c
    for c in (
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        Huber,
        LogCosh,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        KLDivergence,
        Poisson,
        Hinge,
        SquaredHinge,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        CategoricalHinge,
        BinaryFocalCrossentropy,
        CategoricalFocalCrossentropy,
        Dice,
        Tversky,
    )
}
_NAMES = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "huber": Huber,
    "huber_loss": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "cosine_similarity": CosineSimilarity,
    "categorical_hinge": CategoricalHinge,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "dice": Dice,
    "tversky": Tversky,
}
_CATALOG = Catalog("loss", _CLASSES.values(), aliases=_NAMES)


class LossFunctionWrapper(Loss):
    """Wrap a user function ``fn(y_true, y_pred) -> per-sample values`` as a Loss."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction=reduction, name=name or getattr(fn, "__name__", "loss"))
        self._fn = fn

    def call(self, y_true, y_pred):
        return self._fn(y_true, y_pred)

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}


def get(identifier):
    """Resolve a loss from a name (``"mse"``, ``"sparse_categorical_crossentropy"``, ...), a Loss, a config
    dict
    or a function.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _CATALOG.lookup(identifier)
        return cls(name=identifier if identifier in _NAMES else None)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        for name, cls in _NAMES.items():
            if cls.fn is identifier:
                return cls(name=name)
        return LossFunctionWrapper(identifier)
    raise TypeError(f"Cannot interpret {identifier!r} as a loss")


def serialize(loss) -> dict:
    """``{"class_name", "config"}`` (JSON data) for a built-in loss."""
    return _CATALOG.serialize(loss)


def deserialize(config, custom_objects=None):
    """The loss described by :func:`serialize`'s output (unknown class names are refused)."""
    return _CATALOG.deserialize(config, custom_objects)


__all__ = [
    "Loss",
    "get",
    "serialize",
    "deserialize",
    "reduce_weighted",
    "LossFunctionWrapper",
    *_CLASSES,
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "huber",
    "log_cosh",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "mean_squared_logarithmic_error",
    "cosine_similarity",
    "categorical_hinge",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "dice",
    "tversky",
    "msle",
    "mse",
    "mae",
    "mape",
    "kld",
]
