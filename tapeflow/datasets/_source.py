"""Where a downloaded dataset's files come from, first match wins: a ``path`` folder, then
``$TAPEFLOW_DATA_DIR/<folder>``, then the cache (``<cache>/datasets/<folder>``), then a SHA-256 verified
download from ``origin`` (a base URL) or the dataset's mirrors. Shared by every downloaded dataset."""

from __future__ import annotations

import os
from pathlib import Path

from tapeflow.datasets._download import DownloadError, cache_dir, get_file


def dataset_files(name: str, folder: str, hashes: dict, mirrors, path=None, origin=None) -> list:
    """The local paths of the files named by ``hashes`` (``{file name: sha256}``), in that order.

    Raises:
        FileNotFoundError: a ``path`` (or data-dir folder) that lacks some of the files.
        DownloadError: offline with nothing cached; the message says where to put the files.
    """
    files = list(hashes)
    local = _local_folder(path, folder, files)
    if local is not None:
        missing = [f for f in files if not (local / f).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{name}: {local} lacks {', '.join(missing)} (expected the files {files})")
        return [local / f for f in files]
    bases = [origin] if origin is not None else list(mirrors)
    try:
        return [get_file(f, [b.rstrip("/") + "/" + f for b in bases], file_hash=hashes[f],
                         cache_subdir=f"datasets/{folder}") for f in files]
    except DownloadError as error:
        target = cache_dir() / "datasets" / folder
        raise DownloadError(
            f"{name}: the data files are not available offline and could not be downloaded.\n"
            f"Put the files {', '.join(files)} in {target}\n"
            f"(or in $TAPEFLOW_DATA_DIR/{folder}, or pass path='folder/with/the/files').\n"
            f"Details: {error}"
        ) from error


def _local_folder(path, folder: str, files):
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"`path` must be a folder holding {files}. Received: path={str(path)!r}")
        return path
    env = os.environ.get("TAPEFLOW_DATA_DIR")
    if env and (Path(env) / folder).is_dir():
        return Path(env) / folder
    return None
