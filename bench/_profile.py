"""Where a training step's time goes: ``python -m bench._profile [workload ...] [--threads N] [--out DIR]``.

Profiles each workload of the training suites (``cnn64``, ``cnn256``, ``lstm64``, ``gru64``, ``mlp32``,
``mlp128``, ...: the names registered through ``bench/_training.py``) with cProfile over process CPU time (so
a busy machine's waiting is not counted), after warm-up steps, and prints the functions that take the most CPU
time per step. ``--threads 1`` (the default) runs BLAS and tapeflow's C kernels on one thread, the per-core
cost; PyTorch's CPU time per step at the same thread count is measured beside it. ``--allocator tuned`` raises
glibc's thresholds first (as the warm benchmark rows do); the default leaves glibc's defaults. Writes
``bench/results/<date>-<machine>-profile-<allocator>-allocator.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import pstats
import sys
import time
from pathlib import Path


def _cpu_ms(step, n, min_seconds=0.5):
    """CPU ms per call of ``step`` over at least ``n`` calls and ``min_seconds`` of CPU time (so a short step
    is not read from a few milliseconds that one garbage collection can double)."""
    calls, start = 0, time.process_time()
    while calls < n or time.process_time() - start < min_seconds:
        step()
        calls += 1
    return (time.process_time() - start) / calls * 1e3


def profile(name, steps=20, top=12):
    """``{cpu_ms_per_step, torch_cpu_ms_per_step, top: [(function, ms per step, share)]}`` of a workload."""
    from bench import _training

    step = _training._namespace("tapeflow", name)
    for _ in range(3):
        step()
    plain = _cpu_ms(step, steps)
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    rows = sorted(((v[2], f"{Path(k[0]).name}:{k[2]}") for k, v in stats.stats.items()), reverse=True)[:top]
    out = {"cpu_ms_per_step": plain, "profiled_cpu_ms_per_step": total / steps * 1e3,
           "top": [{"function": f, "ms_per_step": t / steps * 1e3, "share": t / total} for t, f in rows]}
    try:
        torch_step = _training._namespace("torch", name)
    except ImportError:
        out["torch_cpu_ms_per_step"] = None
    else:
        for _ in range(3):
            torch_step()
        out["torch_cpu_ms_per_step"] = _cpu_ms(torch_step, steps)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench._profile")
    parser.add_argument("workloads", nargs="*", default=["cnn64", "lstm64", "gru64"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--allocator", choices=("default", "tuned"), default="default",
                        help="glibc's defaults, or its mmap/trim thresholds raised first (bench/_env.py)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TAPEFLOW_KERNEL_THREADS"):
        os.environ[var] = str(args.threads)  # before NumPy, PyTorch or tapeflow's kernels size their pools
    if args.allocator == "tuned":
        from bench import _env

        exec(_env.allocator_prelude("tuned"), {})
    import bench.cnn  # noqa: F401  (registers the workloads)
    import bench.lstm  # noqa: F401
    import bench.training  # noqa: F401
    from bench import _env
    from bench.run import _machine_slug
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    facts = _env.machine()
    results = {}
    for name in args.workloads:
        results[name] = r = profile(name)
        print(f"== {name}: tapeflow {r['cpu_ms_per_step']:.2f} CPU ms/step, "
              f"torch {r['torch_cpu_ms_per_step'] or float('nan'):.2f}")
        for row in r["top"]:
            print(f"   {row['function']:58s} {row['ms_per_step']:7.2f} ms {100 * row['share']:5.1f}%")
    now = datetime.datetime.now(datetime.timezone.utc)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{now:%Y-%m-%d}-{_machine_slug(facts)}-profile-{args.allocator}-allocator.json"
    command = "python -m bench._profile " + " ".join(sys.argv[1:] if argv is None else argv)
    payload = {"time_utc": f"{now:%Y-%m-%dT%H:%M:%SZ}", "command": command, "threads": args.threads,
               "allocator": args.allocator, "machine": facts, "profiles": results}
    path.write_text(json.dumps(payload, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
