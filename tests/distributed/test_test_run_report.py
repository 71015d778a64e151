"""How a test run reads (issue 16, trip-up 7): skipped tests say why, and the 2-rank MPI session prints one
rank's report after the other, each rank in its own temporary folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tapeflow.distributed.launch import find_mpiexec

ROOT = Path(__file__).resolve().parents[2]


def test_skipped_tests_show_their_reason(tmp_path):
    from tests.distributed.conftest import run_command

    (tmp_path / "test_one_skip.py").write_text(
        "import pytest\n\ndef test_needs_data():\n    pytest.skip('the data folder is missing')\n"
    )
    # The project's own settings (pyproject.toml): what `make test` prints.
    job = run_command([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
                       str(tmp_path), "-p", "no:cacheprovider", str(tmp_path / "test_one_skip.py")],
                      cwd=tmp_path)
    assert job.returncode == 0, job.output
    assert "SKIPPED [1] test_one_skip.py:4: the data folder is missing" in job.stdout, job.stdout


@pytest.mark.spawns_mpi
def test_two_rank_session_prints_one_report_per_rank_and_no_temp_warning(mpi_job, tmp_path):
    cmd = [find_mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", "-m", "pytest", "-p",
           "no:cacheprovider",
           str(ROOT / "tests" / "distributed" / "test_collectives.py"), "-k", "reduce_gradients or broadcast",
           "-W", "error"]
    job = mpi_job.command(cmd, timeout=120, env={"TAPEFLOW_TEST_WORLD_SIZE": "2"})
    assert job.returncode == 0, job.output
    lines = job.stdout.splitlines()
    mine = [i for i, line in enumerate(lines) if line.startswith("[rank 1] ")]
    assert mine and mine == list(range(mine[0], mine[0] + len(mine))), job.stdout  # one block, at the end
    assert all("passed" not in line for line in lines[: mine[0]] if "[rank" in line)
    assert sum(" passed" in line for line in lines) == 2, job.stdout  # each rank's summary, once
    assert any(line.startswith("[rank 1] ") and " passed" in line for line in lines), job.stdout
    assert "Warning" not in job.output, job.output
