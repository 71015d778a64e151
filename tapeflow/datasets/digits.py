"""Digits: 1,797 handwritten digits as 8×8 images of counts 0..16 (the copy scikit-learn ships).

Source: the UCI ML "Optical Recognition of Handwritten Digits" data set, test part (E. Alpaydin and C. Kaynak,
1998; CC BY 4.0 in the UCI repository): 32×32 bitmaps summed over 4×4 blocks. Bundled file: PyPI
``scikit-learn`` 1.9.1, ``sklearn/datasets/data/digits.csv.gz`` (BSD-3-Clause package), sha256
``09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22``; identical to ``load_digits()``.
Class counts 0..9: 178, 182, 177, 183, 181, 182, 181, 179, 174, 180.
"""

from __future__ import annotations

import numpy as np

from tapeflow.datasets._tabular import column_values, read_rows
from tapeflow.utils._split import train_test_split


def load_data(test_split=0.25, seed=0):
    """Load the digits as Keras-style ``((x_train, y_train), (x_test, y_test))``.

    The split is stratified (each digit keeps its share in both parts) and fixed by ``seed``.

    Args:
        test_split: the fraction (or count) of images in the test part.
        seed: the split's seed.

    Returns:
        ``x`` uint8 images of shape ``(n, 8, 8)`` with values 0..16, ``y`` uint8 labels 0..9;
        1,347 training and 450 test images with the defaults.

    Example:
        >>> import tapeflow as tp
        >>> (x_train, y_train), (x_test, y_test) = tp.datasets.digits.load_data()
        >>> x_train.shape, x_test.shape, x_train.dtype, int(x_train.max())
        ((1347, 8, 8), (450, 8, 8), dtype('uint8'), 16)
    """
    values = column_values(read_rows("digits.csv.gz")).astype(np.uint8)
    x, y = values[:, :64].reshape(-1, 8, 8), values[:, 64]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_split, stratify=y, seed=seed)
    return (x_train, y_train), (x_test, y_test)
