"""Layer configs as JSON: a registry of known classes, :func:`serialize` and :func:`deserialize`.

:func:`serialize` gives ``{"class_name", "config"}``; :func:`deserialize` rebuilds a layer (or model) from a
registry of known classes, refusing names it does not know: nothing is imported or evaluated by name.
"""

from __future__ import annotations

import json
import threading

_REGISTRY: dict[str, type] = {}


class _CustomObjects(threading.local):
    def __init__(self):
        self.stack = []


_custom = _CustomObjects()


def register_serializable(cls=None, *, name=None):
    """Class decorator: make ``cls`` known to :func:`deserialize` under ``name`` (default: the class name).

    Example:
        >>> import tapeflow as tp
        >>> @tp.layers.register_serializable
        ... class Twice(tp.layers.Layer):
        ...     def call(self, x):
        ...         return x * 2.0
        >>> tp.layers.deserialize(tp.layers.serialize(Twice(name="t"))).name
        't'
    """

    def add(c):
        _REGISTRY[name or c.__name__] = c
        return c

    return add if cls is None else add(cls)


def get_registered(class_name, custom_objects=None):
    """The class registered (or passed in ``custom_objects``) under ``class_name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    for scope in [custom_objects or {}, *reversed(_custom.stack)]:
        if class_name in scope:
            return scope[class_name]
    try:
        return _REGISTRY[class_name]
    except KeyError:
        raise ValueError(
            f"Unknown layer class {class_name!r}. Known classes: {sorted(_REGISTRY)}. For your own classes, "
            f"decorate them with @tp.layers.register_serializable or pass "
            f"custom_objects={{{class_name!r}: cls}}."
        ) from None


def serialize(layer) -> dict:
    """``{"class_name": ..., "config": ...}`` for a layer (or model); plain JSON data only.

    Raises:
        TypeError: when the layer's config holds something JSON cannot represent.
    """
    config = layer.get_config()
    try:
        json.dumps(config)
    except TypeError as e:
        raise TypeError(
            f"serialize: the config of layer '{layer.name}' ({type(layer).__name__}) is not JSON data: {e}"
        ) from None
    return {"class_name": _registered_name(type(layer)), "config": config}


def _registered_name(cls):
    for name, c in _REGISTRY.items():
        if c is cls:
            return name
    return cls.__name__


def deserialize(config, custom_objects=None):
    """Rebuild a layer (or model) from :func:`serialize`'s output.

    Args:
        config: a dict ``{"class_name", "config"}`` (as JSON would give it back).
        custom_objects: ``{name: class_or_function}`` for user classes, activations, initializers.

    Raises:
        ValueError: for an unknown class name (never imports or evaluates anything by name).
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: expected a dict with 'class_name' and 'config'. Received: {config!r}")
    cls = get_registered(config["class_name"], custom_objects)
    _custom.stack.append(dict(custom_objects or {}))
    try:
        return cls.from_config(dict(config.get("config", {})))
    finally:
        _custom.stack.pop()


def custom_objects_in_scope() -> dict:
    """The ``custom_objects`` of the :func:`deserialize` calls now running (innermost wins)."""
    merged = {}
    for scope in _custom.stack:
        merged.update(scope)
    return merged
