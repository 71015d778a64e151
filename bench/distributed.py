"""Data-parallel training over MPI: all-reduce cost per step, MLP samples/s on 1 and 2 processes, projection.

Measured (each configuration in fresh processes, alternating configurations for several rounds):

* the cost of ``strategy.reduce_gradients`` on the gradients of the MLP 784-512-256-10 (535,818 float32
  values, 2.14 MB) on 1 process (no communication: the strategy's own cost) and on 2 processes, and the raw
  in-place ``MPI_Allreduce`` of buffers of 1 to 2e6 float32 on 2 processes (loopback, shared memory);
* ``model.fit`` samples/s of that MLP (Adam, softmax cross-entropy) at global batches 32 and 128, on 1 process
  with 1 and with 2 BLAS threads and on 2 processes with 1 thread each. This machine has 2 cores shared with
  other work, so 2 processes compete with each other and with everything else: the 2-process figures show
  contention, not what 2 machines would do;
* one process's step time at batches 16, 128 and 1024 (the projection's input).

Projected (a model, not a measurement; printed as rows whose ``impl`` says "projected"): the parallel
efficiency on 8 and 64 processes over a 10 Gb/s network, from the measured single-process step time, the
gradient size, the measured bookkeeping cost, and a bandwidth-optimal all-reduce (reduce-scatter + all-gather:
each process sends and receives ``2 (p-1)/p * S`` bytes, in ``2 log2 p`` latency-bound rounds of ``ALPHA_S``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import bench

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_distributed_worker.py"
GRAD_VALUES = 535_818
GRAD_BYTES = 4 * GRAD_VALUES
LINK_BYTES_PER_S = 10e9 / 8  # 10 Gb/s
ALPHA_S = 50e-6  # per-message latency of MPI over TCP on 10 GbE (a typical figure, assumed, not measured)


def _mpiexec():
    from tapeflow.distributed.launch import find_mpiexec

    return find_mpiexec()


def _worker(mode, procs, threads, quick, extra=()):
    """Run the worker on ``procs`` processes with ``threads`` BLAS threads each; rank 0's JSON result."""
    cmd = [sys.executable, str(WORKER), mode, *extra] + (["--quick"] if quick else [])
    if procs > 1:
        cmd = [_mpiexec(), "-n", str(procs)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               PYTHONPATH=str(HERE.parent))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=HERE.parent,
                          start_new_session=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.strip()][-1])


def _alternating(mode, configs, rounds, quick, extra=()):
    """``{name: [result per round]}``, running the configurations in A B C, C B A, ... order."""
    results = {name: [] for name in configs}
    for r in range(rounds):
        order = list(configs) if r % 2 == 0 else list(reversed(list(configs)))
        for name in order:
            procs, threads = configs[name]
            results[name].append(_worker(mode, procs, threads, quick, extra))
    return results


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def allreduce_time(p, nbytes, alpha=ALPHA_S, bandwidth=LINK_BYTES_PER_S):
    """Seconds for a bandwidth-optimal all-reduce of ``nbytes`` over ``p`` processes (Rabenseifner)."""
    if p == 1:
        return 0.0
    return 2 * math.log2(p) * alpha + 2 * (p - 1) / p * nbytes / bandwidth


def projection(step_s, overhead_s, procs=(8, 64), nbytes=GRAD_BYTES):
    """Parallel efficiency for each process count, given the one-process step time per local batch.

    Args:
        step_s: ``{local_batch: seconds per step on one process}``.
        overhead_s: the measured per-step bookkeeping of ``reduce_gradients`` (packing, scaling, unpacking).
        procs: the process counts.
        nbytes: the gradient size in bytes.

    Returns:
        ``{(kind, p): efficiency}`` where kind ``"weak"`` keeps the local batch at 128 (global batch 128 p)
        and ``"strong"`` keeps the global batch at 1024 (local batch 1024 / p). Communication is not
        overlapped with computation (tapeflow reduces after the whole backward pass): step = compute + comm.
    """
    out = {}
    for p in procs:
        comm = allreduce_time(p, nbytes) + overhead_s
        out[("weak", p)] = step_s[128] / (step_s[128] + comm)
        local = 1024 // p
        if local in step_s:
            out[("strong", p)] = step_s[1024] / (p * (step_s[local] + comm))
    return out


