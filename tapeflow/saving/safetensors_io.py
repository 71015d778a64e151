"""The safetensors format, written and read with NumPy alone, and read defensively.

A safetensors file is an 8-byte little-endian header length ``n``, ``n`` bytes of JSON naming each array's
dtype, shape and byte range, then the raw little-endian bytes. It holds data only, so loading one can never
run code. tapeflow writes it itself (no dependency beyond NumPy) and the tests check that the ``safetensors``
package reads what we write and that we read what it writes.

The reader trusts nothing: the header length, the JSON, every dtype, shape and byte range are checked, the
ranges must tile the data exactly, and each array's size must follow from its shape before a byte is copied.

Example:
    >>> import numpy as np
    >>> from tapeflow.saving import safetensors_io
    >>> blob = safetensors_io.dumps({"w": np.arange(3, dtype="float32")}, metadata={"epoch": "2"})
    >>> arrays, meta = safetensors_io.loads(blob)
    >>> arrays["w"], meta
    (array([0., 1., 2.], dtype=float32), {'epoch': '2'})
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import NamedTuple

import numpy as np

from tapeflow import _backend as B
from tapeflow.saving.atomic import atomic_write
from tapeflow.saving.errors import FileFormatError
from tapeflow.saving.files import read_regular

_CODES = {
    "BOOL": "|b1", "U8": "|u1", "I8": "|i1", "U16": "<u2", "I16": "<i2", "F16": "<f2", "U32": "<u4",
    "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8", "F64": "<f8",
}
_DTYPE_CODES = {np.dtype(v).newbyteorder("=") if v[0] == "<" else np.dtype(v): k for k, v in _CODES.items()}

MAX_HEADER_BYTES = 100 * 2**20  # the safetensors package's own limit
MAX_NAME_CHARS = 1024
MAX_NDIM = 32
_MAX_NUMPY_BYTES = 2**63 - 1  # NumPy refuses a shape whose nonzero sizes multiply past this


def _code(name, arr) -> str:
    try:
        return _DTYPE_CODES[arr.dtype.newbyteorder("=")]
    except KeyError:
        raise TypeError(
            f"safetensors: cannot store array {name!r} of dtype {arr.dtype}; "
            f"supported: {sorted(str(np.dtype(v)) for v in _CODES.values())}"
        ) from None


def _prepare(tensors):
    """Check names and turn values into little-endian C-contiguous arrays, in a stable order."""
    out = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS or name == "__metadata__":
            raise ValueError(f"safetensors: array names must be non-empty strings other than '__metadata__' "
                             f"of at most {MAX_NAME_CHARS} characters. Received: {name!r}")
        arr = B.to_numpy(value)  # a device array comes to the host here, once
        _code(name, arr)
        if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and np.little_endian is False):
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
        out[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")
    return out


def write(f, tensors: dict, metadata: dict | None = None) -> int:
    """Write ``tensors`` (name -> array) in safetensors format to the binary file ``f``; return bytes written.

    Args:
        f: a binary file object open for writing.
        tensors: a mapping of names to arrays (bool, int8-64, uint8-64, float16/32/64).
        metadata: optional mapping of strings to strings stored in the header.

    Raises:
        TypeError: for an unsupported dtype or non-string metadata.
        ValueError: for a bad array name.
    """
    arrays = _prepare(tensors)
    header = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("safetensors: metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, arr in arrays.items():
        header[name] = {"dtype": _code(name, arr), "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data start 8-byte aligned, as the reference writer does
    f.write(len(text).to_bytes(8, "little"))
    f.write(text)
    for arr in arrays.values():
        f.write(memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else b"")
    return 8 + len(text) + offset


def dumps(tensors: dict, metadata: dict | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (see :func:`write`)."""
    buf = io.BytesIO()
    write(buf, tensors, metadata)
    return buf.getvalue()


