"""Pictures of a network: its layer diagram, how its layers reshape a 2-D dataset, and its loss landscape."""

from __future__ import annotations

import numpy as np

from tapeflow._tensor import Tensor
from tapeflow.plot import _figure


# --- the layer diagram --------------------------------------------------------------------------------------
def _layer_rows(model):
    rows = []
    has_input_layer = any(type(layer).__name__ == "InputLayer" for layer in model.layers)
    try:
        if not has_input_layer:
            rows.append(("input", "Input", tuple(model.input_shape), 0))
    except (AttributeError, ValueError, TypeError):
        pass
    for layer in model.layers:
        try:
            shape = layer.output_shape
        except (AttributeError, ValueError, RuntimeError):
            shape = "?"
        rows.append((layer.name, type(layer).__name__, shape, int(layer.count_params())))
    return rows


def _refs(args):
    """The layer names in a functional config's ``args`` (nests of ``[layer name, node, tensor]``)."""
    stack, names = [args], []
    while stack:
        a = stack.pop()
        if isinstance(a, list) and len(a) == 3 and isinstance(a[0], str) and isinstance(a[1], int):
            names.append(a[0])
        elif isinstance(a, (list, tuple)):
            stack.extend(reversed(a))
        elif isinstance(a, dict):
            stack.extend(a.values())
    return names


def _layer_edges(model, rows):
    """``[(i, j), ...]``: box ``i`` feeds box ``j`` (a functional model's graph, else a chain)."""
    index = {name: i for i, (name, *_) in enumerate(rows)}
    try:
        specs = model.get_config().get("layers", [])
    except (AttributeError, TypeError, ValueError, NotImplementedError):
        specs = []
    edges = []
    for spec in specs:
        for node in spec.get("inbound_nodes", []):
            for parent in _refs([node.get("args"), node.get("call_args"), node.get("kwargs")]):
                if parent in index and spec.get("name") in index:
                    edges.append((index[parent], index[spec["name"]]))
    if not edges:
        edges = [(i, i + 1) for i in range(len(rows) - 1)]
    return sorted(set(edges))


def model(model, ax=None, save=None):
    """Draw a model's layers as boxes (name, class, output shape, parameter count) joined as data flows.

    A ``Sequential`` model is a column; a functional model shows its branches and merges.

    Args:
        model: a built model (``Sequential`` or functional).
        ax: axes to draw on; save: a path to save the figure to.

    Returns:
        The Figure; ``fig.layers`` lists ``(name, class name, output shape, parameters)`` per box (the input
        first) and ``fig.edges`` the arrows ``(from box, to box)``.

    Example:
        >>> import tapeflow as tp
        >>> m = tp.Sequential([tp.Input((2,)), tp.layers.Dense(4, activation="tanh"), tp.layers.Dense(1)])
        >>> fig = tp.plot.model(m)
        >>> [(cls, shape, n) for _, cls, shape, n in fig.layers]
        [('Input', (None, 2), 0), ('Dense', (None, 4), 12), ('Dense', (None, 1), 5)]
        >>> fig.edges
        [(0, 1), (1, 2)]
    """
    if not getattr(model, "built", True):
        raise ValueError(f"plot.model: build the model first (call it on data, or give it an Input); "
                         f"'{model.name}' is not built")
    rows = _layer_rows(model)
    edges = _layer_edges(model, rows)
    depth = [0] * len(rows)
    for i, j in edges:  # boxes are in graph order, so one pass gives the longest path
        depth[j] = max(depth[j], depth[i] + 1)
    pos = {i: (-offset, -d) for i, (d, offset) in _figure.layered(depth).items()}  # (x, y): top down
    n_rows = max(depth) + 1
    width = max(sum(1 for d in depth if d == k) for k in range(n_rows))
    fig, ax = _figure.axes(ax, figsize=(max(4.4 * width, 5.0), 1.1 * n_rows + 1.6))
    boxes = []
    for i, (name, cls, shape, params) in enumerate(rows):
        text = f"{name} ({cls})\noutput {shape}   params {params:,}" if cls != "Input" else f"input {shape}"
        box = {"boxstyle": "round,pad=0.5", "facecolor": "#cfe2ff", "edgecolor": "#495057"}
        boxes.append(ax.text(*pos[i], text, ha="center", va="center", fontsize=9, gid=f"layer{i}", bbox=box))
    for i, j in edges:
        ax.annotate("", xy=pos[j], xytext=pos[i],
                    arrowprops={"arrowstyle": "-|>", "color": "#495057", "patchA": boxes[i].get_bbox_patch(),
                                "patchB": boxes[j].get_bbox_patch(), "shrinkA": 2, "shrinkB": 2})
    total = int(model.count_params())
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    ax.set_xlim(-width / 2.0, width / 2.0)
    ax.set_ylim(-n_rows + 0.2, 0.8)
    ax.axis("off")
    ax.set_title(f"{model.name}: {total:,} parameters ({trainable:,} trainable)", fontsize=10)
    fig.layers, fig.edges = rows, edges
    return _figure.finish(fig, save)


