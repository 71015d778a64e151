"""Render the lecture guide: run each ``examples/lecture_*.py`` cell by cell and write
``docs/guide/<name>.md`` with every cell's code and the output it printed.

The examples are the single source: a page is never edited by hand. ``tests/data/test_guide.py`` renders
every page again and fails when a page differs from what its example prints now.

Example file format: the module docstring becomes the page's title (first line) and introduction; ``# %%``
starts a cell; the ``# `` comment lines right after it are the cell's prose (Markdown), the rest is its code.
``# %% [varies]`` marks a cell whose output depends on the machine (timings, long training runs): the
page shows the output of the last rendering, and the test only runs it.

Usage: ``python docs/guide/build.py`` (all pages) or ``python docs/guide/build.py lecture_03_dot_product``.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GUIDE = ROOT / "docs" / "guide"
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
    title, intro, cells = parse(path)
    outputs = run_cells(path, cells)
    kept = _varying_outputs(previous) if previous else []
    note = f"*Runnable example: `examples/{path.name}`; the output below is what it prints.*"
    lines = [f"# {title}", "", note, ""]
    if intro:
        lines += [intro, ""]
    for (prose, code, varies), out in zip(cells, outputs):
        if prose:
            lines += [prose, ""]
        lines += ["```python", code, "```", ""]
        if varies:
            out = kept.pop(0) if kept else out
            lines += ["<!-- varies -->"]
        if out.strip():
            lines += ["```text", out.rstrip("\n"), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


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


def main(argv) -> int:
    wanted = set(argv)
    for example in examples():
        if wanted and example.stem not in wanted:
            continue
        target = page_path(example)
        # A fresh render takes new outputs for [varies] cells too.
        target.write_text(render(example))
        print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
