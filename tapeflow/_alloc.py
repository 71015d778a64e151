"""Opt-in: keep NumPy's few-megabyte training temporaries off ``mmap`` on glibc.

glibc serves allocations above its mmap threshold (128 KiB at start) with fresh ``mmap`` pages, and returns
them on free; every training step then page-faults its activations and gradients back in (about 1,600 faults
per step for a 784-512-256-10 MLP, which made a hand-written NumPy step 2-4x slower). glibc raises the
threshold by itself only after some such frees, so a fresh process starts slow. Setting the threshold (and the
trim threshold, so freed heap memory is kept for the next step) fixes the allocator's behavior from the start.

That setting belongs to the whole process (every library in it feels it), so tapeflow makes it only when the
user asks: ``TAPEFLOW_MALLOPT=1`` in the environment (read at ``import tapeflow``, which then calls
:func:`tune`), or a call to :func:`tune`. It is a no-op off Linux and where the C library has no ``mallopt``
(musl, ...). ``tuned`` records whether it took effect. ``python -m bench training`` shows what it is worth
("tapeflow-mallopt" against "tapeflow").
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit
TRIM_THRESHOLD = 128 * 1024 * 1024

tuned = False  # set by tune(): whether glibc accepted both thresholds in this process


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; returns whether it was done.

    Returns:
        True when both ``mallopt`` calls succeeded (now or on an earlier call), False where there is nothing
        to tune (not Linux, or a C library without ``mallopt``).

    Example:
        >>> from tapeflow import _alloc
        >>> _alloc.tune() == _alloc.tuned
        True
    """
    global tuned
    if tuned or not sys.platform.startswith("linux"):
        return tuned
    try:
        # the symbols already loaded into the process (the C library among them): no search for the library
        # file, which (ctypes.util.find_library) would run `ldconfig -p` in a subprocess
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    tuned = ok
    return ok
