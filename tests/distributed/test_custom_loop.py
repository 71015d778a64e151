"""A hand-written GradientTape loop over ranks matches one process training on the whole batch.

Each rank also computes the one-process reference itself (same data, same initial weights, full batches), so
the comparison needs no second job. The data size leaves an uneven last batch; with 33 samples and a global
batch of 8 the last batch has one sample, so under 2 ranks one rank has an empty shard in that step.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp

N, D, H = 33, 5, 7


def _data():
    rng = np.random.default_rng(42)
    x = rng.normal(size=(N, D))
    y = np.sin(x.sum(axis=1, keepdims=True))
    return x, y


def _init(seed, dtype):
    rng = np.random.default_rng(seed)
    return [
        tp.Variable(rng.normal(size=(D, H)).astype(dtype) * 0.5, name="w1"),
        tp.Variable(np.zeros(H, dtype), name="b1"),
        tp.Variable(rng.normal(size=(H, 1)).astype(dtype) * 0.5, name="w2"),
        tp.Variable(np.zeros(1, dtype), name="b2"),
    ]


def _loss(params, x, y):
    w1, b1, w2, b2 = params
    h = tp.tanh(tp.matmul(x, w1) + b1)
    return tp.mean(tp.square(tp.matmul(h, w2) + b2 - y))


def _sgd(params, grads, lr=0.1):
    for v, g in zip(params, grads):
        if g is not None:
            v.assign_sub(lr * g.numpy())


def _train_reference(x, y, batch, epochs, dtype):
    params = _init(0, dtype)
    for _ in range(epochs):
        for start in range(0, N, batch):
            xb, yb = x[start:start + batch].astype(dtype), y[start:start + batch].astype(dtype)
            with tp.GradientTape() as tape:
                loss = _loss(params, xb, yb)
            _sgd(params, tape.gradient(loss, params))
    return [v.numpy() for v in params]


def _train_distributed(strategy, x, y, batch, epochs, dtype):
    """Returns the final weights and, per step, whether every rank held bit-identical weights."""
    params = _init(strategy.rank, dtype)  # deliberately different on every rank until the broadcast
    strategy.broadcast(params)
    same_after_step = []
    for _ in range(epochs):
        for start in range(0, N, batch):
            stop = min(start + batch, N)
            lo, hi = strategy.shard_bounds(stop - start)
            xb = x[start + lo:start + hi].astype(dtype)
            yb = y[start + lo:start + hi].astype(dtype)
            grads = [None] * len(params)
            if len(xb):
                with tp.GradientTape() as tape:
                    loss = _loss(params, xb, yb)
                grads = tape.gradient(loss, params)
            grads = strategy.reduce_gradients(grads, variables=params, weight=len(xb))
            _sgd(params, grads)
            flat = np.concatenate([v.numpy().ravel() for v in params]).astype(np.float64)
            low, high = strategy.comm.allreduce_min_max(flat)
            same_after_step.append(bool(np.array_equal(low, high)))
    return [v.numpy() for v in params], same_after_step


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("batch", [8, 11])
def test_custom_loop_matches_one_process(strategy, dtype, rtol, batch):
    x, y = _data()
    got, same = _train_distributed(strategy, x, y, batch, epochs=3, dtype=dtype)
    want = _train_reference(x, y, batch, epochs=3, dtype=dtype)
    assert all(same), f"ranks diverged at steps {[i for i, s in enumerate(same) if not s]}"
    assert len(same) == 3 * -(-N // batch)
    for g, w in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


def test_training_moves_the_weights(strategy):
    """Guards the comparison above against a vacuous pass (weights that never change)."""
    x, y = _data()
    got, _ = _train_distributed(strategy, x, y, 8, epochs=1, dtype=np.float64)
    start = [v.numpy() for v in _init(0, np.float64)]
    assert max(float(np.abs(g - s).max()) for g, s in zip(got, start)) > 1e-3