def run(quick=False):
    """Measure the all-reduce cost and MLP throughput on 1 and 2 processes, then project to 8 and 64."""
    rounds = 1 if quick else 3
    load_before = os.getloadavg()[0]
    ar = _alternating("allreduce", {"1 process": (1, 1), "2 processes": (2, 1)}, rounds, quick)
    one = _median([r["reduce_gradients_s"] for r in ar["1 process"]])
    two = _median([r["reduce_gradients_s"] for r in ar["2 processes"]])
    raw = {k: _median([r["raw_allreduce_s"][k] for r in ar["2 processes"]]) for k in ar["2 processes"][0][
        "raw_allreduce_s"]}
    rows = bench.rows(f"reduce_gradients, MLP grads ({GRAD_VALUES:,} float32)",
                      {"tapeflow 1 process": one * 1e3, "tapeflow 2 processes": two * 1e3,
                       "MPI_Allreduce only, 2 processes": raw[str(GRAD_VALUES)] * 1e3}, unit="ms")
    for n, seconds in raw.items():
        rows += bench.rows(f"MPI_Allreduce in place, {int(n):,} float32, 2 processes (loopback)",
                           {"mpi4py": seconds * 1e6}, unit="us")

    configs = {"1 process x 2 threads": (1, 2), "1 process x 1 thread": (1, 1),
               "2 processes x 1 thread": (2, 1)}
    mlp = _alternating("mlp", configs, rounds, quick)
    sps = {name: {b: _median([r[b] for r in res]) for b in ("32", "128")} for name, res in mlp.items()}
    for b in ("32", "128"):
        rows += bench.rows(f"MLP 784-512-256-10 fit, Adam, global batch {b}",
                           {name: sps[name][b] for name in configs}, unit="samples/s",
                           reference="1 process x 2 threads", lower_is_better=False,
                           note="2 cores shared: processes compete for them")
    # One process's step time at the local batches the projection needs (16 = 1024 / 64, 128 = 1024 / 8).
    single = _alternating("mlp", {"1 process x 1 thread": (1, 1)}, rounds, quick,
                          extra=["--batches=16,128,1024"])["1 process x 1 thread"]
    step_s = {int(b): int(b) / _median([r[b] for r in single]) for b in ("16", "128", "1024")}
    for b, seconds in sorted(step_s.items()):
        rows += bench.rows(f"MLP fit step, batch {b}, 1 process x 1 thread (projection input)",
                           {"tapeflow": seconds * 1e3}, unit="ms")

    # tapeflow's own per-step work around the all-reduce (measured without communication) stays per step
    # at any scale; the all-reduce itself is modelled for the network.
    overhead = _median([r["bookkeeping_s"] for r in ar["1 process"]])
    rows += bench.rows("reduce_gradients bookkeeping (pack, scale, divide, unpack), no communication",
                       {"tapeflow": overhead * 1e3}, unit="ms")
    for (kind, p), eff in sorted(projection(step_s, overhead).items()):
        label = ("local batch 128 (global 128 p)" if kind == "weak" else "global batch 1024")
        rows += bench.rows(f"projected efficiency, {p} processes, 10 Gb/s, {label}",
                           {"projected": 100 * eff}, unit="%",
                           note=f"all-reduce {allreduce_time(p, GRAD_BYTES) * 1e3:.2f} ms + "
                                f"bookkeeping {overhead * 1e3:.2f} ms per step")
    load = f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    for row in rows:
        row["note"] = "; ".join(n for n in (row.get("note"), load) if n)
    return rows
