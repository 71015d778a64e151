"""Models (``tp.models``): ``Sequential``, functional ``Model(inputs, outputs)``, and subclassed ``Model``.

Example:
    >>> import numpy as np
    >>> import tapeflow as tp
    >>> model = tp.Sequential([tp.Input(shape=(4,)), tp.layers.Dense(3, activation="softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> history = model.fit(np.ones((16, 4)), np.zeros(16, dtype=int), epochs=2, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']
"""

from tapeflow.layers.naming import clear_session
from tapeflow.models.functional import Functional
from tapeflow.models.model import Model
from tapeflow.models.sequential import Sequential

_SAVING = ("clone_model", "load_model", "save_model")  # from tapeflow.saving, which builds on models


def __getattr__(name):  # the saving names load on first use, so importing the models does not import saving
    if name in _SAVING:
        from tapeflow.saving import model_io

        return getattr(model_io, name)
    raise AttributeError(f"module 'tapeflow.models' has no attribute {name!r}")


__all__ = ["Model", "Sequential", "Functional", "clear_session", "load_model", "save_model", "clone_model"]
