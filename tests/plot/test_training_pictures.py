"""Pictures of trained networks: the data behind each is checked against the model, its history and NumPy."""

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.plot import networks
from tests.plot.conftest import need_matplotlib

need_matplotlib()


def _classifier(hidden=(8, 2)):
    layers = [tp.Input((2,))] + [tp.layers.Dense(u, activation="tanh") for u in hidden]
    return tp.Sequential(layers + [tp.layers.Dense(1, activation="sigmoid")])


@pytest.fixture(scope="module")
def moons():
    return tp.plot.two_moons(160, noise=0.1, seed=0)


@pytest.fixture(scope="module")
def trained(moons):
    x, y = moons
    tp.random.set_seed(0)
    model = _classifier()
    model.compile(optimizer=tp.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=40, batch_size=32, verbose=0, validation_data=(x[:40], y[:40]))
    return model, history


def test_history_plot_draws_the_history(trained, saved):
    _, history = trained
    fig = history.plot()
    saved(fig, "history.png")
    loss_ax, acc_ax = fig.axes
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), history.history["loss"])
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), history.history["val_loss"])
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), history.history["val_accuracy"])
    best = int(np.argmin(history.history["val_loss"]))
    marker = tuple(loss_ax.lines[2].get_xydata()[0])
    assert marker == (best + 1, pytest.approx(min(history.history["val_loss"])))


def test_model_diagram(trained, saved):
    model, _ = trained
    fig = tp.plot.model(model)
    saved(fig, "model.png")
    rows = fig.layers
    assert [r[2] for r in rows] == [(None, 2), (None, 8), (None, 2), (None, 1)]
    assert [r[3] for r in rows] == [0, 2 * 8 + 8, 8 * 2 + 2, 2 + 1]
    assert sum(r[3] for r in rows) == model.count_params()
    boxes = [t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").startswith("layer")]
    assert len(boxes) == 4 and boxes[0] == "input (None, 2)" and "params 24" in boxes[1]
    assert fig.edges == [(0, 1), (1, 2), (2, 3)]
    assert f"{model.count_params():,} parameters" in fig.axes[0].get_title()


def test_model_diagram_of_a_functional_graph(saved):
    a = tp.Input((2,))
    left = tp.layers.Dense(3, name="left")(a)
    right = tp.layers.Dense(4, name="right")(a)
    out = tp.layers.Dense(1, name="out")(tp.layers.Concatenate(name="join")([left, right]))
    fig = tp.plot.model(tp.Model(a, out))
    saved(fig, "functional.png")
    names = [r[0] for r in fig.layers]
    edges = {(names[i], names[j]) for i, j in fig.edges}
    first = names[0]
    assert edges == {(first, "left"), (first, "right"), ("left", "join"), ("right", "join"), ("join", "out")}
    arrows = [t for t in fig.axes[0].texts if t.get_gid() is None and t.arrow_patch is not None]
    assert len(arrows) == 5
    boxes = {t.get_gid(): t.get_position() for t in fig.axes[0].texts if t.get_gid()}
    left_xy, right_xy = boxes[f"layer{names.index('left')}"], boxes[f"layer{names.index('right')}"]
    assert left_xy[1] == right_xy[1] and left_xy[0] != right_xy[0]  # side by side: the two branches


def test_transformations_follow_the_layers(trained, moons, saved):
    model, _ = trained
    x, y = moons
    fig = tp.plot.transformations(model, x, y, grid_lines=5)
    saved(fig, "transformations.png")
    acts = fig.activations
    assert len(acts) == 1 + len(model.layers) and len(fig.axes) == len(acts)
    np.testing.assert_allclose(acts[0], x, rtol=1e-6)
    hidden2 = model.layers[1](model.layers[0](x)).numpy()
    np.testing.assert_allclose(acts[2], hidden2, rtol=1e-5, atol=1e-6)
    scatter = fig.axes[2].collections
    drawn = np.concatenate([c.get_offsets() for c in scatter])
    assert drawn.shape == (len(x), 2)
    # trained: in the last hidden layer the classes are separated by the output layer's line
    w, b = model.layers[-1].get_weights()
    side = (hidden2 @ w + b)[:, 0] > 0
    assert np.mean(side == (y == 1)) > 0.95
    line = [ln for ln in fig.axes[2].lines if ln.get_label() == "decision line"]
    assert len(line) == 1
    (x0, y0), (x1, y1) = line[0].get_xydata()
    np.testing.assert_allclose([x0 * w[0, 0] + y0 * w[1, 0] + b[0], x1 * w[0, 0] + y1 * w[1, 0] + b[0]], 0,
                               atol=1e-5)


def test_wide_layers_are_projected_with_pca(trained, moons):
    model, _ = trained
    x, y = moons
    fig = tp.plot.transformations(model, x, y, grid_lines=0)
    assert "PCA" in fig.axes[1].get_title()
    h = model.layers[0](x).numpy().astype(np.float64)
    pts = fig.activations[1]
    # the top two principal components keep the most variance: compare with NumPy's SVD
    s = np.linalg.svd(h - h.mean(0), compute_uv=False)
    np.testing.assert_allclose(np.sort(np.var(pts, axis=0) * len(h))[::-1], s[:2] ** 2, rtol=1e-4)
    with pytest.raises(ValueError, match="2-D points"):
        tp.plot.transformations(model, np.zeros((4, 3)), y[:4])


def test_loss_landscape_center_is_the_trained_loss(trained, moons, saved):
    model, _ = trained
    x, y = moons
    before = [w.copy() for w in model.get_weights()]
    fig = tp.plot.loss_landscape(model, x, y, resolution=5, span=0.5)
    saved(fig, "landscape.png")
    A, B, Z = fig.landscape
    assert Z.shape == (5, 5) and A[2, 2] == 0 and B[2, 2] == 0
    trained_loss = model.evaluate(x, y, verbose=0)
    trained_loss = trained_loss[0] if isinstance(trained_loss, (list, tuple)) else trained_loss
    assert Z[2, 2] == pytest.approx(trained_loss, rel=1e-4)
    assert Z.min() >= Z[2, 2] - 1e-3 or Z.mean() > Z[2, 2]  # a trained point sits low in its neighbourhood
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # weights restored


def test_filter_normalized_directions():
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 4)) * np.array([1.0, 10.0, 0.1, 5.0])
    bias = rng.standard_normal(4)
    d_kernel, d_bias = networks.filter_normalized_direction([kernel, bias], rng)
    np.testing.assert_allclose(np.linalg.norm(d_kernel, axis=0), np.linalg.norm(kernel, axis=0))
    np.testing.assert_array_equal(d_bias, 0)


