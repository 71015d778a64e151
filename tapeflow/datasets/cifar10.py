"""CIFAR-10: 50,000 training and 10,000 test colour images of 32x32 pixels in 10 classes.

Source: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images" (2009), the Python version of
the archive (``cifar-10-python.tar.gz``, SHA-256 below). Classes 0..9 are listed in :data:`CLASS_NAMES`.
"""

from __future__ import annotations

from tapeflow.datasets._cifar import MIRRORS, read_batches
from tapeflow.datasets._source import dataset_files

SHA256 = {"cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"}
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_data(path=None, origin=None):
    """Load CIFAR-10 as ``((x_train, y_train), (x_test, y_test))``.

    Args:
        path: a local folder holding ``cifar-10-python.tar.gz`` (else ``$TAPEFLOW_DATA_DIR/cifar10``, the
            cache, or a SHA-256 verified download of 163 MiB).
        origin: a base URL to download from instead of the standard one.

    Returns:
        ``x_*`` uint8 ``(n, 32, 32, 3)`` (channels last), ``y_*`` uint8 ``(n, 1)``.

    Example:
        >>> import tapeflow as tp
        >>> (x_train, y_train), _ = tp.datasets.cifar10.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train.shape  # doctest: +SKIP
        ((50000, 32, 32, 3), (50000, 1))
    """
    (archive,) = dataset_files("cifar10", "cifar10", SHA256, MIRRORS, path=path, origin=origin)
    x_train, y_train = read_batches(archive, [f"data_batch_{i}" for i in range(1, 6)], b"labels")
    x_test, y_test = read_batches(archive, ["test_batch"], b"labels")
    return (x_train, y_train.astype("uint8").reshape(-1, 1)), (x_test, y_test.astype("uint8").reshape(-1, 1))
