"""Draw docs/gallery/*.png: one picture from each tapeflow.plot function.

Usage:
    python docs/gallery/make_gallery.py            # full size, into docs/gallery/
    python docs/gallery/make_gallery.py --small --out /tmp/gallery   # what the tests run (seconds)

Every picture comes from real tapeflow runs: the curves from ``fit``, the descent paths from the optimizers on
the tape, the landscape from a trained network.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import tapeflow as tp


def classifier(hidden=(3, 2), activation="tanh"):
    """A small classifier of 2-D points whose last hidden layer has 2 units (so it can be drawn directly)."""
    layers = [tp.Input((2,))]
    layers += [tp.layers.Dense(units, activation=activation) for units in hidden]
    layers.append(tp.layers.Dense(1, activation="sigmoid"))
    return tp.Sequential(layers, name="moons_classifier")


def trained_classifier(x, y, epochs, validation_data=None):
    tp.random.set_seed(0)
    model = classifier()
    model.compile(optimizer=tp.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=32, validation_data=validation_data, verbose=0)
    return model, history


def draw(out: Path, small: bool = False) -> list[Path]:
    """Draw every gallery picture into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    n, epochs, res, steps = (120, 15, 9, 25) if small else (400, 60, 31, 60)
    written = []

    def save(fig, name, dpi=100):
        written.append(Path(tp.plot.save(fig, out / name, dpi=dpi)))

    # calculus pictures
    save(tp.plot.derivative(tp.tanh, (-3, 3), at=[-1.5, 0.0, 1.0]), "derivative.png")
    save(tp.plot.vectors([3.0, 1.0], [1.0, 3.0]), "vectors.png")

    # loss surfaces and gradient descent on them
    save(tp.plot.loss_surface("himmelblau", resolution=40 if small else 120), "loss_surface.png")
    save(tp.plot.descent_paths("valley", steps=steps, optimizers={
        "SGD lr=0.45 (zig-zags)": tp.optimizers.SGD(0.45),
        "SGD + momentum 0.8, lr=0.05": tp.optimizers.SGD(0.05, momentum=0.8),
        "Adam lr=0.3": tp.optimizers.Adam(0.3),
    }), "descent_paths.png")
    fig = tp.plot.figure((14.0, 8.5))  # six surfaces, drawn on the axes we pass
    axs = [fig.add_subplot(2, 3, i + 1) for i in range(6)]
    for a, name in zip(axs, tp.plot.SURFACES):  # SGD, momentum, RMSprop, Adam at each surface's learning rate
        tp.plot.descent_paths(name, steps=steps * 2, ax=a, resolution=40 if small else 80)
    save(fig, "surfaces.png", dpi=72)

    # the tape
    w = tp.Variable([[0.5, -1.0], [1.5, 0.3]], name="w")
    b = tp.Variable([0.1, -0.2], name="b")
    x = tp.constant([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])
    with tp.GradientTape(persistent=True) as tape:
        loss = tp.mean(tp.square(tp.relu(tp.matmul(x, w) + b) - 1.0))
    save(tape.graph(loss), "tape_graph.png")

    # networks: a classifier learning two moons
    x_train, y_train = tp.plot.two_moons(n, noise=0.12, seed=0)
    x_val, y_val = tp.plot.two_moons(n // 2, noise=0.12, seed=1)
    model, history = trained_classifier(x_train, y_train, epochs, validation_data=(x_val, y_val))
    save(history.plot(), "history.png")
    save(tp.plot.model(model), "model.png")
    save(tp.plot.transformations(model, x_train, y_train), "transformations.png")
    save(tp.plot.loss_landscape(model, x_train, y_train, resolution=res, span=1.0), "loss_landscape.png")

    # LivePlot: the curves redrawn every few epochs while a model learns two circles
    x_circles, y_circles = tp.plot.circles(n, noise=0.08, seed=0)
    live = tp.callbacks.LivePlot(path=str(out / "liveplot.png"), every=max(epochs // 4, 1))
    tp.random.set_seed(0)
    circles_model = classifier(hidden=(8,), activation="relu")
    circles_model.compile(optimizer=tp.optimizers.Adam(0.02), loss="binary_crossentropy",
                          metrics=["accuracy"])
    circles_model.fit(x_circles, y_circles, epochs=epochs, batch_size=32, verbose=0, callbacks=[live],
                      validation_data=tp.plot.circles(n // 2, noise=0.08, seed=1))
    written.append(out / "liveplot.png")

    # experiments: the same start, three learning rates on a least-squares fit (a quadratic bowl, where a rate
    # too high truly diverges; 8 epochs keep the diverging run's loss finite)
    def line_target(x):
        return 2 * x[:, :1] - x[:, 1:]

    runs, fig = tp.experiments.compare(
        lambda: tp.Sequential([tp.Input((2,)), tp.layers.Dense(1)]), (x_train, line_target(x_train)),
        optimizers=["sgd"], learning_rates=[0.8, 0.1, 0.001], loss="mse", epochs=8, batch_size=32,
        validation_data=(x_val, line_target(x_val)), seed=0,
    )
    save(fig, "compare.png")
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent), help="output folder")
    parser.add_argument("--small", action="store_true", help="small settings (for tests)")
    args = parser.parse_args(argv)
    written = draw(Path(args.out), small=args.small)
    for path in written:
        print(os.path.relpath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
