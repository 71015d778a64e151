"""descent_paths runs the real optimizers on the real tape: the drawn points are the optimizer's iterates."""

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.plot import surfaces
from tests.plot.conftest import need_matplotlib

need_matplotlib()


def _valley_grad(p):
    return np.array([0.2 * p[0], 4.0 * p[1]])


def test_sgd_and_momentum_paths_equal_hand_computed_iterates(saved):
    lr, steps, start = 0.4, 25, (-5.0, 2.0)
    fig = tp.plot.descent_paths("valley", start=start, steps=steps, optimizers={
        "SGD": tp.optimizers.SGD(learning_rate=lr),
        "Momentum": tp.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        "Adam": "adam",
    })
    saved(fig, "descent.png")
    ax = fig.axes[0]
    sgd_line, momentum_line, adam_line = ax.lines[-3:]
    p, expected = np.array(start), [np.array(start)]
    for _ in range(steps):
        p = p - lr * _valley_grad(p)
        expected.append(p)
    np.testing.assert_allclose(sgd_line.get_xydata(), np.stack(expected), rtol=1e-10, atol=1e-12)
    p, v, expected = np.array(start), np.zeros(2), [np.array(start)]
    for _ in range(steps):
        v = 0.9 * v - 0.1 * _valley_grad(p)
        p = p + v
        expected.append(p)
    np.testing.assert_allclose(momentum_line.get_xydata(), np.stack(expected), rtol=1e-10, atol=1e-12)
    points, losses = surfaces.descend("valley", start, tp.optimizers.Adam(), steps)
    np.testing.assert_array_equal(adam_line.get_xydata(), points)
    np.testing.assert_allclose(losses, 0.1 * points[:, 0] ** 2 + 2 * points[:, 1] ** 2, rtol=1e-12)
    # the lesson: SGD with a step too large for the steep direction zig-zags across the valley
    ys = sgd_line.get_ydata()
    assert np.all(np.sign(ys[1:6]) == -np.sign(ys[:5]))


def test_defaults_and_a_user_function(saved):
    fig = tp.plot.descent_paths("himmelblau", steps=15, learning_rate=0.01)
    saved(fig, "himmelblau.png")
    labels = [line.get_label() for line in fig.axes[0].lines[-4:]]
    assert [lab.split(" lr")[0] for lab in labels] == ["SGD", "Momentum 0.9", "RMSprop", "Adam"]
    f = lambda x, y: (x - 1.0) ** 2 + (y + 0.5) ** 2  # noqa: E731
    fig = tp.plot.descent_paths(f, start=(2.0, 2.0), optimizers={"sgd": tp.optimizers.SGD(0.25)}, steps=30)
    end = fig.axes[0].lines[-1].get_xydata()[-1]
    np.testing.assert_allclose(end, [1.0, -0.5], atol=1e-6)
    with pytest.raises(ValueError, match="start"):
        tp.plot.descent_paths(f, optimizers={"sgd": "sgd"})


def test_diverging_path_stays_drawable(saved):
    fig = tp.plot.descent_paths("bowl", optimizers={"too high": tp.optimizers.SGD(1.5)}, steps=12)
    saved(fig, "diverge.png")
    pts = fig.paths["too high"][0]
    assert np.abs(pts[-1]).max() > 100 * np.abs(pts[0]).max()  # |1 - 2 lr| = 2: it doubles every step
    xlo, xhi = fig.axes[0].get_xlim()
    assert xhi - xlo <= 3 * (surfaces.bowl.x_range[1] - surfaces.bowl.x_range[0])
