"""Shared runner of the training-step suites (cnn, lstm): tapeflow vs PyTorch eager, default and 1 thread.

Each snippet prints samples/s of one full training step. Both implementations run in fresh subprocesses,
alternating, for several rounds, twice: with the libraries' default thread pools (both cores), and with one
thread each (``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1``), which on a shared, busy machine
shows the per-core cost without thread pools spinning against other processes."""

from __future__ import annotations

import importlib.util

import bench

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


_TIMED_STEP = """
for _ in range(3):
    step()
print(json.dumps({batch} / per_call(step, repeat={repeat})))
"""

_TAPEFLOW = """
import json
import numpy as np
import tapeflow as tp
from bench import per_call
L = tp.layers
tp.random.set_seed(0)
rng = np.random.default_rng(0)
{setup}
def step():
    model.train_on_batch(x, y)
""" + _TIMED_STEP

_TORCH = """
import json
import torch
from bench import per_call
torch.manual_seed(0)
nn = torch.nn
{setup}
def step():
    opt.zero_grad()
    {loss}.backward()
    opt.step()
""" + _TIMED_STEP


def compare(workload, tapeflow_setup, torch_setup, torch_loss, batch, quick=False):
    """Rows for ``workload``: samples/s of each implementation, tapeflow's ratio to PyTorch (target >= 1).

    Args:
        tapeflow_setup: code that builds and compiles ``model`` and makes the batch ``x, y`` (``tp``, ``L``
            for ``tp.layers``, ``np`` and a seeded ``rng`` are defined); one step is
            ``model.train_on_batch(x, y)``.
        torch_setup: code that builds ``model``, its optimizer ``opt`` and ``x, y`` (``torch``, ``nn``).
        torch_loss: the loss expression one PyTorch step back-propagates.
        batch: the batch size (samples per step).
    """
    repeat = 3 if quick else 7
    code = {"tapeflow": _TAPEFLOW.format(setup=tapeflow_setup, batch=batch, repeat=repeat)}
    if importlib.util.find_spec("torch") is not None:
        code["torch"] = _TORCH.format(setup=torch_setup, loss=torch_loss, batch=batch, repeat=repeat)
    reference = "torch" if "torch" in code else None
    out = []
    for label, env in (("", None), (", 1 thread each", ONE_THREAD)):
        values = bench.alternate(code, rounds=1 if quick else 3, env=env)
        out += bench.rows(workload + label, values, unit="samples/s", reference=reference, target=1.0,
                          lower_is_better=False)
    return out
