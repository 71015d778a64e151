"""Op cases (value against NumPy, float64 gradient check, second order) for the matrix ops of
``tapeflow/ops/matrix.py``; collected by ``tests/core/test_ops.py``."""

from __future__ import annotations

import numpy as np

import tapeflow as tp
from tests.core.op_cases import OpCase


def _well_conditioned(rng, *shape):
    n = shape[-1]
    return rng.standard_normal(shape) + 3.0 * np.eye(n)


def _spd(a):
    """A symmetric positive-definite matrix from any square ``a`` (tapeflow or NumPy)."""
    n = a.shape[-1]
    if isinstance(a, np.ndarray):
        return a @ np.swapaxes(a, -1, -2) + n * np.eye(n, dtype=a.dtype)
    return tp.matmul(a, a, transpose_b=True) + n * tp.eye(n, dtype=a.dtype)


def _svd_v(a):
    return np.swapaxes(np.linalg.svd(a, full_matrices=False)[2], -1, -2)


CASES = [
    OpCase("inv", lambda a: tp.linalg.inv(a), np.linalg.inv, lambda r: [_well_conditioned(r, 2, 3, 3)],
           rtol=1e-4),
    OpCase("det", lambda a: tp.linalg.det(a), np.linalg.det, lambda r: [_well_conditioned(r, 2, 3, 3)],
           rtol=1e-4),
    OpCase("logabsdet", lambda a: tp.linalg.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1],
           lambda r: [_well_conditioned(r, 3, 3)], rtol=1e-4),
    OpCase("solve", lambda a, b: tp.linalg.solve(a, b), np.linalg.solve,
           lambda r: [_well_conditioned(r, 2, 3, 3), r.standard_normal((2, 3, 2))], rtol=1e-4),
    OpCase("cholesky", lambda a: tp.linalg.cholesky(_spd(a)), lambda a: np.linalg.cholesky(_spd(a)),
           lambda r: [r.standard_normal((2, 3, 3))], rtol=1e-4,
           note="checked on a @ a^T + n I: the gradient is the symmetric one"),
    OpCase("qr_q", lambda a: tp.linalg.qr(a)[0], lambda a: np.linalg.qr(a)[0],
           lambda r: [r.standard_normal((2, 4, 3))], rtol=1e-4),
    OpCase("qr_r", lambda a: tp.linalg.qr(a)[1], lambda a: np.linalg.qr(a)[1],
           lambda r: [r.standard_normal((4, 3))], rtol=1e-4),
    OpCase("svd_s", lambda a: tp.linalg.svd(a, compute_uv=False),
           lambda a: np.linalg.svd(a, compute_uv=False), lambda r: [r.standard_normal((2, 4, 3))], rtol=1e-4),
    OpCase("svd_u", lambda a: tp.linalg.svd(a)[1], lambda a: np.linalg.svd(a, full_matrices=False)[0],
           lambda r: [r.standard_normal((4, 3))], rtol=1e-4, second_order=False,
           note="second order of the singular vectors is not checked (costly; first order is)"),
    OpCase("svd_v", lambda a: tp.linalg.svd(a)[2], _svd_v, lambda r: [r.standard_normal((3, 3))], rtol=1e-4,
           second_order=False),
]
