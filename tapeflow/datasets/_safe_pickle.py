"""Reading the pickled parts of published datasets (the CIFAR batches, IMDB's and Reuters' lists of word
indices in ``.npz`` object arrays) without running code from the file.

A pickle can call any importable function; this unpickler allows only what those files hold: NumPy's own
array reconstruction (``ndarray``, ``dtype``, ``_reconstruct``, ``scalar``, and ``codecs.encode`` for the
array bytes of protocol-2 pickles). Anything else is refused before it is called. The downloads are SHA-256
verified too; this keeps a swapped file in ``$TAPEFLOW_DATA_DIR`` harmless as well.
"""

from __future__ import annotations

import importlib
import io
import pickle
import zipfile

import numpy as np

_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"), ("codecs", "encode"),  # how protocol 2 writes the bytes of an array
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle named something other than NumPy's array reconstruction."""


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(f"the data file's pickle names {module}.{name}; only NumPy arrays are "
                                    "accepted. Refused; nothing was run")
        module = module.replace("numpy.core.", "numpy._core.") if hasattr(np, "_core") else module
        return getattr(importlib.import_module(module), name)


def load_pickle(data: bytes, encoding="ASCII"):
    """Unpickle ``data`` that holds only containers, numbers, strings and NumPy arrays.

    Example:
        >>> load_pickle(pickle.dumps({"x": np.arange(3)}))["x"]
        array([0, 1, 2])
        >>> try:
        ...     load_pickle(pickle.dumps(print))
        ... except UnsafePickleError as error:
        ...     print(str(error)[:44])
        the data file's pickle names builtins.print;
    """
    return _ArraysOnly(io.BytesIO(data), encoding=encoding).load()


def load_npz(path) -> dict:
    """``{name: array}`` of an ``.npz`` file; object arrays are unpickled by :func:`load_pickle`."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                if dtype.hasobject:
                    array = np.asarray(load_pickle(f.read(), encoding="latin1"), dtype=object)
                else:
                    array = np.frombuffer(f.read(), dtype=dtype).reshape(shape, order="F" if fortran else "C")
            out[member.removesuffix(".npy")] = array
    return out
