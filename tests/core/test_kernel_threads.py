"""TAPEFLOW_KERNEL_THREADS: how many threads one C kernel call may use, read once at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tapeflow import _env


def _threads_in_fresh_process(value):
    env = {"TAPEFLOW_KERNEL_THREADS": value} if value is not None else {}
    code = "import json, tapeflow.ops._native as n; print(json.dumps(n.CORES))"
    full = {k: v for k, v in os.environ.items() if k != "TAPEFLOW_KERNEL_THREADS"}
    proc = subprocess.run([sys.executable, "-c", code], env={**full, **env}, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_one_thread_by_default_and_the_variable_sets_it():
    assert _threads_in_fresh_process(None)[:2] == (0, "1\n")
    rc, out, _ = _threads_in_fresh_process("3")
    assert (rc, json.loads(out)) == (0, 3)


def test_a_bad_value_is_refused_naming_the_variable():
    rc, _, err = _threads_in_fresh_process("two")
    assert rc != 0 and "TAPEFLOW_KERNEL_THREADS must be a positive integer" in err


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "x"])
def test_count_refuses_anything_but_a_positive_integer(text):
    with pytest.raises(ValueError, match="TAPEFLOW_N must be a positive integer"):
        _env.count("TAPEFLOW_N", 1, environ={"TAPEFLOW_N": text})


def test_count_reads_unset_and_empty_as_the_default():
    assert _env.count("TAPEFLOW_N", 5, environ={}) == 5
    assert _env.count("TAPEFLOW_N", 5, environ={"TAPEFLOW_N": "  "}) == 5
    assert _env.count("TAPEFLOW_N", 5, environ={"TAPEFLOW_N": "2"}) == 2