def test_live_plot_during_fit(moons, tmp_path, saved):
    x, y = moons
    tp.random.set_seed(1)
    model = _classifier((4,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    path = tmp_path / "live.png"
    live = tp.callbacks.LivePlot(path=str(path), every=2)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[live])
    assert path.exists()
    saved(live.figure, "live_again.png")
    np.testing.assert_allclose(live.figure.axes[0].lines[0].get_ydata(), history.history["loss"])
    assert live.figure.get_suptitle() == "epoch 5"  # drawn again at the end (5 is not a multiple of 2)
    with pytest.raises(ValueError, match="every"):
        tp.callbacks.LivePlot(every=0)


def test_experiments_compare_same_start_and_curves_equal_histories(moons, saved):
    x, y = moons
    make = lambda: _classifier((8,))  # noqa: E731
    runs, fig = tp.experiments.compare(make, (x, y), optimizers=["sgd", "adam"], learning_rates=[0.05, 0.5],
                                       loss="binary_crossentropy", epochs=3, batch_size=32, seed=3)
    saved(fig, "experiments.png")
    assert list(runs) == ["sgd lr=0.05", "sgd lr=0.5", "adam lr=0.05", "adam lr=0.5"]
    lines = fig.axes[0].lines
    assert len(lines) == 4
    for line, history in zip(lines, runs.values()):
        np.testing.assert_array_equal(line.get_ydata(), history.history["loss"])


def test_experiments_start_every_run_from_the_same_weights(moons):
    x, y = moons
    calls = []

    def make():  # every call builds different weights: compare must overwrite them with the first run's
        calls.append(1)
        init = tp.initializers.Constant(0.1 * len(calls))
        return tp.Sequential([tp.Input((2,)), tp.layers.Dense(4, activation="tanh", kernel_initializer=init),
                              tp.layers.Dense(1, activation="sigmoid", kernel_initializer=init)])

    runs, _ = tp.experiments.compare(make, (x, y), optimizers=["sgd", "adam", "rmsprop"],
                                     learning_rates=[1e-9], loss="binary_crossentropy", epochs=1,
                                     batch_size=160, plot=False)
    first = [h.history["loss"][0] for h in runs.values()]
    assert len(calls) == 4  # one to take the initial weights, then one per run
    np.testing.assert_allclose(first, first[0], rtol=1e-6)
    alone = make()
    alone.set_weights([np.full_like(w, 0.1) if w.ndim == 2 else w for w in alone.get_weights()])
    alone.compile(loss="binary_crossentropy")
    assert first[0] == pytest.approx(alone.evaluate(x, y, verbose=0), rel=1e-5)


def test_experiments_learning_rate_lesson(moons):
    """One call shows it: too high diverges, a good rate learns, too low crawls."""
    x, y = moons
    make = lambda: tp.Sequential([tp.Input((2,)), tp.layers.Dense(1)])  # noqa: E731
    t = (x[:, :1] * 2.0 - x[:, 1:]).astype("float32")
    runs, fig = tp.experiments.compare(make, (x, t), learning_rates=[3.0, 0.1, 1e-4], loss="mse", epochs=6,
                                       batch_size=160, seed=0)
    high, good, low = (np.array(h.history["loss"]) for h in runs.values())
    assert not np.isfinite(high[-1]) or high[-1] > 10 * high[0]
    assert good[-1] < 0.2 * good[0]
    assert low[-1] > 0.95 * low[0]
    assert fig.axes[0].lines[0].get_label().endswith("(diverged)")
    with pytest.raises(TypeError, match="by name or class"):
        tp.experiments.compare(make, (x, t), optimizers=[tp.optimizers.SGD()], loss="mse", epochs=1,
                               plot=False)
    with pytest.raises(ValueError, match="loss"):
        tp.experiments.compare(make, (x, t), epochs=1, plot=False)


def test_live_plot_updates_one_notebook_output_in_place(monkeypatch):
    import sys
    import types

    shown = []

    class Handle:
        def update(self, fig):
            shown.append(("update", fig))

    def display(fig, display_id=False):
        shown.append(("display", fig))
        return Handle()

    fake = types.ModuleType("IPython.display")
    fake.display = display
    fake.Image = lambda data: ("png", data)
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    ipython = types.ModuleType("IPython")
    ipython.version_info = (9, 0)  # matplotlib looks at it
    ipython.display = fake
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    live = tp.callbacks.LivePlot(notebook=True)
    assert live.path is None  # in a notebook nothing is written unless asked
    for epoch, loss in enumerate([0.9, 0.6, 0.5]):
        live.on_epoch_end(epoch, {"loss": loss, "val_loss": loss + 0.1})
    live.on_train_end()
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    kind, data = shown[-1][1]
    assert kind == "png" and data == tp.plot._figure.png_bytes(live.figure)  # the latest epoch's picture
    np.testing.assert_allclose(live.figure.axes[0].lines[1].get_ydata(), [1.0, 0.7, 0.6])


@pytest.mark.parametrize("n_epochs", [1, 2, 7, 60])
def test_history_epoch_ticks_are_whole_numbers(n_epochs):
    # Trip-up 7: the demo's history.png with 1 epoch had ticks 0.945, 0.960, ... on the epoch axis.
    fig = tp.plot.history({"loss": [1.0 / (i + 1) for i in range(n_epochs)]})
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    shown = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert shown and all(float(t).is_integer() for t in shown), shown
