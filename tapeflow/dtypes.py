"""Data types and the promotion rules.

tapeflow's dtypes are NumPy dtypes: ``tp.float32 is numpy.dtype("float32")``. The rules:

* Python floats become ``float32`` and Python ints ``int32`` (TensorFlow's defaults); ``bool`` stays ``bool``.
* NumPy arrays keep their dtype.
* A Python scalar never upcasts a tensor: ``float16_tensor * 2.5`` is ``float16``, ``int32_tensor + 1`` is
  ``int32`` (NumPy's "weak scalar" rule, NEP 50).
* Two tensors of different dtypes promote as NumPy does (``float32 + float64 -> float64``); use
:func:`tp.cast`
  to choose explicitly.

Example:
    >>> import tapeflow as tp
    >>> tp.constant(1.5).dtype, tp.constant(2).dtype
    (dtype('float32'), dtype('int32'))
    >>> (tp.constant([1.0, 2.0], dtype="float16") * 2.5).dtype
    dtype('float16')
"""

from __future__ import annotations

import numpy as np

from tapeflow.errors import DTypeError

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

_NAMES = {
    "float16": float16, "half": float16, "float32": float32, "float": float32, "float64": float64,
    "double": float64, "int8": int8, "int16": int16, "int32": int32, "int64": int64, "uint8": uint8,
    "bool": bool_,
}
floatx = float32


def _bfloat16():
    """bfloat16 as a NumPy dtype, from the optional ``ml_dtypes`` package (NumPy has none of its own)."""
    try:
        import ml_dtypes
    except ImportError:
        raise DTypeError(
            "bfloat16 needs the ml_dtypes package (NumPy has no bfloat16 of its own): pip install ml_dtypes. "
            "float16 or float32 work without it."
        ) from None
    return np.dtype(ml_dtypes.bfloat16)


def __getattr__(name):
    if name == "bfloat16":
        return _bfloat16()
    raise AttributeError(f"module 'tapeflow.dtypes' has no attribute {name!r}")


def as_dtype(dtype) -> np.dtype | None:
    """Return the NumPy dtype named by ``dtype`` (a string, NumPy type or dtype); ``None`` stays ``None``.

    ``"bfloat16"`` works when the ``ml_dtypes`` package is installed (a clear error says so otherwise).

    Raises:
        DTypeError: for a name tapeflow does not know.
    """
    if dtype is None or isinstance(dtype, np.dtype):
        return dtype
    if dtype == "bfloat16":
        return _bfloat16()
    if isinstance(dtype, str):
        try:
            return _NAMES[dtype]
        except KeyError:
            raise DTypeError(f"Unknown dtype {dtype!r}. Choose one of {sorted(_NAMES)}.") from None
    if dtype is bool:
        return bool_
    if dtype is float:
        return float32
    if dtype is int:
        return int32
    try:
        out = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"Unknown dtype {dtype!r}. Choose one of {sorted(_NAMES)}.") from None
    if out.kind not in "biufc" and out.name != "bfloat16":  # records, strings, objects: not tensor dtypes
        raise DTypeError(f"{dtype!r} is not a numeric dtype. Choose one of {sorted(_NAMES)}.")
    return out


def python_default(dtype) -> np.dtype:
    """The dtype TensorFlow gives Python data that NumPy reads as ``dtype``: float64 becomes float32 and
    int64 int32 (``tp.constant(1.5)`` is float32); other dtypes stay.

    Example:
        >>> python_default(np.asarray([1.5]).dtype), python_default(np.dtype("bool"))
        (dtype('float32'), dtype('bool'))
    """
    dtype = np.dtype(dtype)
    return _PYTHON_DEFAULTS.get(dtype, dtype)


_PYTHON_DEFAULTS = {np.dtype("float64"): np.dtype("float32"), np.dtype("int64"): np.dtype("int32")}


def is_floating(dtype) -> bool:
    """True for float16/32/64 (and bfloat16)."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or dtype.name == "bfloat16"

