"""Packing many arrays into a few flat buffers, so a step costs one collective (or one per bucket), not one
per variable.

A :class:`Layout` assigns every array a slice of a flat buffer of its dtype. Arrays of one dtype share buckets
of at most ``bucket_bytes`` (an array larger than that gets a bucket of its own), so a model of a few MB needs
exactly one all-reduce per step and a large one a handful, each small enough to bound the extra memory.

Gradient buckets carry a tail after the packed gradients: one presence flag per gradient (1 where this rank
has a gradient, 0 where it was ``None``) and the rank's weight. After the sum, a gradient whose flags sum to 0
was ``None`` everywhere and stays ``None``; the others are divided by the summed weight. That one extra float
per variable makes a rank that saw no samples (and so has no gradients) cost nothing special: it still joins
the collective, with weight 0.
"""

from __future__ import annotations

import numpy as np

from tapeflow import _backend as B

DEFAULT_BUCKET_BYTES = 64 * 2**20  # Horovod's default fusion-buffer size


def check_bucket_bytes(bucket_bytes) -> int:
    """``bucket_bytes`` as an int, or a ``ValueError`` naming the bad value."""
    if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, (int, np.integer)) or bucket_bytes <= 0:
        raise ValueError(
            f"`bucket_bytes` must be a positive integer. Received: bucket_bytes={bucket_bytes!r}"
        )
    return int(bucket_bytes)


class _Bucket:
    __slots__ = ("dtype", "entries", "size")

    def __init__(self, dtype):
        self.dtype = dtype
        self.entries = []  # (position in the caller's list, offset, shape, count)
        self.size = 0

    def add(self, position, shape, count):
        self.entries.append((position, self.size, shape, count))
        self.size += count


class Layout:
    """Where each array of a list sits in flat per-dtype buckets.

    Args:
        specs: a list of ``(shape, dtype)``, one per array.
        bucket_bytes: the most bytes of packed data one bucket holds (an array larger than that gets its own).

    Example:
        >>> import numpy as np
        >>> layout = Layout([((2, 3), np.float32), ((4,), np.float32), ((5,), np.float64)], bucket_bytes=1024)
        >>> [(b.dtype.name, b.size) for b in layout.buckets]
        [('float32', 10), ('float64', 5)]
    """

    def __init__(self, specs, bucket_bytes=DEFAULT_BUCKET_BYTES):
        bucket_bytes = check_bucket_bytes(bucket_bytes)
        self.specs = [(tuple(int(d) for d in shape), np.dtype(dtype)) for shape, dtype in specs]
        self.buckets = []
        open_bucket = {}  # dtype -> the bucket still being filled
        for position, (shape, dtype) in enumerate(self.specs):
            count = int(np.prod(shape, dtype=np.int64))
            bucket = open_bucket.get(dtype)
            if bucket is None or (bucket.size and (bucket.size + count) * dtype.itemsize > bucket_bytes):
                bucket = open_bucket[dtype] = _Bucket(dtype)
                self.buckets.append(bucket)
            bucket.add(position, shape, count)

    def pack(self, bucket, arrays, tail=0, scale=None):
        """A new flat buffer of ``bucket``'s arrays (``None`` packs as zeros; each times ``scale`` when
        given), with ``tail`` free slots after them."""
        xp = B.xp
        buf = xp.empty(bucket.size + tail, dtype=bucket.dtype)
        for position, offset, _, count in bucket.entries:
            value = arrays[position]
            if value is None:
                buf[offset:offset + count] = 0
            elif scale is None:
                buf[offset:offset + count] = xp.reshape(value, (-1,))
            else:  # scaling while copying saves a pass over the buffer
                xp.multiply(xp.reshape(value, (-1,)), scale, out=buf[offset:offset + count], casting="unsafe")
        return buf

    def unpack(self, bucket, buf, out):
        """Write views of ``buf`` (reshaped to each array's shape) into ``out`` at the arrays' positions."""
        for position, offset, shape, count in bucket.entries:
            out[position] = B.xp.reshape(buf[offset:offset + count], shape)


_layouts = {}


def layout_for(specs, bucket_bytes) -> Layout:
    """A cached :class:`Layout` (a training loop asks for the same one every step)."""
    key = (tuple((tuple(s), np.dtype(d).str) for s, d in specs), bucket_bytes)
    layout = _layouts.get(key)
    if layout is None:
        if len(_layouts) > 64:
            _layouts.clear()
        layout = _layouts[key] = Layout(specs, bucket_bytes)
    return layout


_ZERO_WEIGHT = "tapeflow.distributed: the ranks' weights sum to zero, so no mean exists"


def weighted_allreduce(comm, arrays, specs, weight=1.0, bucket_bytes=DEFAULT_BUCKET_BYTES):
    """The weighted mean over ranks of each array: ``sum_r weight_r * a_r / sum_r weight_r``.

    Args:
        comm: a :class:`~tapeflow.distributed._comm.Communicator`.
        arrays: backend arrays or ``None`` (a missing gradient), one per entry of ``specs``.
        specs: ``(shape, dtype)`` per array; must be the same on every rank.
        weight: this rank's weight (for example its number of samples); ``0`` contributes nothing.
        bucket_bytes: the bucket size cap.

    Returns:
        A list of arrays (views into fresh buffers) or ``None`` where every rank passed ``None``.

    Raises:
        ValueError: the weights sum to zero while some rank passed an array.
    """
    weight = float(weight)
    if not np.isfinite(weight) or weight < 0:
        raise ValueError(f"`weight` must be a finite number >= 0. Received: weight={weight!r}")
    if comm.size == 1:  # the mean over one rank is its own value: no packing, no copies
        if weight == 0.0 and any(a is not None for a in arrays):
            raise ValueError(_ZERO_WEIGHT)
        return list(arrays)
    layout = layout_for(specs, bucket_bytes)
    out = [None] * len(specs)
    for bucket in layout.buckets:
        n = len(bucket.entries)
        scale = None if weight == 1.0 else bucket.dtype.type(weight)
        buf = layout.pack(bucket, arrays, tail=n + 1, scale=scale)
        present = buf[bucket.size:bucket.size + n]
        for i, (position, *_rest) in enumerate(bucket.entries):
            present[i] = arrays[position] is not None
        buf[-1] = weight
        comm.allreduce_sum_(buf)
        total_weight = float(buf[-1])
        flags = B.xp.asarray(present)
        if total_weight == 0.0:
            if bool((flags > 0).any()):
                raise ValueError(_ZERO_WEIGHT)
            continue
        buf[:bucket.size] /= buf.dtype.type(total_weight)
        data = buf[:bucket.size]
        layout.unpack(bucket, data, out)
        for i, (position, *_rest) in enumerate(bucket.entries):
            if flags[i] == 0:
                out[position] = None
    return out


def broadcast_arrays(comm, arrays, root=0, bucket_bytes=DEFAULT_BUCKET_BYTES):
    """``root``'s arrays on every rank (a list of new arrays; shapes and dtypes must match across ranks)."""
    specs = [(a.shape, a.dtype) for a in arrays]
    layout = layout_for(specs, bucket_bytes)
    out = [None] * len(arrays)
    for bucket in layout.buckets:
        buf = layout.pack(bucket, arrays)
        comm.bcast_(buf, root=root)
        layout.unpack(bucket, buf, out)
    return out
