"""Core layers: Dense, Activation, Identity, Dropout, Flatten, Reshape, Permute, RepeatVector, Embedding."""

from __future__ import annotations

import functools

import numpy as np

from tapeflow import _backend as B
from tapeflow import _trace, ops
from tapeflow import activations as _activations
from tapeflow import constraints as _constraints
from tapeflow import initializers as _initializers
from tapeflow import random as _random
from tapeflow import regularizers as _regularizers
from tapeflow._tensor import Tensor
from tapeflow.errors import ShapeError
from tapeflow.layers.base import Layer, in_training, register_serializable
from tapeflow.ops import fusable, fused


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _init_config(init):
    return init if isinstance(init, str) else _initializers.serialize(init)


def _activation_from_config(value):
    from tapeflow.layers.serialization import custom_objects_in_scope

    return _activations.deserialize(value, custom_objects_in_scope()) if isinstance(value, str) else value


@register_serializable
class Dense(Layer):
    """A densely connected layer: ``activation(inputs @ kernel + bias)``.

    Runs as one fused op (matmul, bias and a relu/sigmoid/tanh activation, with one backward pass).

    Args:
        units: the output size (a positive integer).
        activation: a name or callable (None: linear).
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: initializers (names or objects).
        kernel_regularizer, bias_regularizer: penalties added to the loss.
        activity_regularizer: a penalty on the outputs (divided by the batch size, as Keras does).
        kernel_constraint, bias_constraint: projections applied to the weights after each update (names
            such as ``"non_neg"``, configs or callables; see ``tp.constraints``).

    Shape:
        ``(..., input_dim) -> (..., units)``.

    Raises:
        ShapeError: when an input's last dimension differs from the one the layer was built for.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.Dense(3, activation="relu")
        >>> layer(tp.ones((2, 4))).shape
        (2, 3)
        >>> [w.shape for w in layer.weights]
        [(4, 3), (3,)]
    """

    supports_masking = True

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _positive_int("units", units)
        self.activation = _activations.get(_activation_from_config(activation))
        # linear, relu and tanh run inside the fused op; sigmoid and softmax run as activations, so a
        # cross-entropy on this layer's probabilities can use its logits (activations.logits_of), as in Keras
        found = fusable.lookup(self.activation)
        self._fused_activation = found if found is not fusable.SIGMOID else None
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self._config_inits = (kernel_initializer, bias_initializer)  # serialized by get_config

    def build(self, input_shape):
        in_dim = input_shape[-1] if len(input_shape) else None
        if in_dim is None:
            raise ShapeError(
                f"Layer '{self.name}' (Dense): the last dimension of the inputs must be known; received "
                f"input "
                f"shape {tuple(input_shape)}"
            )
        self.kernel = self.add_weight(
            "kernel",
            (in_dim, self.units),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = (
            self.add_weight(
                "bias",
                (self.units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
            if self.use_bias
            else None
        )

    def compute_output_shape(self, input_shape):
        """``(..., input_dim) -> (..., units)``, from shapes alone (no data is made)."""
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise self._shape_error("needs inputs with a feature axis", "(batch, ..., features)", shape)
        if self.built and shape[-1] is not None and shape[-1] != self.kernel.shape[0]:
            raise self._shape_error("the last axis differs from the one it was built for",
                                    f"(..., {self.kernel.shape[0]})", shape)
        return (*shape[:-1], self.units)

    def call(self, inputs):
        k = self.kernel.shape[0]
        if inputs.ndim == 0 or inputs.shape[-1] != k:
            raise self._shape_error(
                "the last dimension of the inputs does not match the kernel", f"(..., {k})", inputs.shape
            )
        if self._fused_activation is not None:
            y = fused.dense(inputs, self.kernel, self.bias, activation=self._fused_activation)
        else:
            y = self.activation(fused.dense(inputs, self.kernel, self.bias))
        if self.activity_regularizer is not None:
            self.add_loss(self.activity_regularizer(y) / max(1, y.shape[0]))
        return y

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _init_config(self._config_inits[0]),
            "bias_initializer": _init_config(self._config_inits[1]),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": _constraints.serialize(self.kernel_constraint),
            "bias_constraint": _constraints.serialize(self.bias_constraint),
        }


@register_serializable
class Activation(Layer):
    """Apply an activation function.

    Args:
        activation: a name (``"relu"``, ``"softmax"``, ...) or callable.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Activation("relu")([[-1.0, 2.0]])
        tapeflow.Tensor(
        [[0. 2.]], shape=(1, 2), dtype=float32)
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations.get(_activation_from_config(activation))

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": _activations.serialize(self.activation)}


@register_serializable
class Identity(Layer):
    """Return the input unchanged (a placeholder, e.g. for a branch that does nothing).

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Identity()(tp.constant([[1.0, 2.0]]))
        tapeflow.Tensor(
        [[1. 2.]], shape=(1, 2), dtype=float32)
    """

    supports_masking = True

    def call(self, inputs):
        return inputs


def mask_shape(shape, noise_shape):
    """The shape of a dropout mask for inputs of ``shape``: ``noise_shape`` with its ``None`` entries taken
    from ``shape`` (``shape`` itself when ``noise_shape`` is None)."""
    if noise_shape is None:
        return shape
    return tuple(s if n is None else n for s, n in zip(shape, noise_shape))


@register_serializable
class Dropout(Layer):
    """Randomly zero a fraction ``rate`` of the inputs while training, scaling the rest by ``1 / (1 - rate)``.

    Masks come from the seeded ``tp.random.generator()`` (or a private generator when ``seed`` is given).

    Args:
        rate: the fraction to drop, in ``[0, 1)``.
        noise_shape: the mask's shape (``None`` entries take the input's size), e.g. ``(None, 1, None)`` to
        drop
            whole time steps' features the same way at every step.
        seed: an optional seed for this layer's own generator.

    Shape:
        unchanged.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.Dropout(0.5)
        >>> layer(tp.ones((1, 4)), training=False)
        tapeflow.Tensor(
        [[1. 1. 1. 1.]], shape=(1, 4), dtype=float32)
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"`rate` must be a number in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = None if seed is None else _random.generator(seed)  # saved with the model from the start

    def call(self, inputs, training=None):
        if not in_training(training) or self.rate == 0:
            return inputs
        shape = mask_shape(inputs.shape, self.noise_shape)
        mask = _trace.source(functools.partial(_random.generator_of, self), _dropout_mask, shape, self.rate,
                             inputs.dtype)
        return inputs * Tensor(mask)

    def get_config(self):
        ns = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": ns, "seed": self.seed}


def _dropout_mask(rng, shape, rate, dtype):  # a tp.function draws it again on every call
    keep = B.uniform(rng, shape) >= rate
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - rate))


