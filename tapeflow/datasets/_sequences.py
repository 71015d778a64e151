"""The word-index sequences of IMDB and Reuters, prepared as Keras prepares them."""

from __future__ import annotations

import json

import numpy as np

from tapeflow.datasets._download import get_file

KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def shift(sequences, start_char=1, index_from=3):
    """Each sequence's word indices plus ``index_from``, after a ``start_char`` (when not None)."""
    head = [] if start_char is None else [start_char]
    return [head + [int(w) + index_from for w in s] for s in sequences]


def drop_long(sequences, labels, maxlen, name):
    """The sequences (and their labels) of at most ``maxlen`` words.

    Raises:
        ValueError: when none is left.
    """
    keep = np.array([len(s) <= maxlen for s in sequences], dtype=bool)
    if not keep.any():
        raise ValueError(f"{name}: no sequence is at most maxlen={maxlen} words long; raise `maxlen`")
    return [s for s, k in zip(sequences, keep) if k], np.asarray(labels)[keep]


def cut_vocabulary(sequences, num_words=None, skip_top=0, oov_char=2):
    """Words outside ``[skip_top, num_words)`` become ``oov_char`` (or are dropped when it is None);
    ``num_words`` defaults to the largest index present (as in Keras)."""
    if num_words is None:
        num_words = max((max(s) for s in sequences if s), default=0)
    if oov_char is None:
        return [[w for w in s if skip_top <= w < num_words] for s in sequences]
    return [[w if skip_top <= w < num_words else oov_char for w in s] for s in sequences]


def as_object_array(sequences):
    """A 1-d object array of lists (one entry per sequence)."""
    out = np.empty(len(sequences), dtype=object)
    out[:] = sequences
    return out


def word_index(fname, md5):
    """The ``{word: index}`` dictionary published beside a dataset (MD5-verified, as Keras publishes it)."""
    path = get_file(fname, KERAS_DATASETS + fname, file_hash=md5, cache_subdir="datasets")
    with open(path, encoding="utf-8") as f:
        return json.load(f)
