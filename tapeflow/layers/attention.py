"""Attention layers: dot-product ``Attention`` and ``MultiHeadAttention``, with padding and causal masks.

Both are compositions of tapeflow ops (matmul, softmax), so their gradients come from those ops. Masks
follow Keras: a *value* mask ``(batch, Tv)`` hides padded keys, a *query* mask ``(batch, Tq)`` zeros padded
query rows, ``attention_mask`` ``(batch, Tq, Tv)`` says which query may attend to which key, and
``use_causal_mask=True`` stops position i from attending to j > i. Masks attached to the inputs
(``Embedding(mask_zero=True)``, ``Masking``) are used automatically."""

from __future__ import annotations

import functools
import math

from tapeflow import _backend as B
from tapeflow import _trace, ops
from tapeflow import random as _random
from tapeflow.layers.base import Layer, in_training, register_serializable
from tapeflow.layers.convolutional import set_weight_args, weight_config
from tapeflow.layers.masking import get_mask

_NEG = -1e9  # added to masked scores: exp underflows to exactly 0 in float32 and float64


def _as_bool(mask):
    return None if mask is None else B.xp.asarray(getattr(mask, "_value", mask)).astype(bool)


def combined_mask(tq, tv, query_mask=None, value_mask=None, attention_mask=None, causal=False):
    """One boolean ``(batch or 1, Tq, Tv)`` mask from the Keras-style parts (None when nothing is masked)."""
    mask = None

    def both(a, b):
        return b if a is None else a & b

    if value_mask is not None:
        mask = both(mask, _as_bool(value_mask)[:, None, :])
    if query_mask is not None:
        mask = both(mask, _as_bool(query_mask)[:, :, None])
    if attention_mask is not None:
        am = _as_bool(attention_mask)
        mask = both(mask, am if am.ndim == 3 else am[None])
    if causal:
        mask = both(mask, B.xp.tril(B.xp.ones((tq, tv), dtype=bool))[None])
    return mask


def _softmax_masked(scores, mask):
    if mask is not None:
        m = mask if scores.ndim == mask.ndim else mask[:, None]  # heads axis
        scores = scores + B.xp.where(m, 0.0, _NEG).astype(scores.dtype)
    return ops.softmax(scores, axis=-1)


def _dropout(layer, probs, training):
    if not in_training(training) or layer.dropout == 0:
        return probs
    rng_of = functools.partial(_random.generator_of, layer)
    keep = _trace.source(rng_of, _keep_mask, probs.shape, layer.dropout, probs.dtype)
    return probs * keep


def _keep_mask(rng, shape, rate, dtype):  # a tp.function draws it again on every call
    return ((B.uniform(rng, shape) >= rate) / (1 - rate)).astype(dtype)


