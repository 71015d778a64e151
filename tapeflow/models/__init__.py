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
from tapeflow.saving.model_io import clone_model, load_model, save_model

__all__ = ["Model", "Sequential", "Functional", "clear_session", "load_model", "save_model", "clone_model"]
