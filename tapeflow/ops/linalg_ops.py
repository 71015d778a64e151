"""Linear-algebra ops: matmul with broadcasting batch dimensions, dot, tensordot, einsum, outer.

The implementation; the public names are ``tp.matmul``, ``tp.ops.matmul`` and TensorFlow's ``tp.linalg``
namespace (``tapeflow/linalg.py``), which re-export these.
"""

from __future__ import annotations

import string

from tapeflow import _backend as B
from tapeflow.ops._registry import Op, defop

xp = B.xp


def _matmul_explain(a, b):
    sa, sb = xp.shape(a), xp.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return f"both operands need at least one dimension; got a.shape={sa}, b.shape={sb}"
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        return f"inner dimensions differ; got a.shape={sa}, b.shape={sb}"
    return f"batch dimensions cannot be broadcast; got a.shape={sa}, b.shape={sb}"


def _matmul_grad_a(g, out, a, b):
    from tapeflow.ops.manipulation import expand_dims, squeeze, swapaxes

    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if a.ndim == 1:  # (k,) @ (..., k, n) -> (..., n)
        return squeeze(matmul_op(expand_dims(g, -2), swapaxes(b)), -2)
    if b.ndim == 1:  # (..., m, k) @ (k,) -> (..., m)
        return expand_dims(g, -1) * b
    return matmul_op(g, swapaxes(b))


def _matmul_grad_b(g, out, a, b):
    from tapeflow.ops.manipulation import expand_dims, squeeze, swapaxes

    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if b.ndim == 1:  # (..., m, k) @ (k,) -> (..., m)
        return squeeze(matmul_op(swapaxes(a), expand_dims(g, -1)), -1)
    if a.ndim == 1:  # (k,) @ (..., k, n) -> (..., n)
        return expand_dims(a, -1) * expand_dims(g, -2)
    return matmul_op(swapaxes(a), g)


matmul_op = defop("matmul", lambda a, b: xp.matmul(a, b), _matmul_grad_a, _matmul_grad_b,
                  explain=_matmul_explain)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False):
    """Matrix product with NumPy's rules: batch dimensions broadcast; a 1-D operand is a vector.

    ``transpose_a`` / ``transpose_b`` (TensorFlow's arguments; ``adjoint_*`` is the same for real numbers)
    swap the last two axes of an operand first.

    Shape:
        ``(..., m, k) @ (..., k, n) -> (..., m, n)``.

    Raises:
        ShapeError: naming both shapes when the inner dimensions differ.

    Example:
        >>> import tapeflow as tp
        >>> tp.matmul([[1, 3], [2, 4]], [[5, 7], [6, 8]])
        tapeflow.Tensor(
        [[23 31]
         [34 46]], shape=(2, 2), dtype=int32)
    """
    if transpose_a or adjoint_a or transpose_b or adjoint_b:
        from tapeflow.ops.manipulation import swapaxes

        a = swapaxes(a, -1, -2) if transpose_a or adjoint_a else a
        b = swapaxes(b, -1, -2) if transpose_b or adjoint_b else b
    return matmul_op(a, b)


def _parse(subscripts, shapes):
    """Expand '...' into letters and make the output explicit."""
    subscripts = subscripts.replace(" ", "")
    lhs, _, rhs = subscripts.partition("->")
    ins = lhs.split(",")
    used = set(subscripts) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    ell_n = max((len(s) - (len(sub) - 3) for sub, s in zip(ins, shapes) if "..." in sub), default=0)
    ell = "".join(spare[:ell_n])
    fixed = []
    for sub, s in zip(ins, shapes):
        if "..." in sub:
            n = len(s) - (len(sub) - 3)
            sub = sub.replace("...", ell[ell_n - n :] if n else "")
        fixed.append(sub)
    if "->" in subscripts:
        out = rhs.replace("...", ell)
    else:
        letters = "".join(fixed)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    return fixed, out


