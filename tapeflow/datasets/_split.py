"""Shuffle a table with a seed and split it into train and test parts, as Keras's regression datasets do."""

from __future__ import annotations

import numpy as np


def shuffled_split(x, y, test_split, seed):
    """``((x_train, y_train), (x_test, y_test))``: the rows shuffled by ``RandomState(seed)``, the first
    ``int(n * (1 - test_split))`` for training.

    Raises:
        ValueError: for ``test_split`` outside [0, 1).
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"`test_split` must be in [0, 1). Received: test_split={test_split}")
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
