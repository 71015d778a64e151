"""California housing: the 20,640 block groups of the 1990 U.S. census, 8 features each (median income,
house age, average rooms and bedrooms, population, average occupancy, latitude, longitude), and the median
house value in dollars.

Source: Pace & Barry (1997), via the StatLib archive, as prepared for Keras (``california_housing.npz``,
SHA-256 below).
"""

from __future__ import annotations

from tapeflow.datasets._safe_pickle import load_npz
from tapeflow.datasets._sequences import KERAS_DATASETS
from tapeflow.datasets._source import dataset_files
from tapeflow.datasets._split import shuffled_split

SHA256 = {"california_housing.npz": "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"}
FEATURE_NAMES = ("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude",
                 "Longitude")


def load_data(version="large", path=None, test_split=0.2, seed=113, origin=None):
    """Load California housing as ``((x_train, y_train), (x_test, y_test))``.

    Args:
        version: "large" (all 20,640 rows) or "small" (the first 600, a stand-in for Boston housing).
        path, test_split, seed, origin: as :func:`tapeflow.datasets.boston_housing.load_data` (the folder
            name is ``california_housing``).

    Example:
        >>> import tapeflow as tp
        >>> (x, y), _ = tp.datasets.california_housing.load_data(version="small")  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        (480, 8)
    """
    if version not in ("small", "large"):
        raise ValueError(f"`version` must be 'small' or 'large'. Received: version={version!r}")
    (file,) = dataset_files("california_housing", "california_housing", SHA256, [KERAS_DATASETS], path=path,
                            origin=origin)
    arrays = load_npz(file)
    x, y = arrays["x"], arrays["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    return shuffled_split(x, y, test_split, seed)