# --- layer-by-layer transformations -------------------------------------------------------------------------
def activations(model, x):
    """The output of each layer of a sequential stack, applying ``model.layers`` one after another.

    Returns:
        A list of float64 arrays of shape ``(n, features)``, one per layer (the input first).
    """
    h = Tensor(np.asarray(x, dtype=np.float32))
    outs = [_figure.to_numpy(h)]
    for layer in model.layers:
        try:
            h = layer(h, training=False)
        except (ValueError, TypeError) as e:
            raise ValueError(f"activations: layer '{layer.name}' does not take the previous layer's output "
                             f"(shape {tuple(h.shape)}); this needs a sequential stack of layers") from e
        outs.append(_figure.to_numpy(h).reshape(len(outs[0]), -1))
    return outs


def _project(a, basis=None, y=None):
    """2-D coordinates: the array itself when 2-D; for one unit, its value against the class (jittered, so
    the two rows show how far apart the classes ended); else the top two principal components."""
    if a.shape[1] == 2:
        return a, None
    if a.shape[1] == 1:
        rows = np.zeros(len(a)) if y is None else y + 0.25 * np.sin(np.arange(len(a)) * 12.9898)
        return np.concatenate([a, rows[:, None]], axis=1), None
    mean = a.mean(axis=0)
    if basis is None:
        _, _, vt = np.linalg.svd(a - mean, full_matrices=False)
        basis = (mean, vt[:2].T)
    return (a - basis[0]) @ basis[1], basis