def no_duplicate_keys(pairs) -> dict:
    """``json.loads`` hook: a JSON object as a dict, refusing a key that appears twice (which a lenient
    parser would silently resolve one way and another parser the other).

    Raises:
        FileFormatError: naming the key.
    """
    out = {}
    for key, value in pairs:
        if key in out:
            raise FileFormatError(f"duplicate key {key!r}")
        out[key] = value
    return out


MAX_INT_DIGITS = 100  # far past any size, offset or generator state; Python itself stops at 4300


def bounded_int(text: str) -> int:
    """``json.loads`` hook for integers: refuse one of more than :data:`MAX_INT_DIGITS` digits (Python's
    own refusal, past 4300 digits, would escape as a bare ValueError, and each such number costs quadratic
    time to convert).

    Raises:
        FileFormatError: naming the number of digits.
    """
    if len(text) > MAX_INT_DIGITS:
        raise FileFormatError(f"an integer of {len(text)} digits (limit {MAX_INT_DIGITS})")
    return int(text)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _parse_header(data, what):
    if len(data) < 8:
        raise FileFormatError(f"{what}: truncated: {len(data)} bytes, but a safetensors file starts with an "
                              f"8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES:
        raise FileFormatError(f"{what}: header length {n} is absurd (limit {MAX_HEADER_BYTES} bytes)")
    if 8 + n > len(data):
        raise FileFormatError(f"{what}: truncated: the header claims {n} bytes but only "
                              f"{len(data) - 8} follow")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"), object_pairs_hook=no_duplicate_keys,
                            parse_int=bounded_int)
    except FileFormatError as e:
        raise FileFormatError(f"{what}: {e}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FileFormatError(f"{what}: the header is not valid JSON ({type(e).__name__}: {e})") from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{what}: the header must be a JSON object, got {type(header).__name__}")
    return header, 8 + n


