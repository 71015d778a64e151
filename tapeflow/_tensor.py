"""Tensors and Variables: immutable n-d arrays, and the mutable state that models train.

A :class:`Tensor` wraps one backend array and, while a :class:`~tapeflow.GradientTape` records, the autodiff
node that produced it. Tensors are immutable; :class:`Variable` adds ``assign``/``assign_add``/``assign_sub``.
The operators (``+``, ``@``, indexing, ...) are installed by :mod:`tapeflow.ops`, which builds on this module.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from tapeflow import _backend as B
from tapeflow import _printing
from tapeflow._trace import host as _host
from tapeflow._trace import python_value as _python_value
from tapeflow._trace import state as _trace
from tapeflow.dtypes import as_dtype, python_default
from tapeflow.errors import ShapeError

_SCALARS = (int, float, bool)


def to_array(value, dtype=None):
    """Convert ``value`` to a backend array: Tensors unwrap, NumPy arrays keep their dtype, Python data get
    TensorFlow's defaults (float32, int32)."""
    if isinstance(value, Tensor):
        arr = value._value
    elif isinstance(value, B.ndarray):
        arr = value
    elif isinstance(value, (np.ndarray, np.generic)):  # host data keep their dtype
        arr = B.xp.asarray(value)
    else:
        arr = B.xp.asarray(value)
        if dtype is None:
            default = python_default(arr.dtype)
            if default != arr.dtype:
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
        tapeflow.Tensor(
        [[ 5. 21.]
         [12. 32.]], shape=(2, 2), dtype=float32)
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
        """The value as a read-only NumPy array (on the NumPy backend no copy: it shares memory with the
        tensor, and writing into it raises ``ValueError``; other backends copy it to the host). ``.copy()`` it
        to get an array you can change."""
        if _trace.recorder is not None:
            _python_value(self, "numpy()")
        if self._node is not None or type(self) is Variable:
            _left_tape(self, "numpy()")
        return _read_only(B.to_numpy(self._value))

    def __array__(self, dtype=None, copy=None):
        if _trace.recorder is not None:
            _python_value(self, "np.asarray()")
        if self._node is not None or type(self) is Variable:
            _left_tape(self, "np.asarray()")
        value = B.to_numpy(self._value)  # the one way out of the backend (a fresh copy off NumPy)
        if dtype is not None and value.dtype != dtype:
            return value.astype(dtype)
        if copy:
            return value.copy() if value is self._value else value
        return _read_only(value)

    def __float__(self):
        if _trace.recorder is not None:
            _python_value(self, "float()")
        if self._node is not None or type(self) is Variable:
            _left_tape(self, "float()")
        return float(self._value)

    def __int__(self):
        if _trace.recorder is not None:
            _python_value(self, "int()")
        if self._node is not None or type(self) is Variable:
            _left_tape(self, "int()")
        return int(self._value)

    def __index__(self):
        if _trace.recorder is not None:
            _python_value(self, "an index")
        return self._value.__index__()

    def __bool__(self):
        if _trace.recorder is not None:
            _python_value(self, "bool() (an `if` or `while` on a tensor)")
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
        return _printing.tensor_repr(B.to_numpy(self._value), self.shape, self.dtype.name)

    def __str__(self):
        return _printing.values_text(B.to_numpy(self._value))

    def _repr_html_(self):  # notebooks
        value = B.to_numpy(self._value)
        return _printing.tensor_html(value, self.shape, self.dtype.name, type(self).__name__)

    def __format__(self, spec):
        """``f"{t:.2f}"`` formats a scalar tensor's value as the Python number would be; no spec gives str."""
        if not spec:
            return str(self)
        if self._value.ndim == 0:
            return format(self._value.item(), spec)
        raise TypeError(f"format spec {spec!r} needs a scalar tensor; this one has shape {self.shape}")


def _read_only(arr):
    """A read-only view of ``arr``: what a Tensor hands out, so no one writes into a value a tape saved or a
    Variable holds. (The view keeps ``arr`` alive, which :meth:`Variable._buffer` sees: a Variable updated
    while such a view lives writes into a fresh copy, and the view keeps the old value.)"""
    if arr.__class__ is not np.ndarray:
        return arr  # a backend array (CuPy, ...): no read-only flag to set
    view = arr.view()
    view.flags.writeable = False
    return view


def _left_tape(t, how, into=None):
    """A tracked value leaves tapeflow (or is assigned): tell the recording tapes, for ``tape.explain``.
    (``tapeflow._tape``, which builds on this module, installs the listener: this module imports nothing
    above it.)"""
    if _break_listener is not None:
        _break_listener(t, how, into)


_break_listener = None  # set by tapeflow._tape: note_break, when tapes record