def transformations(model, x, y, grid_lines=9, ax=None, save=None):
    """Show how each layer of a small classifier maps a 2-D dataset, layer by layer.

    Each panel scatters the points (colored by class) in a layer's output space: directly when the layer has
    2 units, its value against the class (jittered rows) when it has 1, and on the top two principal
    components otherwise. A grid drawn over
    the input is carried through the same layers, so the bending and folding of space is visible. On the last
    hidden layer with 2 units, the output layer's decision line is drawn: the classes end linearly separable.

    Args:
        model: a trained sequential classifier on 2-D inputs.
        x: points ``(n, 2)``; y: integer labels ``(n,)``.
        grid_lines: number of grid lines per direction (0 for none).
        ax: one axes per panel (inputs + each layer); save: a path to save the figure to.

    Returns:
        The Figure; ``fig.activations`` holds each panel's 2-D coordinates (the input first).

    Example:
        >>> import tapeflow as tp
        >>> x, y = tp.plot.circles(60, seed=0)
        >>> m = tp.Sequential([tp.Input((2,)), tp.layers.Dense(3, activation="relu", name="hidden"),
        ...                    tp.layers.Dense(1, activation="sigmoid", name="out")])
        >>> fig = tp.plot.transformations(m, x, y)
        >>> [a.get_title() for a in fig.axes][1:]
        ['hidden (3 units) - PCA', 'out (1 unit): value by class']
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).reshape(-1)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"transformations: `x` must hold 2-D points, shape (n, 2). Received: shape "
                         f"{x.shape}")
    lo, hi = x.min(axis=0), x.max(axis=0)
    lines = []
    if grid_lines:
        t = np.linspace(0, 1, 60)
        along_x, along_y = lo[0] + t * (hi[0] - lo[0]), lo[1] + t * (hi[1] - lo[1])
        for v in np.linspace(0, 1, grid_lines):
            lines.append(np.stack([along_x, np.full_like(t, lo[1] + v * (hi[1] - lo[1]))], 1))
            lines.append(np.stack([np.full_like(t, lo[0] + v * (hi[0] - lo[0])), along_y], 1))
    grid = np.concatenate(lines).astype(np.float32) if lines else np.zeros((0, 2), np.float32)
    acts = activations(model, np.concatenate([x, grid]))
    n = len(x)
    fig, axs = _figure.panels(len(acts), ax, ncols=min(len(acts), 4), size=(3.6, 3.4))
    coords = []
    names = ["input"] + [f"{layer.name} ({_units(layer.output_shape[-1])})" for layer in model.layers]
    classes = np.unique(y)
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]
    for k, (a, act) in enumerate(zip(axs, acts)):
        pts, basis = _project(act[:n], y=y.astype(np.float64))
        g = _project(act[n:], basis)[0] if len(grid) and act.shape[1] > 1 else grid[:0]
        for j in range(0, len(g), 60):
            a.plot(g[j:j + 60, 0], g[j:j + 60, 1], color="gray", linewidth=0.5, alpha=0.6)
        for c in classes:
            sel = y == c
            a.scatter(pts[sel, 0], pts[sel, 1], s=9, color=palette[int(c) % 5], label=f"class {c}", zorder=3)
        how = {1: ": value by class", 2: ""}.get(act.shape[1], " - PCA")
        a.set_title(names[k] + how, fontsize=9)
        coords.append(pts)
        if act.shape[1] == 2 and k == len(acts) - 2:
            _decision_line(a, model.layers[-1], pts)
    axs[0].legend(fontsize=7, loc="best")
    fig.activations = coords
    return _figure.finish(fig, save)


def _units(n):
    return "1 unit" if n == 1 else f"{n} units"


def _decision_line(a, out_layer, pts):
    """The output layer's boundary ``w·h + b = 0`` (sigmoid output) in its 2-D input space."""
    weights = out_layer.get_weights()
    if len(weights) != 2 or weights[0].shape != (2, 1):
        return
    (w1, w2), b = weights[0][:, 0], float(weights[1][0])
    xs = np.linspace(pts[:, 0].min(), pts[:, 0].max(), 2)
    if abs(w2) > 1e-12:
        a.plot(xs, -(w1 * xs + b) / w2, color="black", linewidth=1.5, linestyle="--", label="decision line")
        a.set_ylim(pts[:, 1].min() - 0.1, pts[:, 1].max() + 0.1)


# --- loss landscape -----------------------------------------------------------------------------------------
def filter_normalized_direction(weights, rng):
    """A random direction in weight space, scaled filter by filter to the weights' norms (Li et al., 2018).

    Each filter (the slice along the last axis: a unit of a Dense kernel, an output channel of a convolution)
    gets a Gaussian direction rescaled to that filter's norm; biases and other 1-D weights get zero, as in the
    paper, so the picture does not depend on the scale of each layer.
    """
    out = []
    for w in weights:
        w = np.asarray(w, dtype=np.float64)
        if w.ndim <= 1:
            out.append(np.zeros_like(w))
            continue
        d = rng.standard_normal(w.shape)
        axes = tuple(range(w.ndim - 1))
        d *= np.linalg.norm(w, axis=axes, keepdims=True) / (np.linalg.norm(d, axis=axes, keepdims=True)
                                                             + 1e-10)
        out.append(d)
    return out


def _loss_fn(model, loss):
    from tapeflow import losses

    loss = loss if loss is not None else getattr(model, "loss", None)
    if loss is None:
        raise ValueError("loss_landscape: pass `loss=` (the model is not compiled with one)")
    return losses.get(loss) if isinstance(loss, str) else loss


