"""Render the lecture guide: run each ``examples/lecture_*.py`` cell by cell and write
``docs/guide/<name>.md`` with every cell's code and the output it printed, and the same cells as a Jupyter
notebook, ``docs/guide/notebooks/<name>.ipynb``.

The examples are the single source: a page or a notebook is never edited by hand. ``tests/data/test_guide.py``
renders every page and notebook again and fails when one differs from what its example prints now;
``tests/data/test_notebooks.py`` runs every notebook on a real Jupyter kernel.

Example file format: the module docstring becomes the page's title (first line) and introduction; ``# %%``
starts a cell; the ``# `` comment lines right after it are the cell's prose (Markdown), the rest is its code.
``# %% [varies]`` marks a cell whose output depends on the machine (timings, long training runs): the
page shows the output of the last rendering, and the test only runs it.

Usage: ``python docs/guide/build.py`` (all pages) or ``python docs/guide/build.py lecture_03_dot_product``;
``--keep-varies`` keeps the shown output of the ``[varies]`` cells.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GUIDE = ROOT / "docs" / "guide"
NOTEBOOKS = GUIDE / "notebooks"
VARIES = "[varies]"


def examples() -> list[Path]:
    """The lecture examples, in order."""
    return sorted(EXAMPLES.glob("lecture_*.py"))


def parse(path: Path):
    """``(title, intro, cells)``; each cell is ``(prose, code, varies)``."""
    source = path.read_text()
    module = ast.parse(source)
    doc = ast.get_docstring(module) or path.stem
    title, _, intro = doc.partition("\n")
    body = source.split("\n")[module.body[0].end_lineno:] if ast.get_docstring(module) else source.split("\n")
    cells, current = [], None
    for line in body:
        if line.startswith("# %%"):
            current = {"prose": [], "code": [], "varies": VARIES in line, "in_prose": True}
            cells.append(current)
        elif current is None:
            continue  # imports before the first cell run with the first cell: keep pages cell-based
        elif current["in_prose"] and (line.startswith("# ") or line == "#"):
            current["prose"].append(line[2:])
        else:
            current["in_prose"] = False
            current["code"].append(line)
    return title.strip(), intro.strip(), [
        ("\n".join(c["prose"]).strip(), "\n".join(c["code"]).strip("\n"), c["varies"]) for c in cells
    ]


def run_cells(path: Path, cells):
    """Run the cells in one namespace; returns each cell's printed output."""
    namespace = {"__name__": "__main__", "__file__": str(path)}
    outputs = []
    cwd = os.getcwd()
    try:
        os.chdir(path.parent)
        for _, code, _ in cells:
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"{path.name} (cell)", "exec"), namespace)
            outputs.append(buffer.getvalue())
    finally:
        os.chdir(cwd)
    return outputs


def render(path: Path, previous: str | None = None) -> str:
    """The Markdown page for one example (cells marked ``[varies]`` keep their output from ``previous``)."""
    return render_both(path, previous)[0]


def render_both(path: Path, previous: str | None = None) -> tuple[str, str]:
    """``(page, notebook)``: the Markdown page and the Jupyter notebook (JSON text) of one example, from one
    run of its cells (``[varies]`` cells keep their output from ``previous``, the current page)."""
    title, intro, cells = parse(path)
    outputs = run_cells(path, cells)
    kept = _varying_outputs(previous) if previous else []
    shown = [kept.pop(0) if varies and kept else out for (_, _, varies), out in zip(cells, outputs)]
    return _page(path, title, intro, cells, shown), _notebook(path, title, intro, cells, shown)


def _page(path, title, intro, cells, outputs) -> str:
    note = f"*Runnable example: `examples/{path.name}`; the output below is what it prints.*"
    lines = [f"# {title}", "", note, ""]
    if intro:
        lines += [intro, ""]
    for (prose, code, varies), out in zip(cells, outputs):
        if prose:
            lines += [prose, ""]
        lines += ["```python", code, "```", ""]
        if varies:
            lines += ["<!-- varies -->"]
        if out.strip():
            lines += ["```text", out.rstrip("\n"), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _notebook(path, title, intro, cells, outputs) -> str:
    """The notebook (nbformat 4 JSON): the title and introduction, then per cell its prose and its code with
    the output it printed."""

    def lines(text):
        return text.splitlines(keepends=True)

    def markdown(text):
        return {"cell_type": "markdown", "metadata": {}, "source": lines(text)}

    head = f"# {title}\n\n*Generated from `examples/{path.name}`, like the page `{page_path(path).name}`.*"
    nb_cells = [markdown(head + (f"\n\n{intro}" if intro else ""))]
    for (prose, code, varies), out in zip(cells, outputs):
        if prose:
            nb_cells.append(markdown(prose))
        stream = [{"name": "stdout", "output_type": "stream", "text": lines(out)}] if out.strip() else []
        nb_cells.append({"cell_type": "code", "execution_count": None,
                         "metadata": {"tags": ["varies"]} if varies else {}, "outputs": stream,
                         "source": lines(code)})
    notebook = {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    for i, cell in enumerate(notebook["cells"]):
        cell["id"] = f"{path.stem.removeprefix('lecture_')}-{i}"
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def _varying_outputs(page: str) -> list[str]:
    """The text blocks that follow ``<!-- varies -->`` markers in an existing page."""
    found = []
    parts = page.split("<!-- varies -->\n")
    for part in parts[1:]:
        if part.startswith("```text\n"):
            found.append(part[len("```text\n"):].split("\n```", 1)[0] + "\n")
        else:
            found.append("")
    return found


def page_path(example: Path) -> Path:
    return GUIDE / (example.stem.removeprefix("lecture_") + ".md")


def notebook_path(example: Path) -> Path:
    return NOTEBOOKS / (example.stem.removeprefix("lecture_") + ".ipynb")


def main(argv) -> int:
    keep = "--keep-varies" in argv
    wanted = set(argv) - {"--keep-varies"}
    NOTEBOOKS.mkdir(exist_ok=True)
    for example in examples():
        if wanted and example.stem not in wanted:
            continue
        # A fresh render takes new outputs for [varies] cells too, unless --keep-varies.
        current = page_path(example)
        previous = current.read_text() if keep and current.exists() else None
        page, notebook = render_both(example, previous)
        for target, text in ((page_path(example), page), (notebook_path(example), notebook)):
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
