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
def test_page_and_notebook_show_what_the_example_prints(example, request, monkeypatch):
    if example.stem in NEEDS_DATA:
        monkeypatch.setenv("TAPEFLOW_DATA_DIR", str(request.getfixturevalue("data_dir")))
        monkeypatch.setenv("TAPEFLOW_GUIDE_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    page, notebook = build.page_path(example), build.notebook_path(example)
    shown = page.read_text()
    fresh_page, fresh_notebook = build.render_both(example, previous=shown)
    for path, fresh in ((page, fresh_page), (notebook, fresh_notebook)):
        assert path.exists() and fresh == path.read_text(), (
            f"{path.relative_to(ROOT)} is out of date with {example.relative_to(ROOT)}; "
            f"run: python docs/guide/build.py --keep-varies {example.stem}"
        )


@pytest.mark.parametrize("name", ["docs/data.md"])
def test_docs_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(str(ROOT / name), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0


def test_guide_covers_what_the_lecture_needs():
    # Trip-up 6: no last page (plot the losses, experiment with optimizers and rates), no links onwards, no
    # R-to-Python table, dot(W, x) against matmul(x, W) never reconciled, R's negative indices never
    # contrasted, and not the lecture's y = 2x + 3 tape example.
    index = (build.GUIDE / "index.md").read_text()
    for link in ("12_watch_it_learn.md", "../plotting.md", "../training.md", "notebooks/"):
        assert f"({link})" in index, link
    table = index[index.index("## From R to Python"):]
    for r, python in [("keras_model_sequential()", "tp.Sequential()"), ("layer_dense(", "tp.layers.Dense("),
                      ("%>%", "model.add("), ("optimizer_rmsprop()", "tp.optimizers.RMSprop()"),
                      ("tf$Variable(0)", "tp.Variable(0.0)"), ("array_reshape(", "tp.array_reshape("),
                      ("plot(history)", "history.plot()")]:
        assert any(r in row and python in row for row in table.splitlines()), r
    tape = (build.GUIDE / "08_derivatives_and_gradients.md").read_text()
    assert "x = tp.Variable(0.0)\nwith tp.GradientTape() as tape:\n    y = 2 * x + 3\n" in tape
    assert "grad_of_y_wrt_x = tape.gradient(y, x)\nprint(grad_of_y_wrt_x)\n```\n\n```text\n2.0\n```" in tape
    dot = (build.GUIDE / "03_dot_product.md").read_text()
    assert "tp.dot(W, v)" in dot and "tp.matmul(x_batch, kernel)" in dot and "inner dimensions differ" in dot
    slicing = (build.GUIDE / "05_slicing.md").read_text()
    assert "| `x[-1]` | `x[1:]` |" in slicing and "| `x[length(x)]` | `x[-1]` |" in slicing
    last = (build.GUIDE / "12_watch_it_learn.md").read_text()
    for needed in ("history.plot()", "tp.experiments.compare", 'optimizers=["adam", "rmsprop"]',
                   "learning_rates=[3.0, 0.1, 0.001]", "tp.plot.compare(runs", "**Too high diverges**",
                   "**Too low crawls**", "model.find_learning_rate"):
        assert needed in last, needed
