"""A matplotlib backend for tests that stands in for a screen: it records what would have been shown.

Use with ``MPLBACKEND=module://tests.plot._recording_backend``; :data:`SHOWN` lists the shown figures.
"""

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

SHOWN = []


class FigureManager(FigureManagerBase):
    def show(self):
        SHOWN.append(self.canvas.figure)

    @classmethod
    def pyplot_show(cls, *, block=None):
        for manager in Gcf.get_all_fig_managers():
            manager.show()


class FigureCanvas(FigureCanvasAgg):
    manager_class = FigureManager
