"""Opt-in allocator tuning: with ``TAPEFLOW_MALLOPT=1``, ``import tapeflow`` raises glibc's mmap threshold, so
a process's training temporaries stop page-faulting; without it, importing tapeflow changes no process-wide
setting and starts no subprocess.

The tuning lives in ``tapeflow/_alloc.py``; these tests check that the plain ``import tapeflow`` leaves the
allocator alone, that ``TAPEFLOW_MALLOPT=1`` tunes it on import (before the models are imported), that it
calls ``mallopt`` with the documented settings, that it is a no-op off glibc, and that it does what it is
for: a NumPy step of few-megabyte temporaries takes (almost) no page faults once tuned.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys

import pytest

from tapeflow import _alloc

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
needs_glibc = pytest.mark.skipif(not GLIBC, reason="mallopt tuning applies to glibc on Linux only")

_PROBE = """
import json, resource, sys
import numpy as np
import tapeflow
from tapeflow import _alloc
rng = np.random.default_rng(0)
a, w = rng.random((128, 784), dtype=np.float32), rng.random((784, 512), dtype=np.float32)

def step():  # the temporaries of a dense layer's forward, backward and Adam update (1.6 MB each)
    h = a @ w
    g = np.maximum(h, 0) * 2.0
    gw = a.T @ g
    return (gw * 0.9 / (np.sqrt(gw * gw) + 1e-7)).sum()

for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(json.dumps({"tuned": _alloc.tuned, "models_imported": "tapeflow.models" in sys.modules,
                  "faults_per_step": faults}))
"""


def _probe(**env):
    command = [sys.executable, "-c", _PROBE]
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@needs_glibc
def test_opting_in_tunes_the_allocator_on_import_and_steps_stop_page_faulting():
    tuned = _probe(TAPEFLOW_MALLOPT="1")
    untuned = _probe(TAPEFLOW_MALLOPT="")
    assert tuned["tuned"] is True and tuned["models_imported"] is False, tuned
    assert untuned["tuned"] is False, untuned
    # with the threshold raised the step reuses heap memory: no faults (measured 0; 2,100 per step untuned)
    assert tuned["faults_per_step"] < 100, (tuned, untuned)
    assert tuned["faults_per_step"] <= untuned["faults_per_step"], (tuned, untuned)


class _FakeMallopt:
    argtypes = None

    def __init__(self, calls):
        self.calls = calls

    def __call__(self, param, value):
        self.calls.append((param, value))
        return 1


class _FakeLibc:
    def __init__(self, has_mallopt=True):
        self.calls = []
        if has_mallopt:
            self.mallopt = _FakeMallopt(self.calls)


def test_tune_calls_mallopt_once_with_the_documented_thresholds(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(_alloc, "tuned", False)
    monkeypatch.setattr(_alloc.sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    assert _alloc.tune() is True
    assert _alloc.tune() is True  # once per process
    assert libc.calls == [(-3, 32 * 1024 * 1024), (-1, 128 * 1024 * 1024)]  # M_MMAP_, M_TRIM_THRESHOLD


def test_tune_is_a_no_op_off_glibc(monkeypatch):
    monkeypatch.setattr(_alloc, "tuned", False)
    monkeypatch.setattr(_alloc.sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: _FakeLibc(has_mallopt=False))  # musl: no mallopt
    assert _alloc.tune() is False

    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert _alloc.tune() is False
    libc = _FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(_alloc.sys, "platform", "darwin")
    assert _alloc.tune() is False
    assert libc.calls == []


_IMPORT = """
import subprocess
calls = []
real = subprocess.Popen.__init__
def spy(self, *args, **kwargs):
    calls.append(args[0] if args else kwargs.get("args"))
    return real(self, *args, **kwargs)
subprocess.Popen.__init__ = spy
import tapeflow, tapeflow.layers, tapeflow.models, tapeflow.optimizers
from tapeflow import _alloc
print(calls, _alloc.tuned)
"""


def test_import_starts_no_subprocess_and_leaves_the_allocator_alone():
    env = {k: v for k, v in os.environ.items() if k != "TAPEFLOW_MALLOPT"}
    command = [sys.executable, "-c", _IMPORT]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "False"]
