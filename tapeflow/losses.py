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

from tapeflow import ops
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


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """``-mean(y log p + (1 - y) log(1 - p), axis=-1)``; on logits ``max(x, 0) - x y + log(1 +
    exp(-|x|))``."""
    y_true, y_pred = _pair(y_true, y_pred, "binary_crossentropy")
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


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Cross-entropy of integer labels: ``-log p[label]`` (on logits via one fused, stable op).

    Raises:
        ValueError: for labels outside ``[0, classes)``.
    """
    y_pred = _t(y_pred)
    labels = y_true._value if isinstance(y_true, Tensor) else y_true
    if not from_logits and axis in (-1, y_pred.ndim - 1) and logits_of(y_pred, "softmax") is not None:
        y_pred, from_logits = logits_of(y_pred, "softmax"), True
    if axis not in (-1, y_pred.ndim - 1):
        y_pred = ops.swapaxes(y_pred, axis, -1)
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
    vals = y_true._value
    if vals.size and ((vals == 0) | (vals == 1)).all():
        y_true = 2.0 * y_true - 1.0
    return ops.mean(ops.relu(1.0 - y_true * y_pred), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(square(max(1 - y_true * y_pred, 0)), axis=-1)`` (labels {0, 1} mapped to {-1, 1})."""
    y_true, y_pred = _pair(y_true, y_pred, "squared_hinge")
    vals = y_true._value
    if vals.size and ((vals == 0) | (vals == 1)).all():
        y_true = 2.0 * y_true - 1.0
    return ops.mean(ops.square(ops.relu(1.0 - y_true * y_pred)), axis=-1)


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
    (("from_logits", False), ("axis", -1)),
)


def _sparse_fused_mean(self, y_true, y_pred):
    # on logits along the last axis, the loss and its mean are one op (what fit runs every step)
    opts = self._fn_kwargs
    if not isinstance(y_pred, Tensor) or opts["axis"] not in (-1, y_pred.ndim - 1):
        return None
    if not opts["from_logits"]:
        y_pred = logits_of(y_pred, "softmax")  # the logits behind a softmax layer's output, if it is one
        if y_pred is None:
            return None
    labels = y_true._value if isinstance(y_true, Tensor) else y_true
    return fused.sparse_softmax_cross_entropy(labels, y_pred, mean=True)


SparseCategoricalCrossentropy._fused_mean = _sparse_fused_mean
KLDivergence = _loss_class(
    "KLDivergence", kl_divergence, "Kullback-Leibler divergence ``KL(y_true || y_pred)``."
)
Poisson = _loss_class("Poisson", poisson, "Poisson negative log-likelihood (up to a constant).")
Hinge = _loss_class("Hinge", hinge, "Hinge loss for labels in {-1, 1} (or {0, 1}).")
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, "Squared hinge loss.")

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
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
    "mse",
    "mae",
    "mape",
    "kld",
]
