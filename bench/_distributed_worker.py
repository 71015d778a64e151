"""One process of a distributed benchmark (``bench/distributed.py`` starts it under ``mpiexec -n P``).

``python bench/_distributed_worker.py allreduce [--quick]``: the cost of averaging gradients of the MLP's
shapes (784-512-256-10, 535,818 float32 values) with ``reduce_gradients`` and of raw in-place ``Allreduce``
calls of several sizes. ``python bench/_distributed_worker.py mlp [--quick] [--batches=32,128]``: samples/s
of ``model.fit`` on that MLP. Rank 0 prints one JSON line last.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tapeflow as tp  # noqa: E402
from tapeflow.distributed import _buffers, _comm  # noqa: E402

MLP_UNITS = (784, 512, 256, 10)


def mlp_shapes():
    """The (kernel, bias) shapes of the MLP, in order."""
    shapes = []
    for fan_in, fan_out in zip(MLP_UNITS, MLP_UNITS[1:]):
        shapes += [(fan_in, fan_out), (fan_out,)]
    return shapes


def timed(fn, comm, repeat, number):
    """Median seconds per call over ``repeat`` batches of ``number`` calls, ranks started together."""
    fn()
    times = []
    for _ in range(repeat):
        comm.barrier()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    # The slowest rank sets the pace of a synchronous step.
    _, high = comm.allreduce_min_max([statistics.median(times)])
    return float(high[0])


class _NoCommunication(_comm.SingleProcess):
    size = 2


def allreduce(quick):
    strategy = tp.distributed.DataParallel()
    comm = strategy.comm
    rng = np.random.default_rng(strategy.rank)
    grads = [rng.standard_normal(s).astype(np.float32) for s in mlp_shapes()]
    repeat, number = (3, 5) if quick else (7, 20)
    out = {"size": strategy.size, "grad_values": int(sum(g.size for g in grads))}
    out["reduce_gradients_s"] = timed(lambda: strategy.reduce_gradients(grads), comm, repeat, number)
    # tapeflow's own per-step work (pack, scale, divide, unpack) without any communication: the same call
    # through a communicator that claims 2 ranks but moves nothing.
    specs = [(g.shape, g.dtype) for g in grads]
    fake = _NoCommunication()
    out["bookkeeping_s"] = timed(
        lambda: _buffers.weighted_allreduce(fake, grads, specs, weight=3.0), comm, repeat, number
    )
    raw = {}
    for n in (1, 1_000, 10_000, 100_000, 535_818, 2_000_000):
        buf = np.ones(n, np.float32)
        raw[str(n)] = timed(lambda buf=buf: comm.allreduce_sum_(buf), comm, repeat, number)
    out["raw_allreduce_s"] = raw
    return out


def mlp(quick, batches=(32, 128)):
    """Samples/s of ``model.fit`` on the MLP (Adam 1e-3, softmax cross-entropy) per global batch size."""
    strategy = tp.distributed.DataParallel()
    n = 1024 if quick else 4096
    rng = np.random.default_rng(0)
    x = rng.random((n, MLP_UNITS[0]), dtype=np.float32)
    y = rng.integers(0, MLP_UNITS[-1], n)
    tp.random.set_seed(0)
    with strategy.scope():
        model = tp.Sequential(
            [tp.layers.Input((MLP_UNITS[0],))]
            + [tp.layers.Dense(u, activation="relu") for u in MLP_UNITS[1:-1]]
            + [tp.layers.Dense(MLP_UNITS[-1])]
        )
        model.compile(optimizer=tp.optimizers.Adam(1e-3),
                      loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
    out = {"size": strategy.size}
    repeat = 1 if quick else 3
    for batch in batches:
        model.fit(x[:4 * batch], y[:4 * batch], batch_size=batch, epochs=1, verbose=0)  # warm-up
        times = []
        for _ in range(repeat):
            strategy.barrier()
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            times.append(time.perf_counter() - start)
        _, slowest = strategy.comm.allreduce_min_max([statistics.median(times)])
        out[str(batch)] = n / float(slowest[0])
    return out


def main(argv):
    mode, quick = argv[0], "--quick" in argv
    if mode == "mlp":
        batches = [int(b) for a in argv if a.startswith("--batches=") for b in a.split("=")[1].split(",")]
        result = mlp(quick, tuple(batches) or (32, 128))
    else:
        result = allreduce(quick)
    if tp.distributed.rank() == 0:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
