"""The CIFAR archives: pickled batches of 32x32 colour images inside a ``.tar.gz``, read in memory (nothing
is extracted to disk) by the arrays-only unpickler."""

from __future__ import annotations

import tarfile

import numpy as np

from tapeflow.datasets._safe_pickle import load_pickle

MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)


def read_batches(archive, names, label_key):
    """``(images, labels)`` of the batches ``names`` (member base names) of a CIFAR archive: uint8
    ``(n, 32, 32, 3)`` channels last, and the labels under ``label_key``.

    Raises:
        ValueError: for a missing batch or a malformed one, naming it.
    """
    images, labels = [], []
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        for name in names:
            if name not in members:
                raise ValueError(f"{archive}: the archive has no batch {name!r}")
            batch = load_pickle(tar.extractfile(members[name]).read(), encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3072:
                raise ValueError(f"{archive}: batch {name!r} holds data of shape {data.shape}, "
                                 "expected (n, 3072)")
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[label_key]))
    return np.concatenate(images), np.concatenate(labels)
