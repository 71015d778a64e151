"""CIFAR-100: 50,000 training and 10,000 test colour images of 32x32 pixels in 100 classes (grouped into 20
superclasses).

Source: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images" (2009), the Python version of
the archive (``cifar-100-python.tar.gz``, SHA-256 below).
"""

from __future__ import annotations

from tapeflow.datasets._cifar import MIRRORS, read_batches
from tapeflow.datasets._source import dataset_files

SHA256 = {"cifar-100-python.tar.gz": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"}


def load_data(label_mode="fine", path=None, origin=None):
    """Load CIFAR-100 as ``((x_train, y_train), (x_test, y_test))``.

    Args:
        label_mode: "fine" (the 100 classes) or "coarse" (the 20 superclasses).
        path: a local folder holding ``cifar-100-python.tar.gz`` (else ``$TAPEFLOW_DATA_DIR/cifar100``, the
            cache, or a SHA-256 verified download of 161 MiB).
        origin: a base URL to download from instead of the standard one.

    Returns:
        ``x_*`` uint8 ``(n, 32, 32, 3)`` (channels last), ``y_*`` int64 ``(n, 1)``.

    Example:
        >>> import tapeflow as tp
        >>> (x_train, y_train), _ = tp.datasets.cifar100.load_data(label_mode="coarse")  # doctest: +SKIP
        >>> int(y_train.max())  # doctest: +SKIP
        19
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"`label_mode` must be 'fine' or 'coarse'. Received: label_mode={label_mode!r}")
    (archive,) = dataset_files("cifar100", "cifar100", SHA256, MIRRORS, path=path, origin=origin)
    key = f"{label_mode}_labels".encode()
    x_train, y_train = read_batches(archive, ["train"], key)
    x_test, y_test = read_batches(archive, ["test"], key)
    return (x_train, y_train.astype("int64").reshape(-1, 1)), (x_test, y_test.astype("int64").reshape(-1, 1))
