"""Keep and share models: the ``.tapeflow`` file format, safe loading, atomic writes, ONNX export.

A ``.tapeflow`` file is a zip of JSON (architecture, compile settings, metadata) and safetensors (weights,
optimizer state). Loading one builds only registered tapeflow classes and those passed in ``custom_objects``;
it never unpickles, never imports a module named by the file, and refuses truncated, oversized or hostile
files with a :class:`FileFormatError` or :class:`UnsafeFileError` that says what is wrong. Every save is
atomic. ``BackupAndRestore`` (also ``tp.callbacks.BackupAndRestore``) makes training resumable.

Example:
    >>> import numpy as np, os, tempfile
    >>> import tapeflow as tp
    >>> path = os.path.join(tempfile.mkdtemp(), "arrays.safetensors")
    >>> tp.saving.save_arrays(path, {"w": np.eye(2, dtype="float32")})
    >>> tp.saving.load_arrays(path)["w"]
    array([[1., 0.],
           [0., 1.]], dtype=float32)
"""

from __future__ import annotations

from tapeflow.saving.archive import DEFAULT_LIMITS, Limits
from tapeflow.saving.atomic import atomic_write
from tapeflow.saving.errors import FileFormatError, UnsafeFileError
from tapeflow.saving.model_io import clone_model, describe, load_model, load_weights, save_model, save_weights
from tapeflow.saving.safetensors_io import load_file as load_arrays
from tapeflow.saving.safetensors_io import save_file as save_arrays


def export(model, filepath, format="onnx", **kwargs):
    """Export ``model`` for inference outside tapeflow. ``format="onnx"`` (the only one) calls
    :func:`tapeflow.saving.onnx_export.export_onnx`.

    Raises:
        ValueError: for another format.
    """
    if format != "onnx":
        raise ValueError(f"`format` must be 'onnx'. Received: format={format!r}")
    from tapeflow.saving.onnx_export import export_onnx

    return export_onnx(model, filepath, **kwargs)


def __getattr__(name):
    if name == "BackupAndRestore":  # it builds on tapeflow.callbacks: imported on first use
        from tapeflow.saving.backup import BackupAndRestore

        return BackupAndRestore
    raise AttributeError(f"module 'tapeflow.saving' has no attribute {name!r}")


__all__ = [
    "FileFormatError", "UnsafeFileError", "Limits", "DEFAULT_LIMITS", "atomic_write", "save_arrays",
    "load_arrays", "save_model", "load_model", "save_weights", "load_weights", "clone_model", "describe",
    "export",
    "BackupAndRestore",
]