def landscape(model, x, y, loss=None, resolution=21, span=1.0, seed=0):
    """The loss on a 2-D slice through the model's weights: ``L(w + a d1 + b d2)``.

    Returns:
        ``(A, B, Z)``: grids of the coordinates along the two filter-normalized random directions, and the
        loss. The model's weights are restored afterwards.
    """
    fn = _loss_fn(model, loss)
    variables = list(model.trainable_weights)
    w0 = [np.array(v.numpy(), copy=True) for v in variables]
    rng = np.random.default_rng(seed)
    d1 = filter_normalized_direction(w0, rng)
    d2 = filter_normalized_direction(w0, rng)
    coords = np.linspace(-span, span, resolution)
    A, B = np.meshgrid(coords, coords)
    Z = np.empty_like(A)
    xt, yt = Tensor(np.asarray(x)), Tensor(np.asarray(y))
    try:
        for idx in np.ndindex(A.shape):
            a, b = A[idx], B[idx]
            for v, w, e1, e2 in zip(variables, w0, d1, d2):
                v.assign((w + a * e1 + b * e2).astype(w.dtype))
            Z[idx] = float(_figure.to_numpy(fn(yt, model(xt, training=False))).mean())
    finally:
        for v, w in zip(variables, w0):
            v.assign(w)
    return A, B, Z


def loss_landscape(model, x, y, loss=None, resolution=21, span=1.0, seed=0, kind="both", ax=None, save=None):
    """A 2-D slice of a network's loss landscape through its trained weights.

    The slice follows two random directions in weight space, filter-normalized (Li et al., "Visualizing the
    Loss Landscape of Neural Nets", 2018), so that scales of different layers do not distort it; the trained
    weights sit at the center (0, 0). Sharp minima show as tight contours, flat ones as wide basins.

    Args:
        model: a trained model; x, y: the data to evaluate the loss on.
        loss: a loss (name or callable ``loss(y_true, y_pred)``); default: the model's compiled loss.
        resolution: grid points per direction; span: the slice covers ``[-span, span]`` along each direction.
        seed: seed for the directions.
        kind: ``"contour"``, ``"3d"`` or ``"both"``.
        ax: axes to draw on (two for ``"both"``, the second 3-D); save: a path to save the figure to.

    Returns:
        The Figure; ``fig.landscape`` is ``(A, B, Z)`` from :func:`landscape`.

    Example:
        >>> import tapeflow as tp
        >>> x, y = tp.plot.two_moons(40, seed=0)
        >>> m = tp.Sequential([tp.Input((2,)), tp.layers.Dense(1, activation="sigmoid")])
        >>> fig = tp.plot.loss_landscape(m, x, y, loss="binary_crossentropy", resolution=5, kind="contour")
        >>> fig.landscape[2].shape
        (5, 5)
    """
    fig, axs = _figure.flat_and_3d(kind, ax)
    A, B, Z = landscape(model, x, y, loss, resolution, span, seed)
    shown = np.log10(Z) if np.all(Z > 0) and Z.max() > 50 * Z.min() else Z
    label = "log10 loss" if shown is not Z else "loss"
    if axs[0] is not None:
        a = axs[0]
        cs = a.contourf(A, B, shown, levels=25, cmap="viridis")
        a.contour(A, B, shown, levels=25, colors="white", linewidths=0.4, alpha=0.5)
        fig.colorbar(cs, ax=a, label=label)
        a.plot([0], [0], marker="*", color="gold", markersize=14, markeredgecolor="black", linestyle="none",
               label=f"trained weights (loss {Z[Z.shape[0] // 2, Z.shape[1] // 2]:.3g})")
        a.set_xlabel("direction 1")
        a.set_ylabel("direction 2")
        a.legend(fontsize=8, loc="upper right")
        a.set_title(f"{model.name}: loss landscape")
    if axs[1] is not None:
        a3 = axs[1]
        a3.plot_surface(A, B, shown, cmap="viridis", linewidth=0, antialiased=True)
        a3.set_xlabel("direction 1")
        a3.set_ylabel("direction 2")
        a3.set_zlabel(label)
        a3.tick_params(labelsize=7)
        a3.set_box_aspect(None, zoom=0.85)
    fig.landscape = (A, B, Z)
    return _figure.finish(fig, save)
