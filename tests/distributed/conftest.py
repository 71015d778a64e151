"""Fixtures for the distributed tests, which run in two settings (both in CI, from the Makefile):

- the main single-process ``pytest`` run: every collective is the identity, and the tests marked
  ``spawns_mpi`` start their own ``mpiexec -n 2`` jobs (each with a timeout) to check launching, failure
  handling and rank-0-only writes;
- ``mpiexec -n 2 python -m mpi4py -m pytest tests/distributed``: the collective and training tests run on two
  real ranks. ``spawns_mpi`` tests are deselected there (a launch inside a launch is not portable); they ran
  in the main run. Tests marked ``multi_rank`` (meaningless on one rank) are deselected in the main run.

``TAPEFLOW_TEST_WORLD_SIZE``, when set, must equal the world size: a launch that fell back to one process per
rank (every rank "size 1") fails instead of passing trivially. A watchdog (``TAPEFLOW_TEST_MPI_TIMEOUT``
seconds, default 300) dumps every thread's stack and exits if a multi-rank session hangs, which ends the job.
"""

from __future__ import annotations

import faulthandler
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

import pytest

import tapeflow as tp
from tapeflow._extras import install_hint
from tapeflow.distributed.launch import find_mpiexec

_rank_report = {}  # an mpiexec session's per-rank temporary folder, and (ranks above 0) the held report


@pytest.hookimpl(tryfirst=True)  # before pytest's tmp_path factory reads --basetemp
def pytest_configure(config):
    config.addinivalue_line(
        "markers", "spawns_mpi: starts its own mpiexec job; runs in the single-process session only"
    )
    config.addinivalue_line("markers", "multi_rank: needs several ranks; runs in the mpiexec session only")
    expected = os.environ.get("TAPEFLOW_TEST_WORLD_SIZE")
    size = tp.distributed.size()
    if expected is not None and int(expected) != size:
        raise pytest.UsageError(
            f"TAPEFLOW_TEST_WORLD_SIZE={expected} but this process sees a world of {size}: "
            "run under `mpiexec -n N python -m mpi4py -m pytest` with mpi4py installed"
        )
    if size > 1:
        faulthandler.dump_traceback_later(float(os.environ.get("TAPEFLOW_TEST_MPI_TIMEOUT", 300)), exit=True)
        rank = tp.distributed.rank()
        # One temporary folder per rank: under pytest's shared base the ranks race to number and clean the
        # same pytest-N folders.
        if config.option.basetemp is None:
            config.option.basetemp = tempfile.mkdtemp(prefix=f"tapeflow-pytest-rank{rank}-")
            _rank_report["basetemp"] = config.option.basetemp


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter prints the session header
def pytest_sessionstart(session):
    """Ranks above 0 write their report into memory, printed as one block at the end, so two ranks' progress
    dots never share a line."""
    if tp.distributed.rank() == 0:
        return
    plugins = session.config.pluginmanager
    reporter = plugins.getplugin("terminalreporter")
    if reporter is not None:
        plugins.unregister(reporter)
        _rank_report["text"] = io.StringIO()
        held = pytest.TerminalReporter(session.config, file=_rank_report["text"])
        plugins.register(held, "terminalreporter")
        held.pytest_sessionstart(session)  # this hook call began before it was registered


def pytest_unconfigure(config):
    if tp.distributed.size() > 1:
        sys.stdout.flush()
        tp.distributed.barrier()  # rank 0 has printed its whole report
    if "text" in _rank_report:
        prefix = f"[rank {tp.distributed.rank()}] "
        lines = _rank_report["text"].getvalue().strip("\n").splitlines()
        print("\n".join(prefix + line for line in lines), flush=True)
    faulthandler.cancel_dump_traceback_later()
    if "basetemp" in _rank_report:
        shutil.rmtree(_rank_report["basetemp"], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    other_session = "multi_rank" if tp.distributed.size() == 1 else "spawns_mpi"
    keep = [item for item in items if other_session not in item.keywords]
    dropped = [item for item in items if other_session in item.keywords]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture
def strategy():
    """A DataParallel over every process of the job (one process outside mpiexec)."""
    return tp.distributed.DataParallel()


class Job(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self):
        return self.stdout + self.stderr


def _mpi_available():
    try:
        import mpi4py  # noqa: F401

        return find_mpiexec(), None
    except (ImportError, FileNotFoundError) as err:
        return None, f"MPI is not installed ({install_hint('mpi')}): {err}"


@pytest.fixture
def mpi_job(tmp_path):
    """Run a Python script on N processes: ``mpi_job(code, n=2, timeout=60, via_mpi4py=False)``.

    Returns a ``Job`` (returncode, stdout, stderr, output, elapsed seconds); ``mpi_job.command(cmd)`` runs any
    command the same way. A job that outlives ``timeout``
    fails the test (it would have hung). Without MPI the test skips with a reason, except under CI where it
    fails.
    """
    mpiexec, why = _mpi_available()
    if mpiexec is None:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)

    def run(code, n=2, timeout=60, via_mpi4py=False, args=(), env=None):
        script = tmp_path / f"job_{time.monotonic_ns()}.py"
        script.write_text(code)
        cmd = [mpiexec, "-n", str(n), sys.executable] + (["-m", "mpi4py"] if via_mpi4py else [])
        return run_command(cmd + [str(script), *map(str, args)], timeout=timeout, env=env, cwd=tmp_path)

    run.command = run_command
    return run


def run_command(cmd, timeout=60, env=None, cwd=None):
    """Run ``cmd`` (an MPI job or a launcher), failing the test as a hang if it outlives ``timeout``."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    start = time.monotonic()
    # A session of its own, so a hung job is ended with every rank (killing mpiexec alone orphans them).
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                            cwd=cwd, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{cmd[:4]}... did not end within {timeout} s (a hang):\n{stdout}\n{stderr}")
    return Job(proc.returncode, stdout, stderr, time.monotonic() - start)
