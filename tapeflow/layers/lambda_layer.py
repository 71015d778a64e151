"""Layers made from plain functions: ``Lambda(fn)``, and ``OpLayer``, which the functional API creates when a
tapeflow op is applied to a symbolic tensor (``h + 1``, ``tp.exp(h)``, ``tp.concat([a, b], -1)``), as Keras 3
does.
"""

from __future__ import annotations

import inspect

import numpy as np

from tapeflow._tensor import Tensor
from tapeflow.layers.base import Layer, register_serializable


class Lambda(Layer):
    """Wrap a function of tensors as a layer: ``Lambda(lambda x: x ** 2)``.

    Args:
        function: called as ``function(inputs, **arguments)`` (and with ``mask=`` / ``training=`` when it
            takes them).
        output_shape: accepted for Keras compatibility; the output shape is found by running the function.
        mask: a mask to attach to the output, or a function ``(inputs, mask) -> mask``.
        arguments: keyword arguments passed to ``function``.

    Lambda layers hold Python code, so a model that contains one is not saved as a config (a ``.tapeflow``
    archive holds JSON only): subclass :class:`Layer` instead, or save the weights.

    Shape:
        whatever ``function`` returns.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Lambda(lambda x: x * 2.0)([[1.0, 2.0]])
        tapeflow.Tensor(
        [[2. 4.]], shape=(1, 2), dtype=float32)
    """

    _cast_ints = False

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        if not callable(function):
            raise TypeError(f"Lambda: `function` must be callable. Received: function={function!r}")
        super().__init__(**kwargs)
        self.function = function
        self._output_shape_arg = output_shape
        self._mask = mask
        self.arguments = dict(arguments or {})
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._fn_takes = {name for name in ("mask", "training") if name in params}

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if "mask" in self._fn_takes:
            kwargs["mask"] = mask
        if "training" in self._fn_takes:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        if callable(self._mask):
            return self._mask(inputs, mask)
        return self._mask

    def get_config(self):
        raise TypeError(
            f"Layer '{self.name}' (Lambda) holds Python code, which a config (JSON) cannot store. Write a "
            f"Layer subclass with get_config() instead, or save the weights only (save_weights)."
        )


# --- the functional API's op layers -------------------------------------------------------------------------
class _Input:
    """Where the i-th symbolic input goes in an op's argument list."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


@register_serializable
class OpLayer(Layer):
    """One tapeflow op applied to symbolic tensors in a functional model (made automatically).

    ``tp.exp(h)`` on a symbolic ``h`` becomes ``OpLayer("exp", ...)(h)``: the op is replayed on real data when
    the model runs, and its gradient is the op's own. Created by the functional API; not meant to be built by
    hand.

    Args:
        op: the op's registry name.
        template: the op's positional arguments, with ``{"input": i}`` where the i-th symbolic tensor goes.
        params: the op's keyword parameters.
    """

    _cast_ints = False

    def __init__(self, op, template, params=None, **kwargs):
        from tapeflow.ops._registry import REGISTRY

        kwargs.setdefault("name", None)
        if kwargs["name"] is None:
            from tapeflow.layers.base import unique_name

            kwargs["name"] = unique_name(op)
        super().__init__(**kwargs)
        if op not in REGISTRY:
            raise ValueError(f"OpLayer: unknown op {op!r}")
        self.op = REGISTRY[op]
        self.template = [_decode(a) for a in template]
        self.params = {k: _decode(v) for k, v in (params or {}).items()}

    def _convert(self, x):
        return x if isinstance(x, Tensor) else Tensor(x)

    def call(self, inputs):
        args = [inputs[a.index] if isinstance(a, _Input) else a for a in self.template]
        return self.op(*args, **self.params)

    def get_config(self):
        return {**super().get_config(), "op": self.op.name, "template": [_encode(a) for a in self.template],
                "params": {k: _encode(v) for k, v in self.params.items()}}


def apply_op(op, args, params, is_symbolic):
    """Record ``op(*args, **params)`` where some ``args`` are symbolic: a new :class:`OpLayer` called on
    them."""
    inputs, template = [], []
    for a in args:
        if is_symbolic(a):
            template.append(_Input(len(inputs)))
            inputs.append(a)
        else:
            template.append(a)
    return OpLayer(op.name, template, params)(inputs)


# Op parameters as JSON: tuples, slices, Ellipsis and arrays are tagged so from_config restores them.
def _encode(v):
    if isinstance(v, _Input):
        return {"input": v.index}
    if isinstance(v, tuple):
        return {"tuple": [_encode(a) for a in v]}
    if isinstance(v, list):
        return [_encode(a) for a in v]
    if isinstance(v, slice):
        return {"slice": [v.start, v.stop, v.step]}
    if v is Ellipsis:
        return {"ellipsis": True}
    if isinstance(v, Tensor):
        v = v.numpy()
    if isinstance(v, (np.ndarray, np.generic)):
        return {"array": np.asarray(v).tolist(), "dtype": np.asarray(v).dtype.name}
    return v


def _decode(v):
    if isinstance(v, dict):
        if "input" in v:
            return _Input(int(v["input"]))
        if "tuple" in v:
            return tuple(_decode(a) for a in v["tuple"])
        if "slice" in v:
            return slice(*v["slice"])
        if "ellipsis" in v:
            return Ellipsis
        if "array" in v:
            return np.asarray(v["array"], dtype=v["dtype"])
    if isinstance(v, list):
        return [_decode(a) for a in v]
    return v
