"""tp.data.Dataset: sources, transformations, cardinality and the pipeline properties the issue names."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapeflow as tp
from tapeflow.data import INFINITE, UNKNOWN, Dataset

FAST = settings(max_examples=40, deadline=None)


def values(ds):
    return [int(v) for v in ds.as_numpy_iterator()]


# --- properties ---------------------------------------------------------------------------------------------
@FAST
@given(n=st.integers(0, 60), buffer=st.integers(1, 80), seed=st.integers(0, 2**31))
def test_shuffle_is_a_permutation_every_epoch_and_seeded_runs_repeat(n, buffer, seed):
    ds = Dataset.range(n).shuffle(buffer, seed=seed)
    epochs = [values(ds) for _ in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(n))
    again = Dataset.range(n).shuffle(buffer, seed=seed)
    assert [values(again) for _ in range(3)] == epochs


def test_shuffle_reshuffles_each_epoch_unless_told_not_to():
    ds = Dataset.range(50).shuffle(50, seed=3)
    assert values(ds) != values(ds)
    fixed = Dataset.range(50).shuffle(50, seed=3, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed) != list(range(50))


def test_unseeded_shuffle_follows_the_global_seed():
    tp.random.set_seed(7)
    a = values(Dataset.range(30).shuffle(30))
    tp.random.set_seed(7)
    b = values(Dataset.range(30).shuffle(30))
    assert a == b and sorted(a) == list(range(30))


@FAST
@given(n=st.integers(0, 50), batch=st.integers(1, 12), drop=st.booleans(), width=st.integers(1, 3))
def test_batch_shapes_and_remainder(n, batch, drop, width):
    x = np.arange(n * width, dtype=np.float32).reshape(n, width)
    ds = Dataset.from_tensor_slices((x, np.arange(n))).batch(batch, drop_remainder=drop)
    batches = list(ds.as_numpy_iterator())
    full, rest = divmod(n, batch)
    expected = [batch] * full + ([rest] if rest and not drop else [])
    assert [xb.shape for xb, _ in batches] == [(b, width) for b in expected]
    assert [yb.shape for _, yb in batches] == [(b,) for b in expected]
    assert len(ds) == len(expected)
    if batches:
        np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), x[: sum(expected)])


@FAST
@given(n=st.integers(0, 20), times=st.integers(0, 5), take=st.integers(-1, 40), skip=st.integers(0, 30))
def test_repeat_take_skip_counts(n, times, take, skip):
    ds = Dataset.range(n).repeat(times)
    assert values(ds) == list(range(n)) * times
    taken = ds.take(take)
    expected = (list(range(n)) * times)[: None if take == -1 else take]
    assert values(taken) == expected and len(taken) == len(expected)
    skipped = ds.skip(skip)
    assert values(skipped) == (list(range(n)) * times)[skip:] and len(skipped) == max(n * times - skip, 0)


def test_repeat_forever_then_take():
    ds = Dataset.range(3).repeat()
    assert ds.cardinality() == INFINITE
    assert values(ds.take(7)) == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(TypeError, match="infinite"):
        len(ds)
    assert values(Dataset.range(0).repeat()) == []  # empty stays empty, no hang


@FAST
@given(n=st.integers(0, 30), buffer=st.integers(1, 5), fail_at=st.integers(0, 35))
def test_prefetch_passes_elements_and_exceptions_through(n, buffer, fail_at):
    def gen():
        for i in range(n):
            if i == fail_at:
                raise KeyError(f"bad element {i}")
            yield i

    ds = Dataset.from_generator(gen).prefetch(buffer)
    seen = []
    if fail_at < n:
        with pytest.raises(KeyError, match=f"bad element {fail_at}"):
            for v in ds.as_numpy_iterator():
                seen.append(int(v))
        assert seen == list(range(fail_at))
    else:
        assert values(ds) == list(range(n))


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "tapeflow-prefetch"]


def test_prefetch_does_not_deadlock_when_the_consumer_stops_early():
    before = len(_prefetch_threads())
    ds = Dataset.range(10_000).prefetch(1)
    for _ in range(20):
        it = ds.as_numpy_iterator()
        next(it)
        it.close()  # the producer is blocked on a full queue: closing must release it
    for v in ds.as_numpy_iterator():
        if v == 3:
            break
    gc.collect()
    deadline = time.monotonic() + 5
    while len(_prefetch_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_prefetch_threads()) == before


def test_prefetch_of_a_slow_producer_and_nested_prefetch():
    def slow():
        for i in range(5):
            time.sleep(0.005)
            yield i

    ds = Dataset.from_generator(slow).prefetch(2).map(lambda x: x + 1).prefetch(1)
    assert values(ds) == [1, 2, 3, 4, 5]
    assert values(ds) == [1, 2, 3, 4, 5]


# --- sources and transformations ----------------------------------------------------------------------
def test_from_tensor_slices_dicts_and_mismatch_error():
    ds = Dataset.from_tensor_slices({"a": np.zeros((4, 2)), "b": np.arange(4)})
    first = next(ds.as_numpy_iterator())
    assert set(first) == {"a", "b"} and first["a"].shape == (2,)
    assert len(ds) == 4
    with pytest.raises(tp.ShapeError, match=r"different first dimensions.*\(3, 2\).*\(4,\)"):
        Dataset.from_tensor_slices((np.zeros((3, 2)), np.zeros(4)))


def test_from_tensor_slices_pandas():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    x, y = next(Dataset.from_tensor_slices((df, df["a"])).as_numpy_iterator())
    np.testing.assert_array_equal(x, [1.0, 4.0])
    assert y == 1.0


def test_iteration_yields_tensors_and_map_receives_tensors():
    seen = []
    ds = Dataset.from_tensor_slices((np.ones((2, 3), np.float32), np.array([0, 1]))).map(
        lambda x, y: seen.append(type(x)) or (tp.sum(x), y)
    )
    out = list(ds)
    assert seen == [tp.Tensor, tp.Tensor]
    assert isinstance(out[0][0], tp.Tensor) and float(out[0][0]) == 3.0


def test_from_generator_requires_a_callable_and_checks_the_signature():
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator(iter([1, 2]))
    ds = Dataset.from_generator(lambda: ((np.ones(3), 1) for _ in range(2)),
                                output_signature=(((None,), "float32"), ((), "int64")))
    x, y = next(ds.as_numpy_iterator())
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert ds.cardinality() == UNKNOWN
    bad = Dataset.from_generator(lambda: iter([np.ones(4)]), output_signature=((3,), "float32"))
    with pytest.raises(tp.ShapeError, match=r"expected shape \(3,\), got \(4,\)"):
        list(bad.as_numpy_iterator())


def test_filter_unbatch_cache_zip_concatenate_enumerate():
    assert values(Dataset.range(10).filter(lambda x: x % 2 == 0)) == [0, 2, 4, 6, 8]
    assert Dataset.range(10).filter(lambda x: x > 3).cardinality() == UNKNOWN
    assert values(Dataset.range(7).batch(3).unbatch()) == list(range(7))
    calls = []
    cached = Dataset.range(4).map(lambda x: calls.append(1) or x).cache()
    it = cached.as_numpy_iterator()
    next(it)
    it.close()  # a partial pass stores nothing
    assert values(cached) == values(cached) == [0, 1, 2, 3] and len(calls) == 5
    zipped = Dataset.zip((Dataset.range(3), Dataset.range(5).repeat()))
    assert len(zipped) == 3
    assert [(int(a), int(b)) for a, b in zipped.as_numpy_iterator()] == [(0, 0), (1, 1), (2, 2)]
    assert values(Dataset.range(2).concatenate(Dataset.range(3))) == [0, 1, 0, 1, 2]
    assert [int(i) for i, _ in Dataset.range(3).enumerate(5).as_numpy_iterator()] == [5, 6, 7]


def test_batch_of_ragged_elements_names_the_shapes_and_padded_batch_pads():
    ragged = Dataset.from_generator(lambda: iter([np.ones(2), np.ones(3)]))
    with pytest.raises(tp.ShapeError, match=r"batch: .*\(2,\), \(3,\)"):
        list(ragged.batch(2).as_numpy_iterator())
    pairs = Dataset.from_generator(lambda: iter([(np.ones(2), 0), (np.ones(3), 1)]))
    x, y = next(pairs.padded_batch(2, padded_shapes=((5,), ()), padding_values=(-1.0, 0)).as_numpy_iterator())
    np.testing.assert_array_equal(x, [[1, 1, -1, -1, -1], [1, 1, 1, -1, -1]])
    np.testing.assert_array_equal(y, [0, 1])


@pytest.mark.parametrize("call, message", [
    (lambda: Dataset.range(3).batch(0), "`batch_size` must be a positive integer. Received: batch_size=0"),
    (lambda: Dataset.range(3).shuffle(0), "`buffer_size` must be a positive integer"),
    (lambda: Dataset.range(3).take(-2), "`count` must be an integer >= -1. Received: count=-2"),
    (lambda: Dataset.range(3).map(3), "callable"),
])
def test_bad_arguments_have_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_len_of_unknown_dataset_explains():
    with pytest.raises(TypeError, match="unknown"):
        len(Dataset.from_generator(lambda: iter([1])))
    assert "cardinality=3" in repr(Dataset.range(3))


@FAST
@given(n=st.integers(0, 40), batch=st.integers(1, 9), drop=st.booleans(), buffer=st.integers(1, 50),
       seed=st.integers(0, 99))
def test_batch_fast_path_equals_the_element_path(n, batch, drop, buffer, seed):
    """Batching slices of arrays (optionally shuffled) gathers whole batches at once; the result must be the
    same batches as stacking the elements one by one (forced here through an identity map)."""
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    src = Dataset.from_tensor_slices((x, np.arange(n)))
    fast = src.shuffle(buffer, seed=seed).batch(batch, drop_remainder=drop)
    slow = src._map_numpy(lambda e: e).shuffle(buffer, seed=seed).batch(batch, drop_remainder=drop)
    for _ in range(2):  # two epochs: the reshuffle must match too
        a, b = list(fast.as_numpy_iterator()), list(slow.as_numpy_iterator())
        assert len(a) == len(b)
        for (xa, ya), (xb, yb) in zip(a, b):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
            assert xa.dtype == xb.dtype and ya.dtype == yb.dtype
    plain = list(src.batch(batch, drop_remainder=drop).as_numpy_iterator())
    if plain:
        plain[0][0][...] = -1  # batches are copies: the source is untouched
        assert n == 0 or x.min() >= 0


@FAST
@given(n=st.integers(0, 30), workers=st.integers(2, 4), fail_at=st.integers(0, 40))
def test_parallel_map_keeps_order_and_raises_in_place(n, workers, fail_at):
    def f(x):
        time.sleep(0.0005 * (int(x) % 3))  # uneven work: later elements may finish first
        if int(x) == fail_at:
            raise ArithmeticError(f"element {int(x)}")
        return x * 10

    ds = Dataset.range(n).map(f, num_parallel_calls=workers)
    if fail_at < n:
        seen = []
        with pytest.raises(ArithmeticError, match=f"element {fail_at}"):
            for v in ds.as_numpy_iterator():
                seen.append(int(v))
        assert seen == [10 * i for i in range(fail_at)]
    else:
        assert values(ds) == [10 * i for i in range(n)]


def test_parallel_map_threads_finish_when_the_consumer_stops():
    def workers():
        return [t for t in threading.enumerate() if t.name.startswith("tapeflow-map")]

    before = len(workers())
    ds = Dataset.range(1000).map(lambda x: x + 1, num_parallel_calls=tp.data.AUTOTUNE)
    it = ds.as_numpy_iterator()
    assert int(next(it)) == 1
    it.close()
    assert len(workers()) == before
    with pytest.raises(ValueError, match="`num_parallel_calls` must be a positive integer"):
        Dataset.range(3).map(abs, num_parallel_calls=0)


@FAST
@given(n=st.integers(0, 30), batch=st.integers(1, 8), width=st.integers(0, 3))
def test_unbatch_inverts_batch_and_padded_batch_pads_to_the_longest(n, batch, width):
    x = np.arange(n * width, dtype=np.int32).reshape(n, width)
    ds = Dataset.from_tensor_slices({"x": x, "i": np.arange(n)})
    back = list(ds.batch(batch).unbatch().as_numpy_iterator())
    assert [int(e["i"]) for e in back] == list(range(n))
    if n:
        np.testing.assert_array_equal(np.stack([e["x"] for e in back]), x)
    ragged = Dataset.from_generator(lambda: (np.ones(i % 5, np.int32) for i in range(n)))
    for k, padded in enumerate(ragged.padded_batch(batch).as_numpy_iterator()):
        lengths = [i % 5 for i in range(k * batch, min((k + 1) * batch, n))]
        assert padded.shape == (len(lengths), max(lengths))
        np.testing.assert_array_equal(padded.sum(axis=1), lengths)
