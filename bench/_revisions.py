"""Before/after: the engine's own workloads timed on two revisions of tapeflow, alternating fresh processes.

Usage::

    python -m bench._revisions BASE [HEAD] [--rounds 5] [--threads N] [--allocator tuned|default] [--out DIR]

``BASE`` and ``HEAD`` (default: ``HEAD``) are git revisions. Each is checked out into a temporary worktree
and its C kernels are built there afresh (a stale build in a working tree would measure old kernels). Then
every round runs one fresh process per revision, alternating their order (A B, B A, ...), all under the same
environment: the same thread count (``--threads``: each library's default when left out, else
``OPENBLAS_NUM_THREADS`` and ``OMP_NUM_THREADS``, and the process pinned to N cores, which is what
tapeflow's C kernels size their threads by) and the same allocator (``tuned``: glibc's mmap and trim
thresholds raised before any import, in both; ``default``: glibc's defaults, tapeflow's own tuning held off
in both). Each process times, with the public API only (so that any revision runs it): a tiny taped
expression, a 100-expression chain forward and backward, one ``train_on_batch`` of the 784-512-256-10 MLP
(Adam, sparse softmax cross-entropy) at batch 32 and 128, a small CNN and an LSTM(64) step at batch 64. Each
figure is the median over batches within a process, then the median over rounds; ``rounds`` keeps every
round's value so the whole range can be quoted. Wall-clock and process CPU time are both recorded.

The results (machine facts inside, see ``bench/_env.py``) go to
``bench/results/<date>-<machine>-revisions.json``, or ``--out DIR``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import bench
from bench import _env
from bench.run import _machine_slug

_SNIPPET = r"""
import json, os, statistics, sys, time
import numpy as np
import tapeflow as tp

def timed(fn, batches, min_time=0.1):
    fn()
    n, start = 1, time.perf_counter()
    fn()
    while time.perf_counter() - start < min_time / 4:
        n *= 2
        start = time.perf_counter()
        for _ in range(n):
            fn()
    wall, cpu = [], []
    for _ in range(batches):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        wall.append((time.perf_counter() - w0) / n)
        cpu.append((time.process_time() - c0) / n)
    return {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu)}

B = BATCHES
rng = np.random.default_rng(0)
R = {}
x = tp.Variable(rng.standard_normal((4, 4)).astype(np.float32))
def expr():
    with tp.GradientTape():
        x * 2 + 1
R["y = x*2 + 1, 4x4, new tape each time"] = timed(expr, B)
def chain():
    with tp.GradientTape() as tape:
        y = x
        for _ in range(100):
            y = y * 0.5 + 1
        s = tp.reduce_sum(y)
    tape.gradient(s, x)
R["chain of 100 y*0.5+1, 4x4, fwd+bwd"] = timed(chain, B)

def step(model, xb, yb):
    return lambda: model.train_on_batch(xb, yb)
