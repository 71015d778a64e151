"""``tp.callbacks.LivePlot``: training curves redrawn at the end of every epoch."""

from __future__ import annotations

from types import SimpleNamespace

from tapeflow._notebook import LiveOutput, in_notebook
from tapeflow.callbacks.base import Callback


class LivePlot(Callback):
    """Redraw the training and validation curves each epoch: in place in a notebook, into a PNG elsewhere.

    The picture is :func:`tapeflow.plot.history` of the epochs so far (best epoch marked).

    Args:
        metrics: base metric names to show (default: all logged).
        path: where to write the PNG (default ``"training_curves.png"`` outside a notebook; None in one).
        every: redraw every this many epochs (and always at the end).
        notebook: force (True) or prevent (False) in-notebook display; default: detect a Jupyter kernel.

    Attributes:
        figure: the latest Figure; history: ``{name: [value per epoch]}`` seen so far.

    Example:
        >>> import tapeflow as tp, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
        >>> live = tp.callbacks.LivePlot(path=path)
        >>> for epoch, loss in enumerate([0.9, 0.5, 0.4]):
        ...     live.on_epoch_end(epoch, {"loss": loss})
        >>> os.path.exists(path), live.figure.axes[0].lines[0].get_ydata().tolist()
        (True, [0.9, 0.5, 0.4])
    """

    def __init__(self, metrics=None, path=None, every=1, notebook=None):
        super().__init__()
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        self.notebook = in_notebook() if notebook is None else bool(notebook)
        self.path = path if path is not None or self.notebook else "training_curves.png"
        self.metrics = metrics
        self.every = every
        self.history, self.epoch, self.figure = {}, [], None
        self._output = None
        self._drawn = -1

    def on_train_begin(self, logs=None):
        self.history, self.epoch, self._drawn = {}, [], -1

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        if len(self.epoch) % self.every == 0:
            self._draw()

    def on_train_end(self, logs=None):
        if self.epoch and self._drawn != len(self.epoch):
            self._draw()

    def _draw(self):
        from tapeflow import plot
        from tapeflow.plot import _figure

        run = SimpleNamespace(history=self.history, epoch=self.epoch)
        self.figure = plot.history(run, metrics=self.metrics, title=f"epoch {len(self.epoch)}")
        self._drawn = len(self.epoch)
        # One picture, replaced each epoch: each epoch's figure leaves pyplot, so neither the notebook cell's
        # end nor plt.show() shows every epoch's figure again.
        _figure.detach(self.figure)
        if self.notebook:
            from IPython.display import Image

            self._output = self._output or LiveOutput()
            self._output.show(Image(data=_figure.png_bytes(self.figure)))
        if self.path is not None:
            plot.save(self.figure, self.path)
