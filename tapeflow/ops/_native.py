"""The optional C kernels (``tapeflow._ckernels``), found once for every op that can use them.

The extension is built by ``pip install -e .`` where a C compiler is found (``setup.py``, ``optional=True``);
without it every op runs the same math in NumPy. The recurrent ops (``ops/recurrent.py``) use it for the
LSTM/GRU gate math, the convolution and pooling ops (``ops/conv.py``, ``ops/pooling.py``) for their window
passes (im2col, col2im, max/average pooling and their gradients), which split the batch across threads with
the GIL released.

Switches, read once at import: ``TAPEFLOW_CKERNELS=0`` turns the extension off; ``TAPEFLOW_CKERNELS_ISA=
baseline`` (or ``x86-64-v3``) keeps the recurrent kernels off AVX-512 (or AVX2) code;
``TAPEFLOW_KERNEL_THREADS=N`` lets a kernel split its work over up to N threads (:data:`CORES`, default 1).

Why one thread by default: the matrix products run on the BLAS's own thread pool, and OpenBLAS's threads keep
spinning for a while after each product. A kernel's extra threads then compete with them for the cores, and
a step loses more to that than it gains: on the project's 2-core machine, at the BLAS's default two threads,
the MLP step took 1.26-1.28 ms with one kernel thread and 1.93-2.87 ms with two (batch 32), 2.6-2.8 against
3.5-4.1 ms at batch 128, and the CNN, LSTM and GRU steps were as fast or faster with one. With the BLAS on one
thread (``OPENBLAS_NUM_THREADS=1``), more kernel threads can pay. The kernels read host
memory, so they take NumPy arrays only (CuPy's and the strict backend's go the array-library way). Tests set
:data:`ckernels` to None to exercise the NumPy code.
"""

from __future__ import annotations

from numpy import ndarray as _host_array

from tapeflow import _backend as B
from tapeflow import _env

_CKERNELS_VERSION = 6  # must match CKERNELS_VERSION in tapeflow/_ckernels.c

# below this many elements per thread, a thread costs more than it saves (its start is ~20-50 us)
_PER_THREAD = 1 << 16


def load():
    """The C kernels, or None: not built, a stale build, ``TAPEFLOW_CKERNELS=0``."""
    if not _env.flag("TAPEFLOW_CKERNELS", True):
        return None
    try:
        from tapeflow import _ckernels
    except ImportError:
        return None
    return _ckernels if getattr(_ckernels, "VERSION", None) == _CKERNELS_VERSION else None


ckernels = load()
CORES = _env.count("TAPEFLOW_KERNEL_THREADS", 1)  # the most threads one kernel call uses


def threads(elements, batch):
    """How many threads a window kernel over ``elements`` values of a ``batch`` should use (>= 1)."""
    return max(1, min(CORES, batch, elements // _PER_THREAD))


def usable(*arrays):
    """The kernels when they can take these arrays (NumPy arrays of one dtype, float32/float64), else None."""
    k = ckernels
    if k is None or any(a.__class__ is not _host_array for a in arrays):
        return None
    dtype = arrays[0].dtype
    if dtype not in (B.xp.float32, B.xp.float64) or any(a.dtype != dtype for a in arrays):
        return None
    return k
