"""IMDB movie reviews: 25,000 training and 25,000 test reviews labelled positive (1) or negative (0), each a
list of word indices (the words ranked by frequency).

Source: A. Maas et al., "Learning Word Vectors for Sentiment Analysis" (ACL 2011), as prepared for Keras
(``imdb.npz``, SHA-256 below). Loaded with the same shuffling and index conventions as Keras, so
``seed=113`` gives Keras's order.
"""

from __future__ import annotations

import numpy as np

from tapeflow.datasets._safe_pickle import load_npz
from tapeflow.datasets._sequences import (
    KERAS_DATASETS,
    as_object_array,
    cut_vocabulary,
    drop_long,
    shift,
    word_index,
)
from tapeflow.datasets._source import dataset_files

SHA256 = {"imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"}
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"


def load_data(path=None, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, origin=None):
    """Load IMDB as ``((x_train, y_train), (x_test, y_test))``.

    Args:
        path: a local folder holding ``imdb.npz`` (else ``$TAPEFLOW_DATA_DIR/imdb``, the cache, or a
            download, SHA-256 verified; see :func:`tapeflow.datasets.mnist.load_data`).
        num_words: keep the ``num_words`` most frequent words; the others become ``oov_char``.
        skip_top: also replace the ``skip_top`` most frequent words (such as "the") by ``oov_char``.
        maxlen: drop the reviews longer than this.
        seed: the shuffle's seed.
        start_char: the index that starts every review (None: none).
        oov_char: the index of the words cut out (None: drop them).
        index_from: shift the word indices by this (0..index_from-1 stay for padding, start and OOV).
        origin: a base URL to download from instead of the standard one.

    Returns:
        ``x_*``: object arrays of lists of int word indices; ``y_*``: int labels 0/1.

    Example:
        >>> import tapeflow as tp
        >>> (x_train, y_train), _ = tp.datasets.imdb.load_data(num_words=10000)  # doctest: +SKIP
        >>> len(x_train), x_train[0][:3]  # doctest: +SKIP
        (25000, [1, 14, 22])
    """
    (file,) = dataset_files("imdb", "imdb", SHA256, [KERAS_DATASETS], path=path, origin=origin)
    arrays = load_npz(file)
    rng = np.random.RandomState(seed)
    parts = []
    for x, y in ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])):
        order = np.arange(len(x))
        rng.shuffle(order)
        seqs, labels = shift(x[order], start_char, index_from), np.asarray(y)[order]
        if maxlen is not None:
            seqs, labels = drop_long(seqs, labels, maxlen, "imdb")
        parts.append((seqs, labels))
    n_train = len(parts[0][0])
    xs = as_object_array(cut_vocabulary(parts[0][0] + parts[1][0], num_words, skip_top, oov_char))
    return (xs[:n_train], parts[0][1]), (xs[n_train:], parts[1][1])


def get_word_index():
    """``{word: index}``: the index of each word in the raw data (add ``index_from`` for :func:`load_data`'s
    sequences)."""
    return word_index("imdb_word_index.json", WORD_INDEX_MD5)
