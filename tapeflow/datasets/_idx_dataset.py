"""The loader shared by MNIST and Fashion-MNIST: four IDX files from a folder, the cache or a download."""

from __future__ import annotations

from tapeflow.datasets._idx import read_idx
from tapeflow.datasets._source import dataset_files

FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)


def load_idx_dataset(name: str, folder: str, hashes: dict, mirrors: tuple, path=None, origin=None):
    """Load ``((x_train, y_train), (x_test, y_test))`` for an MNIST-format dataset.

    Where the files come from, first match wins: ``path`` (a folder holding the four ``.gz`` files), then
    ``$TAPEFLOW_DATA_DIR/<folder>``, then the cache (``<cache>/datasets/<folder>``), then a download from
    ``origin`` (a base URL) or the standard mirrors. Downloads are SHA-256 verified.
    """
    paths = dataset_files(name, folder, {f: hashes[f] for f in FILES}, mirrors, path=path, origin=origin)
    x_train, y_train, x_test, y_test = (read_idx(p, 3 if "images" in p.name else 1) for p in paths)
    for images, labels, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(images) != len(labels):
            raise ValueError(f"{name}: {part} has {len(images)} images but {len(labels)} labels")
    return (x_train, y_train), (x_test, y_test)
