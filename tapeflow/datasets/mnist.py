"""MNIST handwritten digits: 60,000 training and 10,000 test images of 28×28 grey pixels, labels 0–9.

Source: Y. LeCun, C. Cortes and C. J. C. Burges, the MNIST database (derived from NIST data), the four
original IDX files (the same bytes Keras, torchvision and TFDS check against). License: made available under
the terms of the Creative Commons Attribution-Share Alike 3.0 license (Keras and TensorFlow docs).
"""

from __future__ import annotations

from tapeflow.datasets._idx_dataset import load_idx_dataset

MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def load_data(path=None, origin=None):
    """Load MNIST as ``((x_train, y_train), (x_test, y_test))``.

    The files are read from ``path`` (a folder with the four ``*-ubyte.gz`` files) or
    ``$TAPEFLOW_DATA_DIR/mnist`` when given; otherwise from the cache (``$TAPEFLOW_HOME`` or
    ``~/.cache/tapeflow``, under ``datasets/mnist``), downloading them once (SHA-256 verified) if needed.

    Args:
        path: a local folder holding the files (checked first).
        origin: a base URL to download from instead of the standard mirrors.

    Returns:
        ``x_train`` uint8 (60000, 28, 28), ``y_train`` uint8 (60000,), ``x_test`` uint8 (10000, 28, 28),
        ``y_test`` uint8 (10000,); pixels 0..255, labels 0..9.

    Raises:
        DownloadError: offline with nothing cached; the message says where to put the files.

    Example:
        >>> import tapeflow as tp
        >>> (x_train, y_train), (x_test, y_test) = tp.datasets.mnist.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train[:5]  # doctest: +SKIP
        ((60000, 28, 28), array([5, 0, 4, 1, 9], dtype=uint8))
    """
    return load_idx_dataset("mnist", "mnist", SHA256, MIRRORS, path=path, origin=origin)
