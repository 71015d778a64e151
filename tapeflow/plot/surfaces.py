"""Loss surfaces of two parameters, and gradient descent walking down them with tapeflow's own optimizers.

The built-in surfaces are tapeflow functions ``f(x, y)`` (so the tape differentiates them), each with the
window that shows it well, its known minima and a start point that makes the lesson visible: a quadratic bowl,
an elongated valley (plain SGD zig-zags), Rosenbrock's banana, a saddle, Himmelblau's four minima and a
plateau (tiny gradients far from the well).
"""

from __future__ import annotations

import numpy as np

from tapeflow import ops
from tapeflow._tensor import Tensor, Variable
from tapeflow.autodiff import GradientTape
from tapeflow.plot import _figure


class Surface:
    """A function of two parameters with the window, minima and start point that show it well.

    Args:
        name: a short name.
        fn: ``fn(x, y)`` written with tapeflow ops (broadcasts over arrays of points).
        x_range, y_range: the window ``(lo, hi)``.
        minima: known minimum points ``[(x, y), ...]``.
        saddles: known saddle points.
        start: a start point for descent paths.
        learning_rate: a learning rate at which plain SGD is stable here (the default for descent paths).
        log_scale: draw contours on a log scale (for surfaces with a huge range).

    Example:
        >>> from tapeflow.plot.surfaces import bowl
        >>> float(bowl(3.0, 4.0))
        25.0
    """

    def __init__(self, name, fn, x_range, y_range, minima=(), saddles=(), start=(0.0, 0.0),
                 learning_rate=0.05, log_scale=False):
        self.name = name
        self.fn = fn
        self.x_range = tuple(x_range)
        self.y_range = tuple(y_range)
        self.minima = [tuple(m) for m in minima]
        self.saddles = [tuple(s) for s in saddles]
        self.start = tuple(start)
        self.learning_rate = learning_rate
        self.log_scale = log_scale
        self.__doc__ = fn.__doc__

    def __call__(self, x, y):
        return self.fn(x, y)

    def __repr__(self):
        return f"<tapeflow.plot.Surface {self.name!r}>"


def _bowl(x, y):
    """Quadratic bowl ``x**2 + y**2``: one minimum at (0, 0), the same curvature in every direction."""
    return ops.square(x) + ops.square(y)


def _valley(x, y):
    """Elongated valley ``0.1 x**2 + 2 y**2``: curvature 40x larger across than along, so SGD zig-zags."""
    return 0.1 * ops.square(x) + 2.0 * ops.square(y)


def _rosenbrock(x, y):
    """Rosenbrock's banana ``(1 - x)**2 + 100 (y - x**2)**2``: a curved, flat valley; minimum (1, 1)."""
    return ops.square(1.0 - x) + 100.0 * ops.square(y - ops.square(x))


def _saddle(x, y):
    """Saddle ``x**2 - y**2``: a minimum along x, a maximum along y; gradient zero at (0, 0)."""
    return ops.square(x) - ops.square(y)


def _himmelblau(x, y):
    """Himmelblau ``(x**2 + y - 11)**2 + (x + y**2 - 7)**2``: four minima, all with value 0."""
    return ops.square(ops.square(x) + y - 11.0) + ops.square(x + ops.square(y) - 7.0)


def _plateau(x, y):
    """Plateau ``1 - exp(-(x**2 + y**2) / 2)``: a well at (0, 0) in a flat plain with vanishing gradients."""
    return 1.0 - ops.exp(-(ops.square(x) + ops.square(y)) / 2.0)


bowl = Surface("bowl", _bowl, (-2, 2), (-2, 2), minima=[(0, 0)], start=(-1.6, 1.2), learning_rate=0.1)
valley = Surface("valley", _valley, (-6, 6), (-3, 3), minima=[(0, 0)], start=(-5.0, 2.0), learning_rate=0.2)
rosenbrock = Surface("rosenbrock", _rosenbrock, (-2, 2), (-1, 3), minima=[(1, 1)], start=(-1.5, 2.0),
                     learning_rate=0.0008, log_scale=True)
