"""Weight constraints (``tp.constraints``): projections applied to a weight after each optimizer update.

A layer resolves a constraint once, when it is built (``kernel_constraint="non_neg"``, a config dict or a
callable), and the model applies it after every step. Norms are taken over ``axis`` (default 0: for a Dense
kernel ``(inputs, units)``, the incoming weights of each unit; for a Conv kernel pass ``axis=[0, 1, 2]``).

Example:
    >>> import tapeflow as tp
    >>> tp.constraints.get("non_neg")(tp.constant([-1.0, 2.0]))
    tapeflow.Tensor([0. 2.], shape=(2,), dtype=float32)
    >>> c = tp.constraints.MaxNorm(1.0)
    >>> [round(float(v), 4) for v in c(tp.constant([[3.0], [4.0]])).numpy().ravel()]
    [0.6, 0.8]
"""

from __future__ import annotations

from tapeflow import ops
from tapeflow._catalog import Catalog, Configurable

_EPSILON = 1e-7


class Constraint(Configurable):
    """Base class: ``constraint(weight)`` returns the projected value (a Tensor of the same shape)."""

    def __call__(self, w):
        return w


def _axes(axis):
    return axis if isinstance(axis, int) else [int(a) for a in axis]


def _norms(w, axis):
    return ops.sqrt(ops.sum(ops.square(w), axis=_axes(axis), keepdims=True))


class NonNeg(Constraint):
    """Clamp every entry at zero from below.

    Formula:
        ``w = max(w, 0)``
    """

    def __call__(self, w):
        return ops.maximum(w, 0.0)


class MaxNorm(Constraint):
    """Rescale the slices along ``axis`` whose L2 norm exceeds ``max_value`` down to ``max_value``.

    Formula:
        ``w = w * clip(norm, 0, max_value) / (epsilon + norm)``, ``norm = sqrt(sum(w**2, axis))``
    """

    def __init__(self, max_value=2.0, axis=0):
        if float(max_value) <= 0:
            raise ValueError(f"`max_value` must be positive. Received: max_value={max_value}")
        self.max_value, self.axis = float(max_value), _axes(axis)

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (ops.clip(norms, 0.0, self.max_value) / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(Constraint):
    """Scale the slices along ``axis`` to unit L2 norm.

    Formula:
        ``w = w / (epsilon + sqrt(sum(w**2, axis)))``
    """

    def __init__(self, axis=0):
        self.axis = _axes(axis)

    def __call__(self, w):
        return w / (_EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Keep the L2 norm of the slices along ``axis`` within ``[min_value, max_value]``; ``rate`` < 1 moves
    only part of the way there per step.

    Formula:
        ``target = rate * clip(norm, min_value, max_value) + (1 - rate) * norm``;
        ``w = w * target / (epsilon + norm)``
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        if not 0 <= float(min_value) <= float(max_value):
            raise ValueError(
                f"`min_value` and `max_value` must satisfy 0 <= min_value <= max_value. "
                f"Received: min_value={min_value}, max_value={max_value}"
            )
        if not 0 < float(rate) <= 1:
            raise ValueError(f"`rate` must be in (0, 1]. Received: rate={rate}")
        self.min_value, self.max_value, self.rate = float(min_value), float(max_value), float(rate)
        self.axis = _axes(axis)

    def __call__(self, w):
        norms = _norms(w, self.axis)
        target = self.rate * ops.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (target / (_EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


_ALIASES = {"non_neg": NonNeg, "nonneg": NonNeg, "max_norm": MaxNorm, "unit_norm": UnitNorm,
            "min_max_norm": MinMaxNorm}
_CATALOG = Catalog("constraint", [NonNeg, MaxNorm, UnitNorm, MinMaxNorm], aliases=_ALIASES)

# Keras's function-style names
non_neg, max_norm, unit_norm, min_max_norm = NonNeg, MaxNorm, UnitNorm, MinMaxNorm


def get(identifier):
    """Resolve a constraint from None, a name (``"non_neg"``, ``"max_norm"``, ``"unit_norm"``,
    ``"min_max_norm"`` or a class name), a config dict, or a callable (kept as it is).

    Raises:
        ValueError: for an unknown name, listing the known ones.
        TypeError: for anything else.
    """
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return _CATALOG.lookup(identifier)()
    raise TypeError(f"Cannot interpret {identifier!r} as a constraint. Received: {type(identifier).__name__}")


def serialize(constraint):
    """A JSON-ready ``{"class_name", "config"}`` (None stays None).

    Raises:
        ValueError: for a constraint that is not a built-in one (a plain function has no config).
    """
    return None if constraint is None else _CATALOG.serialize(constraint)


def deserialize(config, custom_objects=None):
    """The constraint :func:`serialize` described (unknown class names are refused)."""
    return None if config is None else _CATALOG.deserialize(config, custom_objects)


__all__ = ["Constraint", "NonNeg", "MaxNorm", "UnitNorm", "MinMaxNorm", "non_neg", "max_norm", "unit_norm",
           "min_max_norm", "get", "serialize", "deserialize"]
