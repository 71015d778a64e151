"""Weight regularizers (``tp.regularizers``): penalties added to the training loss.

Example:
    >>> import tapeflow as tp
    >>> reg = tp.regularizers.l2(0.01)
    >>> round(float(reg(tp.constant([1.0, -2.0]))), 6)
    0.05
"""

from __future__ import annotations

from tapeflow import ops
from tapeflow._catalog import Catalog, Configurable


class Regularizer(Configurable):
    """Base class: ``reg(weight)`` returns a scalar penalty tensor."""

    def __call__(self, x):
        raise NotImplementedError


def _check(name, value):
    value = float(value)
    if value < 0:
        raise ValueError(f"`{name}` must be non-negative. Received: {name}={value}")
    return value


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``.

    Formula:
        ``penalty = l1 * sum(abs(x)) + l2 * sum(square(x))``
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _check("l1", l1), _check("l2", l2)

    def __call__(self, x):
        total = None
        if self.l1:
            total = self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            term = self.l2 * ops.sum(ops.square(x))
            total = term if total is None else total + term
        return total if total is not None else ops.sum(ops.zeros_like(x))

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)``."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)``."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1=0.01):  # noqa: E741
    """An :class:`L1` regularizer."""
    return L1(l1)


def l2(l2=0.01):
    """An :class:`L2` regularizer."""
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):  # noqa: E741
    """An :class:`L1L2` regularizer."""
    return L1L2(l1, l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2}
_CATALOG = Catalog("regularizer", _CLASSES.values(), aliases=_NAMES)


def get(identifier):
    """Resolve a regularizer from None, a name (``"l1"``, ``"l2"``, ``"l1_l2"``), a config dict or a callable.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _CATALOG.lookup(identifier)
        return cls()
    raise TypeError(f"Cannot interpret {identifier!r} as a regularizer")


def serialize(regularizer):
    """A JSON-ready ``{"class_name", "config"}`` (None stays None)."""
    return None if regularizer is None else _CATALOG.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """The regularizer described by :func:`serialize`'s output (unknown class names are refused)."""
    return None if config is None else _CATALOG.deserialize(config, custom_objects)


__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize", "deserialize"]
