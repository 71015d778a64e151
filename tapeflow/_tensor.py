"""Tensors and Variables: immutable n-d arrays, and the mutable state that models train.

A :class:`Tensor` wraps one backend array and, while a :class:`~tapeflow.GradientTape` records, the autodiff
node that produced it. Tensors are immutable; :class:`Variable` adds ``assign``/``assign_add``/``assign_sub``.
The operators (``+``, ``@``, indexing, ...) are installed by :mod:`tapeflow.ops`, which builds on this module.
"""

from __future__ import annotations

import re

import numpy as np

from tapeflow import _backend as B
from tapeflow.dtypes import as_dtype
from tapeflow.errors import ShapeError

_SCALARS = (int, float, bool)
_PY_DEFAULTS = {np.dtype("float64"): np.dtype("float32"), np.dtype("int64"): np.dtype("int32")}


def to_array(value, dtype=None):
    """Convert ``value`` to a backend array: Tensors unwrap, NumPy arrays keep their dtype, Python data get
    TensorFlow's defaults (float32, int32)."""
    if isinstance(value, Tensor):
        arr = value._value
    elif isinstance(value, B.ndarray):
        arr = value
    elif isinstance(value, (np.generic,)):
        arr = B.xp.asarray(value)
    else:
        arr = B.xp.asarray(value)
        if dtype is None:
            default = _PY_DEFAULTS.get(arr.dtype)
            if default is not None:
                arr = arr.astype(default)
    if dtype is not None:
        dtype = as_dtype(dtype)
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
    return arr


