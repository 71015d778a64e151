"""The step-buffer cache (tapeflow/ops/_reuse.py): an array is handed out again only when nothing but the
cache refers to it; small arrays bypass it; threads never share one. (That held Tensors keep their values
through training steps is in test_value_semantics.py.)"""

import threading
import time

import numpy as np
import pytest

from tapeflow.ops import _reuse

pytestmark = pytest.mark.host_only(reason="the cache holds NumPy arrays only; other array libraries allocate")
SHAPE = (256, 256)  # above MIN_SIZE


@pytest.fixture(autouse=True)
def _empty_cache():
    _reuse.clear()
    yield
    _reuse.clear()


def test_an_array_is_reused_only_once_released():
    a = _reuse.empty("site", SHAPE, np.float32)
    b = _reuse.empty("site", SHAPE, np.float32)
    assert a is not b  # `a` is still held
    view = a[1:]
    del a
    c = _reuse.empty("site", SHAPE, np.float32)
    assert c is not b and c is not view.base  # `b` is held, and the view keeps `a` out
    del view
    d = _reuse.empty("site", SHAPE, np.float32)
    assert d is not b and d is not c  # `a`, released at last, comes back
    assert _reuse.empty("other", SHAPE, np.float32) is not d  # each call site has its own arrays
    assert _reuse.empty("site", SHAPE, np.float64).dtype == np.float64


def test_small_arrays_and_matmul_fallbacks():
    small = _reuse.empty("site", (4, 4), np.float32)
    assert small.shape == (4, 4) and not _reuse._cache
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(_reuse.matmul("m", a, a.T), a @ a.T)
    np.testing.assert_array_equal(_reuse.matmul("m", a.astype(np.int64), a.T.astype(np.int64)), a @ a.T)
    with pytest.raises(ValueError):
        _reuse.matmul("m", a, a)


def test_the_cache_is_bounded():
    for i in range(_reuse.LIMIT + 5):
        _reuse.empty(i, SHAPE, np.float32)
    assert len(_reuse._cache) == _reuse.LIMIT
    held = [_reuse.empty("site", SHAPE, np.float32) for _ in range(_reuse.PER_KEY + 2)]
    assert len({id(h) for h in held}) == len(held)
    assert len(_reuse._cache[("site", SHAPE, np.dtype(np.float32))]) == _reuse.PER_KEY


def test_threads_never_get_the_same_array():
    errors = []

    def work(mark):
        try:
            for _ in range(200):
                buf = _reuse.empty("site", SHAPE, np.float32)
                buf[0, 0] = mark  # a shared array would be overwritten by another thread
                time.sleep(0)
                assert buf[0, 0] == mark
                del buf
        except AssertionError as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_training_steps_in_threads_match_serial_ones(monkeypatch):
    """Dense gradients from several threads at once, every array through the cache: each thread's values are
    those it computes alone."""
    import tapeflow as tp
    from tapeflow.ops import fused

    monkeypatch.setattr(_reuse, "MIN_SIZE", 1)
    rng = np.random.default_rng(0)
    kernel = tp.Variable(rng.standard_normal((20, 30)).astype(np.float32))
    bias = tp.Variable(rng.standard_normal(30).astype(np.float32))
    xs = [rng.standard_normal((16, 20)).astype(np.float32) for _ in range(4)]

    def grads(i):
        for _ in range(40):
            with tp.GradientTape() as tape:
                y = fused.dense(xs[i], kernel, bias, activation="relu")
                loss = tp.reduce_sum(y * y)
            out = [y.numpy()] + [g.numpy() for g in tape.gradient(loss, [kernel, bias])]
        return out

    expected = [grads(i) for i in range(4)]
    results = [None] * 4
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, grads(i))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
