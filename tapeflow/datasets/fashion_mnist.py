"""Fashion-MNIST: 60,000 training and 10,000 test images of 28×28 grey clothing photos in 10 classes.

Source: Zalando Research, github.com/zalandoresearch/fashion-mnist (the four IDX files). License: MIT,
Copyright (c) 2017 Zalando SE. Classes 0..9 are listed in :data:`CLASS_NAMES`.
"""

from __future__ import annotations

from tapeflow.datasets._idx_dataset import load_idx_dataset

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)
SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}


def load_data(path=None, origin=None):
    """Load Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``.

    Where the files come from works as in :func:`tapeflow.datasets.mnist.load_data`, with the folder name
    ``fashion-mnist`` (``$TAPEFLOW_DATA_DIR/fashion-mnist``, ``<cache>/datasets/fashion-mnist``).

    Args:
        path: a local folder holding the four ``*-ubyte.gz`` files (checked first).
        origin: a base URL to download from instead of the standard mirrors.

    Returns:
        uint8 arrays: images (60000, 28, 28) and (10000, 28, 28), labels (60000,) and (10000,), 6,000 and
        1,000 per class.

    Raises:
        DownloadError: offline with nothing cached; the message says where to put the files.

    Example:
        >>> import tapeflow as tp
        >>> (x_train, y_train), _ = tp.datasets.fashion_mnist.load_data()  # doctest: +SKIP
        >>> tp.datasets.fashion_mnist.CLASS_NAMES[y_train[0]]  # doctest: +SKIP
        'Ankle boot'
    """
    return load_idx_dataset("fashion_mnist", "fashion-mnist", SHA256, MIRRORS, path=path, origin=origin)
