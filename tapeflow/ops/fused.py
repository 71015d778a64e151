"""Fused ops for training: a dense layer (matmul + bias + activation) and sparse softmax cross-entropy.

Each is one op with its gradient beside it, so a training step records a few nodes instead of many and the
backward pass skips temporaries: the forward writes bias and activation in place into the fresh matmul result.
The gradient rules have two paths computing the same values: when no outer tape is recording (ordinary
first-order training) they work on arrays directly; when one is (higher derivatives) they are written in
tapeflow ops, so they are differentiable themselves. The dense gradient is one ``vjp`` that computes the
pre-activation gradient once for the inputs the tape asks about (no state shared between calls, so
threads running backward at once cannot mix their gradients).
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow._tape import _state
from tapeflow._tensor import Tensor, wrap
from tapeflow.ops import _native, _reuse, fusable
from tapeflow.ops._registry import Op, defop

xp = B.xp

DENSE_ACTIVATIONS = fusable.NAMES


def _no_bias(b):
    return isinstance(b, (int, float)) and b == 0


# the activations the C kernels apply beside the matrix product (their code in _ckernels_dense.h)
_C_ACTIVATIONS = {fusable.LINEAR: 0, fusable.RELU: 1}


def _c_kernels(activation, *arrays):
    """The C kernels when they can take these C-contiguous arrays and this activation, else None."""
    k = _native.usable(*arrays) if activation in _C_ACTIVATIONS else None
    return k if k is not None and all(a.flags.c_contiguous for a in arrays) else None


def _bias_activation_(y, bias, activation):
    """``activation(y + bias)`` written into ``y`` (a fresh matrix product), one pass over it where it can."""
    has_bias = not _no_bias(bias)
    if has_bias:
        fused = B.fused()  # CuPy: bias and activation in one kernel launch
        if fused is not None and fused.bias_activation(y, bias, activation.name) is not None:
            return y
    n = y.shape[-1] if y.ndim else 1
    if not has_bias or (getattr(bias, "shape", None) == (n,) and bias.dtype == y.dtype):
        k = _c_kernels(activation, y, *((bias,) if has_bias else ()))
        if k is not None:
            k.bias_act(y, bias if has_bias else None, _C_ACTIVATIONS[activation],
                       _native.threads(y.size, y.size // max(n, 1)))
            return y
    if has_bias:
        y += bias  # y is a fresh array: add in place
    return activation.forward_(y)


def _preactivation_grad(activation, g, out, with_bias):
    """``(gz, gb)``: ``g * activation'(out)`` and, when ``with_bias``, its sum over every axis but the last
    (the bias gradient), one pass over ``g`` where the C kernels can take it."""
    n = out.shape[-1] if out.ndim else 1
    k = _c_kernels(activation, g, out)
    if k is not None and g.shape == out.shape:
        relu = _C_ACTIVATIONS[activation]
        gz = _reuse.empty("dense.gz", g.shape, g.dtype) if relu else None
        gb = xp.empty(n, g.dtype) if with_bias else None
        k.act_grad(g, out, gz, gb, relu, _native.threads(g.size, g.size // max(n, 1)))
        return (gz if relu else g), gb
    fused = B.fused()  # CuPy: g * f'(out) in one kernel launch
    gz = None if fused is None else fused.activation_grad(activation.name, g, out)
    if gz is None:
        gz = activation.backward(g, out)
    return gz, (gz.reshape(-1, n).sum(axis=0) if with_bias else None)


def _dense(x, kernel, bias, activation=fusable.LINEAR):
    return _bias_activation_(_reuse.matmul("dense", x, kernel), bias, activation)


def _dense_explain(x, kernel, bias, activation=fusable.LINEAR):
    sx, sk = xp.shape(x), xp.shape(kernel)
    if len(sk) != 2 or len(sx) == 0 or sx[-1] != sk[0]:
        return f"inputs' last dimension must equal the kernel's first; got x.shape={sx}, kernel.shape={sk}"
    return None


def _raw(x):
    """The array of a saved input: a Tensor's value, or the array itself (inputs given as plain arrays)."""
    return x._value if isinstance(x, Tensor) else x


def _dense_vjp(g, out, x, kernel, bias, activation=fusable.LINEAR, needs=(True, True, True)):
    """The gradients of ``dense`` for the inputs in ``needs``, sharing one pre-activation gradient ``gz``.

    With no tape recording (ordinary first-order training) it works on arrays; while one records (higher
    derivatives) the same formulas run as tapeflow ops, so they are differentiable themselves.
    """
    k, n = kernel.shape
    if not _state.recording:
        gz, gb = _preactivation_grad(activation, g._value, out._value, needs[2])
        gx = wrap(_reuse.matmul("dense.gx", gz, _raw(kernel).T)) if needs[0] else None
        gz2 = gz.reshape(-1, n)
        gk = wrap(_reuse.matmul("dense.gk", _raw(x).reshape(-1, k).T, gz2)) if needs[1] else None
        return gx, gk, None if gb is None else wrap(gb)
    from tapeflow.ops.linalg_ops import matmul_op
    from tapeflow.ops.manipulation import reshape, transpose
    from tapeflow.ops.reduction import sum as _sum

    g = activation.backward_op(g, out)
    gx = matmul_op(g, transpose(kernel)) if needs[0] else None
    gk = matmul_op(transpose(reshape(x, (-1, k))), reshape(g, (-1, n))) if needs[1] else None
    gb = _sum(reshape(g, (-1, n)), axis=0) if needs[2] else None
    return gx, gk, gb


dense_op = Op("dense", _dense, vjp=_dense_vjp, vjp_needs=True, save_output=True, explain=_dense_explain)


