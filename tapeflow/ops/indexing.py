"""Indexing ``t[key]`` and gathering: every NumPy index form, differentiable.

Integers (negative ones count from the end), slices with any step, ``...`` (also ``tp.all_dims()``), ``None``
(``tp.newaxis``), integer arrays and boolean masks. The gradient scatters back with addition, so an element
picked twice receives both gradients.
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow._tensor import Tensor
from tapeflow._trace import host
from tapeflow.ops._registry import defop

xp = B.xp


def _normalize_key(key):
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, Tensor):
            k = k._value
        elif isinstance(k, list) or (hasattr(k, "__array__") and not isinstance(k, B.ndarray)):
            k = xp.asarray(k)  # host index arrays (lists, NumPy) move to the backend
        if isinstance(k, B.ndarray) and k.ndim == 0 and k.dtype.kind in "iu":
            k = int(k)
        out.append(k)
    return tuple(out)


def _explain_index(x, key):
    shape = xp.shape(x)
    axis = 0
    for k in key:
        if k is None:
            continue
        if k is Ellipsis:
            axis = len(shape) - sum(1 for j in key if j is not None and j is not Ellipsis) + axis
            continue
        if isinstance(k, int):
            if axis >= len(shape):
                return f"too many indices for a tensor of shape {shape}"
            if not -shape[axis] <= k < shape[axis]:
                return f"index {k} is out of range for axis {axis} with size {shape[axis]}"
        if isinstance(k, B.ndarray) and k.dtype.kind in "iu" and k.size and axis < len(shape):
            bad = k[(k >= shape[axis]) | (k < -shape[axis])]
            if bad.size:
                return f"index {int(bad.flat[0])} is out of range for axis {axis} with size {shape[axis]}"
        axis += k.ndim if isinstance(k, B.ndarray) and k.dtype == bool else 1
    return f"invalid index {key!r} for a tensor of shape {shape}"


def _scatter_add(g, key, shape):
    key = _normalize_key(key)
    out = xp.zeros(shape, dtype=g.dtype)
    if all(isinstance(k, (slice, int)) or k is None or k is Ellipsis for k in key):
        out[key] = g  # basic indexing never repeats an element
    else:
        xp.add.at(out, key, g)
    return out


scatter_add_op = defop(
    "scatter_add",
    _scatter_add,
    lambda g, out, gy, key, shape: getitem_op(g, key=_normalize_key(key)),
    save_inputs=False,
)

getitem_op = defop(
    "getitem",
    lambda x, key: x[key],
    lambda g, out, x, key: scatter_add_op(g, key=key, shape=x.shape),
    save_inputs=False,
    explain=_explain_index,
)


def getitem(x, key):
    """``x[key]`` as an op (see the module docstring for the index forms).

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> t = tp.constant(np.arange(12).reshape(3, 4))
        >>> t[-1, 1:], t[..., ::-2].shape, t[None, :, 0].shape
        (tapeflow.Tensor([ 9 10 11], shape=(3,), dtype=int64), (3, 2), (1, 3))
    """
    return getitem_op(x, key=_normalize_key(key))


class VariableSlice(Tensor):
    """``v[key]`` of a Variable: the values (an ordinary tensor for every op and tape), plus TensorFlow's
    sliced assignment ``v[0, 0].assign(3.0)``, which writes into the variable.

    The variable gets a new array with the slice replaced, so any tensor read from it before keeps its values
    (a tape that saved the old value still differentiates correctly).

    Example:
        >>> import tapeflow as tp
        >>> v = tp.Variable([[1.0, 2.0], [3.0, 4.0]])
        >>> _ = v[0, 1].assign(9.0)
        >>> _ = v[1].assign_add([1.0, 1.0])
        >>> v.numpy()
        array([[1., 9.],
               [4., 5.]], dtype=float32)
    """

    __slots__ = ("_variable", "_key")

    def _update(self, fn, value, what):
        return _assign_slice(self._variable, self._key, fn, value, what)

    def assign(self, value):
        """Write ``value`` into this slice of the variable; returns the variable."""
        return self._update(lambda old, v: v, value, "assign")

    def assign_add(self, delta):
        """Add ``delta`` to this slice of the variable; returns the variable."""
        return self._update(lambda old, v: old + v, delta, "assign_add")

    def assign_sub(self, delta):
        """Subtract ``delta`` from this slice of the variable; returns the variable."""
        return self._update(lambda old, v: old - v, delta, "assign_sub")


@host(returns=lambda var, key, fn, value, what: var)  # inside a tp.function: on every call, not at trace
def _assign_slice(var, key, fn, value, what):
    """Give ``var`` a new array with ``new[key] = fn(old[key], value)``."""
    new = xp.array(var._value, copy=True)
    arr = xp.asarray(value._value if isinstance(value, Tensor) else value, dtype=new.dtype)
    target = new[key]
    try:
        fits = xp.broadcast_shapes(xp.shape(arr), xp.shape(target)) == xp.shape(target)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{what}: a value of shape {xp.shape(arr)} does not fit the slice {key!r} of shape "
            f"{xp.shape(target)} of Variable '{var.name}'"
        )
    new[key] = fn(target, arr)
    var.assign(new)
    return var


def variable_getitem(var, key):
    """``var[key]`` for a Variable: :func:`getitem`'s tensor, able to ``assign`` into the variable."""
    out = getitem(var, key)
    t = object.__new__(VariableSlice)
    t._value, t._node = out._value, out._node
    t._variable, t._key = var, _normalize_key(key)
    return t


