"""Each picture is drawn, saved non-blank, and the data behind it is checked against the tape and NumPy."""

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.plot import surfaces
from tapeflow.plot.calculus import slopes
from tests.plot.conftest import need_matplotlib

need_matplotlib()


# --- derivative ---------------------------------------------------------------------------------------------
def test_derivative_curves_and_tangents_come_from_the_tape(saved):
    f = lambda x: tp.sin(x) * x  # noqa: E731
    at = [-2.0, 0.5, 2.5]
    fig = tp.plot.derivative(f, (-3, 3), at=at, num=101)
    saved(fig, "derivative.png")
    ax = fig.axes[0]
    assert len(ax.lines) == 2 + len(at) + 1  # f, f', one tangent per point, the points
    xs, fx = ax.lines[0].get_xydata().T
    np.testing.assert_allclose(fx, np.sin(xs) * xs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), np.cos(xs) * xs + np.sin(xs), atol=1e-12)
    for line, a in zip(ax.lines[2:5], at):
        (x0, y0), (x1, y1) = line.get_xydata()
        slope = (y1 - y0) / (x1 - x0)
        tape_slope = float(tp.grad(f)(tp.constant(a, dtype="float64")))
        assert slope == pytest.approx(tape_slope, rel=1e-9)
        mid = (x0 + x1) / 2
        assert mid == pytest.approx(a) and (y0 + y1) / 2 == pytest.approx(np.sin(a) * a, abs=1e-12)
    np.testing.assert_allclose(ax.lines[5].get_xydata(), np.stack([at, np.sin(at) * np.array(at)], 1))


def test_slopes_rejects_non_elementwise():
    with pytest.raises(ValueError, match="element-wise"):
        slopes(lambda x: tp.sum(x), [1.0, 2.0])


# --- vectors ------------------------------------------------------------------------------------------------
def test_vectors_sum_projection_and_angle(saved):
    u, v = np.array([3.0, 1.0]), np.array([1.0, 3.0])
    fig = tp.plot.vectors(u, v)
    saved(fig, "vectors.png")
    quivers = fig.axes[0].collections
    ends = [(float(q.U[0]), float(q.V[0])) for q in quivers]
    proj = (u @ v) / (v @ v) * v
    np.testing.assert_allclose(ends, [u, v, u + v, proj])
    assert fig.vectors["dot"] == pytest.approx(6.0)
    expected = np.degrees(np.arccos(u @ v / (np.linalg.norm(u) * np.linalg.norm(v))))
    assert fig.vectors["angle"] == pytest.approx(expected)
    assert f"{expected:.1f}" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="2 components"):
        tp.plot.vectors([1.0, 2.0, 3.0], [1.0, 0.0])


# --- surfaces -----------------------------------------------------------------------------------------------
FORMULAS = {
    "bowl": lambda x, y: x**2 + y**2,
    "valley": lambda x, y: 0.1 * x**2 + 2 * y**2,
    "rosenbrock": lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
    "saddle": lambda x, y: x**2 - y**2,
    "himmelblau": lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
    "plateau": lambda x, y: 1 - np.exp(-(x**2 + y**2) / 2),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_surface_values_minima_and_gradients(name):
    s = surfaces.SURFACES[name]
    X, Y, Z = surfaces.grid(s, resolution=7)
    np.testing.assert_allclose(Z, FORMULAS[name](X, Y), rtol=1e-12)
    assert X.min() == s.x_range[0] and Y.max() == s.y_range[1]
    for point in s.minima + s.saddles:  # the gradient vanishes at every listed stationary point
        x, y = (tp.constant(c, dtype="float64") for c in point)
        gx, gy = tp.grad(s, argnums=(0, 1))(x, y)
        assert abs(float(gx)) < 1e-3 and abs(float(gy)) < 1e-3, (name, point)
    for point in s.minima:
        z = float(s(tp.constant(point[0], "float64"), tp.constant(point[1], "float64")))
        assert z == pytest.approx(np.min(Z), abs=1e-6) or z <= np.min(Z)


def test_loss_surface_contour_and_3d(saved):
    fig = tp.plot.loss_surface("himmelblau", resolution=40)
    saved(fig, "surface.png")
    contour_ax, surface_ax = fig.axes
    assert surface_ax.name == "3d"
    minima = [tuple(line.get_xydata()[0]) for line in contour_ax.lines]
    np.testing.assert_allclose(minima, surfaces.himmelblau.minima)
    assert contour_ax.collections  # filled contours drawn


def test_loss_surface_of_a_user_function_on_a_given_ax(saved):
    fig0 = tp.plot.loss_surface(lambda x, y: tp.abs(x) + y * y, (-1, 1), (-2, 2), kind="contour",
                                resolution=20)
    fig = tp.plot.loss_surface(lambda x, y: x * y, (-1, 1), kind="contour", resolution=20,
                               ax=fig0.axes[0])
    assert fig is fig0
    saved(fig, "user_surface.png")
    with pytest.raises(ValueError, match="x_range"):
        tp.plot.loss_surface(lambda x, y: x * y)
    with pytest.raises(ValueError, match="Choose one of"):
        tp.plot.loss_surface("banana")
    with pytest.raises(ValueError, match="kind"):
        tp.plot.loss_surface("bowl", kind="bar")


# --- the tape as a graph ------------------------------------------------------------------------------------
def test_tape_graph_boxes_arrows_and_gradients(saved):
    w = tp.Variable([[1.0, -2.0], [0.5, 1.0]], name="w")
    b = tp.Variable([0.1, 0.2], name="b")
    x = tp.constant([[1.0, 2.0], [3.0, 4.0], [1.0, 1.0]])
    with tp.GradientTape(persistent=True) as tape:
        loss = tp.mean(tp.square(tp.relu(tp.matmul(x, w) + b) - 1.0))
    fig = tape.graph(loss)
    saved(fig, "tape.png")
    graph = fig.graph
    assert graph.ops == ["matmul", "add", "relu", "subtract", "square", "mean"]
    ax = fig.axes[0]
    boxes = [t for t in ax.texts if (t.get_gid() or "").startswith("node")]
    arrows = [c for c in ax.texts if c.get_gid() is None and hasattr(c, "arrow_patch") and c.arrow_patch]
    grads = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("grad")}
    assert len(boxes) == len(graph.nodes) and len(arrows) == len(graph.edges)
    assert "matmul\n(3, 2) float32" in [t.get_text() for t in boxes]
    assert "w (watched)\n(2, 2) float32" in [t.get_text() for t in boxes]
    gw, gb = tape.gradient(loss, [w, b])
    iw = next(i for i, n in enumerate(graph.nodes) if n.label == "w")
    edge = next(e for e in graph.edges if e.src == iw)
    assert grads[f"grad{edge.src}-{edge.dst}"] == f"|g|={np.linalg.norm(gw.numpy()):.3g}"
    np.testing.assert_allclose(graph.nodes[iw].grad.numpy(), gw.numpy())
    assert tp.plot.tape(tape, loss, gradients=False).graph.edges[0].grad is None


