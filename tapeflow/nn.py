"""TensorFlow's ``tf.nn`` names: activation functions and friends."""

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
