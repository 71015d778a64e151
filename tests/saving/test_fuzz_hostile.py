"""The hostile-file fuzzer (tests/saving/fuzz_child.py) under a memory limit and a time limit.

CI runs it with a fixed budget of ``TAPEFLOW_FUZZ_SECONDS`` (default 28 s of fuzzing, about 35 s in all);
for a longer local run set the variable, e.g.::

    TAPEFLOW_FUZZ_SECONDS=600 pytest tests/saving/test_fuzz_hostile.py

The child's address space may grow by 1 GiB past what importing tapeflow took (``RLIMIT_AS``), each load has
10 s, and the whole run has the budget plus two minutes; see the child's docstring for the contract each
mutated file is held to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("TAPEFLOW_FUZZ_SECONDS", "28"))
EXTRA_BYTES = 2**30


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is read from /proc (Linux)")
def test_mutated_files_are_refused_by_name_or_load_correctly_within_memory_and_time():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    try:
        command = [sys.executable, "-m", "tests.saving.fuzz_child", str(SECONDS), str(EXTRA_BYTES)]
        out = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 120, cwd=ROOT,
                             env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the fuzzer hung: no result {SECONDS + 120:.0f} s after it started\n{e.stdout}")
    assert out.returncode == 0, f"exit status {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    assert out.stdout.rstrip().endswith("FUZZ OK"), out.stdout
    stats = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(stats) == 7
    for target in stats:  # every target really ran: a fuzzer that silently loads nothing proves nothing
        assert target["loaded"] + target["refused"] >= 20, target
    assert sum(t["loaded"] for t in stats) > 0 and sum(t["refused"] for t in stats) > 0
