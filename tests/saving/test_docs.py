"""The examples in docs/saving.md run and print what the page says."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import tapeflow as tp

PAGE = Path(__file__).resolve().parents[2] / "docs" / "saving.md"


def test_saving_guide_examples():
    pytest.importorskip("onnxruntime", reason="the guide runs an exported model in onnxruntime")
    pytest.importorskip("sklearn", reason="the guide runs a grid search")
    tp.layers.clear_session()  # the page shows layer names as a fresh session numbers them
    tp.random.set_seed(0)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(PAGE), module_relative=False, optionflags=flags, raise_on_error=False,
                              verbose=False)
    assert result.attempted > 40, f"only {result.attempted} examples found"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed (see output)"