def _check_entry(name, entry, what):
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise FileFormatError(f"{what}: entry {name!r} must be an object with exactly 'dtype', 'shape' and "
                              f"'data_offsets'")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in _CODES:
        hint = " (bfloat16 has no NumPy dtype)" if code == "BF16" else ""
        raise FileFormatError(f"{what}: entry {name!r} has unsupported dtype {code!r}{hint}; "
                              f"choose one of {sorted(_CODES)}")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(_is_int(d) and d >= 0 for d in shape)):
        raise FileFormatError(f"{what}: entry {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise FileFormatError(f"{what}: entry {name!r} has invalid data_offsets {offsets!r}")
    dtype = np.dtype(_CODES[code])
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: an absurd shape cannot overflow
    if nbytes != offsets[1] - offsets[0]:
        raise FileFormatError(f"{what}: entry {name!r} of shape {tuple(shape)} and dtype {code} needs "
                              f"{nbytes} bytes but its data_offsets {offsets} span {offsets[1] - offsets[0]}")
    if math.prod(d for d in shape if d) * dtype.itemsize > _MAX_NUMPY_BYTES:  # NumPy's own bound, zeros aside
        raise FileFormatError(f"{what}: entry {name!r} has shape {shape!r}, too large for any array")
    return dtype, tuple(shape), offsets


class Header(NamedTuple):
    """What a safetensors header declares, checked: ``arrays`` (name -> ``(shape, dtype)``, in file order),
    ``metadata``, ``data_start`` (where the data begin) and ``nbytes`` (how many data bytes follow)."""

    arrays: dict
    metadata: dict
    data_start: int
    nbytes: int

    @property
    def size(self) -> int:
        """The size of the whole safetensors data the header describes."""
        return self.data_start + self.nbytes


def _entries(header, what):
    """``(metadata, [(name, dtype, shape, (begin, end)), ...])`` from a parsed header, every entry checked
    and the byte ranges tiling the data exactly (no gap, no overlap)."""
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise FileFormatError(f"{what}: '__metadata__' must map strings to strings")
    entries = []
    for name, entry in header.items():
        if not name or len(name) > MAX_NAME_CHARS:
            raise FileFormatError(f"{what}: array name of {len(name)} characters "
                                  f"(allowed 1 to {MAX_NAME_CHARS})")
        entries.append((name, *_check_entry(name, entry, what)))
    position = 0
    for name, _, _, (begin, end) in sorted(entries, key=lambda e: (e[3][0], e[3][1])):
        if begin != position:
            problem = "overlaps the previous array" if begin < position else "leaves a gap before it"
            raise FileFormatError(f"{what}: the data of entry {name!r} at bytes {begin}..{end} {problem}")
        position = end
    return metadata, entries, position


def read_header(f, what: str = "safetensors data") -> Header:
    """Read and check only the header of the safetensors data in the binary stream ``f`` (positioned at its
    start), so a loader can compare what a file declares with what it expects before reading the arrays.

    Raises:
        FileFormatError: as :func:`loads`, for everything the header alone shows.
    """
    head = f.read(8)
    n = int.from_bytes(head, "little") if len(head) == 8 else 0
    if len(head) < 8 or n > MAX_HEADER_BYTES:
        _parse_header(head, what)  # raises the message for a truncated or absurd length
    text = f.read(n)
    header, start = _parse_header(head + text, what)
    metadata, entries, nbytes = _entries(header, what)
    return Header({name: (shape, dtype) for name, dtype, shape, _ in entries}, metadata, start, nbytes)


def loads(data, what: str = "safetensors data", copy: bool = True) -> tuple[dict, dict]:
    """Parse safetensors bytes into ``(arrays, metadata)``, refusing anything malformed.

    Args:
        data: the file's bytes (``bytes``, ``bytearray`` or ``memoryview``).
        what: how error messages name the data (e.g. the file path).
        copy: return writable arrays of their own; False returns read-only views into ``data`` where the
            byte order allows (for callers that copy anyway, such as ``Variable.assign``).

    Returns:
        ``(arrays, metadata)``: a dict of name -> writable NumPy array (native byte order) in file order, and
        the header's ``__metadata__`` dict of strings (empty if absent).

    Raises:
        FileFormatError: truncated data, an absurd header length, invalid JSON, an unsupported dtype, a shape
            that does not match its byte range, ranges that overlap, leave gaps or run past the end.
    """
    data = memoryview(data).cast("B")
    header, start = _parse_header(data, what)
    metadata, entries, position = _entries(header, what)
    buffer = data[start:]
    if position != len(buffer):
        if position > len(buffer):
            raise FileFormatError(f"{what}: truncated: the header describes {position} data bytes but only "
                                  f"{len(buffer)} are present")
        raise FileFormatError(f"{what}: {len(buffer) - position} unexpected bytes after the last array")
    arrays = {}
    for name, dtype, shape, (begin, end) in entries:
        arr = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape)
        native = dtype.newbyteorder("=")
        arrays[name] = arr.astype(native, copy=True) if copy or not arr.dtype.isnative else arr
    return arrays, metadata


def save_file(path, tensors: dict, metadata: dict | None = None) -> None:
    """Write ``tensors`` to a ``.safetensors`` file atomically (see :func:`write`)."""
    with atomic_write(path) as f:
        write(f, tensors, metadata)


def load_file(path, max_bytes: int = 8 * 2**30, with_metadata: bool = False, copy: bool = True):
    """Read a ``.safetensors`` file: name -> array (and the metadata dict if ``with_metadata``; ``copy`` as
    for :func:`loads`).

    Raises:
        FileFormatError: if the file is malformed, larger than ``max_bytes`` or not a regular file (a FIFO
            is refused without blocking).

    Memory: one buffer of the file's size, plus the arrays when ``copy`` (none is reserved up front).
    """
    what = repr(os.fspath(path))
    data = read_regular(path, max_bytes)
    arrays, metadata = loads(data, what, copy=copy)
    return (arrays, metadata) if with_metadata else arrays
