"""Derivatives as tangent lines, and vectors adding and projecting: the lecture's first pictures."""

from __future__ import annotations

import numpy as np

from tapeflow import ops
from tapeflow._tensor import Tensor
from tapeflow.autodiff import GradientTape
from tapeflow.plot import _figure


def slopes(f, x):
    """``f(x)`` and ``f'(x)`` for an element-wise ``f`` written with tapeflow ops, from the tape.

    Args:
        f: a function of one number (applied element-wise to an array).
        x: points (array-like).

    Returns:
        ``(values, derivatives)`` as float64 NumPy arrays of ``x``'s shape.

    Example:
        >>> import tapeflow as tp
        >>> from tapeflow.plot.calculus import slopes
        >>> v, d = slopes(lambda x: x ** 3, [1.0, 2.0])
        >>> v.tolist(), d.tolist()
        ([1.0, 8.0], [3.0, 12.0])
    """
    t = Tensor(np.asarray(x, dtype=np.float64))
    with GradientTape() as tape:
        tape.watch(t)
        y = f(t)
    y = y if isinstance(y, Tensor) else Tensor(y)
    if y.shape != t.shape:
        raise ValueError(f"derivative: f must be element-wise; f(x) has shape {y.shape} for x of shape "
                         f"{t.shape}")
    g = tape.gradient(y, t, unconnected_gradients="zero")
    return _figure.to_numpy(y), _figure.to_numpy(g)


def derivative(f, x_range=(-3.0, 3.0), at=(), num=300, tangent_width=None, ax=None, save=None):
    """Plot ``f``, its derivative ``f'`` from the tape, and tangent lines at chosen points.

    Args:
        f: an element-wise function of one number written with tapeflow ops (``tp.sin``, ``lambda x: x**2``).
        x_range: ``(lo, hi)``.
        at: points where to draw the tangent line ``f(a) + f'(a) (x - a)``.
        num: number of sample points.
        tangent_width: how far each tangent extends on either side (default: a sixth of the range).
        ax: axes to draw on; save: a path to save the figure to.

    Returns:
        The Figure: lines ``f``, ``f'``, one tangent line per point in ``at``, then the points' markers.

    Example:
        >>> import tapeflow as tp
        >>> fig = tp.plot.derivative(tp.sin, (-3, 3), at=[0.0, 1.5])
        >>> [line.get_label() for line in fig.axes[0].lines][:2]
        ['f(x)', "f'(x)"]
    """
    lo, hi = x_range
    xs = np.linspace(lo, hi, num)
    values, derivs = slopes(f, xs)
    fig, ax = _figure.axes(ax, figsize=(6.4, 4.4))
    ax.plot(xs, values, color="#1f77b4", linewidth=2, label="f(x)")
    ax.plot(xs, derivs, color="#ff7f0e", linewidth=1.6, linestyle="--", label="f'(x)")
    width = tangent_width if tangent_width is not None else (hi - lo) / 6
    at = np.atleast_1d(np.asarray(at, dtype=np.float64))
    if at.size:
        fa, da = slopes(f, at)
        for a, y0, slope in zip(at, fa, da):
            tx = np.array([a - width, a + width])
            ax.plot(tx, y0 + slope * (tx - a), color="#d62728", linewidth=1.4,
                    label=f"tangent at {a:g}: slope {slope:.3g}")
        ax.plot(at, fa, "o", color="#d62728", markersize=5, zorder=5)
    ax.grid(alpha=0.3)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("x")
    ax.set_title(f"{_figure.name_of(f)} and its derivative (from the tape)")
    ax.legend(fontsize=8, loc="best")
    return _figure.finish(fig, save)


