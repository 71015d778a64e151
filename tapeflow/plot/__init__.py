"""Pictures of deep learning: training curves, loss surfaces, descent paths, the tape as a graph, and more.

Every function returns a matplotlib Figure (matplotlib is the optional extra ``plot``, imported on
first use), draws on a given ``ax`` when passed one, works headless, and saves PNG or SVG with ``save=path``
or :func:`save`.
"""

from tapeflow.plot._figure import figure, save
from tapeflow.plot.calculus import derivative, vectors
from tapeflow.plot.curves import compare, history, learning_rate
from tapeflow.plot.graph import tape
from tapeflow.plot.networks import loss_landscape, model, transformations
from tapeflow.plot.surfaces import SURFACES, Surface, descend, descent_paths, loss_surface
from tapeflow.plot.toydata import circles, two_moons

__all__ = [
    "figure", "save", "history", "compare", "learning_rate", "derivative", "vectors", "tape", "two_moons",
    "circles",
    "SURFACES", "Surface", "descend", "descent_paths", "loss_surface", "model", "transformations",
    "loss_landscape",
]
