"""TensorFlow's ``tf.linalg`` names (the public namespace ``tp.linalg``; the ops themselves are in
``tapeflow/ops/linalg_ops.py`` and ``tapeflow/ops/matrix.py``).

Example:
    >>> import tapeflow as tp
    >>> float(tp.linalg.det([[2.0, 1.0], [1.0, 2.0]]))
    3.0
"""

from tapeflow.creation import eye  # noqa: F401
from tapeflow.ops import (  # noqa: F401 - re-exported
    cholesky,
    det,
    einsum,
    inv,
    l2_normalize,
    matmul,
    norm,
    outer,
    qr,
    slogdet,
    solve,
    svd,
    tensordot,
    trace,
    transpose,
    tril,
    triu,
)

matrix_transpose = transpose
