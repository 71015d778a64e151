"""Callbacks that log or set per-epoch values: CSVLogger and LearningRateScheduler."""

from __future__ import annotations

import csv
import inspect
import os

from tapeflow.callbacks.base import Callback


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` and every log value.

    Args:
        filename: the CSV path.
        separator: the column separator.
        append: add to an existing file instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self._file = None
        self._keys = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115 - kept open
        self._keys = None
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(
                self._file, fieldnames=["epoch", *self._keys], delimiter=self.sep, extrasaction="ignore"
            )
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)`` (or ``schedule(epoch)``).

    Example:
        >>> import tapeflow as tp
        >>> cb = tp.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
        >>> class M: optimizer = tp.optimizers.SGD(0.1)
        >>> cb.set_model(M())
        >>> cb.on_epoch_begin(0)
        >>> cb.model.optimizer.learning_rate
        0.05
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose
        try:
            self._two_args = len(inspect.signature(schedule).parameters) >= 2
        except (TypeError, ValueError):
            self._two_args = True

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = self.schedule(epoch, opt.learning_rate) if self._two_args else self.schedule(epoch)
        lr = float(lr)
        opt.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr:g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate
