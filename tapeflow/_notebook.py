"""Jupyter, when tapeflow runs inside it: detection, and one output area redrawn in place.

IPython is only looked at when already imported (a kernel imports it), so plain scripts never load it.
"""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (an IPython kernel app, not a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class LiveOutput:
    """One notebook output area that each :meth:`show` replaces (IPython's ``display_id``), so a progress bar
    or a plot redraws in place instead of adding a new output each time."""

    def __init__(self):
        self._handle = None

    def show(self, obj) -> None:
        """Show ``obj`` (anything IPython displays: an HTML object, an Image, ...) in this area."""
        from IPython.display import display

        if self._handle is None:
            self._handle = display(obj, display_id=True)
        else:
            self._handle.update(obj)
