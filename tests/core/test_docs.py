"""The examples in docs/tensors.md and docs/autodiff.md run and print what the pages say."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import tapeflow as tp

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("page", ["tensors.md", "autodiff.md"])
def test_doc_page_examples(page):
    tp.random.set_seed(0)
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=doctest.ELLIPSIS
                              | doctest.NORMALIZE_WHITESPACE, raise_on_error=False, verbose=False)
    assert result.attempted > 10, f"{page}: only {result.attempted} examples found"
    assert result.failed == 0, f"{page}: {result.failed} of {result.attempted} examples failed (see output)"


def test_readme_quick_tour_runs():
    import re

    readme = (DOCS.parent / "README.md").read_text()
    section = readme.split("## Quick tour: tensors and the tape", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    namespace = {}
    exec("\n".join(blocks), namespace)
    assert float(namespace["dy"]) == 27.0
    assert namespace["dW"].shape == (3, 2) and namespace["db"].shape == (2,)
