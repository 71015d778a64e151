"""Op cases (values, float64 gradients, second order) for the fused training ops in
``tapeflow/ops/fused.py``."""

from __future__ import annotations

import numpy as np

from tapeflow.ops import fused
from tests.core.op_cases import OpCase


def _np_dense(activation):
    def ref(x, w, b):
        y = x @ w + b
        if activation == "relu":
            return np.maximum(y, 0)
        if activation == "tanh":
            return np.tanh(y)
        if activation == "sigmoid":
            return 1 / (1 + np.exp(-y))
        return y

    return ref


def _dense_inputs(batch_shape=(4,)):
    def make(rng):
        x = rng.standard_normal((*batch_shape, 3))
        w = rng.standard_normal((3, 5))
        b = rng.standard_normal(5)
        y = x @ w + b
        # keep pre-activations away from relu's kink, where finite differences mean nothing
        b = b + np.where(np.abs(y).min(axis=tuple(range(y.ndim - 1))) < 0.05, 0.2, 0.0)
        return [x, w, b]

    return make


def _xent_ref(labels, logits):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, labels[..., None], -1)[..., 0]


CASES = [
    *[
        OpCase(
            "dense",
            lambda x, w, b, a=a: fused.dense(x, w, b, activation=a),
            _np_dense(a),
            _dense_inputs(),
            name=a,
        )
        for a in fused.DENSE_ACTIVATIONS
    ],
    OpCase(
        "dense",
        lambda x, w, b: fused.dense(x, w, b, activation="relu"),
        _np_dense("relu"),
        _dense_inputs((2, 3)),
        name="batched-3d",
    ),
    OpCase(
        "sparse_softmax_cross_entropy",
        lambda labels, logits: fused.sparse_softmax_cross_entropy(labels, logits, mean=True),
        lambda labels, logits: _xent_ref(labels, logits).mean(),
        lambda rng: [rng.integers(0, 5, 6), rng.standard_normal((6, 5)) * 3],
        name="mean",
    ),
    OpCase(
        "sparse_softmax_cross_entropy",
        lambda labels, logits: fused.sparse_softmax_cross_entropy(labels, logits),
        _xent_ref,
        lambda rng: [rng.integers(0, 5, 6), rng.standard_normal((6, 5)) * 3],
    ),
    OpCase(
        "sparse_softmax_cross_entropy",
        lambda labels, logits: fused.sparse_softmax_cross_entropy(labels, logits),
        _xent_ref,
        lambda rng: [rng.integers(0, 4, (2, 3)), rng.standard_normal((2, 3, 4))],
        name="rank3",
    ),
]
