"""The loader shared by MNIST and Fashion-MNIST: four IDX files from a folder, the cache or a download."""

from __future__ import annotations

import os
from pathlib import Path

from tapeflow.datasets._download import DownloadError, cache_dir, get_file
from tapeflow.datasets._idx import read_idx

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
    local = _local_folder(path, folder)
    if local is not None:
        missing = [f for f in FILES if not (local / f).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{name}: {local} lacks {', '.join(missing)} (expected the four files {FILES})"
            )
        paths = [local / f for f in FILES]
    else:
        bases = [origin] if origin is not None else list(mirrors)
        try:
            paths = [
                get_file(f, [b.rstrip("/") + "/" + f for b in bases], file_hash=hashes[f],
                         cache_subdir=f"datasets/{folder}")
                for f in FILES
            ]
        except DownloadError as error:
            target = cache_dir() / "datasets" / folder
            raise DownloadError(
                f"{name}: the data files are not available offline and could not be downloaded.\n"
                f"Put the four files {', '.join(FILES)} in {target}\n"
                f"(or in $TAPEFLOW_DATA_DIR/{folder}, or pass path='folder/with/the/files').\n"
                f"Details: {error}"
            ) from error
    x_train, y_train, x_test, y_test = (read_idx(p, 3 if "images" in p.name else 1) for p in paths)
    for images, labels, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(images) != len(labels):
            raise ValueError(f"{name}: {part} has {len(images)} images but {len(labels)} labels")
    return (x_train, y_train), (x_test, y_test)


def _local_folder(path, folder: str):
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"`path` must be a folder holding {FILES}. Received: path={str(path)!r}")
        return path
    env = os.environ.get("TAPEFLOW_DATA_DIR")
    if env and (Path(env) / folder).is_dir():
        return Path(env) / folder
    return None