L = tp.layers
for batch in (32, 128):
    tp.random.set_seed(0)
    mlp = tp.models.Sequential([L.Input((784,)), L.Dense(512, activation="relu"),
                                L.Dense(256, activation="relu"), L.Dense(10)])
    mlp.compile(optimizer=tp.optimizers.Adam(1e-3),
                loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
    xb = rng.standard_normal((batch, 784)).astype(np.float32)
    yb = rng.integers(0, 10, batch)
    R[f"MLP 784-512-256-10 train_on_batch, batch {batch}"] = timed(step(mlp, xb, yb), B)
tp.random.set_seed(0)
cnn = tp.models.Sequential([L.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                            L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                            L.Dense(128, activation="relu"), L.Dense(10)])
cnn.compile(optimizer=tp.optimizers.Adam(1e-3),
            loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
xc = rng.standard_normal((64, 28, 28, 1)).astype(np.float32)
R["CNN train_on_batch, batch 64"] = timed(step(cnn, xc, rng.integers(0, 10, 64)), max(3, B // 2))
tp.random.set_seed(0)
rnn = tp.models.Sequential([L.Input((50, 8)), L.LSTM(64), L.Dense(1)])
rnn.compile(optimizer=tp.optimizers.Adam(1e-3), loss="mse")
xs = rng.standard_normal((64, 50, 8)).astype(np.float32)
ys = rng.standard_normal((64, 1)).astype(np.float32)
R["LSTM(64) 50x8 train_on_batch, batch 64"] = timed(step(rnn, xs, ys), max(3, B // 2))
print(json.dumps(R))
"""


def _git(*args, cwd=bench.ROOT):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _checkout(rev, into):
    """A detached worktree of ``rev`` at ``into`` with its C kernels built in place (when they build)."""
    _git("worktree", "add", "--detach", str(into), rev)
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=into, capture_output=True)
    return into


def _environment(threads, allocator):
    env = dict(_env.allocator_env(allocator))
    if allocator == "default":
        env["TAPEFLOW_NO_MALLOPT"] = "1"  # how revisions before the opt-in switch were told
    else:
        env["TAPEFLOW_MALLOPT"] = "1"
    if threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            env[name] = str(threads)
    return env


def _run(root, code, env):
    full = dict(os.environ, PYTHONPATH=str(root), **env)
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=full, capture_output=True, text=True,
                          timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"the snippet failed in {root} (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def compare(base, head="HEAD", *, rounds=5, threads=None, allocator="tuned", batches=7):
    """One row per workload and clock: the median time on both revisions, every round's value kept."""
    pin = ""
    if threads:  # tapeflow's C kernels size their thread count by the CPUs the process may use
        pin = f"import os\nos.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:{threads}])\n"
    code = pin + _env.allocator_prelude(allocator) + _SNIPPET.replace("BATCHES", str(batches))
    env = _environment(threads, allocator)
    with tempfile.TemporaryDirectory(prefix="tapeflow-revisions-") as tmp:
        roots = {}
        for label, rev in (("base", base), ("head", head)):
            roots[label] = _checkout(rev, Path(tmp) / label)
        try:
            values = {label: [] for label in roots}
            for r in range(rounds):
                for label in (list(roots) if r % 2 == 0 else list(reversed(list(roots)))):
                    values[label].append(_run(roots[label], code, env))
        finally:
            for root in roots.values():
                _git("worktree", "remove", "--force", str(root))
    medians = {label: bench._median(v) for label, v in values.items()}
    rows = []
    for workload in medians["base"]:
        for clock in ("wall_s", "cpu_s"):
            b, h = medians["base"][workload][clock], medians["head"][workload][clock]
            rows.append({"workload": workload, "clock": clock, "base_ms": b * 1e3, "head_ms": h * 1e3,
                         "head_speedup": b / h,
                         "base_rounds_ms": [v[workload][clock] * 1e3 for v in values["base"]],
                         "head_rounds_ms": [v[workload][clock] * 1e3 for v in values["head"]]})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench._revisions", description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the earlier git revision")
    parser.add_argument("head", nargs="?", default="HEAD", help="the later revision (default: HEAD)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="thread count for every library (default: theirs)")
    parser.add_argument("--allocator", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--out", default=None, help="folder for the results file (default: bench/results)")
    args = parser.parse_args(argv)
    facts = _env.machine()
    revisions = {"base": _git("rev-parse", args.base), "head": _git("rev-parse", args.head)}
    rows = compare(args.base, args.head, rounds=args.rounds, threads=args.threads, allocator=args.allocator)
    facts["load_average_after"] = list(os.getloadavg())
    out = Path(args.out or bench.ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{datetime.date.today().isoformat()}-{_machine_slug(facts)}-revisions.json"
    command = "python -m bench._revisions " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"command": command, "revisions": revisions, "threads": args.threads or "library defaults",
              "allocator": args.allocator, "machine": facts, "rows": rows}
    path.write_text(json.dumps(result, indent=1) + "\n")
    for r in rows:
        spans = {k: f"{min(r[k + '_rounds_ms']):.3f}-{max(r[k + '_rounds_ms']):.3f}"
                 for k in ("base", "head")}
        print(f"{r['workload']:<45} {r['clock']:<7} base {r['base_ms']:9.3f} ms  "
              f"head {r['head_ms']:9.3f} ms  "
              f"head speed-up {r['head_speedup']:.2f}x  (base {spans['base']}, head {spans['head']})")
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
