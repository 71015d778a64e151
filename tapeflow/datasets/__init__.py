"""Datasets: MNIST, Fashion-MNIST, CIFAR-10/100, IMDB, Reuters, Boston and California housing (downloaded
once, verified, cached) and small real datasets bundled inside the package (digits, iris, mtcars,
airline_passengers, sunspots), all offline-friendly.

Example:
    >>> import tapeflow as tp
    >>> (x_train, y_train), (x_test, y_test) = tp.datasets.digits.load_data()
    >>> tp.datasets.mtcars.load_data().data.shape
    (32, 11)
"""

from tapeflow.datasets import (
    airline_passengers,
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    digits,
    fashion_mnist,
    imdb,
    iris,
    mnist,
    mtcars,
    reuters,
    sunspots,
)
from tapeflow.datasets._download import DownloadError, cache_dir, get_file
from tapeflow.datasets._tabular import Bunch

__all__ = [
    "mnist", "fashion_mnist", "digits", "iris", "mtcars", "airline_passengers", "sunspots", "Bunch",
    "DownloadError", "cache_dir", "get_file", "imdb", "reuters", "boston_housing", "california_housing",
    "cifar10", "cifar100",
]
