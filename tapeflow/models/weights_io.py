"""Model weights on disk: ``model.save_weights(path)`` / ``model.load_weights(path)``.

The file is a small self-describing binary format (no pickle, nothing executed on load): the magic line
``TAPEFLOW-WEIGHTS 1\\n``, an 8-byte little-endian header length, a JSON header listing each weight's name,
dtype,
shape and byte offset, then the raw little-endian data. It is written atomically (temporary file, fsync,
rename), so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

from tapeflow.errors import ShapeError

MAGIC = b"TAPEFLOW-WEIGHTS 1\n"
_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}


def save_weights(variables, path):
    """Write ``variables`` (objects with ``name`` and ``numpy()``) to ``path`` atomically."""
    from tapeflow.saving.atomic import atomic_write

    arrays = [np.ascontiguousarray(v.numpy()) for v in variables]
    entries, offset = [], 0
    for v, a in zip(variables, arrays):
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        entries.append(
            {
                "name": v.name,
                "dtype": a.dtype.name,
                "shape": list(a.shape),
                "offset": offset,
                "nbytes": a.nbytes,
            }
        )
        offset += a.nbytes
    header = json.dumps({"format": 1, "weights": entries}).encode()
    with atomic_write(os.fspath(path)) as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for a in arrays:
            f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())


def read_weights(path) -> list:
    """The ``(name, array)`` pairs stored in ``path``.

    Raises:
        ValueError: when the file is not a tapeflow weights file or is truncated.
    """
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path}: not a tapeflow weights file (it does not start with {MAGIC!r})")
    start = len(MAGIC)
    (n,) = struct.unpack("<Q", data[start : start + 8])
    header = json.loads(data[start + 8 : start + 8 + n])
    base = start + 8 + n
    out = []
    for e in header["weights"]:
        if e["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: unsupported dtype {e['dtype']!r} for weight {e['name']!r}")
        lo, hi = base + e["offset"], base + e["offset"] + e["nbytes"]
        if hi > len(data):
            raise ValueError(f"{path}: truncated file (weight {e['name']!r} runs past the end)")
        arr = np.frombuffer(data[lo:hi], dtype=np.dtype(e["dtype"]).newbyteorder("<")).reshape(e["shape"])
        out.append((e["name"], arr.astype(np.dtype(e["dtype"]), copy=True)))
    return out


def load_weights(variables, path):
    """Set ``variables`` (in order) from the file at ``path``.

    Raises:
        ValueError: when the number of weights differs; ShapeError when a shape does.
    """
    stored = read_weights(path)
    if len(stored) != len(variables):
        raise ValueError(
            f"load_weights: {path} holds {len(stored)} weights; the model has {len(variables)}. "
            f"Is it the same architecture?"
        )
    for v, (name, arr) in zip(variables, stored):
        if tuple(arr.shape) != tuple(v.shape):
            raise ShapeError(
                f"load_weights: weight '{v.name}' has shape {v.shape}; the file's '{name}' has shape "
                f"{arr.shape}"
            )
    for v, (_, arr) in zip(variables, stored):
        v.assign(arr)
