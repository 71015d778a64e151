"""Keep NumPy's few-megabyte training temporaries off ``mmap`` on glibc.

glibc serves allocations above its mmap threshold (128 KiB at start) with fresh ``mmap`` pages, and returns
them on free; every training step then page-faults its activations and gradients back in (about 1,600 faults
per step for a 784-512-256-10 MLP, which made a hand-written NumPy step 2-4x slower). glibc raises the
threshold by itself only after some such frees, so a fresh process starts slow. Setting the threshold (and the
trim threshold, so freed heap memory is kept for the next step) fixes the allocator's behavior from the start.

``import tapeflow`` calls :func:`tune` (so the whole process, the user's own NumPy code included, gets the
setting before its first step); it is a no-op off Linux, where the C library has no ``mallopt`` (musl, ...),
and when ``TAPEFLOW_NO_MALLOPT=1`` is set. ``tuned`` records whether it took effect.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
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
        to tune (not glibc, not Linux, or ``TAPEFLOW_NO_MALLOPT`` set).

    Example:
        >>> import tapeflow as tp
        >>> from tapeflow import _alloc
        >>> _alloc.tune() == _alloc.tuned
        True
    """
    global tuned
    if tuned or not sys.platform.startswith("linux") or os.environ.get("TAPEFLOW_NO_MALLOPT"):
        return tuned
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    tuned = ok
    return ok
