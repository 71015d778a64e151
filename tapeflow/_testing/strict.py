"""The strict test backend: NumPy's math in arrays that are not ``numpy.ndarray`` and refuse implicit
conversion, as CuPy's do.

``TAPEFLOW_BACKEND=strict`` (or ``tp.set_backend("strict")``) runs tapeflow on it, so a test on the CPU shows
that every array computation goes through the backend namespace: ``np.asarray(array)`` raises, mixing an array
with a ``numpy.ndarray`` raises (as ``cupy_array + numpy_array`` does), and values reach the host only through
``array.get()`` (CuPy's spelling), ``float()``/``int()``/``bool()``, ``item()`` and ``tolist()``.

:func:`no_host_transfers` makes every one of those raise inside a block (a training step moves nothing between
host and device), and :data:`transfers` counts them.

Example:
    >>> from tapeflow._testing import strict
    >>> a = strict.arange(3.0) * 2
    >>> type(a).__name__, a.get()
    ('ndarray', array([0., 2., 4.]))
    >>> import numpy as np
    >>> np.asarray(a)
    Traceback (most recent call last):
    ...
    TypeError: Implicit conversion to a NumPy array is not allowed (strict backend); use .get()
"""

from __future__ import annotations

import contextlib
import operator
import threading

import numpy as _np

_state = threading.local()
transfers = {"to_host": 0, "to_device": 0}


@contextlib.contextmanager
def no_host_transfers():
    """Inside the block, any copy between host and device raises ``RuntimeError`` (this thread)."""
    before = getattr(_state, "forbid", False)
    _state.forbid = True
    try:
        yield
    finally:
        _state.forbid = before


def _transfer(direction):
    if getattr(_state, "forbid", False):
        raise RuntimeError(f"strict backend: a {direction.replace('_', ' ')} copy inside no_host_transfers()")
    transfers[direction] += 1


def _unwrap(x):
    cls = x.__class__
    if cls is ndarray:
        return x._a
    if cls is list or cls is tuple:
        return cls(_unwrap(v) for v in x)
    if cls is dict:
        return {k: _unwrap(v) for k, v in x.items()}
    if isinstance(x, _np.ndarray):
        raise TypeError(
            f"Unsupported type {type(x)}: a numpy.ndarray mixed with strict-backend arrays (as CuPy "
            "refuses); convert it with xp.asarray first"
        )
    return x


def _wrap(x, sources=()):
    """NumPy results as strict arrays; a view of a source array keeps a reference to that source's wrapper, as
    a view of a CuPy or NumPy array keeps its base alive (so reference counts see it)."""
    if isinstance(x, _np.ndarray):
        if x.base is not None:
            for s in sources:
                if _np.may_share_memory(x, s._a):
                    return ndarray(x, s)
        return ndarray(x)
    if isinstance(x, _np.generic):  # reductions give 0-d arrays, as CuPy's do, not host scalars
        return ndarray(_np.asarray(x))
    if isinstance(x, tuple):  # named tuples too (np.linalg's EighResult, SVDResult, ...)
        items = [_wrap(v, sources) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
    if x.__class__ is list:
        return [_wrap(v, sources) for v in x]
    return x


def _strict_in(args):
    """The strict arrays among ``args`` (and in lists/tuples among them): the possible bases of a view."""
    found = []
    for a in args:
        if a.__class__ is ndarray:
            found.append(a)
        elif a.__class__ is list or a.__class__ is tuple:
            found.extend(v for v in a if v.__class__ is ndarray)
    return found


class _Ufunc:
    """A NumPy ufunc on strict arrays, with its methods (``add.at``, ``maximum.reduce``)."""

    def __init__(self, ufunc):
        self._u = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        out = kwargs.get("out")
        result = self._u(*_unwrap(args), **_unwrap(kwargs))
        return out if out is not None and not isinstance(out, tuple) else _wrap(result)

    def __getattr__(self, name):
        attr = getattr(self._u, name)
        return _function(attr) if callable(attr) else attr


def _function(fn):
    if isinstance(fn, _np.ufunc):
        return _Ufunc(fn)

    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)), _strict_in(args))

    call.__name__ = getattr(fn, "__name__", "function")
    call.__doc__ = f"NumPy's {call.__name__} on strict arrays."  # not NumPy's docstring: no doctests here
    return call


class ndarray:  # noqa: N801 - the name every array library gives its array
    """A NumPy array held at arm's length: NumPy's math, none of NumPy's implicit conversions."""

    __slots__ = ("_a", "_base")
    __hash__ = None

    def __init__(self, a, base=None):
        self._a = a
        self._base = base  # the strict array this one is a view of (kept alive, as NumPy's base)

    # --- the ways out to the host: explicit only --------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (strict backend); use .get()")

    def get(self):
        """A host NumPy copy (CuPy's ``ndarray.get``)."""
        _transfer("to_host")
        return self._a.copy()

    def item(self):
        _transfer("to_host")
        return self._a.item()

    def tolist(self):
        _transfer("to_host")
        return self._a.tolist()

    def __float__(self):
        _transfer("to_host")
        return float(self._a)

    def __int__(self):
        _transfer("to_host")
        return int(self._a)

    def __bool__(self):
        _transfer("to_host")
        return bool(self._a)

    def __complex__(self):
        _transfer("to_host")
        return complex(self._a)

    def __repr__(self):
        _transfer("to_host")
        return repr(self._a).replace("array(", "strict.array(", 1)

    def __str__(self):
        _transfer("to_host")
        return str(self._a)

    def __format__(self, spec):
        _transfer("to_host")
        return format(self._a, spec)

    # --- NumPy's protocols: np.add(a, b) and np.sum(a) compute here ---------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        return out[0] if out is not None else _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)), _strict_in(args))

    # --- the array's facts and methods -----------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: ndarray(self._a.T, self))
    real = property(lambda self: _wrap(self._a.real, (self,)))
    imag = property(lambda self: _wrap(self._a.imag, (self,)))

    @property
    def flags(self):
        return self._a.flags

    def __getattr__(self, name):  # methods: x.sum(), x.astype(), x.reshape(), ...
        if name.startswith("__"):  # never __array_interface__/__array_struct__: NumPy would read the buffer
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return attr
        return lambda *a, **k: _wrap(attr(*_unwrap(a), **_unwrap(k)), (self, *_strict_in(a)))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)], (self,))

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):  # pickling (multiprocessing, copy) goes through the host, as CuPy's does
        return (_from_host, (self._a,))

    def __dlpack__(self, *args, **kwargs):
        raise TypeError("strict backend: no DLPack export (use .get())")


