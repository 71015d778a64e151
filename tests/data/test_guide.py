"""The lecture guide and the data docs: every example runs, and every page shows what its code prints now."""

from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("guide_build", ROOT / "docs" / "guide" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

EXAMPLES = build.examples()
NEEDS_DATA = {"lecture_11_mnist_with_keras_api"}


def test_there_is_a_page_for_every_example_and_no_orphans():
    assert len(EXAMPLES) >= 11
    pages = {p.name for p in build.GUIDE.glob("*.md")} - {"index.md"}
    assert pages == {build.page_path(e).name for e in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_page_shows_what_the_example_prints(example, request, monkeypatch):
    if example.stem in NEEDS_DATA:
        monkeypatch.setenv("TAPEFLOW_DATA_DIR", str(request.getfixturevalue("data_dir")))
        monkeypatch.setenv("TAPEFLOW_GUIDE_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    page = build.page_path(example)
    shown = page.read_text()
    fresh = build.render(example, previous=shown)
    assert fresh == shown, (
        f"{page.relative_to(ROOT)} is out of date with {example.relative_to(ROOT)}; "
        f"run: python docs/guide/build.py {example.stem}"
    )


@pytest.mark.parametrize("name", ["docs/data.md"])
def test_docs_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(str(ROOT / name), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0