def vectors(*vecs, labels=None, show_sum=True, show_projection=True, ax=None, save=None):
    """Draw 2-D vectors from the origin, their sum, and the projection of the first onto the second.

    The dot product gives both the projection ``(u·v / |v|²) v`` and the angle ``arccos(u·v / (|u| |v|))``;
    both are computed with tapeflow ops.

    Args:
        vecs: two or more 2-D vectors.
        labels: their names (default ``u, v, w, ...``).
        show_sum: draw the sum (with the parallelogram for two vectors).
        show_projection: draw the projection of the first vector onto the second, and the angle between them.
        ax: axes to draw on; save: a path to save the figure to.

    Returns:
        The Figure. Each arrow is a matplotlib Quiver in ``ax.collections`` (the given vectors, then the sum,
        then the projection); ``fig.vectors`` holds the numbers: each vector, ``sum``, ``projection``,
        ``dot`` and ``angle`` (degrees).

    Example:
        >>> import tapeflow as tp
        >>> fig = tp.plot.vectors([3.0, 1.0], [1.0, 3.0])
        >>> fig.vectors["dot"], [round(float(c), 3) for c in fig.vectors["projection"]]
        (6.0, [0.6, 1.8])
    """
    if len(vecs) < 2:
        raise ValueError(f"vectors: give at least two 2-D vectors. Received: {len(vecs)}")
    arrs = [_figure.to_numpy(v).reshape(-1) for v in vecs]
    for i, a in enumerate(arrs):
        if a.shape != (2,):
            raise ValueError(f"vectors: vector {i} must have 2 components. Received: shape {a.shape}")
    labels = list(labels) if labels is not None else list("uvwabcdefgh"[: len(arrs)])
    fig, ax = _figure.axes(ax, figsize=(5.6, 5.2))
    colors = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    data = {}
    for i, (a, name) in enumerate(zip(arrs, labels)):
        _arrow(ax, (0, 0), a, colors[i % 5], name)
        data[name] = a
    pts = [np.zeros(2), *arrs]
    if show_sum:
        total = _figure.to_numpy(ops.sum(ops.stack([Tensor(a) for a in arrs]), axis=0))
        if len(arrs) == 2:
            for a, b in ((arrs[0], arrs[1]), (arrs[1], arrs[0])):
                ax.plot([a[0], a[0] + b[0]], [a[1], a[1] + b[1]], color="gray", linestyle=":", linewidth=1)
        _arrow(ax, (0, 0), total, "#d62728", " + ".join(labels))
        data["sum"] = total
        pts.append(total)
    if show_projection:
        u, v = Tensor(arrs[0]), Tensor(arrs[1])
        dot = ops.sum(u * v)
        proj = _figure.to_numpy(dot / ops.sum(v * v) * v)
        cos = float(_figure.to_numpy(dot / (ops.norm(u) * ops.norm(v))))
        angle = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
        _arrow(ax, (0, 0), proj, "#ff7f0e", f"projection of {labels[0]} on {labels[1]}", width=0.007)
        ax.plot([arrs[0][0], proj[0]], [arrs[0][1], proj[1]], color="#ff7f0e", linestyle="--", linewidth=1)
        _angle_arc(ax, arrs[0], arrs[1], angle)
        data.update(projection=proj, dot=float(_figure.to_numpy(dot)), angle=angle)
        pts.append(proj)
        ax.set_title(f"{labels[0]}·{labels[1]} = {data['dot']:.3g},  angle = {angle:.1f}°")
    pts = np.stack(pts)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.15 * (hi - lo).max() + 0.3
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_aspect("equal")
    ax.axhline(0, color="gray", linewidth=0.6)
    ax.axvline(0, color="gray", linewidth=0.6)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.vectors = data
    return _figure.finish(fig, save)


def _arrow(ax, origin, vec, color, label, width=0.012):
    ax.quiver([origin[0]], [origin[1]], [vec[0]], [vec[1]], angles="xy", scale_units="xy", scale=1,
              color=color, width=width, label=f"{label} = ({vec[0]:.3g}, {vec[1]:.3g})",
              zorder=3 if width < 0.01 else 2)


def _angle_arc(ax, u, v, angle):
    from matplotlib.patches import Arc

    r = 0.3 * min(np.linalg.norm(u), np.linalg.norm(v))
    a0, a1 = np.degrees(np.arctan2(u[1], u[0])), np.degrees(np.arctan2(v[1], v[0]))
    lo, hi = (a0, a1) if (a1 - a0) % 360 <= 180 else (a1, a0)
    ax.add_patch(Arc((0, 0), 2 * r, 2 * r, theta1=lo, theta2=hi, color="black", linewidth=1))
    mid = np.radians(lo + ((hi - lo) % 360) / 2)
    ax.text(1.35 * r * np.cos(mid), 1.35 * r * np.sin(mid), f"{angle:.0f}°", fontsize=9, ha="center",
            va="center")
