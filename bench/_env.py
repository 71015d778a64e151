"""What a benchmark result needs beside its figures: the machine, the libraries, the load, the thread pools,
and the allocator settings every contender ran under (the same for all of them in one mode).

Allocator modes: ``"tuned"`` raises glibc's mmap and trim thresholds (``mallopt``) at the very start of every
contender's process, before any import, so no contender page-faults its temporaries back in each step;
``"default"`` leaves glibc's defaults in every process (tapeflow's opt-in tuning, ``TAPEFLOW_MALLOPT``, held
off): the cold start a first script sees.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time

_TUNE = """import ctypes, ctypes.util
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: glibc's maximum
    _libc.mallopt(-1, 128 * 1024 * 1024)  # M_TRIM_THRESHOLD
except (OSError, AttributeError):  # not glibc: nothing to tune
    pass
"""


def allocator_prelude(mode):
    """Code a contender's process runs first, for allocator ``mode`` ("tuned" or "default")."""
    return _TUNE if mode == "tuned" else ""


def allocator_env(mode):
    """Environment variables of a contender's process for allocator ``mode``."""
    return {"TAPEFLOW_MALLOPT": "0"} if mode == "default" else {}


def thread_pools():
    """The thread pools of the libraries this process loaded: BLAS (threadpoolctl, when installed) and
    PyTorch's intra-op pool."""
    import sys

    out = {}
    try:
        from threadpoolctl import threadpool_info

        out["blas"] = [{k: info.get(k) for k in ("internal_api", "num_threads", "architecture", "version")}
                       for info in threadpool_info()]
    except ImportError:
        out["blas"] = "threadpoolctl not installed"
    if "torch" in sys.modules:
        out["torch_intra_op"] = sys.modules["torch"].get_num_threads()
    return out


def gemm_gflops(n=1024, seconds=0.3):
    """This process's float32 matrix-product rate (GFLOP/s) on ``n x n`` operands: the BLAS limit."""
    import numpy as np

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas():
    try:
        from threadpoolctl import threadpool_info

        keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
        return [{k: info.get(k) for k in keys} for info in threadpool_info()]
    except ImportError:
        import numpy as np

        try:
            return np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas")
        except TypeError:  # NumPy < 1.26
            return "unknown"


def machine():
    """Facts about this machine and its libraries, for the results JSON."""
    import numpy as np

    import tapeflow

    facts = {
        "cpu_model": _cpu_model(), "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "tapeflow": getattr(tapeflow, "__version__", None), "blas": _blas(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                      "MKL_NUM_THREADS")},
    }
    try:
        import torch

        facts["torch"] = torch.__version__
        facts["torch_threads"] = torch.get_num_threads()
    except ImportError:
        facts["torch"] = None
    from tapeflow.ops import _native

    facts["tapeflow_ckernels"] = None if _native.ckernels is None else _native.ckernels.ISA
    try:
        facts["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        facts["uptime"] = None
    return facts
