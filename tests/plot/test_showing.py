"""Plots behave as a Python user expects (issue 16, trip-up 3): with a display, ``plt.show()`` and
``fig.show()`` show them; with none, tapeflow says once how to see one; ``save=`` works everywhere. (In a
notebook they show inline: tests/data/test_notebooks.py runs a real kernel.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.plot.conftest import need_matplotlib

need_matplotlib()
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import warnings
warnings.simplefilter("always")
import matplotlib.pyplot as plt
import tapeflow as tp
h = {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.8]}
fig = tp.plot.history(h)          # R's plot(history)
second = tp.plot.compare({"a": h, "b": h})
print("current", plt.gcf() is second)
plt.show()
fig.show()
tp.plot.history(h, save="saved.png")
"""


def _run(tmp_path, backend):
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    if backend:
        env["MPLBACKEND"] = backend
    env["PYTHONPATH"] = str(ROOT)
    probe = SCRIPT + (
        "from tests.plot._recording_backend import SHOWN\n"
        "print('shown', *[{id(fig): 'fig', id(second): 'second'}[id(f)] for f in SHOWN])\n"
        if backend else "")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "saved.png").read_bytes()[:4] == b"\x89PNG"
    return proc


def test_with_a_display_plt_show_and_fig_show_show_the_figures(tmp_path):
    # Trip-up 3: fig.show() raised "Figure.show works only for figures managed by pyplot"; plt.show() showed
    # nothing, because the figures were made outside pyplot.
    proc = _run(tmp_path, "module://tests.plot._recording_backend")
    # plt.show() shows both open figures, fig.show() the first one again
    assert "current True" in proc.stdout and "shown fig second fig" in proc.stdout, proc.stdout
    assert "Warning" not in proc.stderr, proc.stderr


def test_with_no_display_tapeflow_says_once_how_to_see_a_figure(tmp_path):
    proc = _run(tmp_path, None)  # no MPLBACKEND, no DISPLAY: matplotlib falls back to Agg by itself
    hints = [line for line in proc.stderr.splitlines() if "this Python has no display" in line]
    # once for the plots (the second plot and the saved one say nothing), once more for the explicit show()
    assert len(hints) == 2, proc.stderr
    assert "save='history.png'" in hints[0] and "fig.savefig" in hints[0]
    assert "<string>:7: UserWarning" in proc.stderr  # points at the user's line, not inside tapeflow
    assert "Figure.show works only" not in proc.stderr
