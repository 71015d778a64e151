"""``keras.preprocessing.sequence``: padding lists of sequences (see :mod:`tapeflow.utils`)."""

from tapeflow.utils import pad_sequences

__all__ = ["pad_sequences"]
