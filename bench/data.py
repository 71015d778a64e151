"""Input pipelines: a tp.data epoch vs NumPy, prefetch overlap, parallel map, fit on a Dataset vs arrays."""

from __future__ import annotations

import time

import numpy as np

import bench


def _epoch_numpy(x, y, batch, rng):
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch):
        index = order[start:start + batch]
        x[index], y[index]


def _drain(ds):
    for _ in ds.as_numpy_iterator():
        pass


def _pipeline_rows(quick):
    import tapeflow as tp

    n = 10_000 if quick else 60_000
    x = np.zeros((n, 784), np.float32)
    y = np.zeros(n, np.int64)
    rng = np.random.default_rng(0)
    shuffled = tp.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=0).batch(128)
    mapped = tp.data.Dataset.from_tensor_slices((x, y)).batch(128).map(lambda a, b: (a * 2.0, b))
    t = bench.interleaved({
        "tapeflow": lambda: _drain(shuffled),
        "numpy": lambda: _epoch_numpy(x, y, 128, rng),
    }, repeat=3 if quick else 7)
    rows = bench.rows(f"shuffled epoch of {n}x784, batch 128", {k: v * 1e3 for k, v in t.items()}, unit="ms",
                      reference="numpy", target=1.5)
    t_map = bench.per_call(lambda: _drain(mapped), repeat=3 if quick else 7)
    rows += bench.rows(f"batched epoch + map(x * 2) of {n}x784", {"tapeflow": t_map * 1e3}, unit="ms")
    return rows


def _slow(ms):
    time.sleep(ms / 1e3)  # stands for I/O-bound loading (or a training step that releases the GIL in BLAS)


def _prefetch_rows(quick):
    import tapeflow as tp

    steps, ms = (20, 2.0) if quick else (50, 4.0)

    def consume(ds):
        for _ in ds.as_numpy_iterator():
            _slow(ms)  # the training step

    source = tp.data.Dataset.range(steps)._map_numpy(lambda i: (_slow(ms), i)[1])  # the loading step
    t = bench.interleaved({
        "tapeflow prefetch(2)": lambda: consume(source.prefetch(2)),
        "tapeflow": lambda: consume(source),
    }, repeat=3)
    return bench.rows(f"{steps} steps of {ms} ms loading + {ms} ms training", {
        "tapeflow": t["tapeflow prefetch(2)"] * 1e3, "no prefetch": t["tapeflow"] * 1e3,
    }, unit="ms", reference="no prefetch", target=0.7, note="ideal 0.5: loading hidden behind training")


def _parallel_map_rows(quick):
    import tapeflow as tp

    steps, ms = (20, 2.0) if quick else (64, 4.0)
    source = tp.data.Dataset.range(steps)

    def load(i):
        _slow(ms)
        return i

    t = bench.interleaved({
        "tapeflow": lambda: _drain(source.map(load, num_parallel_calls=4)),
        "sequential map": lambda: _drain(source.map(load)),
    }, repeat=3)
    return bench.rows(f"map over {steps} elements of {ms} ms I/O, 4 threads",
                      {k: v * 1e3 for k, v in t.items()}, unit="ms", reference="sequential map", target=0.4,
                      note="ideal 0.25")


def _fit_rows(quick):
    import tapeflow as tp

    n = 4_096 if quick else 16_384
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 64)).astype(np.float32)
    y = rng.integers(0, 10, n)

    def model():
        m = tp.Sequential([tp.Input(shape=(64,)), tp.layers.Dense(64, activation="relu"),
                           tp.layers.Dense(10, activation="softmax")])
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return m

    m_arrays, m_ds = model(), model()
    ds = tp.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=0).batch(64)
    t = bench.interleaved({
        "tapeflow": lambda: m_ds.fit(ds, epochs=1, verbose=0),
        "arrays": lambda: m_arrays.fit(x, y, batch_size=64, epochs=1, verbose=0),
    }, repeat=3 if quick else 5)
    return bench.rows(f"fit epoch, MLP 64-64-10, {n} samples: Dataset vs arrays",
                      {k: v * 1e3 for k, v in t.items()}, unit="ms", reference="arrays", target=1.15)


def run(quick=False):
    return _pipeline_rows(quick) + _prefetch_rows(quick) + _parallel_map_rows(quick) + _fit_rows(quick)
