"""Whole MPI jobs started from the single-process session: failure handling and ``tapeflow launch``.

Each job runs under ``mpiexec -n 2`` with a timeout; a job still running at its timeout fails the test as a
hang (and is killed with all its ranks).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tapeflow.distributed import launch

pytestmark = pytest.mark.spawns_mpi
ROOT = Path(__file__).resolve().parents[2]

FAILING_RANK = """
import tapeflow as tp
strategy = tp.distributed.DataParallel()
w = tp.Variable([1.0, 2.0])
strategy.broadcast([w])
if strategy.rank == 1:
    raise RuntimeError("rank 1 failed on purpose")
# Rank 0 now waits in an all-reduce that rank 1 never joins: without the abort it would wait forever.
strategy.reduce_gradients([tp.constant([1.0, 1.0])])
strategy.barrier()
print("rank", strategy.rank, "was not stopped")
"""


@pytest.mark.parametrize("via_mpi4py", [False, True], ids=["python-script", "python-m-mpi4py"])
def test_a_failing_rank_ends_the_job_with_its_message(mpi_job, via_mpi4py):
    job = mpi_job(FAILING_RANK, n=2, timeout=60, via_mpi4py=via_mpi4py)
    assert job.returncode != 0
    assert "RuntimeError: rank 1 failed on purpose" in job.output
    assert "was not stopped" not in job.output
    if not via_mpi4py:  # tapeflow's own hook (python -m mpi4py prints its own abort line instead)
        assert "[tapeflow.distributed] rank 1 of 2 failed" in job.output


FAILING_IN_FIT = """
import numpy as np, tapeflow as tp

