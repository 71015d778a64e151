"""Bundled tables: reading the CSV files shipped in ``tapeflow/datasets/data`` into a :class:`Bunch`."""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources

import numpy as np


class Bunch(dict):
    """A dict whose keys are also attributes (``bunch.data`` is ``bunch["data"]``), as scikit-learn's.

    Example:
        >>> from tapeflow.datasets import Bunch
        >>> b = Bunch(data=[1, 2], feature_names=["a"])
        >>> b.data, b["feature_names"]
        ([1, 2], ['a'])
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"this Bunch has no {name!r}; it has {sorted(self)}") from None

    def __setattr__(self, name, value):
        self[name] = value

    def __dir__(self):
        return [*super().__dir__(), *self]

    def __repr__(self):
        parts = []
        for key, value in self.items():
            if isinstance(value, np.ndarray):
                parts.append(f"{key}=<array shape={value.shape} dtype={value.dtype}>")
            elif isinstance(value, list) and len(value) > 4:
                parts.append(f"{key}=[{', '.join(map(repr, value[:3]))}, ... ({len(value)} items)]")
            elif key == "frame" and value is not None:
                parts.append(f"frame=<DataFrame {value.shape}>")
            elif key != "DESCR":
                parts.append(f"{key}={value!r}")
        return "Bunch(" + ", ".join(parts) + ")"


def data_file_text(name: str) -> str:
    """The text of a bundled data file (``.gz`` files are decompressed)."""
    raw = resources.files("tapeflow.datasets").joinpath("data", name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def read_rows(name: str) -> list[list[str]]:
    """The rows of a bundled CSV file as lists of strings."""
    return list(csv.reader(io.StringIO(data_file_text(name))))


def column_values(rows) -> np.ndarray:
    """A float64 2-D array from rows of numeric strings."""
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)


def make_frame(data: np.ndarray, columns, index=None, index_name=None):
    """A pandas DataFrame of ``data`` (integral columns as int64, like ``read_csv``), or None without
    pandas."""
    try:
        import pandas as pd
    except ImportError:
        return None
    def column(j):
        values = data[:, j]
        return values.astype(np.int64) if np.all(values == np.round(values)) else values

    frame = pd.DataFrame({c: column(j) for j, c in enumerate(columns)}, index=index)
    if index_name is not None:
        frame.index.name = index_name
    return frame


def tabular_bunch(values, feature_names, row_names, descr, index=None, index_name=None, **extra) -> Bunch:
    """The Bunch every tabular loader returns: data (float32), feature_names, row_names, frame, DESCR, extras.

    ``values`` is the float64 table as parsed; the frame keeps those exact values.
    """
    index = row_names if index is None else index
    frame = make_frame(values, feature_names, index=index, index_name=index_name)
    return Bunch(data=values.astype(np.float32), feature_names=list(feature_names), row_names=list(row_names),
                 frame=frame, DESCR=descr, **extra)
