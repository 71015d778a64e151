"""Name-to-class catalogs for the JSON configs of losses, metrics, optimizers, schedules, initializers and
regularizers: ``{"class_name": ..., "config": {...}}`` in, the object out, and unknown names refused.

Example:
    >>> from tapeflow._catalog import Catalog, Configurable
    >>> class Half(Configurable):
    ...     def __init__(self, scale=0.5):
    ...         self.scale = scale
    ...     def get_config(self):
    ...         return {"scale": self.scale}
    >>> shapes = Catalog("shape", [Half])
    >>> shapes.deserialize(shapes.serialize(Half(0.25))).scale
    0.25
    >>> shapes.deserialize({"class_name": "Circle", "config": {}})
    Traceback (most recent call last):
    ...
    ValueError: Unknown shape class 'Circle'. Choose one of ['Half'].
"""

from __future__ import annotations


class Configurable:
    """Base of objects rebuilt from ``get_config()``: the constructor takes the config as keywords."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Catalog:
    """The built-in classes of one kind, by class name.

    Args:
        kind: what they are, for messages (``"loss"``, ``"optimizer"``, ...).
        classes: the classes.
        aliases: short names users write (``"mse"``), mapped to classes.
        fold_case: look names up in lower case (``"Adam"`` finds ``"adam"``).
    """

    def __init__(self, kind, classes, aliases=None, fold_case=False):
        self.kind = kind
        self.classes = {c.__name__: c for c in classes}
        self.aliases = dict(aliases or {})
        self.fold_case = fold_case

    def lookup(self, name):
        """The class a user's string names: an alias (``"mse"``) or a class name (``"MeanSquaredError"``).

        Raises:
            ValueError: for an unknown name, listing the aliases.
        """
        key = name.lower() if self.fold_case else name
        cls = self.aliases.get(key) or self.classes.get(key)
        if cls is None:
            raise ValueError(f"Unknown {self.kind} {name!r}. Choose one of {sorted(self.aliases)}.")
        return cls

    def serialize(self, obj) -> dict:
        """``{"class_name", "config"}`` for a built-in object.

        Raises:
            ValueError: for an object whose class is not in the catalog.
        """
        name = type(obj).__name__
        if self.classes.get(name) is not type(obj):
            raise ValueError(f"Cannot serialize {self.kind} {obj!r}: not a built-in tapeflow {self.kind}")
        return {"class_name": name, "config": obj.get_config()}

    def deserialize(self, config, custom_objects=None, nested=False):
        """The object a :meth:`serialize` output describes (``custom_objects`` may add classes by name;
        ``nested`` passes them on to ``from_config`` for objects holding other serialized objects).

        Raises:
            ValueError: for an unknown class name, listing the known ones.
        """
        name = config["class_name"]
        cls = (custom_objects or {}).get(name) or self.classes.get(name)
        if cls is None:
            raise ValueError(f"Unknown {self.kind} class {name!r}. Choose one of {sorted(self.classes)}.")
        inner = dict(config.get("config", {}))
        return cls.from_config(inner, custom_objects) if nested else cls.from_config(inner)
