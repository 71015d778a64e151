"""The neural-network ops, numerically stable: softmax of 1000 is fine, sigmoid never overflows.

The implementation; the public names are ``tp.relu``, ``tp.ops.relu`` and TensorFlow's ``tp.nn`` namespace
(``tapeflow/nn.py``), which re-export these.
"""

from __future__ import annotations

import math

from tapeflow import _backend as B
from tapeflow.ops import fusable
from tapeflow.ops._registry import defop

xp = B.xp


def _relu(x):
    return xp.maximum(x, 0)


relu = defop("relu", _relu, lambda g, out, x: g * (out > 0), save_inputs=False, save_output=True)


def _sigmoid(x):
    # exp of a non-positive number never overflows
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


sigmoid = defop("sigmoid", _sigmoid, lambda g, out, x: g * out * (1 - out), save_inputs=False,
                save_output=True)
tanh = defop("tanh", lambda x: xp.tanh(x), lambda g, out, x: g * (1 - out * out), save_inputs=False,
             save_output=True)
fusable.register(relu, fusable.RELU)  # so fused ops apply these themselves when a layer passes them
fusable.register(sigmoid, fusable.SIGMOID)
fusable.register(tanh, fusable.TANH)


def _softmax(x, axis=-1):
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _softmax_grad(g, out, x, axis=-1):
    from tapeflow.ops.reduction import sum as _sum

    gy = g * out
    return gy - out * _sum(gy, axis=axis, keepdims=True)


softmax = defop("softmax", _softmax, _softmax_grad, save_inputs=False, save_output=True)


def _log_softmax(x, axis=-1):
    z = x - xp.max(x, axis=axis, keepdims=True)
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


def _log_softmax_grad(g, out, x, axis=-1):
    from tapeflow.ops.elementwise import exp
    from tapeflow.ops.reduction import sum as _sum

    return g - exp(out) * _sum(g, axis=axis, keepdims=True)


log_softmax = defop("log_softmax", _log_softmax, _log_softmax_grad, save_inputs=False, save_output=True)


def _softplus(x):
    return xp.logaddexp(x, 0).astype(x.dtype, copy=False)


softplus = defop("softplus", _softplus, lambda g, out, x: g * sigmoid(x))


def _elu(x, alpha=1.0):
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype, copy=False)


def _elu_grad(g, out, x, alpha=1.0):
    from tapeflow.ops.elementwise import where

    return where(x > 0, g, g * (out + alpha))


elu = defop("elu", _elu, _elu_grad, save_output=True)

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _selu(x):
    return (_SELU_SCALE * _elu(x, _SELU_ALPHA)).astype(x.dtype, copy=False)


def _selu_grad(g, out, x):
    from tapeflow.ops.elementwise import where

    return where(x > 0, g * _SELU_SCALE, g * (out + _SELU_SCALE * _SELU_ALPHA))


selu = defop("selu", _selu, _selu_grad, save_output=True)


def _leaky_relu(x, alpha=0.2):
    return xp.where(x > 0, x, x * alpha).astype(x.dtype, copy=False)


def _leaky_relu_grad(g, out, x, alpha=0.2):
    from tapeflow.ops.elementwise import where

    return where(x > 0, g, g * alpha)


leaky_relu = defop("leaky_relu", _leaky_relu, _leaky_relu_grad)


def _gelu(x, approximate=False):
    if approximate:
        c = math.sqrt(2 / math.pi)
        return (0.5 * x * (1 + xp.tanh(c * (x + 0.044715 * x**3)))).astype(x.dtype, copy=False)
    return (0.5 * x * (1 + B.erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)


def _gelu_grad(g, out, x, approximate=False):
    from tapeflow.ops.elementwise import exp

    if approximate:
        c = math.sqrt(2 / math.pi)
        t = tanh(c * (x + 0.044715 * x * x * x))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x))
    cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
    pdf = exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return g * (cdf + x * pdf)


gelu = defop("gelu", _gelu, _gelu_grad)
erf = defop("erf", lambda x: B.erf(x), lambda g, out, x: g * (2 / math.sqrt(math.pi)) * _exp(-x * x))


def _exp(x):
    from tapeflow.ops.elementwise import exp

    return exp(x)


def _silu(x):
    return x * _sigmoid(x)


def _silu_grad(g, out, x):
    s = sigmoid(x)
    return g * s * (1 + x * (1 - s))


silu = defop("silu", _silu, _silu_grad)
