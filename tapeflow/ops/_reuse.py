"""Large output arrays reused from one training step to the next, once nothing else refers to them.

A training step allocates the same large arrays every step: im2col patches, activations, their gradients. A
fresh large block is mapped anew by glibc (above its mmap threshold: 128 KiB by default, 32 MiB at most) and
page-faults on first touch, which cost the CNN step about a third of its time on glibc's default settings (and
the 36 MB patches of its second convolution on any settings). :func:`empty` hands out an array it gave before
for the same call site, shape and dtype when its reference count shows that only this cache holds it: no
Tensor, view, tape, gradient or user variable can reach it, so writing into it changes no value anyone holds
(a Tensor never changes once handed out). Otherwise it allocates a fresh array and remembers that one instead.

A thread takes its reference before it checks the count, so two threads never get the same array. The cache
keeps arrays for the :data:`LIMIT` most recently used keys, :data:`PER_KEY` each; :func:`clear` drops them.
Only NumPy arrays are reused (the callers pass host arrays), and only on CPython (elsewhere every call
allocates).
"""

from __future__ import annotations

import sys
from collections import OrderedDict

import numpy as np

from tapeflow import _backend as B

LIMIT = 32  # (site, shape, dtype) keys kept: a few per layer of a deep network's step
PER_KEY = 4  # arrays kept per key: layers of one shape at one site (Dense(64) -> Dense(64)) each get theirs
MIN_SIZE = 1 << 15  # elements: smaller arrays come from glibc's heap without faults (and cost a dict look-up)

_cache: OrderedDict = OrderedDict()
_refcount = getattr(sys, "getrefcount", None)


def _free(bufs):
    """The first of ``bufs`` that nothing outside this cache refers to, or None."""
    for buf in bufs:
        if _refcount(buf) == _ONLY_CACHED:
            return buf
    return None


def _only_cached():
    """The reference count :func:`_free` sees for an array only the cache holds (its list's reference, the
    loop name's, getrefcount's argument's: counted the same way, as Python versions differ)."""
    seen = []
    for buf in [np.empty(0)]:
        seen.append(_refcount(buf))
    return seen[0]


_ONLY_CACHED = None if _refcount is None else _only_cached()


def empty(site, shape, dtype, like=None):
    """An uninitialized NumPy array of ``shape`` and ``dtype`` for call site ``site``: one handed out here
    before when nothing but this cache refers to it any more (see the module docstring), else a new one.
    With ``like`` an array of another library (CuPy), a new array of that library."""
    shape = tuple(shape)
    if like is not None and like.__class__ is not np.ndarray:
        return B.xp.empty(shape, dtype)
    if _refcount is None or _size(shape) < MIN_SIZE:
        return np.empty(shape, dtype)
    key = (site, shape, np.dtype(dtype))
    bufs = _cache.get(key)
    if bufs is None:
        bufs = _cache[key] = []
        while len(_cache) > LIMIT:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
        buf = _free(bufs)
        if buf is not None:
            return buf
    buf = np.empty(shape, dtype)
    bufs.append(buf)
    if len(bufs) > PER_KEY:
        del bufs[0]
    return buf


def matmul(site, a, b):
    """``a @ b`` written into :func:`empty`'s array when both are NumPy arrays of one float dtype and ``b`` is
    a matrix; anything else (other array libraries, and every error) goes the array library's way."""
    if (a.__class__ is not np.ndarray or b.__class__ is not np.ndarray or a.ndim < 1 or b.ndim != 2
            or a.dtype != b.dtype or a.dtype.kind != "f" or a.shape[-1] != b.shape[0]):
        return B.xp.matmul(a, b)
    return np.matmul(a, b, out=empty(site, (*a.shape[:-1], b.shape[1]), a.dtype))


def clear():
    """Drop every cached array (the memory returns to the allocator once nothing else holds them)."""
    _cache.clear()


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n
