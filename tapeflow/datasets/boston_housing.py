"""Boston housing prices: 506 Boston suburbs of the 1970s, 13 features each, and the median home value in
thousands of dollars.

Source: Harrison & Rubinfeld (1978), via the StatLib archive, as prepared for Keras (``boston_housing.npz``,
SHA-256 below). The data has a known ethical problem (feature ``B`` encodes the share of Black residents);
Keras keeps it for its book examples and recommends :mod:`tapeflow.datasets.california_housing` instead.
"""

from __future__ import annotations

from tapeflow.datasets._safe_pickle import load_npz
from tapeflow.datasets._sequences import KERAS_DATASETS
from tapeflow.datasets._source import dataset_files
from tapeflow.datasets._split import shuffled_split

SHA256 = {"boston_housing.npz": "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"}


def load_data(path=None, test_split=0.2, seed=113, origin=None):
    """Load Boston housing as ``((x_train, y_train), (x_test, y_test))``: 404 training and 102 test rows with
    the default split.

    Args:
        path: a local folder holding ``boston_housing.npz`` (else ``$TAPEFLOW_DATA_DIR/boston_housing``, the
            cache, or a SHA-256 verified download).
        test_split: the fraction of rows kept for testing.
        seed: the shuffle's seed (113: Keras's split).
        origin: a base URL to download from instead of the standard one.

    Example:
        >>> import tapeflow as tp
        >>> (x_train, y_train), _ = tp.datasets.boston_housing.load_data()  # doctest: +SKIP
        >>> x_train.shape  # doctest: +SKIP
        (404, 13)
    """
    (file,) = dataset_files("boston_housing", "boston_housing", SHA256, [KERAS_DATASETS], path=path,
                            origin=origin)
    arrays = load_npz(file)
    return shuffled_split(arrays["x"], arrays["y"], test_split, seed)
