"""Callbacks (``tp.callbacks``): hooks into ``fit``/``evaluate``/``predict``.

History, EarlyStopping, ModelCheckpoint, LearningRateScheduler, ReduceLROnPlateau, CSVLogger, TerminateOnNaN,
LambdaCallback, ProgbarLogger, TensorBoard, SwapEMAWeights, and the :class:`Callback` base to write your own;
:class:`TrainingHooks`, the interface through which a strategy changes how the loops run
(:mod:`tapeflow.callbacks.hooks`).

Example:
    >>> import tapeflow as tp
    >>> stop = tp.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    >>> stop.mode
    'min'
"""

from tapeflow.callbacks.base import (
    Callback,
    CallbackList,
    History,
    LambdaCallback,
    SwapEMAWeights,
    TerminateOnNaN,
)
from tapeflow.callbacks.hooks import TrainingHooks
from tapeflow.callbacks.logging import CSVLogger, LearningRateScheduler
from tapeflow.callbacks.monitor import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from tapeflow.callbacks.progbar import Progbar, ProgbarLogger, resolve_verbose
from tapeflow.callbacks.tensorboard import TensorBoard

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "LambdaCallback",
    "TerminateOnNaN",
    "CSVLogger",
    "LearningRateScheduler",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "Progbar",
    "ProgbarLogger",
    "resolve_verbose",
    "TensorBoard",
    "SwapEMAWeights",
    "TrainingHooks",
]
__all__ += ["BackupAndRestore", "LivePlot"]  # noqa: F822 - defined in saving.backup / plot.live, loaded on use


def __getattr__(name):
    if name == "LivePlot":
        from tapeflow.plot.live import LivePlot

        return LivePlot
    if name == "BackupAndRestore":
        from tapeflow.saving.backup import BackupAndRestore

        return BackupAndRestore
    raise AttributeError(f"module 'tapeflow.callbacks' has no attribute {name!r}")