# --- curves -------------------------------------------------------------------------------------------------
def test_history_pairs_val_curves_and_marks_the_best_epoch(saved):
    logs = {"loss": [1.0, 0.5, 0.3, 0.2], "accuracy": [0.5, 0.7, 0.8, 0.9],
            "val_loss": [1.1, 0.6, 0.5, 0.55], "val_accuracy": [0.4, 0.6, 0.75, 0.7]}
    fig = tp.plot.history(logs)
    saved(fig, "history.png")
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines][:2] == ["loss", "val_loss"]
    np.testing.assert_allclose(loss_ax.lines[0].get_xydata(), np.stack([[1, 2, 3, 4], logs["loss"]], 1))
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), logs["val_loss"])
    assert tuple(loss_ax.lines[2].get_xydata()[0]) == (3, 0.5)  # lowest val_loss, epoch 3
    assert tuple(acc_ax.lines[2].get_xydata()[0]) == (3, 0.75)  # highest val_accuracy
    one = tp.plot.history(logs, metrics="accuracy")
    assert len(one.axes) == 1
    with_lr = tp.plot.history({**logs, "learning_rate": [0.1, 0.1, 0.05, 0.05]})
    assert [a.get_title() for a in with_lr.axes] == ["loss", "accuracy"]  # the schedule is not a metric
    assert len(tp.plot.history({**logs, "learning_rate": [0.1] * 4}, metrics="learning_rate").axes) == 1
    with pytest.raises(ValueError, match="Choose from"):
        tp.plot.history(logs, metrics="auc")


def test_compare_overlays_runs_and_flags_divergence(saved):
    runs = {"lr=10": {"loss": [1.0, 40.0, 3e3, float("inf")]}, "lr=0.1": {"loss": [1.0, 0.6, 0.4, 0.3]},
            "lr=1e-4": {"loss": [1.0, 0.999, 0.998, 0.997]}}
    fig = tp.plot.compare(runs)
    saved(fig, "compare.png")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["lr=10 (diverged)", "lr=0.1", "lr=1e-4"]
    for line, logs in zip(ax.lines, runs.values()):
        np.testing.assert_array_equal(line.get_ydata(), logs["loss"])
    assert ax.get_yscale() == "log"


# --- datasets -----------------------------------------------------------------------------------------------
def test_two_moons_and_circles_are_not_linearly_separable():
    from sklearn.linear_model import LogisticRegression

    for make in (tp.plot.two_moons, tp.plot.circles):
        x, y = make(400, seed=1)
        assert x.shape == (400, 2) and x.dtype == np.float32 and y.dtype == np.int32
        assert np.bincount(y).tolist() == [200, 200]
        linear = LogisticRegression().fit(x, y).score(x, y)
        assert linear < 0.9, make.__name__
    a, _ = tp.plot.two_moons(50, seed=3)
    b, _ = tp.plot.two_moons(50, seed=3)
    np.testing.assert_array_equal(a, b)
