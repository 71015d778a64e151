"""The examples in docs/training.md run and print what the page says."""

from __future__ import annotations

import doctest
from pathlib import Path

import tapeflow as tp

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_training_guide_examples():
    tp.random.set_seed(0)
    tp.layers.clear_session()
    result = doctest.testfile(
        str(DOCS / "training.md"),
        module_relative=False,
        raise_on_error=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.attempted > 40, f"only {result.attempted} examples found"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed (see the output above)"