@register_serializable
class Flatten(Layer):
    """Flatten every axis but the batch axis.

    Shape:
        ``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Flatten()(tp.ones((2, 3, 4))).shape
        (2, 12)
    """

    def call(self, inputs):
        if inputs.ndim == 0:
            raise self._shape_error("cannot flatten a scalar", "(batch, ...)", inputs.shape)
        return ops.reshape(inputs, (inputs.shape[0], -1)) if inputs.ndim != 2 else inputs


@register_serializable
class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1).

    Shape:
        ``(batch, ...) -> (batch, *target_shape)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Reshape((3, -1))(tp.ones((2, 12))).shape
        (2, 3, 4)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target = tuple(int(s) for s in target_shape)
        if sum(1 for s in target if s == -1) > 1 or any(s == 0 or s < -1 for s in target):
            raise ValueError(
                f"`target_shape` must hold positive sizes and at most one -1. "
                f"Received: target_shape={tuple(target_shape)}"
            )
        self.target_shape = target

    def call(self, inputs):
        size = int(np.prod(inputs.shape[1:]))
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        fits = size % known == 0 if -1 in self.target_shape else size == known
        if not fits:
            raise self._shape_error(
                f"cannot reshape {size} values per sample", f"target_shape={self.target_shape}", inputs.shape
            )
        return ops.reshape(inputs, (inputs.shape[0], *self.target_shape))

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@register_serializable
class Permute(Layer):
    """Permute the non-batch axes; ``dims`` counts from 1 (``(2, 1)`` swaps the two axes after the batch).

    Shape:
        ``(batch, d1, d2) -> (batch, d2, d1)`` for ``dims=(2, 1)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Permute((2, 1))(tp.ones((5, 3, 4))).shape
        (5, 4, 3)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"`dims` must be a permutation of 1..{len(self.dims)}. Received: dims={self.dims}"
            )

    def call(self, inputs):
        if inputs.ndim != len(self.dims) + 1:
            raise self._shape_error(
                "the inputs' rank does not fit `dims`", f"rank {len(self.dims) + 1}", inputs.shape
            )
        return ops.transpose(inputs, (0, *self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@register_serializable
class RepeatVector(Layer):
    """Repeat each input vector ``n`` times.

    Shape:
        ``(batch, features) -> (batch, n, features)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.RepeatVector(3)(tp.ones((2, 4))).shape
        (2, 3, 4)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = _positive_int("n", n)

    def compute_output_shape(self, input_shape):
        """``(batch, features) -> (batch, n, features)``, from shapes alone."""
        shape = tuple(input_shape)
        if len(shape) != 2:
            raise self._shape_error("expects 2-D inputs", "(batch, features)", shape)
        return (shape[0], self.n, shape[1])

    def call(self, inputs):
        if inputs.ndim != 2:
            raise self._shape_error("expects 2-D inputs", "(batch, features)", inputs.shape)
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@register_serializable
class Embedding(Layer):
    """Map integer indices to dense vectors (rows of a trainable ``embeddings`` matrix).

    Args:
        input_dim: the vocabulary size (indices lie in ``[0, input_dim)``).
        output_dim: the size of each vector.
        embeddings_initializer: default ``RandomUniform(-0.05, 0.05)``.
        embeddings_regularizer: a penalty on the matrix.
        weights: ``[matrix]`` of shape ``(input_dim, output_dim)`` to start from (pretrained vectors;
            tf.keras's argument).
        mask_zero: treat index 0 as padding: the output carries a ``(batch, timesteps)`` mask that recurrent
            and attention layers respect (see ``tp.layers.get_mask``).

    Shape:
        ``(batch, ...) integers -> (batch, ..., output_dim)``.

    Raises:
        ValueError: for an index outside ``[0, input_dim)``.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.Embedding(10, 4)
        >>> layer([[1, 2, 3]]).shape
        (1, 3, 4)
    """

    _cast_ints = False

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        mask_zero=False,
        weights=None,
        **kwargs,
    ):
        kwargs.pop("input_length", None)  # Keras 2 argument, not needed
        super().__init__(**kwargs)
        self._initial_weights = None if weights is None else [np.asarray(w) for w in weights]
        self.input_dim = _positive_int("input_dim", input_dim)
        self.output_dim = _positive_int("output_dim", output_dim)
        init = "random_uniform" if embeddings_initializer == "uniform" else embeddings_initializer
        self.embeddings_initializer = _initializers.get(init)
        self.embeddings_regularizer = _regularizers.get(embeddings_regularizer)
        self._config_init = init
        self.mask_zero = bool(mask_zero)  # index 0 is padding: recurrent/attention layers skip it

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
        )
        if self._initial_weights is not None:  # tf.keras's Embedding(weights=[matrix]): pretrained vectors
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        """``(batch, ...) -> (batch, ..., output_dim)``, from shapes alone."""
        return (*tuple(input_shape), self.output_dim)

    def call(self, inputs):
        idx = inputs._value
        checks = B.checks_values()  # value checks wait for a device: NumPy only
        if idx.dtype.kind == "f":
            if checks and idx.size and not B.xp.all(idx == B.xp.floor(idx)):
                raise ValueError(
                    f"Layer '{self.name}' (Embedding): inputs must be integer indices; got fractions"
                )
            idx = idx.astype(np.int64)
        elif idx.dtype.kind not in "iu":
            raise TypeError(
                f"Layer '{self.name}' (Embedding): inputs must be integers; got dtype {idx.dtype}"
            )
        if checks and idx.size and (idx.min() < 0 or idx.max() >= self.input_dim):
            bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
            raise ValueError(
                f"Layer '{self.name}' (Embedding): index {bad} is outside [0, {self.input_dim}) "
                f"(input_dim={self.input_dim})"
            )
        if inputs.dtype.kind == "f":
            inputs = ops.cast(inputs, "int64")  # an op, so that a traced function recomputes it on every call
        out = ops.gather(self.embeddings, inputs)
        if self.mask_zero:
            from tapeflow.layers.masking import set_mask

            set_mask(out, idx != 0)
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _init_config(self._config_init),
            "embeddings_regularizer": _regularizers.serialize(self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
        }
