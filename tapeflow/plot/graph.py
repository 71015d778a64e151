"""The tape as a picture: the ops it recorded, their shapes and dtypes, and the gradient along every edge."""

from __future__ import annotations

import numpy as np

from tapeflow.explain import tape_graph
from tapeflow.plot import _figure

_COLORS = {"source": "#b7e4c7", "op": "#cfe2ff", "constant": "#e9ecef"}


def layout(graph):
    """``{node index: (x, y)}``: inputs left, the target right, each column spread evenly."""
    return _figure.layered([n.depth for n in graph.nodes])


def tape(tape, target=None, gradients=True, constants=True, ax=None, save=None):
    """Draw the computation ``tape`` recorded for ``target``: one box per op (name, output shape, dtype), the
    watched sources in green, constants in gray, and along each edge the norm of the gradient flowing back
    (computed with the tape's own rules). No Graphviz needed.

    Works before ``tape.gradient`` on any tape, and after it on a persistent tape. Also
    ``tape.graph(target)``.

    Args:
        tape: the GradientTape, or a :func:`tapeflow.function` (its latest plan is drawn, with no gradients).
        target: a tensor computed inside the tape's ``with`` block.
        gradients: label edges with ``|gradient|``.
        constants: draw untracked inputs.
        ax: axes to draw on; save: a path to save the figure to.

    Returns:
        The Figure; ``fig.graph`` is the :class:`tapeflow.explain.TapeGraph` drawn (one box per node, in its
        order, then one arrow per edge).

    Example:
        >>> import tapeflow as tp
        >>> w = tp.Variable([1.0, 2.0], name="w")
        >>> with tp.GradientTape() as t:
        ...     loss = tp.sum(w * w)
        >>> fig = t.graph(loss)
        >>> fig.graph.ops
        ['multiply', 'sum']
    """
    if hasattr(tape, "plan_graph"):  # a tp.function: draw its plan
        graph = tape.plan_graph()
        gradients = False
        if not graph.nodes:
            raise ValueError("tape: the plan has no steps to draw")
    else:
        graph = tape_graph(tape, target, gradients=gradients, constants=constants)
    pos = layout(graph)
    depth = max(n.depth for n in graph.nodes) + 1
    height = max(sum(1 for n in graph.nodes if n.depth == d) for d in range(depth))
    fig, ax = _figure.axes(ax, figsize=(min(2.0 * depth + 1.0, 30.0), min(1.2 * height + 1.2, 30.0)))
    last = len(graph.nodes) - 1
    boxes = []
    for i, n in enumerate(graph.nodes):
        x, y = pos[i]
        text = f"{n.label}\n{n.shape} {n.dtype}"
        if n.kind == "source":
            text = f"{n.label} (watched)\n{n.shape} {n.dtype}"
        boxes.append(ax.text(x, y, text, ha="center", va="center", fontsize=8, zorder=3, gid=f"node{i}",
                             bbox={"boxstyle": "round,pad=0.4", "facecolor": _COLORS[n.kind],
                                   "edgecolor": "#d62728" if i == last else "#495057",
                                   "linewidth": 2 if i == last else 1}))
    for e in graph.edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2,  # clipped to the two boxes when drawn
                    arrowprops={"arrowstyle": "-|>", "color": "#495057", "linewidth": 1, "shrinkA": 2,
                                "shrinkB": 2, "patchA": boxes[e.src].get_bbox_patch(),
                                "patchB": boxes[e.dst].get_bbox_patch()})
        if e.grad is not None:
            norm = float(np.linalg.norm(e.grad._value))
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, f"|g|={norm:.3g}", fontsize=7, color="#c92a2a",
                    ha="center", va="bottom", zorder=4, gid=f"grad{e.src}-{e.dst}")
    ax.set_xlim(-0.6, depth - 0.4)
    ax.set_ylim(-height / 2.0 - 0.2, height / 2.0 + 0.2)
    ax.axis("off")
    ax.set_title("recorded ops: inputs left, target right" + (";  red: |gradient| on each edge" if gradients
                                                                   else ""), fontsize=9)
    fig.graph = graph
    return _figure.finish(fig, save)
