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


def mutations(blob: bytes):
    """Byte flips, overwrites with special values, truncations and insertions of a valid blob."""
    from hypothesis import strategies as s

    position = s.integers(0, len(blob) - 1)
    flip = s.tuples(s.just("flip"), position, s.integers(1, 255))
    special = s.sampled_from([0, 0x7F, 0x80, 0xFF, ord("["), ord('"'), ord("9")])
    put = s.tuples(s.just("put"), position, special)
    cut = s.tuples(s.just("cut"), position, s.just(0))
    insert = s.tuples(s.just("insert"), position, s.integers(0, 255))
    edits = s.lists(s.one_of(flip, put, cut, insert), min_size=1, max_size=4)
    return edits.map(lambda ops: _apply(blob, ops))


def _apply(blob, ops):
    out = bytearray(blob)
    for kind, pos, value in ops:
        pos = min(pos, max(len(out) - 1, 0))
        if not out:
            break
        if kind == "flip":
            out[pos] ^= value
        elif kind == "put":
            out[pos] = value
        elif kind == "cut":
            del out[pos:]
        else:
            out.insert(pos, value)
    return bytes(out)


def json_positions(obj):
    """Every (container, key) position in a JSON tree (iterative), for editing one value in place."""
    out, stack = [], [obj]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key))
            stack.append(value)
    return out


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


# --- running loaders under a memory limit -----------------------------------------------------------------
LIMIT_PROLOGUE = """
import resource, sys
import numpy, tapeflow  # imported first: the limit bounds what loading adds, not the interpreter

def _vm_bytes():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))

resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + int(sys.argv[1]), resource.RLIM_INFINITY))
"""


def run_limited(code: str, extra_bytes: int, timeout: float, args=()):
    """Run ``code`` in a fresh interpreter whose address space may grow by ``extra_bytes`` past what
    importing tapeflow takes (``resource.setrlimit(RLIMIT_AS)``), killed after ``timeout`` seconds.

    Returns the ``subprocess.CompletedProcess`` (text output). Linux only (it reads /proc).
    """
    import os
    import subprocess
    import sys

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("address-space limits are measured through /proc (Linux)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", LIMIT_PROLOGUE + code, str(extra_bytes), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)
