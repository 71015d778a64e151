"""Progress display: a Keras-style bar (``verbose=1``), one line per epoch (``verbose=2``), or silence (0).

``verbose="auto"`` picks the bar on an interactive terminal or in Jupyter and one line per epoch when output
goes to a file or a log, so logs never fill with carriage-return redraws. The bar redraws at most a few times
a second.
"""

from __future__ import annotations

import sys
import time

from tapeflow._notebook import in_notebook
from tapeflow.callbacks.base import Callback

REFRESH_SECONDS = 0.25


def resolve_verbose(verbose) -> int:
    """0, 1 or 2 from ``verbose`` (``"auto"``: 1 on a terminal or in a notebook, else 2).

    Raises:
        ValueError: for anything else.
    """
    if verbose == "auto":
        stream = sys.stdout
        interactive = bool(getattr(stream, "isatty", lambda: False)())
        return 1 if interactive or in_notebook() else 2  # a kernel, not merely ipykernel imported
    if verbose in (0, 1, 2) and not isinstance(verbose, float):
        return int(verbose)
    raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")


def format_value(v) -> str:
    """Keras's number format: 4 decimals, or scientific notation for tiny values."""
    if isinstance(v, float) or hasattr(v, "__float__"):
        v = float(v)
        return f"{v:.4f}" if v == 0 or abs(v) >= 1e-3 else f"{v:.4e}"
    return str(v)


def _duration(seconds) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def _per_step(seconds) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _timing(step, target, elapsed, finalize) -> str:
    """The time part of a progress line: total and per step at the end, else the ETA (or the time so far)."""
    if finalize:
        return f"{_duration(elapsed)} {_per_step(elapsed / max(step, 1))}"
    if target and step:
        return f"ETA: {_duration(elapsed / step * (target - step))}"
    return _duration(elapsed)


class Progbar:
    """A progress bar for ``target`` steps.

    Args:
        target: the number of steps (None when unknown).
        width: characters in the bar.
        verbose: 1 redraws one line in place; 2 prints only the final line.
        stream: where to write (default ``sys.stdout``).

    Example:
        >>> import io
        >>> import tapeflow as tp
        >>> out = io.StringIO()
        >>> bar = tp.callbacks.Progbar(4, verbose=2, stream=out)
        >>> bar.update(4, {"loss": 0.25}, finalize=True)
        >>> out.getvalue().startswith("4/4 - ")
        True
    """

    def __init__(self, target, width=30, verbose=1, stream=None):
        self.target, self.width, self.verbose = target, width, verbose
        self.stream = stream or sys.stdout
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = 0

    def update(self, step, values=None, finalize=False):
        """Show progress at ``step`` with ``values`` (a dict of floats); ``finalize`` draws the closing
        line."""
        now = time.perf_counter()
        if self.verbose == 1 and not finalize and now - self._last_draw < REFRESH_SECONDS:
            return
        if self.verbose == 2 and not finalize:
            return
        self._last_draw = now
        elapsed = now - self._start
        metrics = "".join(f" - {k}: {format_value(v)}" for k, v in (values or {}).items())
        count = f"{step}/{self.target}" if self.target else f"{step}"
        if self.verbose == 2:
            line = f"{count} - {_duration(elapsed)} - {_per_step(elapsed / max(step, 1))}{metrics}"
            self.stream.write(line + "\n")
            self.stream.flush()
            return
        if self.target:
            digits = len(str(self.target))
            count = f"{step:>{digits}}/{self.target}"
            done = int(self.width * min(step, self.target) / self.target)
            bar = (
                "["
                + "=" * max(done - 1, 0)
                + (">" if done < self.width else "=")
                + "." * (self.width - done)
                + "]"
            )
            if step == 0:
                bar = "[" + "." * self.width + "]"
        else:
            bar = ""
        line = f"{count} {bar} - {_timing(step, self.target, elapsed, finalize)}{metrics}"
        pad = " " * max(self._drawn - len(line), 0)
        self._drawn = len(line)
        self.stream.write("\r" + line + pad + ("\n" if finalize else ""))
        self.stream.flush()