def dense(x, kernel, bias=None, activation="linear"):
    """``activation(x @ kernel + bias)`` as one op with one backward pass.

    Args:
        x: inputs ``(..., k)``.
        kernel: ``(k, n)``.
        bias: ``(n,)`` or None.
        activation: ``"linear"``, ``"relu"``, ``"sigmoid"`` or ``"tanh"``, or the function itself
            (``tp.relu``, ``tp.activations.relu``; see :mod:`tapeflow.ops.fusable`).

    Shape:
        ``(..., k), (k, n), (n,) -> (..., n)``.

    Raises:
        ShapeError: when ``x``'s last dimension differs from ``kernel``'s first.
        ValueError: for an activation the fused op cannot apply.

    Example:
        >>> import tapeflow as tp
        >>> tp.ops.fused.dense([[1.0, -2.0]], [[1.0], [1.0]], [0.5], activation="relu")
        tapeflow.Tensor(
        [[0.]], shape=(1, 1), dtype=float32)
    """
    return dense_op(x, kernel, 0.0 if bias is None else bias, activation=fusable.resolve(activation, "dense"))


def _labels_index(labels, logits):
    lab = labels
    if lab.ndim == logits.ndim and lab.shape[-1] == 1:
        lab = lab.reshape(lab.shape[:-1])
    if lab.shape != logits.shape[:-1]:
        raise ValueError(
            f"labels of shape {labels.shape} do not fit logits of shape {logits.shape}: expected labels of "
            f"shape {logits.shape[:-1]} (one class index per sample)"
        )
    checks = B.checks_values()  # each value check waits for a device: NumPy only
    if lab.dtype.kind == "f":
        if checks and lab.size and not bool(xp.all(lab == xp.floor(lab))):
            raise ValueError("labels must be whole numbers (class indices); got fractional values")
        lab = lab.astype(xp.int64)
    elif lab.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices; got dtype {lab.dtype}")
    n = logits.shape[-1]
    if checks and lab.size and (int(lab.min()) < 0 or int(lab.max()) >= n):
        bad = int(lab.min()) if int(lab.min()) < 0 else int(lab.max())
        raise ValueError(f"labels must be in [0, {n}) for logits with {n} classes; received a label {bad}")
    return lab


def _pick(z, lab):
    """``z[..., lab]`` for each leading index (plain fancy indexing for the usual 2-D case)."""
    if z.ndim == 2:
        return z[xp.arange(z.shape[0]), lab]
    return xp.take_along_axis(z, lab[..., None], axis=-1)[..., 0]


def _sparse_xent(labels, logits, mean=False):
    lab = _labels_index(labels, logits)
    z = logits - xp.max(logits, axis=-1, keepdims=True)
    picked = _pick(z, lab)
    xp.exp(z, out=z)
    losses = xp.log(xp.sum(z, axis=-1)) - picked
    return xp.mean(losses) if mean else losses


def _sparse_xent_grad(g, out, labels, logits, mean=False):
    raw = _raw(labels)
    lv = _raw(logits)
    # the forward pass validated the labels; here they only need the same shape and integer type
    lab = raw.reshape(lv.shape[:-1]) if raw.ndim == lv.ndim else raw
    lab = lab if lab.dtype.kind in "iu" else lab.astype(xp.int64)
    if not _state.recording:
        p = lv - xp.max(lv, axis=-1, keepdims=True)
        xp.exp(p, out=p)
        p /= xp.sum(p, axis=-1, keepdims=True)
        if p.ndim == 2:
            p[xp.arange(p.shape[0]), lab] -= 1
        else:
            xp.put_along_axis(p, lab[..., None], xp.take_along_axis(p, lab[..., None], axis=-1) - 1, axis=-1)
        if mean:
            p *= g._value / max(lab.size, 1)
        else:
            p *= g._value[..., None]
        return wrap(p)
    from tapeflow.ops.manipulation import expand_dims
    from tapeflow.ops.nn_ops import softmax

    onehot = wrap((lab[..., None] == xp.arange(logits.shape[-1])).astype(logits.dtype))  # labels: a constant
    if mean:
        return (softmax(logits) - onehot) * (g / max(lab.size, 1))
    return (softmax(logits) - onehot) * expand_dims(g, -1)


sparse_softmax_cross_entropy_op = defop("sparse_softmax_cross_entropy", _sparse_xent, None, _sparse_xent_grad)


def sparse_softmax_cross_entropy(labels, logits, mean=False):
    """Per-sample cross-entropy of integer ``labels`` against unnormalized ``logits`` (stable for any logits).

    Formula:
        ``loss = logsumexp(logits) - logits[label]``; gradient ``softmax(logits) - one_hot(label)``.

    Args:
        labels: integer class indices.
        logits: unnormalized scores, classes on the last axis.
        mean: return the mean over all samples (a scalar) instead of each sample's loss; one op either way.

    Shape:
        ``labels (...,)`` or ``(..., 1)``, ``logits (..., classes) -> (...,)`` (``()`` with ``mean=True``).

    Raises:
        ValueError: for labels outside ``[0, classes)``, naming the bad label.

    Example:
        >>> import tapeflow as tp
        >>> loss = tp.ops.fused.sparse_softmax_cross_entropy([0, 1], [[1000.0, 0.0], [0.0, 0.0]])
        >>> [round(float(v), 4) for v in loss]
        [0.0, 0.6931]
    """
    return sparse_softmax_cross_entropy_op(labels, logits, mean=bool(mean))


__all__ = ["dense", "sparse_softmax_cross_entropy", "DENSE_ACTIVATIONS"]
