"""Optimizers (``tp.optimizers``): SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion, Lamb,
Adafactor, Ftrl, and schedules.

Example:
    >>> import tapeflow as tp
    >>> tp.optimizers.get("adam")
    <Adam learning_rate=0.001 iterations=0>
"""

from tapeflow._catalog import Catalog
from tapeflow.optimizers import schedules
from tapeflow.optimizers.adadelta import Adadelta
from tapeflow.optimizers.adafactor import Adafactor
from tapeflow.optimizers.adagrad import Adagrad
from tapeflow.optimizers.adam import Adam, Adamax, AdamW, Nadam
from tapeflow.optimizers.base import Optimizer
from tapeflow.optimizers.ftrl import Ftrl
from tapeflow.optimizers.lamb import Lamb
from tapeflow.optimizers.lion import Lion
from tapeflow.optimizers.rmsprop import RMSprop
from tapeflow.optimizers.sgd import SGD

_CLASSES = {c.__name__: c for c in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion, Lamb,
                                    Adafactor, Ftrl)}
_NAMES = {name.lower(): cls for name, cls in _CLASSES.items()}
_CATALOG = Catalog("optimizer", _CLASSES.values(), aliases=_NAMES, fold_case=True)


def get(identifier):
    """Resolve an optimizer from a name (``"adam"``, ``"sgd"``, ...), an instance or a config dict.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _CATALOG.lookup(identifier)
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(f"Cannot interpret {identifier!r} as an optimizer")


def serialize(optimizer) -> dict:
    """``{"class_name", "config"}`` (JSON data) for a built-in optimizer."""
    return _CATALOG.serialize(optimizer)


def deserialize(config, custom_objects=None):
    """The optimizer described by :func:`serialize`'s output (unknown class names are refused)."""
    return _CATALOG.deserialize(config, custom_objects, nested=True)


__all__ = ["Optimizer", "get", "serialize", "deserialize", "schedules", *_CLASSES]
