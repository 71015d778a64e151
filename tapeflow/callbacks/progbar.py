"""Progress display: a Keras-style bar (``verbose=1``), one line per epoch (``verbose=2``), or silence (0).

``verbose="auto"`` picks the bar on an interactive terminal or in Jupyter and one line per epoch when output
goes to a file or a log, so logs never fill with carriage-return redraws. The bar redraws at most a few times
a second.
"""

from __future__ import annotations

import sys
import time

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
        return 1 if interactive or "ipykernel" in sys.modules else 2
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
        if finalize:
            timing = f"{_duration(elapsed)} {_per_step(elapsed / max(step, 1))}"
        elif self.target and step:
            timing = f"ETA: {_duration(elapsed / step * (self.target - step))}"
        else:
            timing = _duration(elapsed)
        line = f"{count} {bar} - {timing}{metrics}"
        pad = " " * max(self._drawn - len(line), 0)
        self._drawn = len(line)
        self.stream.write("\r" + line + pad + ("\n" if finalize else ""))
        self.stream.flush()


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

    def _out(self):
        return self.stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs")
        if self.verbose:
            self._out().write(f"Epoch {epoch + 1}/{epochs}\n")
        self._bar = Progbar(self.params.get("steps"), verbose=self.verbose, stream=self.stream)
        self._seen = 0

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