def gather(params, indices, axis=0):
    """Pick slices of ``params`` along ``axis`` at integer ``indices`` (TensorFlow's ``tf.gather``; alias
    ``take``).

    Example:
        >>> import tapeflow as tp
        >>> tp.gather([10.0, 20.0, 30.0], [2, 0, 2])
        tapeflow.Tensor([30. 10. 30.], shape=(3,), dtype=float32)
    """
    ndim = len(params.shape) if hasattr(params, "shape") else xp.ndim(params)
    ax = axis % ndim
    idx = indices._value if isinstance(indices, Tensor) else xp.asarray(indices)
    return getitem_op(params, key=(slice(None),) * ax + (idx,))


def take(x, indices, axis=None):
    """NumPy's ``take``: like :func:`gather`, over the flattened tensor when ``axis`` is None."""
    if axis is None:
        from tapeflow.ops.manipulation import flatten

        return gather(flatten(x), indices, axis=0)
    return gather(x, indices, axis=axis)


def all_dims():
    """``...``: every remaining dimension, as R's ``all_dims()``; ``t[tp.all_dims(), 0] == t[..., 0]``."""
    return Ellipsis


newaxis = None


def _ints(indices):
    arr = indices._value if isinstance(indices, Tensor) else xp.asarray(indices)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers; got dtype {arr.dtype}")
    return arr


def _nd_key(indices):
    """The index key of TensorFlow's ``*_nd`` ops: the last axis of ``indices`` addresses the leading axes."""
    idx = _ints(indices)
    return tuple(idx[..., i] for i in range(idx.shape[-1]))


def boolean_mask(tensor, mask, axis=0):
    """The entries (or slices) of ``tensor`` where ``mask`` is True, flattened over the masked axes
    (``tf.boolean_mask``); the gradient flows to the kept entries.

    Example:
        >>> import tapeflow as tp
        >>> tp.boolean_mask([[1.0, 2.0], [3.0, 4.0]], [True, False])
        tapeflow.Tensor(
        [[1. 2.]], shape=(1, 2), dtype=float32)
    """
    m = mask._value if isinstance(mask, Tensor) else xp.asarray(mask)
    return getitem(tensor, (slice(None),) * axis + (m.astype(bool),))


def gather_nd(params, indices, batch_dims=0):
    """Pick entries (or slices) of ``params`` whose leading coordinates are the last axis of ``indices``
    (``tf.gather_nd``, ``batch_dims=0``).

    Example:
        >>> import tapeflow as tp
        >>> tp.gather_nd([[1.0, 2.0], [3.0, 4.0]], [[0, 1], [1, 0]])
        tapeflow.Tensor([2. 3.], shape=(2,), dtype=float32)
    """
    if batch_dims:
        raise ValueError("gather_nd: only batch_dims=0 is supported")
    return getitem(params, _nd_key(indices))


def scatter_nd(indices, updates, shape):
    """A zero tensor of ``shape`` with ``updates`` added at ``indices`` (duplicates add up, as
    ``tf.scatter_nd``).

    Example:
        >>> import tapeflow as tp
        >>> tp.scatter_nd([[1], [3]], [9.0, 10.0], [5])
        tapeflow.Tensor([ 0.  9.  0. 10.  0.], shape=(5,), dtype=float32)
    """
    return scatter_add_op(updates, key=_nd_key(indices), shape=tuple(int(s) for s in shape))


def tensor_scatter_nd_update(tensor, indices, updates):
    """``tensor`` with the entries at ``indices`` replaced by ``updates`` (``tf.tensor_scatter_nd_update``);
    the replaced entries pass no gradient back to ``tensor``.

    Example:
        >>> import tapeflow as tp
        >>> tp.tensor_scatter_nd_update([1.0, 2.0, 3.0], [[0], [2]], [7.0, 9.0])
        tapeflow.Tensor([7. 2. 9.], shape=(3,), dtype=float32)
    """
    from tapeflow.ops.elementwise import multiply

    x = tensor if isinstance(tensor, Tensor) else Tensor(tensor)
    key = _nd_key(indices)
    keep = xp.ones(x.shape, dtype=x.dtype)
    keep[key] = 0
    return multiply(x, keep) + scatter_nd(indices, updates, x.shape)


def tensor_scatter_nd_add(tensor, indices, updates):
    """``tensor`` with ``updates`` added at ``indices`` (``tf.tensor_scatter_nd_add``)."""
    x = tensor if isinstance(tensor, Tensor) else Tensor(tensor)
    return x + scatter_nd(indices, updates, x.shape)