saddle = Surface("saddle", _saddle, (-2, 2), (-2, 2), saddles=[(0, 0)], start=(-1.8, 0.05))
himmelblau = Surface("himmelblau", _himmelblau, (-5, 5), (-5, 5),
                     minima=[(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                             (3.584428, -1.848126)],
                     start=(0.0, 0.0), learning_rate=0.01, log_scale=True)
plateau = Surface("plateau", _plateau, (-4, 4), (-4, 4), minima=[(0, 0)], start=(3.0, 2.5), learning_rate=0.5)

SURFACES = {s.name: s for s in (bowl, valley, rosenbrock, saddle, himmelblau, plateau)}


def get(f) -> Surface | object:
    """A built-in surface by name (or ``f`` itself when it is a callable)."""
    if isinstance(f, str):
        if f not in SURFACES:
            raise ValueError(f"Unknown surface {f!r}. Choose one of: {', '.join(SURFACES)}")
        return SURFACES[f]
    if not callable(f):
        raise TypeError(f"`f` must be a function f(x, y), a Surface or a surface name. Received: {f!r}")
    return f


def grid(f, x_range=None, y_range=None, resolution=100):
    """Evaluate ``f(x, y)`` on a ``resolution`` x ``resolution`` grid.

    Returns:
        ``(X, Y, Z)`` NumPy arrays of shape ``(resolution, resolution)``.

    Example:
        >>> from tapeflow.plot.surfaces import grid
        >>> X, Y, Z = grid("bowl", resolution=3)
        >>> Z.tolist()
        [[8.0, 4.0, 8.0], [4.0, 0.0, 4.0], [8.0, 4.0, 8.0]]
    """
    f = get(f)
    x_range, y_range = _ranges(f, x_range, y_range)
    xs = np.linspace(*x_range, resolution)
    ys = np.linspace(*y_range, resolution)
    X, Y = np.meshgrid(xs, ys)
    Z = _figure.to_numpy(f(Tensor(X), Tensor(Y)))
    if Z.shape != X.shape:  # a function that does not broadcast: one point at a time
        Z = np.array([[float(_figure.to_numpy(f(Tensor(x), Tensor(y)))) for x in xs] for y in ys])
    return X, Y, Z


def _ranges(f, x_range, y_range):
    x_range = x_range if x_range is not None else getattr(f, "x_range", None)
    y_range = y_range if y_range is not None else getattr(f, "y_range", x_range)
    if x_range is None:
        raise ValueError("`x_range` is needed for a function that is not a built-in Surface. Received: None")
    return tuple(x_range), tuple(y_range)


def _shown(Z, log_scale):
    """What the colors show: ``f``, or ``log10(1 + f - min f)`` for surfaces with a huge range."""
    return np.log10(1.0 + Z - np.min(Z)) if log_scale else Z


def _contour(ax, f, X, Y, Z, levels, log_scale):
    shown = _shown(Z, log_scale)
    ax.contourf(X, Y, shown, levels=levels, cmap="viridis", alpha=0.85)
    ax.contour(X, Y, shown, levels=levels, colors="white", linewidths=0.4, alpha=0.5)
    for i, (mx, my) in enumerate(getattr(f, "minima", [])):
        ax.plot([mx], [my], marker="*", color="gold", markersize=13, markeredgecolor="black",
                linestyle="none", label="minimum" if i == 0 else None)
    for i, (sx, sy) in enumerate(getattr(f, "saddles", [])):
        ax.plot([sx], [sy], marker="X", color="red", markersize=10, markeredgecolor="black", linestyle="none",
                label="saddle point" if i == 0 else None)
    ax.set_xlim(X.min(), X.max())
    ax.set_ylim(Y.min(), Y.max())
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def loss_surface(f, x_range=None, y_range=None, kind="both", resolution=100, levels=30, ax=None, save=None):
    """Draw a function of two parameters as contours and/or a 3-D surface.

    Args:
        f: a built-in surface name (``"bowl"``, ``"valley"``, ``"rosenbrock"``, ``"saddle"``,
            ``"himmelblau"``, ``"plateau"``), a :class:`Surface`, or any ``f(x, y)`` written with tapeflow
            ops.
        x_range, y_range: the window ``(lo, hi)`` (a Surface brings its own).
        kind: ``"contour"``, ``"3d"`` or ``"both"`` (side by side).
        resolution: grid points per axis.
        levels: number of contour levels.
        ax: axes to draw on (two for ``"both"``, the second with ``projection="3d"``).
        save: a path to save the figure to (.png or .svg).

    Returns:
        The matplotlib Figure.

    Example:
        >>> import tapeflow as tp
        >>> fig = tp.plot.loss_surface("himmelblau", kind="contour")
        >>> len(fig.axes[0].lines)  # the four minima
        4
    """
    fig, axs = _figure.flat_and_3d(kind, ax)
    f = get(f)
    X, Y, Z = grid(f, x_range, y_range, resolution)
    log_scale = getattr(f, "log_scale", False)
    title = _figure.name_of(f)
    if axs[0] is not None:
        _contour(axs[0], f, X, Y, Z, levels, log_scale)
        axs[0].set_title(f"{title}: contours")
        if getattr(f, "minima", None) or getattr(f, "saddles", None):
            axs[0].legend(loc="upper right", fontsize=8)
    if axs[1] is not None:
        ax3 = axs[1]
        ax3.plot_surface(X, Y, _shown(Z, log_scale), cmap="viridis", linewidth=0, antialiased=True, alpha=0.9)
        ax3.set_xlabel("x")
        ax3.set_ylabel("y")
        ax3.set_zlabel("log10(1 + f)" if log_scale else "f")
        ax3.set_title(f"{title}: surface")
        ax3.tick_params(labelsize=7)
    return _figure.finish(fig, save)


# --- descent ------------------------------------------------------------------------------------------------
def _optimizer(spec):
    from tapeflow import optimizers

    if isinstance(spec, str) or isinstance(spec, dict):
        return optimizers.get(spec)
    if isinstance(spec, type):
        return spec()
    return spec


def descend(f, start, optimizer, steps=100, dtype="float64"):
    """Run ``optimizer`` on ``f(x, y)`` from ``start`` for ``steps`` steps, with the tape and the optimizer's
    ``apply_gradients``, exactly as training does.

    Args:
        f: a surface name, a :class:`Surface` or ``f(x, y)`` written with tapeflow ops.
        start: ``(x, y)``.
        optimizer: a tapeflow optimizer (instance, class, or name such as ``"adam"``).
        steps: number of updates.
        dtype: the parameters' dtype.

    Returns:
        ``(points, losses)``: ``points`` of shape ``(steps + 1, 2)``, the start first; ``losses`` of shape
        ``(steps + 1,)``, ``f`` at each point.

    Example:
        >>> import tapeflow as tp
        >>> from tapeflow.plot import descend
        >>> points, losses = descend("bowl", (1.0, -2.0), tp.optimizers.SGD(0.25), steps=2)
        >>> points.tolist(), losses.tolist()
        ([[1.0, -2.0], [0.5, -1.0], [0.25, -0.5]], [5.0, 1.25, 0.3125])
    """
    f = get(f)
    opt = _optimizer(optimizer)
    p = Variable(np.asarray(start, dtype=dtype), name="p")
    points, losses = [np.array(_figure.to_numpy(p._value))], []  # drawn values: host copies
    for _ in range(steps):
        with GradientTape() as tape:
            loss = f(p[0], p[1])
        (g,) = tape.gradient(loss, [p])
        losses.append(float(loss._value))
        opt.apply_gradients(zip([g], [p]))
        points.append(np.array(_figure.to_numpy(p._value)))
    losses.append(float(_figure.to_numpy(f(Tensor(p._value[0]), Tensor(p._value[1])))))
    return np.stack(points), np.asarray(losses)


def _default_optimizers(lr):
    from tapeflow import optimizers

    return {
        f"SGD lr={lr:g}": optimizers.SGD(learning_rate=lr),
        f"Momentum 0.9 lr={lr:g}": optimizers.SGD(learning_rate=lr, momentum=0.9),
        f"RMSprop lr={lr:g}": optimizers.RMSprop(learning_rate=lr),
        f"Adam lr={lr:g}": optimizers.Adam(learning_rate=lr),
    }


def descent_paths(f, start=None, optimizers=None, steps=100, learning_rate=None, x_range=None, y_range=None,
                  resolution=100, levels=30, ax=None, save=None):
    """Run real tapeflow optimizers on ``f`` and overlay their paths on its contours.

    Args:
        f: a surface name, a :class:`Surface` or ``f(x, y)`` written with tapeflow ops.
        start: ``(x, y)`` (a Surface brings its own).
        optimizers: ``{label: optimizer}`` (instances, classes or names); by default SGD, momentum, RMSprop
            and Adam at ``learning_rate`` (default: the Surface's, else 0.05).
        steps: updates per optimizer.
        x_range, y_range: the window (a Surface brings its own).
        ax: axes to draw on; save: a path to save the figure to.

    Returns:
        The Figure. The last lines of its axes are the paths, one per optimizer in order, through the
        optimizer's iterates; ``fig.paths`` maps each label to ``descend``'s ``(points, losses)``.

    Example:
        >>> import tapeflow as tp
        >>> fig = tp.plot.descent_paths("bowl", optimizers={"SGD": tp.optimizers.SGD(0.1)}, steps=20)
        >>> xy = fig.axes[0].lines[-1].get_xydata()
        >>> xy.shape, bool(abs(xy[-1]).max() < 0.05)
        ((21, 2), True)
    """
    f = get(f)
    start = start if start is not None else getattr(f, "start", None)
    if start is None:
        raise ValueError("`start` is needed for a function that is not a built-in Surface. Received: None")
    if optimizers is None:
        lr = learning_rate if learning_rate is not None else getattr(f, "learning_rate", 0.05)
        optimizers = _default_optimizers(lr)
    paths = {label: descend(f, start, opt, steps) for label, opt in optimizers.items()}
    pts = np.concatenate([p for p, _ in paths.values()])
    X, Y, Z = grid(f, *_window(f, x_range, y_range, pts), resolution)
    fig, ax = _figure.axes(ax, figsize=(6.4, 5.2))
    _contour(ax, f, X, Y, Z, levels, getattr(f, "log_scale", False))
    ax.plot([start[0]], [start[1]], marker="s", color="black", markersize=7, linestyle="none",
            label=f"start {tuple(float(s) for s in start)}")
    colors = ["#e41a1c", "#ff7f00", "#f781bf", "#ffffff", "#a65628", "#984ea3", "#4daf4a", "#377eb8"]
    for i, (label, (points, losses)) in enumerate(paths.items()):  # the paths are the last lines
        ax.plot(points[:, 0], points[:, 1], marker="o", markersize=2.5, linewidth=1.4, color=colors[i % 8],
                label=f"{label} (final f={losses[-1]:.3g})")
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    ax.set_title(f"{_figure.name_of(f)}: {steps} steps")
    fig.paths = paths
    return _figure.finish(fig, save)


def _window(f, x_range, y_range, pts):
    """The surface's window, widened to hold every iterate that stayed finite (capped at 3x)."""
    x_range, y_range = _ranges(f, x_range, y_range) if (x_range or hasattr(f, "x_range")) else (None, None)
    finite = pts[np.all(np.isfinite(pts), axis=1)]
    if x_range is None:
        lo, hi = finite.min(axis=0), finite.max(axis=0)
        pad = 0.2 * np.maximum(hi - lo, 1e-3)
        return (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])
    out = []
    for k, (a, b) in enumerate((x_range, y_range)):
        span = b - a
        lo = max(min(a, finite[:, k].min()), a - span)
        hi = min(max(b, finite[:, k].max()), b + span)
        out.append((lo, hi))
    return tuple(out)