class Tensor:
    """An immutable n-d array that GradientTape can differentiate through.

    Args:
        value: array-like data (a NumPy array keeps its dtype; Python floats become float32, ints int32).
        dtype: optional dtype to cast to.

    Example:
        >>> import tapeflow as tp
        >>> t = tp.Tensor([[5.0, 21.0], [12.0, 32.0]])
        >>> t
        tapeflow.Tensor([[ 5. 21.] [12. 32.]], shape=(2, 2), dtype=float32)
        >>> t.shape, t.ndim, t.size
        ((2, 2), 2, 4)
    """

    __slots__ = ("_value", "_node", "__weakref__")
    __array_priority__ = 1000  # NumPy defers `ndarray * tensor` to Tensor.__rmul__

    def __init__(self, value, dtype=None):
        self._value = to_array(value, dtype)
        self._node = None

    # --- array facts -------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """The shape, a tuple of ints."""
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        """The element type (a NumPy dtype)."""
        return self._value.dtype

    @property
    def ndim(self) -> int:
        """The number of axes (the rank)."""
        return self._value.ndim

    rank = ndim

    @property
    def size(self) -> int:
        """The number of elements."""
        return self._value.size

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array (shares memory with the tensor: treat it as read-only)."""
        if self._node is not None or type(self) is Variable:
            _left_tape(self, "numpy()")
        return self._value

    def __array__(self, dtype=None, copy=None):
        if self._node is not None or type(self) is Variable:
            _left_tape(self, "np.asarray()")
        if dtype is not None and self._value.dtype != dtype:
            return self._value.astype(dtype)
        return self._value.copy() if copy else self._value

    def __float__(self):
        if self._node is not None or type(self) is Variable:
            _left_tape(self, "float()")
        return float(self._value)

    def __int__(self):
        if self._node is not None or type(self) is Variable:
            _left_tape(self, "int()")
        return int(self._value)

    def __index__(self):
        return self._value.__index__()

    def __bool__(self):
        if self._value.size != 1:
            raise ValueError(
                f"The truth value of a tensor with shape {self.shape} is ambiguous; use tp.reduce_any/all."
            )
        return bool(self._value)

    def __len__(self):
        if self._value.ndim == 0:
            raise TypeError("len() of a scalar tensor (shape=())")
        return self._value.shape[0]

    def __iter__(self):
        if self._value.ndim == 0:
            raise TypeError("iteration over a scalar tensor (shape=())")
        return (self[i] for i in range(self._value.shape[0]))

    __hash__ = object.__hash__

    def __setitem__(self, key, value):
        raise TypeError(
            "Tensors are immutable; use a tp.Variable and its assign(), or build a new tensor "
            "(e.g. with tp.where)."
        )

    def __reduce__(self):  # pickle and copy the value only: a tape's graph never travels with a tensor
        return (Tensor, (self._value,))

    def __repr__(self):
        return f"tapeflow.Tensor({_format(self._value)}, shape={self.shape}, dtype={self.dtype.name})"

    def __str__(self):
        return _format(self._value)


def _left_tape(t, how, into=None):
    """A tracked value leaves tapeflow (or is assigned): tell the recording tapes, for ``tape.explain``."""
    from tapeflow import _tape

    if _tape._state.recording:
        _tape.note_break(t, how, into)


def _format(value) -> str:
    value = np.asarray(value)
    if value.ndim == 0:
        return str(value[()])  # NumPy scalar: 10.0, not "10."
    return re.sub(r"\s*\n\s*", " ", np.array2string(np.asarray(value), separator=" "))


class Variable(Tensor):
    """A mutable tensor: the weights a model trains.

    A trainable Variable read inside a :class:`~tapeflow.GradientTape` is watched automatically.
    ``assign`` replaces the value with a new array, so values a tape saved earlier stay intact.

    Args:
        initial_value: array-like initial value (copied).
        trainable: whether tapes watch it automatically and optimizers update it.
        name: a name for summaries and saved files.
        dtype: optional dtype to cast to.

    Example:
        >>> import tapeflow as tp
        >>> v = tp.Variable([1.0, 2.0], name="w")
        >>> v.assign_add([1.0, 1.0])
        <tapeflow.Variable 'w' shape=(2,) dtype=float32, numpy=array([2., 3.], dtype=float32)>
    """

    __slots__ = ("trainable", "name")

    def __init__(self, initial_value, trainable=True, name=None, dtype=None):
        if callable(initial_value):
            initial_value = initial_value()
        self._value = B.xp.array(to_array(initial_value, dtype), copy=True)
        self._node = None
        self.trainable = bool(trainable)
        self.name = name or "Variable"

    def _coerce(self, value, what):
        arr = to_array(value, self.dtype)
        if arr.shape != self.shape:
            raise ShapeError(
                f"{what}: shape of the value {arr.shape} differs from the shape of Variable "
                f"'{self.name}' {self.shape}"
            )
        return arr

    def assign(self, value):
        """Set the value (same shape; cast to the variable's dtype). Returns the variable."""
        if isinstance(value, Tensor) and value._node is not None:
            _left_tape(value, "assign()", self)
        self._value = B.xp.array(self._coerce(value, "assign"), copy=True)
        return self

    def assign_add(self, delta):
        """Add ``delta`` to the value. Returns the variable."""
        if isinstance(delta, Tensor) and delta._node is not None:
            _left_tape(delta, "assign_add()", self)
        self._value = self._value + self._coerce(delta, "assign_add")
        return self

    def assign_sub(self, delta):
        """Subtract ``delta`` from the value. Returns the variable."""
        if isinstance(delta, Tensor) and delta._node is not None:
            _left_tape(delta, "assign_sub()", self)
        self._value = self._value - self._coerce(delta, "assign_sub")
        return self

    def value(self) -> Tensor:
        """The current value as a Tensor (read through the tape, so gradients flow to the variable)."""
        from tapeflow.ops import identity

        return identity(self)

    read_value = value

    def __reduce__(self):
        return (_rebuild_variable, (self._value, self.trainable, self.name))

    def __repr__(self):
        return (
            f"<tapeflow.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}, "
            f"numpy={np.asarray(self._value)!r}>"
        )


_new = object.__new__


def _rebuild_variable(value, trainable, name):
    return Variable(value, trainable=trainable, name=name)


def wrap(value, node=None) -> Tensor:
    """Make a Tensor from a backend array without copying or converting (internal fast path)."""
    t = _new(Tensor)
    t._value = value
    t._node = node
    return t
