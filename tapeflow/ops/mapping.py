"""``map_fn`` and ``vectorized_map``: apply a function to each slice along the first axis and stack the
results (TensorFlow's names). Both run the function once per slice, eagerly, so gradients flow through it."""

from __future__ import annotations

from tapeflow._tensor import Tensor


def _slices(elems):
    if isinstance(elems, (list, tuple)):
        parts = [_slices(e) for e in elems]
        n = len(parts[0])
        if any(len(p) != n for p in parts):
            raise ValueError(f"map_fn: the elements differ in length along axis 0: {[len(p) for p in parts]}")
        return [type(elems)(p[i] for p in parts) for i in range(n)]
    if isinstance(elems, dict):
        keys = list(elems)
        parts = [_slices(elems[k]) for k in keys]
        return [dict(zip(keys, vals)) for vals in zip(*parts)]
    t = elems if isinstance(elems, Tensor) else Tensor(elems)
    return [t[i] for i in range(t.shape[0])]


def _stack(results):
    from tapeflow.ops.manipulation import stack

    first = results[0]
    if isinstance(first, (list, tuple)):
        return type(first)(_stack([r[i] for r in results]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([r[k] for r in results]) for k in first}
    return stack(results, axis=0)


def map_fn(fn, elems, dtype=None, fn_output_signature=None, **kwargs):
    """``stack([fn(x) for x in unstack(elems)])``, with nests of tensors in and out (``tf.map_fn``).

    Example:
        >>> import tapeflow as tp
        >>> tp.map_fn(lambda x: x * x, tp.constant([1.0, 2.0, 3.0]))
        tapeflow.Tensor([1. 4. 9.], shape=(3,), dtype=float32)
    """
    slices = _slices(elems)
    if not slices:
        raise ValueError("map_fn: `elems` is empty along axis 0")
    return _stack([fn(s) for s in slices])


def vectorized_map(fn, elems, fallback_to_while_loop=True, warn=True):
    """Keras / TensorFlow's ``vectorized_map``: here the same as :func:`map_fn` (one call per slice)."""
    return map_fn(fn, elems)
