"""Shared runner of the training-step suites (cnn, lstm): tapeflow vs PyTorch eager, default and 1 thread.

Each snippet prints samples/s of one full training step. Both implementations run in fresh subprocesses,
alternating, for several rounds, twice: with the libraries' default thread pools (both cores), and with one
thread each (``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1``), which on a shared, busy machine
shows the per-core cost without thread pools spinning against other processes."""

from __future__ import annotations

import importlib.util

import bench

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def compare(workload, tapeflow_code, torch_code, quick=False):
    """Rows for ``workload``: samples/s of each implementation, tapeflow's ratio to PyTorch (target >= 1)."""
    repeat = 3 if quick else 7
    code = {"tapeflow": tapeflow_code.format(repeat=repeat)}
    if importlib.util.find_spec("torch") is not None:
        code["torch"] = torch_code.format(repeat=repeat)
    reference = "torch" if "torch" in code else None
    out = []
    for label, env in (("", None), (", 1 thread each", ONE_THREAD)):
        values = bench.alternate(code, rounds=1 if quick else 3, env=env)
        out += bench.rows(workload + label, values, unit="samples/s", reference=reference, target=1.0,
                          lower_is_better=False)
    return out
