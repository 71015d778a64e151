"""Matrix functions with gradients: ``inv``, ``det``, ``slogdet``, ``solve``, ``cholesky``, ``qr``, ``svd``,
``trace`` (TensorFlow's ``tf.linalg`` names; batch dimensions in front, as NumPy's ``linalg``).

Each gradient is written in tapeflow ops, so it is itself differentiable. The formulas are the standard
matrix-calculus ones (Giles 2008, "An extended collection of matrix derivative results"; Murray 2016 for the
Cholesky factor; Walter & Lehmann 2018 for QR; Townsend 2016 for the SVD).
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow.errors import ShapeError
from tapeflow.ops._registry import defop

xp = B.xp


def _t(x):
    from tapeflow.ops.manipulation import swapaxes

    return swapaxes(x, -1, -2)


def _mm(a, b):
    from tapeflow.ops.linalg_ops import matmul_op

    return matmul_op(a, b)


def _col(x):  # (...,) -> (..., 1, 1)
    from tapeflow.ops.manipulation import expand_dims

    return expand_dims(expand_dims(x, -1), -1)


def _part(results, i):
    """One array of a linalg function's tuple of results, as a backend array (a backend may hand back host
    arrays inside the tuple)."""
    return xp.asarray(results[i])


def _square(what):
    def explain(a, *rest):
        shape = xp.shape(a)
        if len(shape) < 2 or shape[-1] != shape[-2]:
            return f"needs square matrices in the last two axes; got a.shape={shape}"
        return f"the matrix is singular or not valid for {what}; got a.shape={shape}"

    return explain


inv_op = defop("inv", lambda a: xp.linalg.inv(a),
               lambda g, out, a: -_mm(_mm(_t(out), g), _t(out)),
               save_inputs=False, save_output=True, explain=_square("inv"))


def _det_grad(g, out, a):
    return _col(g * out) * _t(inv_op(a))


det_op = defop("det", lambda a: xp.linalg.det(a), _det_grad, save_output=True, explain=_square("det"))
logabsdet_op = defop("logabsdet", lambda a: _part(xp.linalg.slogdet(a), 1),
                     lambda g, out, a: _col(g) * _t(inv_op(a)), explain=_square("slogdet"))


def _solve_forward(a, b):
    return xp.linalg.solve(a, b)


def _solve_grad_b(g, out, a, b):
    return solve_op(_t(a), g)


def _solve_grad_a(g, out, a, b):
    return -_mm(solve_op(_t(a), g), _t(solve_op(a, b)))


def _solve_explain(a, b):
    sa, sb = xp.shape(a), xp.shape(b)
    if len(sa) < 2 or sa[-1] != sa[-2]:
        return f"`matrix` must be square in its last two axes; got matrix.shape={sa}, rhs.shape={sb}"
    if len(sb) < 2 or sb[-2] != sa[-1]:
        return f"`rhs` must be (..., {sa[-1]}, k); got matrix.shape={sa}, rhs.shape={sb}"
    return f"the matrix is singular; got matrix.shape={sa}, rhs.shape={sb}"


solve_op = defop("solve", _solve_forward, _solve_grad_a, _solve_grad_b, explain=_solve_explain)


def _phi(x):
    """The lower triangle of ``x`` with its diagonal halved."""
    n = x.shape[-1]
    mask = xp.tril(xp.ones((n, n), dtype=x.dtype)) - 0.5 * xp.eye(n, dtype=x.dtype)
    return x * mask


def _cholesky_grad(g, out, a):
    # Murray (2016): S = L^-T Phi(L^T G) L^-1, and the gradient of the symmetric input is (S + S^T) / 2
    lt = _t(out)
    x = solve_op(lt, _phi(_mm(lt, g)))
    s = _t(solve_op(lt, _t(x)))
    return 0.5 * (s + _t(s))


cholesky_op = defop("cholesky", lambda a: xp.linalg.cholesky(a), _cholesky_grad, save_inputs=False,
                    save_output=True, explain=_square("cholesky (symmetric positive definite)"))


def _copyltu(m):
    """The lower triangle of ``m`` mirrored onto the upper one."""
    n = m.shape[-1]
    lower = xp.tril(xp.ones((n, n), dtype=m.dtype))
    strict = lower - xp.eye(n, dtype=m.dtype)
    return m * lower + _t(m * strict)


def _qr_grad(gq, gr, a):
    # Walter & Lehmann (2018), reduced QR of a (..., m, n) matrix with m >= n; gq or gr may be None
    q, r = qr_q_op(a), qr_r_op(a)
    m = _mm(r, _t(gr)) if gr is not None else 0.0
    if gq is not None:
        m = m - _mm(_t(gq), q)
    b = _mm(q, _copyltu(m))
    if gq is not None:
        b = b + gq
    return _t(solve_op(r, _t(b)))


def _qr_explain(a):
    shape = xp.shape(a)
    if len(shape) < 2 or shape[-2] < shape[-1]:
        return f"needs (..., m, n) matrices with m >= n; got a.shape={shape}"
    return f"cannot factor a matrix of shape {shape}"


qr_q_op = defop("qr_q", lambda a: _part(xp.linalg.qr(a, mode="reduced"), 0),
                lambda g, out, a: _qr_grad(g, None, a), explain=_qr_explain)
qr_r_op = defop("qr_r", lambda a: _part(xp.linalg.qr(a, mode="reduced"), 1),
                lambda g, out, a: _qr_grad(None, g, a), explain=_qr_explain)


def _svd_values_grad(g, out, a):
    # d s_i = u_i^T dA v_i, so the gradient of the singular values is U diag(g) V^T
    u, v = svd_u_op(a), svd_v_op(a)
    from tapeflow.ops.manipulation import expand_dims

    return _mm(u * expand_dims(g, -2), _t(v))


def _svd_vectors_grad(a, gu, gv):
    # Townsend (2016) for the reduced SVD A = U diag(s) V^T of a square or tall matrix with distinct
    # singular values
    from tapeflow.ops.manipulation import expand_dims

    s, u, v = svd_s_op(a), svd_u_op(a), svd_v_op(a)
    s2 = expand_dims(s * s, -2)
    diff = s2 - _t(s2)  # s_j^2 - s_i^2 at (i, j)
    n = s.shape[-1]
    off = 1.0 - xp.eye(n, dtype=a.dtype)
    f = off / (diff + xp.eye(n, dtype=a.dtype))  # 1 / (s_j^2 - s_i^2) off the diagonal, 0 on it
    sm = expand_dims(s, -2)  # (..., 1, n): multiplies columns by s
    out = 0.0
    if gu is not None:
        utgu = _mm(_t(u), gu)
        j = f * (utgu - _t(utgu))
        out = out + _mm(_mm(u, j * sm), _t(v))  # U (F o (U^T gU - gU^T U)) S V^T
        m = a.shape[-2]
        if m > n:
            eye_m = xp.eye(m, dtype=a.dtype)
            out = out + _mm(_mm(eye_m - _mm(u, _t(u)), gu) / sm, _t(v))
    if gv is not None:
        vtgv = _mm(_t(v), gv)
        k = f * (vtgv - _t(vtgv))
        out = out + _mm(_mm(u, _t(sm) * k), _t(v))  # U S (F o (V^T gV - gV^T V)) V^T
    return out


def _svd_explain(a):
    shape = xp.shape(a)
    if len(shape) < 2:
        return f"needs matrices; got a.shape={shape}"
    return f"cannot decompose a matrix of shape {shape}"


svd_s_op = defop("svd_s", lambda a: xp.linalg.svd(a, compute_uv=False), _svd_values_grad,
                 explain=_svd_explain)
svd_u_op = defop("svd_u", lambda a: _part(xp.linalg.svd(a, full_matrices=False), 0),
                 lambda g, out, a: _svd_vectors_grad(a, g, None), explain=_svd_explain)
svd_v_op = defop("svd_v", lambda a: xp.swapaxes(_part(xp.linalg.svd(a, full_matrices=False), 2), -1, -2),
                 lambda g, out, a: _svd_vectors_grad(a, None, g), explain=_svd_explain)




# --- the public functions -----------------------------------------------------------------------------------
def inv(a):
    """The inverse of each square matrix (``tf.linalg.inv``).

    Example:
        >>> import tapeflow as tp
        >>> tp.linalg.inv([[2.0, 0.0], [0.0, 4.0]])
        tapeflow.Tensor(
        [[0.5  0.  ]
         [0.   0.25]], shape=(2, 2), dtype=float32)
    """
    return inv_op(a)


def det(a):
    """The determinant of each square matrix (``tf.linalg.det``)."""
    return det_op(a)


def slogdet(a):
    """``(sign, log|det|)`` of each square matrix (``tf.linalg.slogdet``); the log is differentiable."""
    from tapeflow.ops.elementwise import sign

    return sign(det_op(a)), logabsdet_op(a)


def solve(matrix, rhs):
    """``x`` with ``matrix @ x == rhs`` (``tf.linalg.solve``); ``rhs`` is ``(..., n, k)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.linalg.solve([[2.0, 0.0], [0.0, 4.0]], [[2.0], [2.0]])
        tapeflow.Tensor(
        [[1. ]
         [0.5]], shape=(2, 1), dtype=float32)
    """
    return solve_op(matrix, rhs)


def cholesky(a):
    """The lower-triangular ``L`` with ``L @ L^T == a`` for symmetric positive-definite ``a``
    (``tf.linalg.cholesky``). The gradient is the symmetric one (``a`` is taken as symmetric)."""
    return cholesky_op(a)


def qr(a, full_matrices=False):
    """``(q, r)``: ``a == q @ r`` with orthonormal columns in ``q`` and upper-triangular ``r``
    (``tf.linalg.qr``; the reduced form, for ``(..., m, n)`` with ``m >= n``).

    Raises:
        ValueError: for ``full_matrices=True`` (its extra columns of ``q`` have no unique gradient).
    """
    if full_matrices:
        raise ValueError("qr: only full_matrices=False is supported (the reduced factorization)")
    return qr_q_op(a), qr_r_op(a)


def svd(a, full_matrices=False, compute_uv=True):
    """TensorFlow's ``tf.linalg.svd``: ``(s, u, v)`` with ``a == u @ diag(s) @ v^T`` (note: ``v``, not
    NumPy's ``vh``), or ``s`` alone with ``compute_uv=False``. Reduced form only; the gradient through
    ``u`` and ``v`` assumes distinct singular values and ``m >= n``.

    Raises:
        ValueError: for ``full_matrices=True``.
    """
    if full_matrices:
        raise ValueError("svd: only full_matrices=False is supported (the reduced decomposition)")
    if not compute_uv:
        return svd_s_op(a)
    return svd_s_op(a), svd_u_op(a), svd_v_op(a)


def trace(x):
    """The sum of the diagonal of each matrix in the last two axes (``tf.linalg.trace``)."""
    from tapeflow.ops.linalg_ops import einsum

    shape = x.shape if hasattr(x, "shape") else xp.shape(x)
    if len(shape) < 2:
        raise ShapeError(f"trace: needs matrices in the last two axes; got shape {tuple(shape)}")
    return einsum("...ii->...", x)