class Variable(Tensor):
    """A mutable tensor: the weights a model trains.

    A trainable Variable read inside a :class:`~tapeflow.GradientTape` is watched automatically.

    Value semantics: an update (``assign*``, an optimizer step) never reaches a value already taken from the
    Variable: what a tape saved, a Tensor made from it (``tp.identity(v)``, ``v[0]``, ``tp.reshape(v, ...)``,
    ...), or ``v.numpy()``. ``assign*`` build a new array; optimizers update the array in place through
    :meth:`_buffer`, which copies it first when anything else still holds it (copy-on-write), so a training
    step whose tape has been released updates in place without copying.

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
        dtype = self._value.dtype
        # as TensorFlow: say why gradients will be None
        if self.trainable and dtype.kind not in "fc" and dtype.name != "bfloat16":
            warnings.warn(
                f"Variable '{self.name}' has dtype {self._value.dtype.name}, so tapes cannot differentiate "
                f"with respect to it (its gradient is None). Write a float, as in tp.Variable(0.0), or pass "
                f"dtype='float32'; pass trainable=False for a counter.",
                UserWarning,
                stacklevel=2,
            )
        if _trace.recorder is not None:
            _trace.recorder.created(self)

    def _coerce(self, value, what):
        arr = to_array(value, self.dtype)
        if arr.shape != self.shape:
            raise ShapeError(
                f"{what}: shape of the value {arr.shape} differs from the shape of Variable "
                f"'{self.name}' {self.shape}"
            )
        return arr

    @_host(returns=lambda self, value: self)  # in a tp.function: on every call, not while tracing
    def assign(self, value):
        """Set the value (same shape; cast to the variable's dtype). Returns the variable."""
        if isinstance(value, Tensor) and value._node is not None:
            _left_tape(value, "assign()", self)
        self._value = B.xp.array(self._coerce(value, "assign"), copy=True)
        return self

    @_host(returns=lambda self, delta: self)
    def assign_add(self, delta):
        """Add ``delta`` to the value. Returns the variable."""
        if isinstance(delta, Tensor) and delta._node is not None:
            _left_tape(delta, "assign_add()", self)
        self._value = self._value + self._coerce(delta, "assign_add")
        return self

    @_host(returns=lambda self, delta: self)
    def assign_sub(self, delta):
        """Subtract ``delta`` from the value. Returns the variable."""
        if isinstance(delta, Tensor) and delta._node is not None:
            _left_tape(delta, "assign_sub()", self)
        self._value = self._value - self._coerce(delta, "assign_sub")
        return self

    def _buffer(self):
        """The Variable's own array, for an in-place update: writable, C-contiguous, and held by nothing else
        (it is copied first when a Tensor, a tape, a view or a caller still holds it; copy-on-write).

        Whether anything else holds the array is read from its reference count (and ``base``, for an
        array that is itself a view): a Tensor, a saved tape node or a NumPy view all keep a reference, so
        an array only this Variable holds is exactly one no one else can see change. The count is compared
        with the count of an array that nothing else holds, measured once at import (Python versions
        differ in what the call itself adds); where the count is unavailable (not CPython) it always
        copies.
        """
        arr = self._value
        if (
            _refcount(arr) > _EXCLUSIVE
            or getattr(arr, "base", None) is not None
            or not _writable(arr)
        ):
            arr = B.xp.array(arr, copy=True, order="C")
            self._value = arr
            _copies[0] += 1
        return arr

    # value() and read_value(), a read through the tape, are installed by tapeflow.ops (which builds on this
    # module), as the operators are

    def __reduce__(self):
        return (_rebuild_variable, (self._value, self.trainable, self.name))

    def __repr__(self):
        return (
            f"<tapeflow.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}, "
            f"numpy={B.to_numpy(self._value)!r}>"
        )


_new = object.__new__
_copies = [0]  # how many times _buffer() copied (tests read it to check that a training step does not)


def _refcount(arr):  # the same call site for the calibration below and for _buffer()
    return _getrefcount(arr)


def _writable(arr):
    flags = getattr(arr, "flags", None)  # (a flags object holds a reference to its array: keep it local here)
    return flags is None or (getattr(flags, "writeable", True) and flags.c_contiguous)  # CuPy: no writeable


_getrefcount = getattr(sys, "getrefcount", lambda arr: 1 << 30)  # not CPython: always "shared"


def _calibrate():
    class _Holder:
        __slots__ = ("_value",)

    holder = _Holder()
    holder._value = np.empty(1)
    arr = holder._value
    return _refcount(arr)


_EXCLUSIVE = _calibrate()


def _rebuild_variable(value, trainable, name):
    return Variable(value, trainable=trainable, name=name)


def wrap(value, node=None) -> Tensor:
    """Make a Tensor from a backend array without copying or converting (internal fast path)."""
    t = _new(Tensor)
    t._value = value
    t._node = node
    return t
