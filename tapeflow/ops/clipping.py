"""Clipping and normalizing by norms: ``clip_by_value``, ``clip_by_norm``, ``clip_by_global_norm``,
``l2_normalize`` (TensorFlow's names), composed of tapeflow ops so gradients flow."""

from __future__ import annotations

from tapeflow._tensor import Tensor
from tapeflow.ops import elementwise as ew
from tapeflow.ops import reduction as red


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def clip_by_value(t, clip_value_min, clip_value_max):
    """Limit values to ``[clip_value_min, clip_value_max]`` (``tf.clip_by_value``).

    Example:
        >>> import tapeflow as tp
        >>> tp.clip_by_value([-2.0, 0.5, 3.0], 0.0, 1.0)
        tapeflow.Tensor([0.  0.5 1. ], shape=(3,), dtype=float32)
    """
    return ew.minimum(ew.maximum(_tensor(t), clip_value_min), clip_value_max)


def _l2(x, axis=None, keepdims=False):
    return ew.sqrt(red.sum(ew.square(x), axis=axis, keepdims=keepdims))


def clip_by_norm(t, clip_norm, axes=None):
    """Rescale ``t`` so its L2 norm (over ``axes``, all by default) is at most ``clip_norm``
    (``tf.clip_by_norm``).

    Example:
        >>> import tapeflow as tp
        >>> tp.clip_by_norm([3.0, 4.0], 1.0)
        tapeflow.Tensor([0.6 0.8], shape=(2,), dtype=float32)
    """
    t = _tensor(t)
    axes = tuple(axes) if isinstance(axes, list) else axes
    norm = _l2(t, axis=axes, keepdims=True)
    return t * clip_norm / ew.maximum(norm, clip_norm)


def global_norm(t_list):
    """The L2 norm of all tensors of ``t_list`` together (None entries skipped)."""
    terms = [red.sum(ew.square(_tensor(t))) for t in t_list if t is not None]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return ew.sqrt(total)


def clip_by_global_norm(t_list, clip_norm, use_norm=None):
    """Rescale every tensor of ``t_list`` by ``clip_norm / max(global_norm, clip_norm)``; returns
    ``(clipped list, global_norm)`` (``tf.clip_by_global_norm``; None entries stay None).

    Example:
        >>> import tapeflow as tp
        >>> clipped, norm = tp.clip_by_global_norm([tp.constant([3.0]), tp.constant([4.0])], 1.0)
        >>> float(norm), [c.numpy().tolist() for c in clipped]
        (5.0, [[0.6000000238418579], [0.800000011920929]])
    """
    t_list = list(t_list)
    norm = global_norm(t_list) if use_norm is None else _tensor(use_norm)
    scale = clip_norm / ew.maximum(norm, clip_norm)
    return [None if t is None else _tensor(t) * scale for t in t_list], norm


def l2_normalize(x, axis=None, epsilon=1e-12):
    """``x / sqrt(max(sum(x ** 2, axis), epsilon))`` (``tf.math.l2_normalize``).

    Example:
        >>> import tapeflow as tp
        >>> tp.math.l2_normalize([3.0, 4.0])
        tapeflow.Tensor([0.6 0.8], shape=(2,), dtype=float32)
    """
    x = _tensor(x)
    axis = tuple(axis) if isinstance(axis, list) else axis
    return x / ew.sqrt(ew.maximum(red.sum(ew.square(x), axis=axis, keepdims=True), epsilon))
