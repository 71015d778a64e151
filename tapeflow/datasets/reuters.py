"""Reuters newswires: 11,228 short news stories in 46 topics, each a list of word indices (the words ranked by
frequency).

Source: the Reuters-21578 collection (Distribution 1.0, D. D. Lewis), as prepared for Keras
(``reuters.npz``, SHA-256 below). Shuffled and split as Keras does, so ``seed=113`` gives Keras's split.
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

SHA256 = {"reuters.npz": "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"}
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"


def load_data(path=None, num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3, origin=None):
    """Load Reuters as ``((x_train, y_train), (x_test, y_test))``.

    Args:
        test_split: the fraction of the stories kept for the test set.
        Others: as :func:`tapeflow.datasets.imdb.load_data`.

    Returns:
        ``x_*``: object arrays of lists of int word indices; ``y_*``: int topics 0..45.

    Example:
        >>> import tapeflow as tp
        >>> (x_train, y_train), (x_test, y_test) = tp.datasets.reuters.load_data()  # doctest: +SKIP
        >>> len(x_train), len(x_test)  # doctest: +SKIP
        (8982, 2246)
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"`test_split` must be in [0, 1). Received: test_split={test_split}")
    (file,) = dataset_files("reuters", "reuters", SHA256, [KERAS_DATASETS], path=path, origin=origin)
    arrays = load_npz(file)
    order = np.arange(len(arrays["x"]))
    np.random.RandomState(seed).shuffle(order)
    seqs, labels = shift(arrays["x"][order], start_char, index_from), np.asarray(arrays["y"])[order]
    if maxlen is not None:
        seqs, labels = drop_long(seqs, labels, maxlen, "reuters")
    xs = as_object_array(cut_vocabulary(seqs, num_words, skip_top, oov_char))
    cut = int(len(xs) * (1 - test_split))
    return (xs[:cut], labels[:cut]), (xs[cut:], labels[cut:])


def get_word_index():
    """``{word: index}``: the index of each word in the raw data (add ``index_from`` for :func:`load_data`'s
    sequences)."""
    return word_index("reuters_word_index.json", WORD_INDEX_MD5)