@register_serializable
class Attention(Layer):
    """Dot-product attention (Luong): ``softmax(query @ key.T [* scale]) @ value``.

    Args:
        use_scale: learn a scalar multiplying the scores (initialised to 1).
        score_mode: "dot" (``q . k``) or "concat" (``sum(tanh(q + k))`` times a learned scale,
            Bahdanau-style).
        dropout: fraction of attention weights dropped while training.
        seed: optional seed for the dropout.

    Call arguments:
        inputs: ``[query, value]`` or ``[query, value, key]`` (key defaults to value); ``(batch, T, dim)``.
        mask: optional ``[query_mask, value_mask]`` booleans ``(batch, Tq)`` / ``(batch, Tv)``.
        return_attention_scores: also return the weights ``(batch, Tq, Tv)``.
        use_causal_mask: forbid attending to later positions.

    Example:
        >>> import tapeflow as tp
        >>> q, v = tp.ones((2, 3, 4)), tp.ones((2, 5, 4))
        >>> out, w = tp.layers.Attention()([q, v], return_attention_scores=True)
        >>> out.shape, w.shape
        ((2, 3, 4), (2, 3, 5))
    """

    def compute_mask(self, inputs, mask=None):
        """The output keeps the query's mask (the value's mask is consumed as a key padding mask)."""
        return mask[0] if isinstance(mask, list) else None

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                f"Attention: `score_mode` must be 'dot' or 'concat'. Received: score_mode={score_mode!r}"
            )
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"Attention: `dropout` must be in [0, 1). Received: dropout={dropout!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed
        self._rng = None

    def build(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) not in (2, 3)
            or not isinstance(input_shape[0], (list, tuple))
        ):
            raise ValueError(
                f"Layer '{self.name}' (Attention): inputs must be a list [query, value] or "
                f"[query, value, key]. Received input shape {input_shape}"
            )
        self._build_scores(input_shape)

    def compute_output_shape(self, input_shape):
        """``(batch, Tq, dim_value)`` from ``[query, value(, key)]`` shapes alone, so a saved model is rebuilt
        without making the ``(batch, Tq, Tv)`` scores (a call with ``return_attention_scores`` is run)."""
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (2, 3) or not all(
                isinstance(s, (list, tuple)) and len(s) == 3 for s in input_shape):
            raise NotImplementedError("Attention: the shape rule takes [query, value(, key)] of rank 3")
        query, value = tuple(input_shape[0]), tuple(input_shape[1])
        key = tuple(input_shape[2]) if len(input_shape) > 2 else value

        def differ(a, b):
            return a is not None and b is not None and a != b

        if differ(query[-1], key[-1]) or differ(key[1], value[1]):
            raise self._shape_error("query and key need the same last dimension, key and value the same "
                                    "length", "matching shapes", [query, value, key])
        return (*query[:-1], value[-1])

    def _build_scores(self, input_shape):
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = (
            self.add_weight("concat_score_weight", (), "ones") if self.score_mode == "concat" else None
        )

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        if query.shape[-1] != key.shape[-1] or key.shape[1] != value.shape[1]:
            raise self._shape_error(
                "query and key need the same last dimension, key and value the same length",
                "matching shapes",
                [query.shape, value.shape, key.shape],
            )
        q_mask, v_mask = mask if mask is not None else (get_mask(query), get_mask(value))
        scores = self._scores(query, key)
        m = combined_mask(query.shape[1], key.shape[1], None, v_mask, None, use_causal_mask)
        weights = _softmax_masked(scores, m)
        out = ops.matmul(_dropout(self, weights, training), value)
        if q_mask is not None:
            out = out * _as_bool(q_mask)[:, :, None].astype(out.dtype)
        return [out, weights] if return_attention_scores else out

    def _scores(self, query, key):
        """``(batch, Tq, Tv)`` attention logits."""
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -1, -2))
            return scores * self.scale if self.scale is not None else scores
        summed = ops.tanh(ops.expand_dims(query, -2) + ops.expand_dims(key, -3))
        scores = self.concat_score_weight * ops.sum(summed, axis=-1)
        return scores * self.scale if self.scale is not None else scores

    def get_config(self):
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