def _einsum_vjp(g, out, *xs, subscripts):
    """Each operand's gradient is another einsum: the output gradient against the other operands. Letters
    summed only inside the operand are broadcast back; a repeated letter (a diagonal, ``"ii"``) is put back on
    the diagonal with an identity mask."""
    from tapeflow.ops.manipulation import broadcast_to, reshape

    ins, res = _parse(subscripts, [x.shape for x in xs])
    used = set("".join(ins))
    spare = iter(c for c in string.ascii_letters if c not in used)
    grads = []
    for i, (sub, x) in enumerate(zip(ins, xs)):
        others = [s for j, s in enumerate(ins) if j != i]
        uniq = "".join(dict.fromkeys(sub))
        size = {c: x.shape[k] for k, c in enumerate(sub)}
        avail = set(res).union(*others)
        keep = "".join(c for c in uniq if c in avail)
        rest = [y for j, y in enumerate(xs) if j != i]
        gi = einsum_op(g, *rest, subscripts=",".join([res, *others]) + "->" + keep)
        if keep != uniq:  # letters summed only inside this operand: broadcast back over them
            gi = broadcast_to(reshape(gi, tuple(size[c] if c in keep else 1 for c in uniq)),
                              tuple(size[c] for c in uniq))
        if uniq != sub:  # a diagonal: spread over fresh letters, masked to where the repeated ones agree
            fresh, mask, seen = "", xp.ones(x.shape, dtype=g.dtype), set()
            for k, c in enumerate(sub):
                if c in seen:
                    first = sub.index(c)
                    eye_shape = [1] * len(sub)
                    eye_shape[first], eye_shape[k] = size[c], size[c]
                    mask = mask * xp.eye(size[c], dtype=g.dtype).reshape(eye_shape)
                    fresh += next(spare)
                else:
                    seen.add(c)
                    fresh += c
            gi = einsum_op(gi, mask, subscripts=f"{uniq},{fresh}->{fresh}")
        grads.append(gi)
    return grads


def _einsum_explain(*xs, subscripts):
    shapes = ", ".join(str(xp.shape(x)) for x in xs)
    return f"operands of shapes {shapes} do not fit subscripts {subscripts!r}"


einsum_op = Op("einsum", lambda *xs, subscripts: xp.einsum(subscripts, *xs), vjp=_einsum_vjp,
               explain=_einsum_explain)


def einsum(subscripts, *operands):
    """Einstein summation, NumPy's notation (``"...ij,...jk->...ik"``); differentiable.

    Example:
        >>> import tapeflow as tp
        >>> tp.einsum("ij,j->i", [[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0])
        tapeflow.Tensor([3. 7.], shape=(2,), dtype=float32)
    """
    return einsum_op(*operands, subscripts=subscripts)


def tensordot(a, b, axes=2):
    """Sum products over ``axes`` (an int: the last n of a with the first n of b; or two lists of axes)."""
    na, nb = len(xp.shape(a) if not hasattr(a, "ndim") else a.shape), len(
        xp.shape(b) if not hasattr(b, "ndim") else b.shape
    )
    if isinstance(axes, int):
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = ([axes[0]] if isinstance(axes[0], int) else list(axes[0]),
                          [axes[1]] if isinstance(axes[1], int) else list(axes[1]))
    axes_a = [x % na for x in axes_a]
    axes_b = [x % nb for x in axes_b]
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(axes_a, axes_b):
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in axes_a] + [c for k, c in enumerate(sb) if k not in axes_b]
    return einsum_op(a, b, subscripts=f"{''.join(sa)},{''.join(sb)}->{''.join(out)}")


def dot(a, b):
    """NumPy's ``dot``: matmul for 1-D/2-D operands; for N-D, sums over a's last and b's second-to-last axis.

    Example:
        >>> import tapeflow as tp
        >>> tp.dot([1.0, 2.0], [3.0, 4.0])
        tapeflow.Tensor(11.0, shape=(), dtype=float32)
    """
    na = len(a.shape) if hasattr(a, "shape") else xp.ndim(a)
    nb = len(b.shape) if hasattr(b, "shape") else xp.ndim(b)
    if na == 0 or nb == 0:
        from tapeflow.ops.elementwise import multiply

        return multiply(a, b)
    if na <= 2 and nb <= 2:
        return matmul_op(a, b)
    return tensordot(a, b, axes=([na - 1], [max(nb - 2, 0)]))


def outer(a, b):
    """Outer product of two vectors (flattened first)."""
    from tapeflow.ops.manipulation import reshape

    return matmul_op(reshape(a, (-1, 1)), reshape(b, (1, -1)))
