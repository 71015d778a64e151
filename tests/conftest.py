"""Shared test fixtures.

Real datasets come from ``$TAPEFLOW_DATA_DIR`` (``.ci/run`` sets it) or ``../shared/datasets``. Where they are
absent, data tests skip with a reason that says so — except under CI (``CI`` set), where absence is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import tapeflow as tp

ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    candidates = [os.environ.get("TAPEFLOW_DATA_DIR"), ROOT.parent / "shared" / "datasets"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of real datasets (mnist/, fashion-mnist/, iris/, ...)."""
    found = _data_dir()
    if found is None:
        message = (
            "real datasets not found: set TAPEFLOW_DATA_DIR to a folder holding mnist/, iris/, ... "
            "(the repository's ../shared/datasets)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def pytest_runtest_setup(item):
    """``@pytest.mark.host_only(reason)`` tests run on the NumPy backend only (the strict run skips them, with
    the reason); ``@pytest.mark.gpu`` tests need a CUDA device."""
    marker = item.get_closest_marker("host_only")
    if marker is not None and tp.get_backend() != "numpy":
        reason = marker.kwargs.get("reason") or marker.args[0]
        pytest.skip(f"host only ({tp.get_backend()} backend): {reason}")
    if item.get_closest_marker("gpu") is not None and not _cuda_device():
        pytest.skip("no CUDA device")


def _cuda_device() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver, no device
        return False


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seed."""
    tp.random.set_seed(0)
    np.random.seed(0)
    yield
