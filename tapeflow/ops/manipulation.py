"""Shape ops: reshape (row-major "C" or column-major "F"), transpose, joins and splits, tiling, padding."""

from __future__ import annotations

import math

from tapeflow import _backend as B
from tapeflow.errors import ShapeError
from tapeflow.ops._registry import Op, defop

xp = B.xp


def infer_shape(shape, size, op_name="reshape"):
    """Resolve one -1/None in ``shape`` for an array of ``size`` elements; explain what does not fit."""
    if isinstance(shape, int):
        shape = (shape,)
    if None not in shape and (not shape or min(shape) >= 0) and math.prod(shape) == size:  # nothing to infer
        return tuple(shape)
    shape = tuple(-1 if d is None else int(d) for d in shape)
    if any(d < -1 for d in shape):
        raise ShapeError(f"{op_name}: dimensions must be non-negative (or one -1/None); got shape {shape}")
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1:
        raise ShapeError(f"{op_name}: only one dimension can be inferred (-1 or None); got shape {shape}")
    known = math.prod(d for d in shape if d != -1)
    if unknown:
        if known == 0 or size % known:
            raise ShapeError(
                f"{op_name}: cannot infer the -1 dimension of {shape}: {size} elements are not a multiple of "
                f"{known}"
            )
        shape = shape[: unknown[0]] + (size // known,) + shape[unknown[0] + 1 :]
    elif known != size:
        raise ShapeError(f"{op_name}: cannot reshape {size} elements into shape {shape} ({known} elements)")
    return shape


def _reshape(x, shape, order="C"):
    return xp.reshape(x, infer_shape(shape, x.size), order=order)


reshape_op = defop(
    "reshape",
    _reshape,
    lambda g, out, x, shape, order="C": reshape_op(g, shape=x.shape, order=order),
    save_inputs=False,
)


def reshape(x, shape, order="C"):
    """Give ``x`` a new shape with the same elements.

    Args:
        x: a tensor.
        shape: the new shape; one entry may be -1 or None, inferred from the size.
        order: "C" reads and writes row-major (the last index changes fastest, TensorFlow's and NumPy's
            default); "F" column-major (the first index changes fastest, R's and Fortran's order).

    Shape:
        ``x.size`` elements in, ``shape`` out.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> tp.reshape(np.arange(1, 7), (2, -1), order="F")
        tapeflow.Tensor(
        [[1 3 5]
         [2 4 6]], shape=(2, 3), dtype=int64)
    """
    if order not in ("C", "F"):
        raise ValueError(f"reshape: `order` must be 'C' or 'F'. Received: order={order!r}")
    return reshape_op(x, shape=tuple(shape) if not isinstance(shape, int) else (shape,), order=order)


def _inverse_perm(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


transpose_op = defop(
    "transpose",
    lambda x, perm=None: xp.transpose(x, perm),
    lambda g, out, x, perm=None: transpose_op(g, perm=None if perm is None else _inverse_perm(perm)),
    save_inputs=False,
)


def transpose(x, perm=None, axes=None):
    """Permute the axes (reverse them when ``perm`` is None). ``axes`` is NumPy's name for ``perm``.

    Example:
        >>> import tapeflow as tp
        >>> tp.transpose(tp.zeros((2, 3, 4)), perm=(1, 0, 2)).shape
        (3, 2, 4)
    """
    perm = axes if perm is None else perm
    if perm is not None:
        ndim = len(x.shape) if hasattr(x, "shape") else xp.ndim(x)
        perm = tuple(p % ndim for p in perm)
    return transpose_op(x, perm=perm)


def moveaxis_many(x, axes, inverse=False):
    """Move ``axes`` to the end (or back, with ``inverse``) — a transpose."""
    ndim = x.ndim
    rest = [a for a in range(ndim) if a not in axes]
    perm = tuple(rest) + tuple(axes)
    return transpose_op(x, perm=_inverse_perm(perm) if inverse else perm)


def swapaxes(x, axis1=-1, axis2=-2):
    """Exchange two axes."""
    ndim = x.ndim
    perm = list(range(ndim))
    a, b = axis1 % ndim, axis2 % ndim
    perm[a], perm[b] = perm[b], perm[a]
    return transpose_op(x, perm=tuple(perm))


def expand_dims(x, axis):
    """Insert a size-1 axis at ``axis`` (an int or tuple).

    Example:
        >>> import tapeflow as tp
        >>> tp.expand_dims(tp.ones((2, 3)), -1).shape
        (2, 3, 1)
    """
    try:
        shape = xp.expand_dims(xp.empty(_shape(x), dtype=bool), axis).shape
    except (ValueError, IndexError) as e:
        raise ShapeError(f"expand_dims: cannot insert axis {axis} into shape {_shape(x)} ({e})") from None
    return reshape_op(x, shape=shape)


def squeeze(x, axis=None):
    """Remove size-1 axes (all, or those in ``axis``)."""
    try:
        shape = xp.squeeze(xp.empty(_shape(x), dtype=bool), axis=axis).shape
    except (ValueError, IndexError) as e:
        raise ShapeError(f"squeeze: cannot remove axis {axis} from shape {_shape(x)}: {e}") from None
    return reshape_op(x, shape=shape)


def flatten(x):
    """All elements in one axis (row-major)."""
    return reshape_op(x, shape=(-1,))


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else xp.shape(x)


broadcast_to_op = defop(
    "broadcast_to",
    lambda x, shape: xp.broadcast_to(x, shape),
    lambda g, out, x, shape: g,  # the tape sums the broadcast gradient back to x's shape
    save_inputs=False,
    explain=lambda x, shape: f"cannot broadcast shape {xp.shape(x)} to {shape}",
)


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape`` (NumPy rules)."""
    return broadcast_to_op(x, shape=tuple(shape))


def _concat_vjp(g, out, *xs, axis=0):
    bounds = []
    start = 0
    for x in xs:
        n = x.shape[axis]
        bounds.append((start, start + n))
        start += n
    from tapeflow.ops.indexing import getitem

    ndim = g.ndim
    ax = axis % ndim
    return [getitem(g, (slice(None),) * ax + (slice(a, b),)) for a, b in bounds]


def _concat_explain(*xs, axis=0):
    return f"shapes {[xp.shape(x) for x in xs]} differ outside axis {axis}"


concatenate_op = Op("concatenate", lambda *xs, axis=0: xp.concatenate(xs, axis=axis), vjp=_concat_vjp,
                    save_inputs=False, explain=_concat_explain)


def concatenate(values, axis=0):
    """Join tensors along an existing axis (alias ``concat``).

    Example:
        >>> import tapeflow as tp
        >>> tp.concatenate([tp.ones((2, 3)), tp.zeros((1, 3))], axis=0).shape
        (3, 3)
    """
    return concatenate_op(*values, axis=axis)


concat = concatenate


def _stack_vjp(g, out, *xs, axis=0):
    from tapeflow.ops.indexing import getitem

    ax = axis % g.ndim
    return [getitem(g, (slice(None),) * ax + (i,)) for i in range(len(xs))]


stack_op = Op("stack", lambda *xs, axis=0: xp.stack(xs, axis=axis), vjp=_stack_vjp, save_inputs=False,
              explain=lambda *xs, axis=0: f"all inputs must have one shape; got {[xp.shape(x) for x in xs]}")


def stack(values, axis=0):
    """Join tensors of one shape along a new axis.

    Example:
        >>> import tapeflow as tp
        >>> tp.stack([tp.ones(3), tp.zeros(3)], axis=1).shape
        (3, 2)
    """
    return stack_op(*values, axis=axis)


def unstack(x, axis=0):
    """Split along ``axis`` into a list of tensors with that axis removed."""
    from tapeflow.ops.indexing import getitem

    ax = axis % x.ndim
    return [getitem(x, (slice(None),) * ax + (i,)) for i in range(x.shape[ax])]


def split(x, num_or_size_splits, axis=0):
    """Split into equal parts (an int) or parts of the given sizes (a list; one may be -1).

    Example:
        >>> import tapeflow as tp
        >>> [p.shape for p in tp.split(tp.ones((6, 2)), [1, -1, 2])]
        [(1, 2), (3, 2), (2, 2)]
    """
    from tapeflow.errors import ShapeError
    from tapeflow.ops.indexing import getitem

    n = x.shape[axis]
    if isinstance(num_or_size_splits, int):
        if n % num_or_size_splits:
            raise ShapeError(
                f"split: axis {axis} of size {n} does not divide into {num_or_size_splits} parts"
            )
        sizes = [n // num_or_size_splits] * num_or_size_splits
    else:
        sizes = list(num_or_size_splits)
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = n - (sum(sizes) + 1)
        if sum(sizes) != n or min(sizes) < 0:
            raise ShapeError(f"split: sizes {list(num_or_size_splits)} do not add up to axis {axis} size {n}")
    ax = axis % x.ndim
    parts, start = [], 0
    for s in sizes:
        parts.append(getitem(x, (slice(None),) * ax + (slice(start, start + s),)))
        start += s
    return parts


def _tile_grad(g, out, x, reps):
    reps = tuple(reps)
    shape = x.shape
    reps = (1,) * (len(shape) - len(reps)) + reps
    shape = (1,) * (len(reps) - len(shape)) + tuple(shape)
    split_shape = []
    for r, n in zip(reps, shape):
        split_shape += [r, n]
    from tapeflow.ops.reduction import sum as _sum

    g = reshape_op(g, shape=tuple(split_shape))
    g = _sum(g, axis=tuple(range(0, 2 * len(shape), 2)))
    return reshape_op(g, shape=x.shape)


tile_op = defop("tile", lambda x, reps: xp.tile(x, reps), _tile_grad, save_inputs=False)


def tile(x, reps):
    """Repeat the whole tensor ``reps[i]`` times along axis i."""
    return tile_op(x, reps=tuple(reps) if not isinstance(reps, int) else (reps,))


def _repeat_grad(g, out, x, repeats, axis=None):
    from tapeflow.ops.reduction import sum as _sum

    if axis is None:
        g = reshape_op(g, shape=(-1, repeats))
        return reshape_op(_sum(g, axis=1), shape=x.shape)
    ax = axis % len(x.shape)
    shape = tuple(x.shape[: ax + 1]) + (repeats,) + tuple(x.shape[ax + 1 :])
    return _sum(reshape_op(g, shape=shape), axis=ax + 1)


repeat_op = defop("repeat", lambda x, repeats, axis=None: xp.repeat(x, repeats, axis=axis), _repeat_grad,
                  save_inputs=False)


def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times (an int) along ``axis`` (flattened when None)."""
    if not isinstance(repeats, int):
        raise TypeError(f"repeat: `repeats` must be an int. Received: repeats={repeats!r}")
    return repeat_op(x, repeats=repeats, axis=axis)


def _pad_grad(g, out, x, pad_width, mode="constant", constant_values=0):
    from tapeflow.ops.indexing import getitem

    return getitem(g, tuple(slice(a, a + n) for (a, _), n in zip(pad_width, x.shape)))


pad_op = defop(
    "pad",
    lambda x, pad_width, mode="constant", constant_values=0: xp.pad(x, pad_width, mode="constant",
                                                                    constant_values=constant_values),
    _pad_grad,
    save_inputs=False,
)


def pad(x, paddings, mode="constant", constant_values=0):
    """Pad with a constant: ``paddings[i] = (before, after)`` for axis i (TensorFlow's ``tf.pad``)."""
    if str(mode).lower() != "constant":
        raise ValueError(f"pad: only mode='constant' is supported. Received: mode={mode!r}")
    ndim = len(_shape(x))
    widths = tuple((int(a), int(b)) for a, b in xp.broadcast_to(xp.asarray(paddings), (ndim, 2)).tolist())
    return pad_op(x, pad_width=widths, constant_values=constant_values)


flip_op = defop("flip", lambda x, axis=None: xp.flip(x, axis=axis),
                lambda g, out, x, axis=None: flip_op(g, axis=axis), save_inputs=False)


def flip(x, axis=None):
    """Reverse the order of elements along ``axis`` (all axes when None)."""
    return flip_op(x, axis=axis)


def roll(x, shift, axis=None):
    """Shift entries along ``axis`` cyclically (``tf.roll`` / ``np.roll``; all axes flattened when None).

    Example:
        >>> import tapeflow as tp
        >>> tp.roll([1.0, 2.0, 3.0, 4.0], 1)
        tapeflow.Tensor([4. 1. 2. 3.], shape=(4,), dtype=float32)
    """
    from tapeflow.ops.indexing import getitem

    shape = _shape(x)
    if axis is None:
        return reshape(roll(flatten(x), shift, 0), shape)
    shifts = [shift] if isinstance(shift, int) else list(shift)
    axes = [axis] if isinstance(axis, int) else list(axis)
    if len(shifts) != len(axes):
        raise ShapeError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    out = x
    for s, a in zip(shifts, axes):
        n = shape[a]
        index = (xp.arange(n) - int(s)) % n
        out = getitem(out, (slice(None),) * (a % len(shape)) + (index,))
    return out


def meshgrid(*tensors, indexing="xy"):
    """Coordinate grids from 1-D tensors (``tf.meshgrid``; ``indexing="ij"`` for matrix order).

    Example:
        >>> import tapeflow as tp
        >>> [g.shape for g in tp.meshgrid([1.0, 2.0, 3.0], [4.0, 5.0])]
        [(2, 3), (2, 3)]
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"`indexing` must be 'xy' or 'ij'. Received: indexing={indexing!r}")
    sizes = [_shape(t)[0] for t in tensors]
    n = len(tensors)
    full = list(sizes)
    if indexing == "xy" and n >= 2:
        full[0], full[1] = full[1], full[0]
    out = []
    for i, t in enumerate(tensors):
        place = i
        if indexing == "xy" and n >= 2 and i < 2:
            place = 1 - i
        view = [1] * n
        view[place] = sizes[i]
        out.append(broadcast_to(reshape(t, tuple(view)), tuple(full)))
    return out


def sequence_mask(lengths, maxlen=None, dtype="bool"):
    """``mask[..., j] = j < lengths[...]`` (``tf.sequence_mask``): the padding mask of sequences of the given
    lengths (no gradient).

    Example:
        >>> import tapeflow as tp
        >>> tp.sequence_mask([1, 3], 4).numpy().astype(int).tolist()
        [[1, 0, 0, 0], [1, 1, 1, 0]]
    """
    from tapeflow._tensor import Tensor

    n = lengths._value if isinstance(lengths, Tensor) else xp.asarray(lengths)
    maxlen = int(n.max()) if maxlen is None else int(maxlen)
    return Tensor((xp.arange(maxlen) < n[..., None]).astype(dtype))


def tril(x, k=0):
    """The lower triangle of the last two axes (entries above diagonal ``k`` set to 0)."""
    from tapeflow.ops.elementwise import multiply

    return multiply(x, xp.tril(xp.ones(_shape(x)[-2:], dtype=bool), k))


def triu(x, k=0):
    """The upper triangle of the last two axes (entries below diagonal ``k`` set to 0)."""
    from tapeflow.ops.elementwise import multiply

    return multiply(x, xp.triu(xp.ones(_shape(x)[-2:], dtype=bool), k))
