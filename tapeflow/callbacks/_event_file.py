"""A small writer of TensorBoard event files, with no TensorFlow and no protobuf library.

An event file is a sequence of records (the TFRecord framing): ``uint64 length``, ``uint32
masked_crc32c(length)``, ``data``, ``uint32 masked_crc32c(data)``, little-endian, where ``data`` is one
serialized ``Event`` protocol buffer (tensorflow/core/util/event.proto). Only the fields TensorBoard reads for
scalars, histograms and graphs are written:

* ``Event``: ``wall_time`` (1, double), ``step`` (2, int64), ``file_version`` (3, string), ``graph_def``
  (4, bytes), ``summary`` (5, Summary);
* ``Summary``: ``value`` (1, repeated Value); ``Value``: ``tag`` (1, string), ``simple_value`` (2, float),
  ``histo`` (5, HistogramProto);
* ``HistogramProto``: ``min`` (1), ``max`` (2), ``num`` (3), ``sum`` (4), ``sum_squares`` (5) as doubles,
  ``bucket_limit`` (6) and ``bucket`` (7) as packed doubles;
* ``GraphDef``: ``node`` (1, repeated NodeDef); ``NodeDef``: ``name`` (1), ``op`` (2), ``input`` (3,
  repeated string).

Example:
    >>> hex(crc32c(b"123456789"))  # the standard check value of CRC-32C
    '0xe3069283'
"""

from __future__ import annotations

import os
import socket
import struct
import time

import numpy as np

# --- CRC-32C (Castagnoli), the checksum of TFRecord framing -----------------------------------------------
_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    """The CRC-32C of ``data``."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked checksum: rotate right by 15 bits and add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


# --- protocol-buffer wire format --------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values take ten bytes, as protobuf writes them
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def _string(field: int, value: str) -> bytes:
    return _bytes(field, value.encode("utf-8"))


def _double(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(value))


def _float(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", float(value))


def _int64(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(int(value))


def _packed_doubles(field: int, values) -> bytes:
    return _bytes(field, np.asarray(values, dtype="<f8").tobytes())


def event(wall_time: float, step: int = 0, *, file_version=None, summary=None, graph_def=None) -> bytes:
    """One serialized ``Event``."""
    out = _double(1, wall_time) + _int64(2, step)
    if file_version is not None:
        out += _string(3, file_version)
    if graph_def is not None:
        out += _bytes(4, graph_def)
    if summary is not None:
        out += _bytes(5, summary)
    return out


def scalar_summary(tag: str, value: float) -> bytes:
    """A ``Summary`` holding one scalar."""
    return _bytes(1, _string(1, tag) + _float(2, value))


def histogram_buckets(values, bins=30):
    """``(bucket_limit, bucket)``: right edges and counts of ``bins`` equal-width buckets (one bucket for
    constant data)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return [hi], [float(values.size)]
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return edges[1:].tolist(), counts.astype(np.float64).tolist()


def histogram_summary(tag: str, values, bins=30) -> bytes:
    """A ``Summary`` holding one histogram of ``values`` (finite ones)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        values = np.zeros(1)
    limits, counts = histogram_buckets(values, bins)
    histo = (_double(1, values.min()) + _double(2, values.max()) + _double(3, values.size)
             + _double(4, values.sum()) + _double(5, np.square(values).sum()) + _packed_doubles(6, limits)
             + _packed_doubles(7, counts))
    return _bytes(1, _string(1, tag) + _bytes(5, histo))


def graph_def(nodes) -> bytes:
    """A ``GraphDef`` of ``nodes``: ``(name, op, [input names])`` triples."""
    out = b""
    for name, op, inputs in nodes:
        node = _string(1, name) + _string(2, op) + b"".join(_string(3, i) for i in inputs)
        out += _bytes(1, node)
    return out


class EventFileWriter:
    """Append events to a new file ``events.out.tfevents.<time>.<host>.<pid>.<n>.v2`` in ``logdir`` (created
    if needed); the first event names the file format, as TensorFlow's writer does.

    Example:
        >>> import tempfile
        >>> with EventFileWriter(tempfile.mkdtemp()) as w:
        ...     w.add_scalar("loss", 0.5, step=1)
    """

    _count = 0

    def __init__(self, logdir):
        os.makedirs(logdir, exist_ok=True)
        EventFileWriter._count += 1
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}."
                f"{EventFileWriter._count}.v2")
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "wb")  # noqa: SIM115 - kept open while training runs
        self._write(event(time.time(), file_version="brain.Event:2"))

    def _write(self, data: bytes):
        self._file.write(record(data))

    def add_scalar(self, tag, value, step):
        self._write(event(time.time(), step, summary=scalar_summary(tag, value)))

    def add_histogram(self, tag, values, step, bins=30):
        self._write(event(time.time(), step, summary=histogram_summary(tag, values, bins)))

    def add_graph(self, nodes):
        self._write(event(time.time(), graph_def=graph_def(nodes)))

    def flush(self):
        self._file.flush()

    def close(self):
        if not self._file.closed:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