class Boom(tp.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2 and tp.distributed.rank() == 1:
            raise ValueError("rank 1 broke during fit")

strategy = tp.distributed.DataParallel()
with strategy.scope():
    model = tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
x = np.ones((64, 3), np.float32)
model.fit(x, x[:, :1], batch_size=4, epochs=5, verbose=0, callbacks=[Boom()])
print("fit finished on rank", strategy.rank)
"""


def test_an_error_inside_fit_ends_the_job(mpi_job):
    """Rank 0 is inside the next step's all-reduce when rank 1 raises: the job must still end."""
    job = mpi_job(FAILING_IN_FIT, n=2, timeout=90)
    assert job.returncode != 0
    assert "ValueError: rank 1 broke during fit" in job.output
    assert "fit finished" not in job.output


def test_a_rank_killed_by_a_signal_ends_the_job(mpi_job):
    """A rank killed outright (as by the out-of-memory killer) runs no Python: the launcher ends the job."""
    job = mpi_job(
        "import os, signal, tapeflow as tp\n"
        "s = tp.distributed.DataParallel()\n"
        "s.broadcast([tp.Variable([1.0])])\n"
        "if s.rank == 1:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "s.reduce_gradients([tp.constant([1.0])])\n"
        "print('rank', s.rank, 'was not stopped')\n",
        n=2, timeout=60,
    )
    assert job.returncode != 0 and "was not stopped" not in job.output


def test_a_job_sees_its_world(mpi_job):
    job = mpi_job(
        "import sys, tapeflow as tp\n"
        "s = tp.distributed.DataParallel()\n"
        "total = s.all_reduce(float(s.rank + 1), op='sum')\n"
        "line = f'rank {tp.distributed.rank()} of {tp.distributed.size()} total {float(total.numpy()):g}'\n"
        "sys.stdout.write(line + '\\n')\n"
        "tp.distributed.print0('printed once')\n",
        n=2,
    )
    assert job.returncode == 0, job.output
    assert "rank 0 of 2 total 3" in job.stdout and "rank 1 of 2 total 3" in job.stdout
    assert job.stdout.count("printed once") == 1


def test_tapeflow_launch_runs_a_script_on_n_processes(mpi_job, tmp_path):
    script = tmp_path / "hello.py"
    script.write_text(
        "import sys, tapeflow as tp\n"
        "line = f'hello from {tp.distributed.rank()} of {tp.distributed.size()} args {sys.argv[1:]}'\n"
        "sys.stdout.write(line + '\\n')\n"  # one write per line, so the ranks' lines do not interleave
    )
    cmd = [sys.executable, "-m", "tapeflow.distributed.launch", "-n", "2", str(script), "--epochs", "3"]
    proc = mpi_job.command(cmd, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for r in range(2):
        assert f"hello from {r} of 2 args ['--epochs', '3']" in proc.stdout


def test_tapeflow_command_has_the_launch_subcommand(mpi_job, tmp_path):
    script = tmp_path / "size.py"
    script.write_text("import sys, tapeflow as tp\nsys.stdout.write(f'size {tp.distributed.size()}\\n')\n")
    job = mpi_job.command([sys.executable, "-m", "tapeflow", "launch", "-n", "2", str(script)])
    assert job.returncode == 0, job.output
    assert job.stdout.count("size 2") == 2


def test_tapeflow_launch_passes_on_the_exit_status(mpi_job, tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import tapeflow as tp\nif tp.distributed.rank() == 1:\n    raise SystemExit(3)\n")
    proc = mpi_job.command([sys.executable, "-m", "tapeflow.distributed.launch", "-n", "2", str(script)])
    assert proc.returncode != 0


def test_launch_command_line(tmp_path, capsys):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("node1:4\nnode2:4\n")
    cmd = launch.build_command("train.py", ["--lr", "0.1"], n=8, mpiexec="mpiexec", python="py",
                               hostfile=hostfile, hydra=True, mpi_args=["-bind-to", "core"])
    assert cmd == ["mpiexec", "-n", "8", "-f", str(hostfile), "-bind-to", "core", "py", "-m", "mpi4py",
                   "train.py", "--lr", "0.1"]
    ompi = launch.build_command("pkg.train", n=2, mpiexec="mpirun", python="py", hostfile="h", hydra=False,
                                module=True)
    assert ompi == ["mpirun", "-n", "2", "--hostfile", "h", "py", "-m", "mpi4py", "-m", "pkg.train"]
    with pytest.raises(ValueError, match="must be a positive integer. Received: n=0"):
        launch.build_command("train.py", n=0)
    script = tmp_path / "train.py"
    script.write_text("")
    assert launch.main(["-n", "3", "--mpiexec", sys.executable, "--dry-run", str(script), "-x"]) == 0
    printed = capsys.readouterr().out.split()
    if printed[0].startswith("OMP_NUM_THREADS="):  # set for the ranks unless the user set it
        assert printed.pop(0) == f"OMP_NUM_THREADS={launch.threads_per_process(3)}"
    assert printed[1:3] == ["-n", "3"] and printed[-2:] == [str(script), "-x"]


def test_launch_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        launch.main(["-n", "2", str(tmp_path / "missing.py")])
    assert "no such script" in capsys.readouterr().err
    script = tmp_path / "train.py"
    script.write_text("")
    assert launch.main(["--mpiexec", "/nonexistent/mpiexec", str(script)]) == 2
    assert "'/nonexistent/mpiexec' was not found" in capsys.readouterr().err


EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize("script,min_accuracy", [("distributed_digits.py", 0.90),
                                                 ("distributed_custom_loop.py", 0.85)])
def test_examples_train_on_two_processes(mpi_job, tmp_path, script, min_accuracy):
    """The guide's examples, seeded, on 2 processes: printed once, by rank 0, with the stated accuracy."""
    cmd = [sys.executable, "-m", "tapeflow", "launch", "-n", "2", str(EXAMPLES / script), "--epochs", "10"]
    if script == "distributed_digits.py":
        cmd += ["--out", str(tmp_path)]
    job = mpi_job.command(cmd, timeout=240)
    assert job.returncode == 0, job.output
    lines = [line for line in job.stdout.splitlines() if line.startswith("test accuracy")]
    assert len(lines) == 1, job.stdout
    assert float(lines[0].split()[2]) >= min_accuracy
    if script == "distributed_digits.py":
        assert (tmp_path / "digits.safetensors").exists()


STUCK_RANK = """
import time, tapeflow as tp
tp.distributed.barrier()  # no timeout here: a loaded machine may start one rank seconds after the other
strategy = tp.distributed.DataParallel(timeout=3)
if strategy.rank == 1:
    time.sleep(60)  # stuck outside any collective: no exception will ever report it
strategy.reduce_gradients([tp.constant([1.0])])
print("rank", strategy.rank, "was not stopped")
"""


def test_a_collective_timeout_ends_a_job_with_a_stuck_rank(mpi_job):
    job = mpi_job(STUCK_RANK, n=2, timeout=45)
    assert job.returncode != 0
    assert "rank 0 of 2: an all-reduce (sum) waited more than 3 s" in job.output
    assert job.elapsed < 40 and "was not stopped" not in job.output
