"""Run a stretch of small matrix products on one BLAS thread.

A recurrent layer makes one small product per timestep (``(batch, units) @ (units, 4 * units)``: microseconds
of work). OpenBLAS splits such products over its thread pool anyway, and the hand-off costs more than the
product: on a busy machine, where the pool's threads wait for a core, a 64x64x256 product was measured at
7 ms on two threads against 0.14 ms on one. :func:`single_thread` lowers OpenBLAS's thread count for the
duration of a ``with`` block and restores it after. The count is process-wide (OpenBLAS has no per-thread
setting): while one thread is inside the block, other threads' BLAS calls run on one thread too. It finds
OpenBLAS among the libraries the process has loaded (NumPy's bundled build included); with any other BLAS
(MKL, Accelerate) or array backend it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading

_lock = threading.Lock()
_found = None  # the (get, set) pairs once looked up; [] when OpenBLAS is not loaded

_NAMES = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
          ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
          ("openblas_get_num_threads", "openblas_set_num_threads"))


def _loaded_openblas():
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:  # not Linux: look next to NumPy
        import glob
        import os

        import numpy

        base = os.path.dirname(os.path.dirname(numpy.__file__))
        paths = set(glob.glob(os.path.join(base, "numpy.libs", "*openblas*")) +
                    glob.glob(os.path.join(base, "numpy", ".dylibs", "*openblas*")))
    return sorted(paths)


def _functions():
    """``[(get_num_threads, set_num_threads), ...]`` for every OpenBLAS the process has loaded (NumPy's and,
    say, SciPy's own copy)."""
    global _found
    if _found is None:
        found = []
        for path in _loaded_openblas():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for get_name, set_name in _NAMES:
                if hasattr(lib, get_name) and hasattr(lib, set_name):
                    get, set_ = getattr(lib, get_name), getattr(lib, set_name)
                    get.restype, get.argtypes = ctypes.c_int, []
                    set_.restype, set_.argtypes = None, [ctypes.c_int]
                    found.append((get, set_))
                    break
        _found = found
    return _found


_users = 0  # the single_thread() blocks running now, in all threads
_before = []  # OpenBLAS's thread counts when the first of them began


@contextlib.contextmanager
def single_thread():
    """Inside the block, OpenBLAS uses one thread (a no-op without OpenBLAS).

    OpenBLAS's thread count is one setting for the whole process, not per thread: while any thread is inside
    such a block, every BLAS call in the process (other threads' included) runs on one thread. The blocks
    are counted, so the count drops to 1 when the first begins and comes back when the last ends, however
    the blocks of several threads interleave.
    """
    global _users, _before
    functions = _functions()
    if not functions:
        yield
        return
    with _lock:
        if _users == 0:
            _before = [get() for get, _ in functions]
            for (_, set_), n in zip(functions, _before):
                if n > 1:
                    set_(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                for (_, set_), n in zip(functions, _before):
                    if n > 1:
                        set_(n)


_GEMM_NAMES = (("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
               ("cblas_sgemm64_", "cblas_dgemm64_", True),
               ("cblas_sgemm", "cblas_dgemm", False))
_gemm = None  # ({"f": address, "d": address}, ilp64) once looked up; () when no OpenBLAS is loaded


def gemm_address(kind):
    """``(address, ilp64)`` of the loaded OpenBLAS's ``cblas_sgemm`` (``kind="f"``) or ``cblas_dgemm``
    (``"d"``), for C code that multiplies inside its own loop (the recurrent C kernels); None without
    OpenBLAS. ``ilp64``: whether its integer arguments are 64-bit."""
    global _gemm
    if _gemm is None:
        found = ()
        for path in _loaded_openblas():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for s_name, d_name, ilp64 in _GEMM_NAMES:
                if hasattr(lib, s_name) and hasattr(lib, d_name):
                    found = ({"f": ctypes.cast(getattr(lib, s_name), ctypes.c_void_p).value,
                              "d": ctypes.cast(getattr(lib, d_name), ctypes.c_void_p).value}, ilp64)
                    break
            if found:
                break
        _gemm = found
    return (_gemm[0][kind], _gemm[1]) if _gemm else None
