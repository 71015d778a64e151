"""Builders of hostile and broken ``.tapeflow`` files for the refusal tests and the fuzzer."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

GOOD_METADATA = {"format": "tapeflow", "format_version": 1, "kind": "weights", "tapeflow_version": "0.1.0"}


def zip_bytes(members, compress=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``members`` ((name, bytes) pairs, duplicates allowed), built with zipfile directly."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compress
            with _quiet():
                zf.writestr(info, data)
    return buf.getvalue()


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names, which is the point here

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def meta(**changes) -> bytes:
    return json.dumps({**GOOD_METADATA, **changes}).encode()


class Boom:
    """Unpickling this would create a marker file: the proof that a loader ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickle_payload(marker) -> bytes:
    return pickle.dumps(Boom(str(marker)))


def patch_central_sizes(blob: bytes, name: str, file_size: int) -> bytes:
    """Rewrite the uncompressed size of ``name`` in both zip headers (a lying header)."""
    out = bytearray(blob)
    encoded = name.encode()
    for sig, size_at, name_at in ((b"PK\x01\x02", 24, 46), (b"PK\x03\x04", 22, 30)):
        start = 0
        while (pos := out.find(sig, start)) >= 0:
            if out[pos + name_at:pos + name_at + len(encoded)] == encoded:
                out[pos + size_at:pos + size_at + 4] = file_size.to_bytes(4, "little")
            start = pos + 4
    return bytes(out)


def set_encrypted_flag(blob: bytes) -> bytes:
    """Set the "encrypted" bit of every entry, in the central directory and the local headers."""
    out = bytearray(blob)
    for sig, flag_at in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):
        start = 0
        while (pos := out.find(sig, start)) >= 0:
            out[pos + flag_at] |= 1
            start = pos + 4
    return bytes(out)
