"""The one place tapeflow chooses its array library (the *backend*): NumPy, CuPy, or the strict test backend.

Everything outside ``tapeflow/ops`` and this module does array math through ``xp`` (``B.xp.zeros(...)``,
``B.xp.sqrt(...)``), a module that mirrors the current backend's module. Switching refills it, so
``xp.name`` costs one module attribute lookup, and code that keeps ``xp = B.xp`` never holds a stale library.
The ops bind NumPy's ufuncs and functions when they are defined (``defop("add", xp.add, ...)``): these
dispatch to the array's own library through NumPy's ``__array_ufunc__``/``__array_function__`` protocols
(NEP 13/18), which CuPy implements, so the same op runs on any backend's arrays and costs nothing extra on
NumPy's. Arrays are made only through ``xp`` (``xp.asarray``, ``xp.zeros``), so they are the backend's own.

Values leave the backend in one place, :func:`to_numpy` (saving, printing, plotting, metrics' results).

Choose a backend with ``TAPEFLOW_BACKEND=cupy`` before import, :func:`set_backend` at any time, or
``with tp.backend("cupy"): ...`` for a block. The choice is process-wide (all threads). Arrays made under one
backend stay that backend's: build and train a model under the backend it will run on.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from types import ModuleType

import numpy as np

from tapeflow._extras import install_hint

#: The backends that :func:`set_backend` knows by name, and the module each loads.
BACKENDS = {"numpy": "numpy", "cupy": "cupy", "strict": "tapeflow._testing.strict"}


#: The current backend module's names as a module of its own (refilled by :func:`set_backend`), so that
#: ``xp.name`` costs what a module attribute costs.
xp = ModuleType("tapeflow.xp", "The current array backend's names (see tapeflow._backend).")
_module: ModuleType = np
_name = "numpy"
ndarray = np.ndarray
_switch_lock = threading.Lock()
_accel = None  # the CuPy backend's fused kernels (tapeflow/_cuda.py) while it is the backend, else None


def _load(name):
    if isinstance(name, ModuleType):
        name = {module: key for key, module in BACKENDS.items()}.get(name.__name__, name.__name__)
    if name not in BACKENDS:
        raise ValueError(f"set_backend: unknown backend {name!r}. Choose one of: {', '.join(BACKENDS)}")
    if name == "cupy":
        return name, _load_cupy()
    return name, importlib.import_module(BACKENDS[name])


def _load_cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "set_backend('cupy'): CuPy is not installed. Install the one matching your CUDA driver: "
            f"{install_hint('cuda')}, or for CUDA 13 {install_hint('cuda13')}. ({e})"
        ) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CuPy raises its own CUDARuntimeError when the driver is missing
        raise RuntimeError(f"set_backend('cupy'): CuPy is installed but found no CUDA device: {e}") from e
    if count < 1:
        raise RuntimeError("set_backend('cupy'): CuPy is installed but found no CUDA device")
    return cupy


def set_backend(name) -> None:
    """Make ``name`` the array backend from now on: ``"numpy"`` (default), ``"cupy"`` (NVIDIA GPUs) or
    ``"strict"`` (a test backend whose arrays refuse implicit conversion to NumPy, as CuPy's do).

    Arrays and Variables made before the switch keep their library; mixing them with the new backend's
    arrays raises. Process-wide: every thread sees the switch.

    Raises:
        ValueError: for an unknown name.
        RuntimeError: when CuPy is not installed or finds no CUDA device (the message says which).

    Example:
        >>> import tapeflow as tp
        >>> tp.set_backend("numpy"); tp.get_backend()
        'numpy'
    """
    global _module, _name, ndarray, _accel
    name, module = _load(name)
    with _switch_lock:
        if module is _module:
            return
        _fill(module)
        _module, _name, ndarray = module, name, module.ndarray
        _accel = importlib.import_module("tapeflow._cuda").Kernels(module) if name == "cupy" else None


def _fill(module):
    names = xp.__dict__
    own = {"__name__": names["__name__"], "__doc__": names["__doc__"], "__spec__": None, "__loader__": None}

    def lazy(name):  # names the module loads on first use (numpy.testing, cupy.fft)
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(module, name)

    new = {k: v for k, v in vars(module).items() if not k.startswith("__")}
    new.update(own, __getattr__=lazy)
    names.update(new)  # overwrite first, then drop the old library's extra names: a reader never misses one
    for stale in [k for k in names if k not in new]:
        del names[stale]


def get_backend() -> str:
    """The name of the current backend: ``"numpy"``, ``"cupy"`` or ``"strict"``.

    Example:
        >>> import tapeflow as tp
        >>> tp.get_backend()
        'numpy'
    """
    return _name


@contextlib.contextmanager
def backend(name):
    """Use backend ``name`` inside a ``with`` block, then switch back (process-wide, as :func:`set_backend`).

    Example:
        >>> import tapeflow as tp
        >>> with tp.backend("strict"):
        ...     tp.get_backend(), tp.ones((2,)) * 3
        ('strict', tapeflow.Tensor([3. 3.], shape=(2,), dtype=float32))
        >>> tp.get_backend()
        'numpy'
    """
    before = _name
    set_backend(name)
    try:
        yield
    finally:
        set_backend(before)


def checks_values() -> bool:
    """Whether data-dependent checks run (label ranges, whole-number labels, embedding indices): on NumPy,
    where reading a value is free. On a device each would stop the step until the device catches up, so
    they are skipped there, as GPU frameworks do."""
    return _module is np


def to_numpy(x) -> np.ndarray:
    """The host NumPy array of a backend array, a Tensor, a pandas object or Python data: the one place
    values leave the backend, and tapeflow's one "to NumPy" helper.

    A NumPy array is returned as it is; a CuPy (or strict) array is copied to the host; a Tensor gives its
    read-only value (as ``np.asarray(tensor)`` does); a pandas Series or DataFrame its ``to_numpy()``; other
    data go through ``np.asarray`` (so Python floats stay float64 here: :func:`tapeflow.dtypes.python_default`
    gives TensorFlow's dtype for them). Nests are walked by the caller (``tapeflow._nest.map_structure``).

    Example:
        >>> to_numpy([1.0, 2.0])
        array([1., 2.])
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (dict, np.generic)):
        return np.asarray(x)
    convert = getattr(x, "to_numpy", None)  # pandas (its `get` is a dict-style lookup, not a copy)
    if callable(convert):
        return np.asarray(convert())
    get = getattr(x, "get", None)  # CuPy's (and the strict backend's) explicit device-to-host copy
    if get is not None:
        return get()
    return np.asarray(x)


def uniform(rng: np.random.Generator, shape):
    """Uniform ``[0, 1)`` samples of ``shape`` made on the backend, driven by the host generator ``rng``: for
    random masks (compare them with a rate; their dtype is the backend's choice).

    On NumPy they are ``rng``'s own float64 draws. Elsewhere ``rng`` gives one 63-bit seed (host only, no
    copy) and the device draws float32, so a seeded run repeats and a training step moves nothing to the
    device.
    """
    if _module is np:
        return rng.random(shape)
    seed = int(rng.integers(2**63))
    if _accel is not None:
        return _accel.uniform(seed, shape)
    return xp.random.default_rng(seed).random(shape, dtype=np.float32)


def normal(rng: np.random.Generator, shape):
    """Standard normal samples of ``shape`` made on the backend from the host generator ``rng`` (noise
    layers): ``rng``'s own draws on NumPy; elsewhere Box-Muller over two :func:`uniform` draws, on the
    device."""
    if _module is np:
        return rng.standard_normal(shape)
    u1, u2 = uniform(rng, shape), uniform(rng, shape)
    return xp.sqrt(-2.0 * xp.log1p(-u1)) * xp.cos((2 * np.pi) * u2)  # 1 - u1 > 0: the log is finite


def strided_view(x, shape, strides):
    """A read-only view of ``x`` with the given shape and byte strides (the windows of a convolution).

    NumPy's view is marked read-only; CuPy's ``as_strided`` has no such flag (its views are never written)."""
    if x.__class__ is np.ndarray:
        return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(x, shape, strides)


def fused():
    """The CuPy backend's fused kernels (:mod:`tapeflow._cuda`) while CuPy is the backend, else None."""
    return _accel


def erf(x):
    """Error function, element-wise.

    Uses SciPy's ``erf`` on NumPy arrays when SciPy is installed (exact to machine precision), CuPy's on
    CuPy arrays; otherwise the Abramowitz & Stegun 7.1.26 approximation (absolute error below 1.5e-7, enough
    for float32), so the core needs only NumPy.
    """
    global _scipy_erf
    if _scipy_erf is None:
        try:
            from scipy.special import erf as _scipy_erf
        except ImportError:  # pragma: no cover - machines without SciPy
            _scipy_erf = False
    special = _accel.erf if _accel is not None else xp.__dict__.get("erf")  # CuPy's, the strict backend's
    if special is not None:
        return special(x)
    if not hasattr(x, "dtype"):
        x = xp.asarray(x)
    if _scipy_erf and isinstance(x, np.ndarray):
        return _scipy_erf(x).astype(x.dtype, copy=False)  # SciPy computes float16 in float64
    a = abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (np.sign(x) * (1.0 - poly * np.exp(-a * a))).astype(x.dtype, copy=False)


_scipy_erf = None
_fill(np)
