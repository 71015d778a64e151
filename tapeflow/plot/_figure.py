"""Figures without pyplot: every tapeflow plot draws on a matplotlib ``Figure`` with an Agg canvas.

No global pyplot state and no GUI backend is touched, so plotting works headless, in threads and in notebooks
(IPython displays a returned Figure). matplotlib is imported here, lazily, on first use.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from tapeflow import _backend as B
from tapeflow._extras import install_hint


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"tapeflow.plot needs matplotlib: {install_hint('plot')}") from e
    return Figure, FigureCanvasAgg


def figure(figsize=(6.0, 4.0)):
    """A new Figure with an Agg canvas attached (renders and saves without pyplot): add axes to it and pass
    them as ``ax=`` to compose several tapeflow pictures.

    Example:
        >>> import tapeflow as tp
        >>> fig = tp.plot.figure((8, 3))
        >>> left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        >>> tp.plot.derivative(tp.tanh, ax=left) is fig
        True
    """
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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
    """Save when asked, and return the figure."""
    if save_to is not None:
        save(fig, save_to)
    return fig


def to_numpy(x) -> np.ndarray:
    """A float NumPy array from a Tensor, array or list (without going through the tape's notes)."""
    return B.to_numpy(getattr(x, "_value", x)).astype(np.float64, copy=False)


def name_of(f) -> str:
    """A readable name for a function, op or Surface ('f' for a lambda)."""
    name = getattr(f, "name", None) or getattr(f, "__name__", None)
    return "f" if not isinstance(name, str) or name == "<lambda>" else name
