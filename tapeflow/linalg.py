"""TensorFlow's ``tf.linalg`` names."""

from tapeflow.creation import eye  # noqa: F401
from tapeflow.ops import einsum, matmul, norm, outer, tensordot, transpose  # noqa: F401 - re-exported

matrix_transpose = transpose
