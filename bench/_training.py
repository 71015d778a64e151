"""Shared runner of the training-step suites (cnn, lstm): tapeflow vs PyTorch eager, one full step per call.

Every workload is timed three ways, each round alternating the contenders, medians over rounds (every round's
figure is kept in the row's ``rounds``, so a reader sees the whole range):

* ``same process``: both contenders built in one fresh process, timed in alternating batches
  (``bench.interleaved``), with glibc's allocator tuned for both (``bench/_env.py``);
* ``separate processes, warm allocator``: each contender in its own fresh process, the allocator tuned in
  each;
* ``separate processes, cold allocator``: each in its own fresh process with glibc's defaults, what a user's
  first script sees.

Thread counts are the libraries' defaults in every mode (OpenBLAS's and PyTorch's intra-op pool: the machine's
cores); each process reports them and the rows carry them. Without PyTorch its rows are left out with a note.
``quick=True`` runs every contender's step once in this process (a smoke run: no timing, no subprocesses).
"""

from __future__ import annotations

import importlib.util
import statistics
import time

import bench
from bench import _env as env

# name -> (batch, tapeflow setup, torch setup, torch loss expression, FLOPs per sample of a step or None)
WORKLOADS: dict[str, tuple] = {}

_TAPEFLOW_STEP = "model.train_on_batch(x, y)"


def workload(name, batch, tapeflow_setup, torch_setup, torch_loss, flops_per_sample=None):
    """Register a training-step workload (setups define ``model``, ``x``, ``y``; torch's also ``opt``)."""
    WORKLOADS[name] = (batch, tapeflow_setup, torch_setup, torch_loss, flops_per_sample)


def _namespace(impl, name):
    batch, tf_setup, torch_setup, torch_loss, _ = WORKLOADS[name]
    ns = {"batch": batch}
    if impl == "tapeflow":
        exec("import numpy as np\nimport tapeflow as tp\nL = tp.layers\ntp.random.set_seed(0)\n"
             "rng = np.random.default_rng(0)\n" + tf_setup, ns)
        model, x, y = ns["model"], ns["x"], ns["y"]
        return lambda: model.train_on_batch(x, y)
    exec("import torch\nnn = torch.nn\ntorch.manual_seed(0)\n" + torch_setup, ns)
    loss = compile(torch_loss, "<loss>", "eval")
    opt = ns["opt"]

    def step():
        opt.zero_grad()
        eval(loss, ns).backward()
        opt.step()

    return step


def measure(impls, name, quick=False):
    """``{impl: samples/s}`` of one workload in this process (several impls: alternating batches), with
    ``_threads`` (the thread pools each library runs) and, for tapeflow, ``_gemm_gflops`` (this process's
    large-sgemm rate: the BLAS limit a step could reach)."""
    batch = WORKLOADS[name][0]
    steps = {impl: _namespace(impl, name) for impl in impls}
    if quick:
        for step in steps.values():
            step()
        return {impl: None for impl in impls}
    for step in steps.values():
        for _ in range(3):  # warm up caches, lazy imports, the allocator
            step()
    if len(steps) > 1:
        times = bench.interleaved(steps, repeat=7)
    else:
        times = {impl: bench.per_call(step, repeat=7) for impl, step in steps.items()}
    out = {impl: batch / t for impl, t in times.items()}
    # CPU seconds per step (all threads of the process): a second view, less sensitive to a busy machine's
    # scheduling than the wall clock, though a thread pool spinning while it waits for a core inflates it
    out["_cpu_ms"] = {}
    for impl, step in steps.items():
        start = time.process_time()
        for _ in range(5):
            step()
        out["_cpu_ms"][impl] = (time.process_time() - start) / 5 * 1e3
    out["_threads"] = env.thread_pools()
    if "tapeflow" in impls:
        out["_gemm_gflops"] = env.gemm_gflops()
    return out


_SNIPPET = """{prelude}
import json
import bench.{suite}
from bench._training import measure
print(json.dumps(measure({impls!r}, {name!r})))
"""

MODES = (("same process", "tuned", True), ("separate processes, warm allocator", "tuned", False),
         ("separate processes, cold allocator", "default", False))


def compare(suite, name, label, quick=False, rounds=None, target=1.2):
    """Rows for workload ``name`` (registered by ``bench/<suite>.py``): samples/s per contender and mode.

    Returns one row per (mode, contender) with every round's figure in ``rounds``; tapeflow's row has
    ``speedup_vs_reference`` (its samples/s over PyTorch's: > 1 is faster) checked against ``target``, and for
    workloads with a FLOP count ``blas_limit_fraction`` (the step's FLOP rate over a large sgemm's rate).
    """
    rounds = rounds or bench.ROUNDS or 3
    impls = ["tapeflow"] + (["torch"] if importlib.util.find_spec("torch") is not None else [])
    note = "" if "torch" in impls else "PyTorch not installed: its rows are left out"
    if quick:
        measure(impls, name, quick=True)
        return [{"workload": label, "impl": impl, "value": None, "unit": "samples/s",
                 "mode": "quick (one step)", "note": note} for impl in impls]
    batch, *_, flops = WORKLOADS[name]
    out = []
    for mode, allocator, same in MODES:
        prelude = env.allocator_prelude(allocator)
        if same:
            code = _SNIPPET.format(prelude=prelude, suite=suite, impls=impls, name=name)
            runs = [bench.run_snippet(code) for _ in range(rounds)]
        else:
            snippets = {impl: _SNIPPET.format(prelude=prelude, suite=suite, impls=[impl], name=name)
                        for impl in impls}
            result = bench.alternate(snippets, rounds=rounds, env=env.allocator_env(allocator))
            runs = [{**{k: v for impl in impls for k, v in result["_all"][impl][r].items()},
                     "_cpu_ms": {impl: result["_all"][impl][r]["_cpu_ms"][impl] for impl in impls},
                     "_threads": {impl: result["_all"][impl][r]["_threads"] for impl in impls}}
                    for r in range(rounds)]
        values = {impl: statistics.median(r[impl] for r in runs) for impl in impls}
        rows = bench.rows(f"{label} [{mode}]", values, unit="samples/s",
                          reference="torch" if "torch" in impls else None, target=None, lower_is_better=False,
                          note=note)
        for row in rows:
            row["mode"], row["allocator"] = mode, allocator
            row["rounds"] = [r[row["impl"]] for r in runs]
            row["threads"] = runs[0].get("_threads")
            row["cpu_ms_per_step"] = statistics.median(r["_cpu_ms"][row["impl"]] for r in runs)
            row["cpu_ms_rounds"] = [r["_cpu_ms"][row["impl"]] for r in runs]
            if row["impl"] == "tapeflow":
                if "torch" in values:
                    row["speedup_vs_reference"] = values["tapeflow"] / values["torch"]
                    row["meets_target"] = row["speedup_vs_reference"] >= target
                row["target"] = f"speedup >= {target}"
                if flops:
                    gflops = statistics.median(r["_gemm_gflops"] for r in runs)
                    row["blas_limit_fraction"] = row["value"] * flops / 1e9 / gflops
                    row["gemm_gflops"] = gflops
        out += rows
    return out

