"""TensorFlow's ``tf.linalg`` names."""

from tapeflow.ops import einsum, matmul, norm, outer, tensordot, transpose  # noqa: F401 - re-exported
from tapeflow.creation import eye  # noqa: F401

matrix_transpose = transpose
