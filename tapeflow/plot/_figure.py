"""Figures made through pyplot where they can be seen, and plain Agg figures where they cannot.

In a notebook or a script with a display, every tapeflow plot is a pyplot figure: ``plt.show()`` and
``fig.show()`` show it, and Jupyter shows it inline once (at the end of the cell, also when the figure is the
cell's value). With no display (matplotlib's Agg and other file backends) a figure stays out of pyplot, so
thousands of plots in tests or loops hold no memory, and tapeflow says once how to see one: save it.
matplotlib is imported here, lazily, on first use.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import warnings

import numpy as np

from tapeflow import _backend as B
from tapeflow._extras import install_hint
from tapeflow._notebook import in_notebook

# matplotlib backends that only write files: a figure drawn there cannot be shown
_FILE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}
_figure_class = None
_hinted = False


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"tapeflow.plot needs matplotlib: {install_hint('plot')}") from e
    return Figure, FigureCanvasAgg


def _tapeflow_figure():
    """The Figure class of tapeflow plots (made once): matplotlib's, shown once in a notebook, and with a
    ``show()`` that explains itself where nothing can be shown."""
    global _figure_class
    if _figure_class is None:
        Figure, _ = _matplotlib()

        class Figure(Figure):  # matplotlib's, under its own name (what type(fig).__name__ shows)
            def show(self, *args, **kwargs):
                if _managed(self):
                    return super().show(*args, **kwargs)
                _say_how_to_see(self, force=True)
                return None

            def _ipython_display_(self):
                # Both the cell's value and the inline backend's end-of-cell flush come here: show the
                # picture, then take the figure out of pyplot so the other one does not show it again.
                if not in_notebook():
                    print(repr(self))
                    return
                from IPython.display import Image, display

                display(Image(data=png_bytes(self)))
                detach(self)

        _figure_class = Figure
    return _figure_class


def _managed(fig) -> bool:
    """Whether pyplot holds ``fig`` (so plt.show() and the notebook's inline backend will show it)."""
    if "matplotlib.pyplot" not in sys.modules:
        return False
    from matplotlib._pylab_helpers import Gcf  # pyplot's figure registry (the API backends use)

    return any(manager.canvas.figure is fig for manager in Gcf.get_all_fig_managers())


def can_show() -> bool:
    """Whether figures can be seen here: a Jupyter kernel, or matplotlib on a display (not a file backend)."""
    if in_notebook():
        return True
    import matplotlib

    return matplotlib.get_backend().lower() not in _FILE_BACKENDS


def figure(figsize=(6.0, 4.0)):
    """A new Figure: add axes to it and pass them as ``ax=`` to compose several tapeflow pictures.

    Made through pyplot where figures can be seen (a notebook, a display), so ``plt.show()`` shows it; a plain
    Agg figure elsewhere (see the module's note).

    Example:
        >>> import tapeflow as tp
        >>> fig = tp.plot.figure((8, 3))
        >>> left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        >>> tp.plot.derivative(tp.tanh, ax=left) is fig
        True
    """
    Figure = _tapeflow_figure()
    if can_show():
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained", FigureClass=Figure)
    _, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def detach(fig) -> None:
    """Take ``fig`` out of pyplot (it stays usable): plt.show() and a notebook cell's end do not show it."""
    if _managed(fig):
        import matplotlib.pyplot as plt

        plt.close(fig)


def png_bytes(fig, dpi=100) -> bytes:
    """The figure as PNG data."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _say_how_to_see(fig, force=False) -> None:
    """Once per process (or each time ``fig.show()`` is called where nothing can be shown): say how to see a
    figure that no display will show. Not said when MPLBACKEND names the file backend (a deliberate choice,
    as in CI)."""
    global _hinted
    if _managed(fig) or (_hinted and not force):
        return
    if not force and os.environ.get("MPLBACKEND", "").lower() in _FILE_BACKENDS:
        return
    _hinted = True
    import matplotlib

    warnings.warn(
        f"tapeflow.plot: this Python has no display (matplotlib backend {matplotlib.get_backend()!r}), so "
        "the figure is not shown. Save it and open the file: pass save='history.png' "
        "(history.plot(save=...), tp.plot.history(h, save=...)), or call fig.savefig('plot.png'). In "
        "Jupyter it shows inline.",
        UserWarning,
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """The stacklevel of the first frame outside tapeflow (so a warning points at the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tapeflow"):
        frame, level = frame.f_back, level + 1
    return level


def axes(ax=None, figsize=(6.0, 4.0), projection=None):
    """``(fig, ax)``: the given ``ax`` and its figure, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig = figure(figsize)
    return fig, fig.add_subplot(projection=projection)


def panels(n, ax=None, ncols=None, size=(4.0, 3.4), projection=None):
    """``(fig, [ax, ...])`` with ``n`` axes: the given ones (one per panel), or a new grid."""
    if ax is not None:
        axs = list(np.ravel(ax)) if not hasattr(ax, "figure") else [ax]
        if len(axs) != n:
            raise ValueError(f"`ax` must hold one axes per panel ({n}). Received: {len(axs)} axes")
        return axs[0].figure, axs
    ncols = ncols or min(n, 3)
    nrows = -(-n // ncols)
    fig = figure((size[0] * ncols, size[1] * nrows))
    return fig, [fig.add_subplot(nrows, ncols, i + 1, projection=projection) for i in range(n)]


def flat_and_3d(kind, ax=None):
    """``(fig, [contour ax or None, 3-D ax or None])`` for ``kind`` ``"contour"``, ``"3d"`` or ``"both"``."""
    if kind not in ("contour", "3d", "both"):
        raise ValueError(f"`kind` must be 'contour', '3d' or 'both'. Received: kind={kind!r}")
    if kind == "both":
        if ax is not None:
            return panels(2, ax)
        fig = figure((11.0, 4.6))
        return fig, [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2, projection="3d")]
    fig, one = axes(ax, figsize=(5.6, 4.6), projection="3d" if kind == "3d" else None)
    return fig, ([one, None] if kind == "contour" else [None, one])


def layered(depths):
    """``{index: (depth, offset)}``: items grouped by depth, each group spread evenly around offset 0."""
    groups = {}
    for i, d in enumerate(depths):
        groups.setdefault(d, []).append(i)
    pos = {}
    for d, members in groups.items():
        k = len(members)
        for j, i in enumerate(members):
            pos[i] = (float(d), (k - 1) / 2.0 - j)
    return pos


def save(fig, path, dpi=100):
    """Save ``fig`` to ``path`` (the format from the extension: .png, .svg, .pdf), atomically.

    Returns:
        The path.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".") or "png"
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tapeflow-plot-", suffix="." + ext, dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a saved picture is an ordinary file
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=ext, dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def finish(fig, save_to=None):
    """Save when asked, and return the figure (where nothing can show it and it is not saved, say once how to
    see it)."""
    if save_to is not None:
        save(fig, save_to)
    else:
        _say_how_to_see(fig)
    return fig


def to_numpy(x) -> np.ndarray:
    """A float NumPy array from a Tensor, array or list (without going through the tape's notes)."""
    return B.to_numpy(getattr(x, "_value", x)).astype(np.float64, copy=False)


def name_of(f) -> str:
    """A readable name for a function, op or Surface ('f' for a lambda)."""
    name = getattr(f, "name", None) or getattr(f, "__name__", None)
    return "f" if not isinstance(name, str) or name == "<lambda>" else name
