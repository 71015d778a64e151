"""Activation functions by name or callable: ``Dense(64, activation="relu")``.

``get(identifier)`` resolves a name (listing the choices when it is unknown), a callable, or None (linear);
``serialize(fn)`` gives back the name that configs store.

Example:
    >>> import tapeflow as tp
    >>> tp.activations.get("relu")([-1.0, 2.0])
    tapeflow.Tensor([0. 2.], shape=(2,), dtype=float32)
"""

from __future__ import annotations

import weakref

from tapeflow import ops
from tapeflow._tensor import Tensor
from tapeflow.ops import fusable

# As Keras does, a softmax or sigmoid output remembers its input, so a cross-entropy "on probabilities" can
# work on the logits instead: exact where the probabilities saturate, and cheaper.
# id(output) -> (weak reference to the output, kind, logits).
_LOGITS: dict = {}


def _remember(out, kind, logits):
    key = id(out)
    _LOGITS[key] = (weakref.ref(out, lambda _, k=key: _LOGITS.pop(k, None)), kind, logits)
    return out


def logits_of(probabilities, kind):
    """The logits a ``softmax`` (``kind="softmax"``) or ``sigmoid`` output was computed from, else None."""
    entry = _LOGITS.get(id(probabilities))
    if entry is not None and entry[1] == kind and entry[0]() is probabilities:
        return entry[2]
    return None


def linear(x):
    """The identity: ``linear(x) = x``."""
    return ops.identity(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit ``max(x, 0)``; with Keras's options for a leaky slope, a cap and a threshold."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    x = x if isinstance(x, Tensor) else Tensor(x)
    y = ops.where(x > threshold, x, negative_slope * (x - threshold) if negative_slope else ops.zeros_like(x))
    return y if max_value is None else ops.minimum(y, max_value)


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))`` (never overflows)."""
    return _remember(ops.sigmoid(x), "sigmoid", x) if isinstance(x, Tensor) else ops.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return ops.tanh(x)


def softmax(x, axis=-1):
    """Softmax over ``axis``: exponentials normalized to sum to 1 (shifted by the maximum, so stable)."""
    out = ops.softmax(x, axis=axis)
    last = axis == -1 or (isinstance(x, Tensor) and axis == x.ndim - 1)
    return _remember(out, "softmax", x) if last and isinstance(x, Tensor) else out


def log_softmax(x, axis=-1):
    """Logarithm of the softmax, computed without forming the softmax."""
    return ops.log_softmax(x, axis=axis)


def gelu(x, approximate=False):
    """Gaussian error linear unit ``x * Phi(x)`` (``approximate=True`` for the tanh form)."""
    return ops.gelu(x, approximate=approximate)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    return ops.elu(x, alpha=alpha)


def selu(x):
    """Scaled ELU with the self-normalizing constants of Klambauer et al. (2017)."""
    return ops.selu(x)


def softplus(x):
    """``log(1 + exp(x))``, computed stably."""
    return ops.softplus(x)


def silu(x):
    """Sigmoid-weighted linear unit ``x * sigmoid(x)`` (also called swish)."""
    return ops.silu(x)


swish = silu


def leaky_relu(x, negative_slope=0.2):
    """``x`` if ``x > 0`` else ``negative_slope * x``."""
    return ops.leaky_relu(x, alpha=negative_slope)


# the fused ops (dense, convolution, recurrent) apply these themselves
fusable.register(linear, fusable.LINEAR)
fusable.register(relu, fusable.RELU)
fusable.register(sigmoid, fusable.SIGMOID)
fusable.register(tanh, fusable.TANH)

_ACTIVATIONS = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "gelu": gelu,
    "elu": elu,
    "selu": selu,
    "softplus": softplus,
    "silu": silu,
    "swish": swish,
    "leaky_relu": leaky_relu,
}


def get(identifier):
    """Resolve an activation: a name, a callable, or None (linear).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        try:
            return _ACTIVATIONS[identifier]
        except KeyError:
            raise ValueError(
                f"Unknown activation {identifier!r}. Choose one of {sorted(_ACTIVATIONS)}, or pass a "
                f"callable."
            ) from None
    if callable(identifier):
        return identifier
    raise TypeError(f"`activation` must be a name or a callable. Received: activation={identifier!r}")


def serialize(activation) -> str:
    """The name a config stores for ``activation``.

    Raises:
        ValueError: for a callable that is not one of the named activations (configs are JSON, so a custom
            function cannot be stored; register it by name via ``custom_objects`` instead).
    """
    for name, fn in _ACTIVATIONS.items():
        if fn is activation:
            return name
    name = getattr(activation, "__name__", None)
    if name:
        return name
    raise ValueError(f"Cannot serialize activation {activation!r}: it has no name")


def deserialize(name, custom_objects=None):
    """The activation a config names (``custom_objects`` may supply user functions by name)."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return get(name)


__all__ = ["get", "serialize", "deserialize", "logits_of", *_ACTIVATIONS]