@register_serializable
class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention: ``softmax(sum(scale * tanh(query + key), -1)) @ value``.

    Args:
        use_scale: learn a per-feature ``scale`` of shape ``(dim,)`` (initialised with Glorot uniform);
            without it the tanh terms are summed as they are.
        dropout, seed: as :class:`Attention`.
        attention_axes: None or ``(1,)``: attention runs over the sequence axis (other axes raise).

    Call arguments, shapes and masks: as :class:`Attention`.

    Example:
        >>> import tapeflow as tp
        >>> q, v = tp.ones((2, 3, 4)), tp.ones((2, 5, 4))
        >>> tp.layers.AdditiveAttention()([q, v]).shape
        (2, 3, 4)
    """

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)

    def _build_scores(self, input_shape):
        dim = input_shape[0][-1]
        self.scale = self.add_weight("scale", (dim,), "glorot_uniform") if self.use_scale else None

    def _scores(self, query, key):
        summed = ops.tanh(ops.expand_dims(query, -2) + ops.expand_dims(key, -3))
        return ops.sum(summed * self.scale if self.scale is not None else summed, axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config


_WEIGHTS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer")


@register_serializable
class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017), Keras's weight layout.

    Each head projects query, key and value to ``key_dim``/``value_dim``, attends with
    ``softmax(q k^T / sqrt(key_dim))``, and the heads' outputs are projected back to ``output_shape``
    (default the
    query's last dimension), so a transformer block is ``x + MHA(x, x)`` then ``LayerNormalization`` and
    ``Dense``.

    Args:
        num_heads: the number of heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (default ``key_dim``).
        dropout: fraction of attention weights dropped while training.
        use_bias: biases in the projections.
        output_shape: the output's last dimension (default: the query's).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: projection weights'
            settings.
        seed: optional seed for the dropout.

    Call arguments:
        query ``(batch, Tq, dim)``, value ``(batch, Tv, dim_v)``, key (default value); attention_mask
        ``(batch, Tq, Tv)`` booleans; query_mask / value_mask ``(batch, T)`` (default: masks attached to the
        inputs); return_attention_scores (``(batch, heads, Tq, Tv)``); training; use_causal_mask.

    Example:
        >>> import tapeflow as tp
        >>> mha = tp.layers.MultiHeadAttention(num_heads=2, key_dim=8)
        >>> x = tp.ones((3, 5, 16))
        >>> out, scores = mha(x, x, return_attention_scores=True)
        >>> out.shape, scores.shape
        ((3, 5, 16), (3, 2, 5, 5))
    """

    supports_masking = True

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        seed=None,
        attention_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention_axes is not None:
            axes = (attention_axes,) if isinstance(attention_axes, int) else tuple(attention_axes)
            if axes not in ((1,), (-2,)):
                raise ValueError(
                    "MultiHeadAttention: attention over the sequence axis (attention_axes=None or (1,)) is "
                    f"supported; other axes are not yet. Received: attention_axes={attention_axes!r}"
                )
        for arg, value in (
            ("num_heads", num_heads),
            ("key_dim", key_dim),
            ("value_dim", value_dim or key_dim),
        ):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"MultiHeadAttention: `{arg}` must be a positive integer. Received: {arg}={value!r}"
                )
        if not 0 <= float(dropout) < 1:
            raise ValueError(
                f"MultiHeadAttention: `dropout` must be in [0, 1). Received: dropout={dropout!r}"
            )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.output_dim = (
            output_shape
            if output_shape is None
            else int(output_shape[-1] if isinstance(output_shape, (list, tuple)) else output_shape)
        )
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
        )
        self.seed = seed
        self._rng = None
        self._weights_ready = False

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise self._shape_error("the query must be (batch, timesteps, features)", "rank 3", input_shape)

    def _projection(self, name, dim, heads, size):
        kernel = self.add_weight(
            f"{name}/kernel", (dim, heads, size), self.kernel_initializer, regularizer=self.kernel_regularizer
        )
        bias = (
            self.add_weight(
                f"{name}/bias", (heads, size), self.bias_initializer, regularizer=self.bias_regularizer
            )
            if self.use_bias
            else None
        )
        return kernel, bias

    def _make_weights(self, q_dim, k_dim, v_dim):
        h = self.num_heads
        self.query_kernel, self.query_bias = self._projection("query", q_dim, h, self.key_dim)
        self.key_kernel, self.key_bias = self._projection("key", k_dim, h, self.key_dim)
        self.value_kernel, self.value_bias = self._projection("value", v_dim, h, self.value_dim)
        out = self.output_dim or q_dim
        self.output_kernel = self.add_weight(
            "attention_output/kernel",
            (h, self.value_dim, out),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.output_bias = (
            self.add_weight(
                "attention_output/bias", (out,), self.bias_initializer, regularizer=self.bias_regularizer
            )
            if self.use_bias
            else None
        )
        self._weights_ready = True

    def _heads(self, x, kernel, bias):
        """(batch, T, dim) -> (batch, heads, T, size) with one matrix product."""
        dim, heads, size = kernel.shape
        y = ops.matmul(ops.reshape(x, (-1, dim)), ops.reshape(kernel, (dim, heads * size)))
        if bias is not None:
            y = y + ops.reshape(bias, (heads * size,))
        return ops.transpose(ops.reshape(y, (x.shape[0], x.shape[1], heads, size)), (0, 2, 1, 3))

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
    ):
        value = self._convert(value)
        key = value if key is None else self._convert(key)
        for name, t in (("value", value), ("key", key)):
            if t.ndim != 3 or t.shape[0] != query.shape[0]:
                raise self._shape_error(
                    f"{name} must be (batch, timesteps, features) with the query's batch",
                    f"(batch={query.shape[0]}, T, dim)",
                    t.shape,
                )
        if key.shape[1] != value.shape[1]:
            raise self._shape_error(
                "key and value need the same number of timesteps", value.shape[1], key.shape
            )
        if not self._weights_ready:
            self._make_weights(query.shape[-1], key.shape[-1], value.shape[-1])
        q = self._heads(query, self.query_kernel, self.query_bias)
        k = self._heads(key, self.key_kernel, self.key_bias)
        v = self._heads(value, self.value_kernel, self.value_bias)
        scores = ops.matmul(q * (1.0 / math.sqrt(self.key_dim)), ops.swapaxes(k, -1, -2))
        query_mask = get_mask(query) if query_mask is None else query_mask
        value_mask = get_mask(value) if value_mask is None else value_mask
        if key_mask is not None:
            value_mask = key_mask if value_mask is None else _as_bool(value_mask) & _as_bool(key_mask)
        mask = combined_mask(
            query.shape[1], value.shape[1], query_mask, value_mask, attention_mask, use_causal_mask
        )
        weights = _softmax_masked(scores, mask)
        context = ops.matmul(_dropout(self, weights, training), v)  # (batch, heads, Tq, value_dim)
        batch, tq = query.shape[0], query.shape[1]
        merged = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch * tq, -1))
        h, vd, out_dim = self.output_kernel.shape
        out = ops.matmul(merged, ops.reshape(self.output_kernel, (h * vd, out_dim)))
        if self.output_bias is not None:
            out = out + self.output_bias
        out = ops.reshape(out, (batch, tq, out_dim))
        return [out, weights] if return_attention_scores else out

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self.output_dim,
            "seed": self.seed,
            **weight_config(self, *_WEIGHTS),
        }
