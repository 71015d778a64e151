"""Callbacks that watch a logged quantity: EarlyStopping, ReduceLROnPlateau, ModelCheckpoint."""

from __future__ import annotations

import math
import os
import warnings

from tapeflow.callbacks.base import Callback

_MAX_WORDS = ("acc", "accuracy", "auc", "precision", "recall", "r2", "r2_score", "f1_score")


class _Monitor(Callback):
    """Shared logic: which quantity, whether bigger is better, and whether a value improves on the best."""

    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"`mode` must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
        self.monitor = monitor
        if mode == "auto":
            base = monitor[4:] if monitor.startswith("val_") else monitor
            mode = "max" if base in _MAX_WORDS or base.endswith(("_accuracy", "_auc", "_acc")) else "min"
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.best = None

    def _reset_best(self, initial=None):
        self.best = initial if initial is not None else (-math.inf if self.mode == "max" else math.inf)

    def _improved(self, value, reference=None):
        reference = self.best if reference is None else reference
        if self.mode == "max":
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def _current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__}: the monitored quantity '{self.monitor}' is not in the logs. "
                f"Available: "
                f"{sorted(logs or {})}",
                UserWarning,
                stacklevel=3,
            )
        return value


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` stops improving.

    Args:
        monitor: the quantity (default ``"val_loss"``).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies and AUC).
        baseline: a value the quantity must beat.
        restore_best_weights: at the end, put back the weights of the best epoch.
        start_from_epoch: epochs to wait before watching.

    Attributes:
        stopped_epoch: the epoch training stopped at (0 if it did not stop early).
        best_epoch: the epoch with the best value.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = int(patience), verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, int(start_from_epoch)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights = None
        self._reset_best()

    def on_epoch_end(self, epoch, logs=None):
        value = self._current(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(value):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor, mode, min_delta: as EarlyStopping (``min_delta`` default 1e-4).
        factor: the multiplier (< 1).
        patience: epochs without improvement before reducing.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the floor.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError(f"`factor` must be < 1. Received: factor={factor}")
        self.factor, self.patience, self.verbose = float(factor), int(patience), verbose
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self._reset_best()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.optimizer.learning_rate
        value = self._current(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best = value
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.optimizer.learning_rate
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:g}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class ModelCheckpoint(_Monitor):
    """Save the model (or its weights) during training, atomically: a temporary file is written, flushed to
    disk, then renamed over the target, so a crash never leaves a half-written checkpoint.

    Args:
        filepath: the path; may use ``{epoch}`` (1-based) and log keys: ``"ckpt-{epoch:02d}-{val_loss:.2f}"``.
        monitor: the quantity for ``save_best_only``.
        save_best_only: save only when ``monitor`` improves.
        save_weights_only: save weights (``model.save_weights``) rather than the whole model (``model.save``).
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        save_freq: ``"epoch"`` or a number of batches.
        initial_value_threshold: the value to beat at first.
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, 0)
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_best_only, self.save_weights_only = verbose, save_best_only, save_weights_only
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq <= 0):
            raise ValueError(
                f"`save_freq` must be 'epoch' or a positive integer. Received: save_freq={save_freq!r}"
            )
        self.save_freq = save_freq
        self._initial = initial_value_threshold
        self._batches = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._reset_best(self._initial)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self._epoch, logs, batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def _save(self, epoch, logs, batch=None):
        logs = dict(logs or {})
        if self.save_best_only:
            value = self._current(logs)
            if value is None or not self._improved(value):
                return
            if self.verbose:
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {value:.5f}, saving"
                )
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        if self.save_weights_only or not hasattr(self.model, "save"):
            self.model.save_weights(path)
        else:
            self.model.save(path)