class NotebookProgress:
    """``fit``'s progress in a Jupyter notebook: one HTML block redrawn in place (never a wall of lines): the
    current epoch's bar, step count, time and metrics, and a table with one row per finished epoch.

    Has :class:`Progbar`'s ``update(step, values, finalize)``; :meth:`begin_epoch` starts each epoch.
    """

    def __init__(self, epochs):
        from tapeflow._notebook import LiveOutput

        self.epochs = epochs
        self.rows = []  # (epoch number, {metric: value}, seconds) per finished epoch
        self._output = LiveOutput()
        self._epoch, self.target = 0, None
        self._start = self._last_draw = 0.0

    def begin_epoch(self, epoch, target):
        self._epoch, self.target = epoch + 1, target
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self.update(0)

    def update(self, step, values=None, finalize=False):
        """Redraw at ``step`` (at most a few times a second; always when ``finalize`` ends the epoch)."""
        now = time.perf_counter()
        if not finalize and step and now - self._last_draw < REFRESH_SECONDS:
            return
        self._last_draw = now
        elapsed = now - self._start
        if finalize:
            self.rows.append((self._epoch, dict(values or {}), elapsed))
        self._output.show(_html_display(self.html(step, values or {}, elapsed, finalize)))

    def html(self, step, values, elapsed, finalize) -> str:
        """The block as HTML: the bar line, then the finished epochs' table."""
        import html

        count = f"{step}/{self.target}" if self.target else str(step)
        timing = _timing(step, self.target, elapsed, finalize)
        metrics = "".join(f" - {k}: {format_value(v)}" for k, v in values.items())
        bar = (f'<progress value="{step}" max="{self.target or max(step, 1)}" style="width:18em"></progress>')
        head = (f"<div><b>Epoch {self._epoch}/{self.epochs}</b> {bar} "
                f"<code>{html.escape(count + ' - ' + timing + metrics)}</code></div>")
        if not self.rows:
            return head
        names = list(dict.fromkeys(k for _, logs, _ in self.rows for k in logs))
        cell = 'style="text-align:right;padding:1px 8px;font-family:monospace"'
        header = "".join(f"<th {cell}>{html.escape(n)}</th>" for n in ["epoch", *names, "time"])
        body = "".join(
            f"<tr><td {cell}>{e}</td>"
            + "".join(f"<td {cell}>{format_value(logs[n]) if n in logs else ''}</td>" for n in names)
            + f"<td {cell}>{_duration(seconds)}</td></tr>"
            for e, logs, seconds in self.rows)
        return (f'{head}<div style="max-height:16em;overflow-y:auto"><table style="border-collapse:collapse">'
                f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>")


def _html_display(text):
    from IPython.display import HTML

    return HTML(text)


class ProgbarLogger(Callback):
    """Shows training progress: the bar or per-epoch lines (added by ``fit`` when ``verbose`` is not 0).

    Args:
        verbose: 1, 2 or ``"auto"`` (see :func:`resolve_verbose`).
    """

    def __init__(self, verbose="auto", stream=None):
        super().__init__()
        self.verbose = resolve_verbose(verbose)
        self.stream = stream
        self._bar = None
        self._mode = "train"
        # In Jupyter the bar is an HTML block redrawn in place (NotebookProgress) instead of text lines.
        self._in_notebook = self.verbose == 1 and stream is None and in_notebook()
        self._notebook = None

    def _out(self):
        return self.stream or sys.stdout

    def on_train_begin(self, logs=None):
        self._notebook = NotebookProgress(self.params.get("epochs")) if self._in_notebook else None

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs")
        self._seen = 0
        if self._notebook is not None:
            self._notebook.begin_epoch(epoch, self.params.get("steps"))
            self._bar = self._notebook
            return
        if self.verbose:
            self._out().write(f"Epoch {epoch + 1}/{epochs}\n")
        self._bar = Progbar(self.params.get("steps"), verbose=self.verbose, stream=self.stream)

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self.verbose == 1:
            self._bar.update(self._seen, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None and self.verbose:
            self._bar.update(self._seen, logs, finalize=True)

    def on_test_begin(self, logs=None):
        if self.params.get("_in_fit"):
            return
        self._test_bar = Progbar(self.params.get("steps"), verbose=self.verbose, stream=self.stream)
        self._test_seen = 0

    def on_test_batch_end(self, batch, logs=None):
        if self.params.get("_in_fit"):
            return
        self._test_seen = batch + 1
        if self.verbose == 1:
            self._test_bar.update(self._test_seen, logs)

    def on_test_end(self, logs=None):
        if not self.params.get("_in_fit") and self.verbose:
            self._test_bar.update(self._test_seen, logs, finalize=True)

    def on_predict_begin(self, logs=None):
        self._pred_bar = Progbar(self.params.get("steps"), verbose=self.verbose, stream=self.stream)
        self._pred_seen = 0

    def on_predict_batch_end(self, batch, logs=None):
        self._pred_seen = batch + 1
        if self.verbose == 1:
            self._pred_bar.update(self._pred_seen)

    def on_predict_end(self, logs=None):
        if self.verbose:
            self._pred_bar.update(self._pred_seen, finalize=True)
