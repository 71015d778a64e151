"""TensorFlow's ``tf.nn`` names: activation functions and friends (the public namespace ``tp.nn``; the ops
themselves are in ``tapeflow/ops/nn_ops.py``)."""

from tapeflow.ops import (  # noqa: F401 - re-exported
    elu,
    gelu,
    l2_normalize,
    leaky_relu,
    log_softmax,
    relu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)

swish = silu
