"""tapeflow: a NumPy-native deep-learning framework.

Tensors and their operations, automatic differentiation with ``GradientTape``, and (in subpackages)
Keras-style layers, models and training. Users write ``import tapeflow as tp``.

Example:
    >>> import tapeflow as tp
    >>> tp.multiply([[1, 3], [2, 4]], [[5, 7], [6, 8]])
    tapeflow.Tensor(
    [[ 5 21]
     [12 32]], shape=(2, 2), dtype=int32)
"""

from __future__ import annotations

import importlib
import os

from tapeflow import _alloc, _env, autodiff, dtypes, random
from tapeflow._backend import backend, get_backend, set_backend
from tapeflow._printing import get_printoptions, printoptions, r_view, set_printoptions
from tapeflow._tensor import Tensor, Variable
from tapeflow.autodiff import GradientTape, check_gradients, custom_gradient, grad, value_and_grad
from tapeflow.control_flow import cond, fori_loop, while_loop
from tapeflow.creation import (
    arange,
    as_tensor,
    constant,
    convert_to_tensor,
    eye,
    fill,
    full,
    linspace,
    one_hot,
    ones,
    range,
    zeros,
)
from tapeflow.dtypes import bool_, float16, float32, float64, int8, int16, int32, int64, uint8
from tapeflow.errors import DTypeError, ShapeError
from tapeflow.ops import *  # noqa: F403 - NumPy's names at the top level
from tapeflow.ops import __all__ as _ops_all
from tapeflow.tracing import TensorSpec, TracingError, function
from tapeflow.tracing import print as print  # noqa: A004 - TensorFlow's tf.print

set_backend(os.environ.get("TAPEFLOW_BACKEND", "").strip() or "numpy")  # after the ops bind NumPy's ufuncs
if _env.flag("TAPEFLOW_MALLOPT"):  # opt-in: a process-wide glibc setting (see tapeflow/_alloc.py)
    _alloc.tune()

bool = bool_  # noqa: A001 - TensorFlow's name, tp.bool
# TensorFlow's top-level reduction names (tf.reduce_sum, ...), as in tp.math
reduce_sum, reduce_mean, reduce_max, reduce_min, reduce_prod = sum, mean, max, min, prod  # noqa: F405
reduce_std, reduce_variance, reduce_logsumexp = std, var, logsumexp  # noqa: F405
__version__ = "0.1.0"


def _draw_tape(tape, target, **kwargs):
    """``GradientTape.graph``'s drawer: :func:`tapeflow.plot.tape`, imported on the first drawing."""
    return importlib.import_module("tapeflow.plot").tape(tape, target, **kwargs)


autodiff.register_graph_drawer(_draw_tape)  # the core imports nothing above it; the top plugs the drawing in

# Subpackages load on first use, so `import tapeflow` stays fast and optional extras stay optional.
_LAZY_MODULES = {
    "math", "nn", "linalg", "layers", "models", "losses", "metrics", "optimizers", "callbacks", "activations",
    "initializers", "regularizers", "constraints", "data", "datasets", "utils", "plot", "experiments",
    "distributed", "wrappers", "saving", "preprocessing", "ops",
}
_LAZY_ATTRS = {
    "Sequential": "tapeflow.models",
    "Model": "tapeflow.models",
    "Input": "tapeflow.layers",
    "array_reshape": "tapeflow.utils",
}


def __dir__():  # tab completion lists the lazily loaded names too
    return sorted(set(globals()) | _LAZY_MODULES | set(_LAZY_ATTRS) | {"keras", "bfloat16"})


def __getattr__(name):
    if name == "bfloat16":
        return dtypes.bfloat16
    if name == "keras":  # `import tapeflow as tf` then `tf.keras.layers...`: the same names
        return importlib.import_module("tapeflow")
    if name in _LAZY_MODULES:
        return importlib.import_module(f"tapeflow.{name}")
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
    raise AttributeError(f"module 'tapeflow' has no attribute {name!r}")


__all__ = [
    "Tensor", "Variable", "GradientTape", "constant", "as_tensor", "convert_to_tensor", "zeros", "ones",
    "fill",
    "full", "eye", "range", "arange", "linspace", "one_hot", "grad", "value_and_grad", "custom_gradient",
    "check_gradients", "set_printoptions", "get_printoptions", "printoptions", "r_view", "ShapeError",
    "DTypeError", "random", "dtypes", "set_backend", "get_backend", "backend", "float16", "float32",
    "float64", "int8", "int16", "int32", "int64", "uint8", "bool", "reduce_sum", "reduce_mean", "reduce_max",
    "reduce_min", "reduce_prod", "reduce_std", "reduce_variance", "reduce_logsumexp", "function",
    "cond", "while_loop", "fori_loop", "TensorSpec", "TracingError", "print", *_ops_all,
]
