"""Reading IDX files (the MNIST format): a big-endian header (magic number, dimensions), then uint8 data."""

from __future__ import annotations

import gzip
import zlib

import numpy as np


def read_idx(path, ndim: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes with ``ndim`` dimensions.

    Raises:
        ValueError: when the file is not a complete IDX file of that kind, naming the file.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: not a readable gzip file ({error}); delete it and load again") from error
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:4] != bytes([0, 0, 8, ndim]):
        raise ValueError(f"{path}: not an IDX file of {ndim}-D unsigned bytes (magic {raw[:4].hex()})")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(
            f"{path}: IDX header says {dims} ({expected} bytes) but the file has {len(raw)} bytes"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)