def _from_host(a):
    return ndarray(a)


def _binary(fn, reflected=False):
    if reflected:
        return lambda self, other: _wrap(fn(_unwrap(other), self._a))
    return lambda self, other: _wrap(fn(self._a, _unwrap(other)))


def _inplace(fn):
    def method(self, other):
        fn(self._a, _unwrap(other))
        return self

    return method


def _install_operators():
    for name in ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
                 "lshift", "rshift", "lt", "le", "gt", "ge", "eq", "ne", "divmod"]:
        fn = divmod if name == "divmod" else getattr(operator, name + "_" if name in ("and", "or") else name)
        setattr(ndarray, f"__{name}__", _binary(fn))
        if name not in ("lt", "le", "gt", "ge", "eq", "ne"):
            setattr(ndarray, f"__r{name}__", _binary(fn, reflected=True))
        if hasattr(operator, f"i{name}"):
            setattr(ndarray, f"__i{name}__", _inplace(getattr(operator, f"i{name}")))
    for name in ["neg", "pos", "abs", "invert"]:
        fn = getattr(operator, name)
        setattr(ndarray, f"__{name}__", lambda self, fn=fn: _wrap(fn(self._a)))


_install_operators()


def asarray(a, dtype=None, order=None, **kwargs):
    """``a`` as a strict array; host data (lists, NumPy arrays) are copied in (a host-to-device copy)."""
    if a.__class__ is ndarray:
        return a if dtype is None or a.dtype == dtype else ndarray(a._a.astype(dtype))
    if isinstance(a, (list, tuple)) and any(v.__class__ is ndarray for v in a):
        return ndarray(_np.asarray(_unwrap(a), dtype=dtype))
    if isinstance(a, _np.ndarray):
        _transfer("to_device")
    return ndarray(_np.array(a, dtype=dtype, order=order, copy=True))


def array(a, dtype=None, copy=True, order="K", ndmin=0, **kwargs):
    """A copy of ``a`` as a strict array (``copy=False`` may share, as in NumPy)."""
    if a.__class__ is ndarray:
        return ndarray(_np.array(a._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    out = asarray(a, dtype=dtype)
    return ndarray(out._a.reshape((1,) * (ndmin - out.ndim) + out.shape)) if ndmin > out.ndim else out


def asnumpy(a):
    """A host NumPy copy (CuPy's ``cupy.asnumpy``)."""
    return a.get() if a.__class__ is ndarray else _np.asarray(a)


class _Generator:
    """A NumPy Generator whose draws are strict arrays (CuPy's ``cupy.random.Generator``)."""

    def __init__(self, seed=None):
        self._g = _np.random.default_rng(seed)

    def __getattr__(self, name):
        return _function(getattr(self._g, name))


class _Random:
    default_rng = staticmethod(_Generator)

    def __getattr__(self, name):
        return _function(getattr(_np.random, name))


random = _Random()


class _Submodule:
    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        attr = getattr(self._module, name)
        return _function(attr) if callable(attr) and not isinstance(attr, type) else attr


linalg = _Submodule(_np.linalg)
fft = _Submodule(_np.fft)
lib = _Submodule(_np.lib)
lib.stride_tricks = _Submodule(_np.lib.stride_tricks)


def __getattr__(name):  # names added to NumPy later than this module's import
    attr = getattr(_np, name)
    return attr if isinstance(attr, type) or not callable(attr) else _function(attr)


for _name in dir(_np):  # every public NumPy function, wrapped; dtypes and constants as they are
    _attr = getattr(_np, _name)
    if _name.startswith("_") or _name in globals() or isinstance(_attr, type) or not callable(_attr):
        continue
    globals()[_name] = _function(_attr)
for _name in ["dtype", "finfo", "iinfo", "result_type", "promote_types", "can_cast", "issubdtype", "isscalar",
              "errstate", "printoptions", "broadcast_shapes", "set_printoptions", "get_printoptions"]:
    globals()[_name] = getattr(_np, _name)  # facts about dtypes and settings, not arrays


try:  # the exact erf, as tapeflow uses SciPy's on NumPy arrays
    from scipy.special import erf as _erf

    def erf(x):
        x = asarray(x)
        return ndarray(_erf(x._a).astype(x.dtype, copy=False))
except ImportError:  # pragma: no cover - machines without SciPy
    pass


def shape(a):
    return a.shape if a.__class__ is ndarray else _np.shape(a)


def ndim(a):
    return a.ndim if a.__class__ is ndarray else _np.ndim(a)
