"""tapeflow's benchmark harness: ``python -m bench [suite ...]`` (see ``bench/README.md``).

Helpers every suite uses live here: :func:`per_call` times a function in this process, :func:`alternate` times
code snippets in fresh subprocesses, alternating between implementations for several rounds, and :func:`rows`
turns measurements into table rows with a ratio against a reference implementation.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# set by `python -m bench --quick`: every timing helper calls its function once (a smoke run, no figures),
# and run_snippet runs its code in this process instead of a fresh one
SMOKE = False
# set by `python -m bench --workloads a,b`: the training suites run only these workloads (None: all)
ONLY = None
ROUNDS = None  # --rounds: fresh-process rounds per contender in the training suites (None: each suite's own)


def chosen(name):
    """Whether workload ``name`` runs in this invocation (see ``--workloads``)."""
    return ONLY is None or name in ONLY


def per_call(fn, *, number=None, repeat=7, min_time=0.05):
    """Seconds per call of ``fn()``: the median over ``repeat`` batches of ``number`` calls.

    ``number`` is chosen so one batch lasts about ``min_time`` seconds when not given. The median (not the
    minimum) is reported because the machine is shared: it is the honest typical cost.
    """
    if SMOKE:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    if number is None:
        number = _calibrate(fn, min_time)
    else:
        fn()  # warm up caches and lazy imports
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def _calibrate(fn, min_time):
    """How many calls of ``fn`` (after one warm-up call) take about ``min_time`` seconds."""
    fn()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or number >= 1 << 24:
            return number
        number *= 2 if elapsed <= 0 else max(2, min(10, int(min_time / elapsed) + 1))


def interleaved(fns, *, repeat=9, min_time=0.05):
    """Seconds per call of each ``{name: fn}``, timing them in alternating batches in this process.

    For comparisons where both sides share this process's libraries (tapeflow against raw NumPy on large
    arrays): alternating batch by batch exposes both to the same load, so the ratio stays meaningful on a busy
    machine. Returns ``{name: median seconds per call}``.
    """
    if SMOKE:
        return {name: per_call(fn) for name, fn in fns.items()}
    numbers = {name: _calibrate(fn, min_time) for name, fn in fns.items()}
    times = {name: [] for name in fns}
    for r in range(repeat):
        for name in (list(fns) if r % 2 == 0 else list(reversed(list(fns)))):
            fn, number = fns[name], numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(t) for name, t in times.items()}


def run_snippet(code, *, timeout=600, env=None):
    """Run ``code`` in a fresh ``python`` and return the JSON value its last stdout line prints.

    The snippet must ``print(json.dumps(value))`` last. It runs with the repository root as working directory
    and on ``sys.path``, so ``import tapeflow`` and ``import bench`` work.
    """
    if SMOKE:
        return _run_here(code)
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=full_env)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark snippet failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"benchmark snippet printed nothing; stderr:\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])


def _run_here(code):
    """:func:`run_snippet` in this process (smoke runs): exec ``code``, parse the last line it prints."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    return json.loads(lines[-1])


def alternate(snippets, *, rounds=3, timeout=600, env=None):
    """Time each implementation in fresh subprocesses, alternating between them for ``rounds`` rounds.

    Args:
        snippets: ``{impl_name: code}``; each code prints one number (JSON) as its last line — the measurement
            (e.g. seconds per step). Alternating A, B, A, B, ... spreads the load of a shared machine fairly.
        rounds: how many times each implementation runs.

    Returns:
        ``{impl_name: median measurement}`` and, under ``"_all"``, every round's values. A snippet may print a
        dict (possibly nested) of numbers instead (several workloads per process); its result is then a dict
        of medians.
    """
    values = {name: [] for name in snippets}
    rounds = 1 if SMOKE else rounds
    for r in range(rounds):
        order = list(snippets) if r % 2 == 0 else list(reversed(list(snippets)))
        for name in order:
            values[name].append(run_snippet(snippets[name], timeout=timeout, env=env))
    result = {name: _median(v) for name, v in values.items()}
    result["_all"] = values
    return result


def _median(measurements):
    first = measurements[0]
    if isinstance(first, dict):  # nested dicts of numbers: medians leaf by leaf
        return {k: _median([m[k] for m in measurements]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.median(float(m) for m in measurements)
    return first  # not a measurement (facts such as thread pools): the first round's


def rows(workload, values, *, unit, reference=None, target=None, lower_is_better=True, note=""):
    """Table rows for one workload: one per implementation, each with its ratio against ``reference``.

    Args:
        workload: what was measured (e.g. ``"y = x*2 + 1, 4x4, taped"``).
        values: ``{impl: value}`` in ``unit``; keys starting with ``_`` are ignored.
        unit: e.g. ``"us"``, ``"ms"``, ``"samples/s"``.
        reference: the implementation the ratios compare against (``None``: no ratio).
        target: the largest acceptable ratio of tapeflow (``impl == "tapeflow"``) to the reference, or None.
        lower_is_better: False for throughputs; the ratio is then reference/value, so smaller still means
            faster.

    Returns:
        A list of dicts ``{workload, impl, value, unit, reference, ratio_vs_reference, target,
        meets_target}``.
    """
    ref = values.get(reference) if reference else None
    out = []
    for impl, value in values.items():
        if impl.startswith("_"):
            continue
        ratio = None
        if ref:
            ratio = value / ref if lower_is_better else ref / value
        meets = None
        if target is not None and ratio is not None and impl == "tapeflow":
            meets = ratio <= target
        out.append({"workload": workload, "impl": impl, "value": value, "unit": unit, "reference": reference,
                    "ratio_vs_reference": ratio, "target": target if impl == "tapeflow" else None,
                    "meets_target": meets, "note": note})
    return out
