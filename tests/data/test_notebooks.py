"""Notebooks are first-class (issue 16): the guide's notebooks run on a real Jupyter kernel and print what
their pages show, and in a notebook fit's progress, LivePlot, summaries, explanations, tensors and plots
render as rich output, updated in place, each figure shown once."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat  # dev dependencies (pyproject.toml): a missing one fails here, never skips
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("guide_build", ROOT / "docs" / "guide" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)
EXAMPLES = build.examples()


def _run(nb, cwd, monkeypatch, timeout=300):
    """Execute ``nb`` on a fresh python3 kernel: this Python, this checkout's tapeflow, and (as Jupyter has
    it) the inline plotting backend."""
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    NotebookClient(nb, timeout=timeout, startup_timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, "\n".join("\n".join(e.traceback) for e in errors)
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def _images(cell) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.outputs)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_guide_notebook_runs_on_a_kernel_and_prints_what_it_shows(example, request, monkeypatch):
    if example.stem == "lecture_11_mnist_with_keras_api":
        monkeypatch.setenv("TAPEFLOW_DATA_DIR", str(request.getfixturevalue("data_dir")))
        monkeypatch.setenv("TAPEFLOW_GUIDE_QUICK", "1")
    shipped = nbformat.reads(build.notebook_path(example).read_text(), as_version=4)
    nbformat.validate(shipped)
    expected = [_text(c) for c in shipped.cells if c.cell_type == "code"]
    cells = _run(nbformat.reads(build.notebook_path(example).read_text(), as_version=4), build.EXAMPLES,
                 monkeypatch)
    for cell, want in zip(cells, expected):
        if "varies" not in cell.metadata.get("tags", []):
            assert _text(cell) == want, cell.source
    if example.stem == "lecture_12_watch_it_learn":
        # history.plot(), the five runs compared, the learning-rate sweep: each shown once, inline
        assert [_images(c) for c in cells] == [1, 1, 1, 0]


FEATURES = [
    # 0: fit's progress: one HTML block, redrawn in place (no "Epoch" lines, no carriage returns)
    """import numpy as np, tapeflow as tp
x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32"); y = (x.sum(axis=1) > 0).astype("int64")
model = tp.Sequential([tp.Input((4,)), tp.layers.Dense(8, activation="relu"),
                      tp.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.25)""",
    # 1: LivePlot: one picture, replaced each epoch
    "_ = model.fit(x, y, epochs=3, verbose=0, callbacks=[tp.callbacks.LivePlot()])",
    # 2: model.summary() as an HTML table
    "model.summary()",
    # 3: a tensor
    "tp.constant([[1.5, 2.0], [3.0, 4.0]])",
    # 4: tape.summary() and tape.explain()
    """w = tp.Variable([1.0, 2.0], name="w")
with tp.GradientTape(persistent=True) as tape:
    loss = tp.sum(w * 3.0)
tape.summary(loss)""",
    "tape.explain(loss, tp.Variable([0.0]))",
    # 6: the tape as a graph, inline, once
    "tape.graph(loss)",
    # 7: plot(history) mid-cell, and a figure as the cell's value: one picture each
    """history.plot()
fig = tp.plot.compare({"a": history, "b": history})
fig""",
    # 8: the figure of an earlier cell shown again
    "fig",
]


def test_in_a_notebook_everything_renders_rich_and_in_place(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in FEATURES])
    cells = _run(nb, tmp_path, monkeypatch)
    fit = cells[0].outputs
    assert [o.output_type for o in fit] == ["display_data"], fit  # one output area, updated in place
    page = fit[0].data["text/html"]
    assert "Epoch 3/3" in page and "<progress" in page and page.count("<tr>") == 4, page  # header + 3 epochs
    assert "val_accuracy" in page and "\r" not in page
    assert [o.output_type for o in cells[1].outputs] == ["display_data"] and _images(cells[1]) == 1
    summary = cells[2].outputs[0].data["text/html"]
    assert "<table" in summary and "Total params: 58" in summary and "dense" in summary
    assert "<table" in cells[3].outputs[0].data["text/html"]
    assert cells[4].outputs[0].data["text/html"].startswith("<pre>GradientTape(")
    assert "cause: no_path" in cells[5].outputs[0].data["text/html"]
    assert _images(cells[6]) == 1
    assert _images(cells[7]) == 2 and _images(cells[8]) == 1


def test_notebooks_are_valid_and_generated_from_the_examples():
    for example in EXAMPLES:
        nb = json.loads(build.notebook_path(example).read_text())
        assert nb["cells"][0]["source"][0] == f"# {build.parse(example)[0]}\n"
    shipped = {p.stem for p in build.NOTEBOOKS.glob("*.ipynb")}
    assert shipped == {build.notebook_path(e).stem for e in EXAMPLES}
