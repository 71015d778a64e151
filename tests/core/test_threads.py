"""Thread safety: a layer called from several threads builds once; predictions and independent tapes in
threads give the single-threaded results; BLAS thread control is counted across threads."""

import sys
import threading
import time

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.ops import _blas, fused


def _in_threads(fn, n=4):
    """Run ``fn(i)`` in ``n`` threads released together; return the results (re-raising any error)."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def work(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so races show
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    if errors:
        raise errors[0]
    return results


def test_a_layer_called_from_threads_builds_once():
    class Slow(tp.layers.Layer):
        builds = 0

        def build(self, input_shape):
            Slow.builds += 1
            time.sleep(0.02)  # let the other threads run into the unbuilt layer
            self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    layer = Slow()
    outs = _in_threads(lambda i: layer(np.ones((2, 3), np.float32)).numpy())
    assert Slow.builds == 1
    assert len(layer.weights) == 1
    for out in outs:
        np.testing.assert_array_equal(out, np.ones((2, 3)))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_predict_from_threads_on_an_unbuilt_model(kind):
    def make():
        tp.random.set_seed(0)
        if kind == "dense":
            return tp.Sequential([tp.layers.Dense(64, activation="relu"), tp.layers.Dense(4)])
        conv = tp.layers.Conv2D(4, 3, activation="relu")
        return tp.Sequential([conv, tp.layers.Flatten(), tp.layers.Dense(4)])

    shape = (32, 16) if kind == "dense" else (8, 6, 6, 2)
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    expected = make().predict(x, verbose=0)
    model = make()
    outs = _in_threads(lambda i: model.predict(x, verbose=0))
    assert len(model.weights) == 4
    for out in outs:
        np.testing.assert_array_equal(out, expected)


def test_independent_tapes_in_threads():
    rng = np.random.default_rng(0)
    kernel = tp.Variable(rng.standard_normal((5, 3)).astype(np.float32))
    bias = tp.Variable(rng.standard_normal(3).astype(np.float32))
    xs = [rng.standard_normal((4, 5)).astype(np.float32) for _ in range(4)]

    def grads(i):
        out = []
        for _ in range(30):
            with tp.GradientTape() as tape:
                y = tp.reduce_sum(fused.dense(xs[i], kernel, bias, activation="tanh") ** 2)
            out = [g.numpy() for g in tape.gradient(y, [kernel, bias])]
        return out

    expected = [grads(i) for i in range(4)]
    for got, want in zip(_in_threads(grads), expected):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_fused_dense_keeps_no_module_state():
    assert not hasattr(fused, "_memo")


def test_single_thread_is_counted_across_threads(monkeypatch):
    counts = [4]
    fake = [(lambda: counts[0], lambda n: counts.__setitem__(0, n))]
    monkeypatch.setattr(_blas, "_found", fake)
    first, second = _blas.single_thread(), _blas.single_thread()
    first.__enter__()
    assert counts[0] == 1
    second.__enter__()
    first.__exit__(None, None, None)  # the other block is still running: stay on one thread
    assert counts[0] == 1
    second.__exit__(None, None, None)
    assert counts[0] == 4
