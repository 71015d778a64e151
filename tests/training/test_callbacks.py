"""Callbacks: EarlyStopping, ReduceLROnPlateau, ModelCheckpoint (atomic), CSVLogger, LearningRateScheduler,
LambdaCallback, History, and the progress bar's refresh limit."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import callbacks as C
from tapeflow import layers as L


class FakeModel:
    def __init__(self):
        self.stop_training = False
        self.optimizer = tp.optimizers.SGD(1.0)
        self.weights = [np.array([0.0])]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def drive(cb, values, key="val_loss"):
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin({})
    stopped = None
    for epoch, v in enumerate(values):
        model.weights = [np.array([float(epoch)])]
        cb.on_epoch_end(epoch, {key: v})
        if model.stop_training:
            stopped = epoch
            break
    cb.on_train_end({})
    return model, stopped


def test_early_stopping_patience_and_restore():
    cb = C.EarlyStopping(patience=2, restore_best_weights=True)
    model, stopped = drive(cb, [1.0, 0.5, 0.6, 0.7, 0.2])
    assert stopped == 3 and cb.best_epoch == 1 and model.weights[0][0] == 1.0
    cb = C.EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05)
    assert cb.mode == "max"
    _, stopped = drive(cb, [0.5, 0.52, 0.9], key="val_accuracy")
    assert stopped == 1
    with pytest.warns(UserWarning, match="'val_loss' is not in the logs. Available: \\['loss'\\]"):
        drive(C.EarlyStopping(), [1.0], key="loss")


def test_reduce_lr_on_plateau():
    cb = C.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.3, cooldown=1)
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    lrs = []
    for epoch, v in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        logs = {"val_loss": v}
        cb.on_epoch_end(epoch, logs)
        lrs.append(model.optimizer.learning_rate)
    assert lrs == [
        1.0,
        1.0,
        0.5,
        0.5,
        0.3,
        0.3,
        0.3,
    ]  # Keras: the cooldown epoch itself counts toward patience


def small_model():
    model = tp.Sequential([tp.Input(shape=(2,)), L.Dense(4, activation="relu"), L.Dense(1)])
    model.compile(optimizer=tp.optimizers.SGD(0.05), loss="mse")
    return model


DATA = (
    np.random.default_rng(0).normal(size=(64, 2)).astype("float32"),
    np.random.default_rng(1).normal(size=(64, 1)).astype("float32"),
)


def test_model_checkpoint_formats_paths_and_saves_best(tmp_path):
    model = small_model()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{loss:.3f}.weights")
    cb = C.ModelCheckpoint(pattern, monitor="loss", save_best_only=True, save_weights_only=True)
    history = model.fit(*DATA, epochs=3, verbose=0, callbacks=[cb])
    files = sorted(os.listdir(tmp_path))
    losses = history.history["loss"]
    improved = [i for i in range(3) if losses[i] == min(losses[: i + 1])]
    assert files == [f"ckpt-{i + 1:02d}-{losses[i]:.3f}.weights" for i in improved]
    clone = small_model()
    clone.load_weights(tmp_path / files[-1])
    np.testing.assert_array_equal(clone.get_weights()[0], model.get_weights()[0])


def test_model_checkpoint_is_atomic(tmp_path, monkeypatch):
    model = small_model()
    path = tmp_path / "best.weights"
    cb = C.ModelCheckpoint(str(path), monitor="loss", save_weights_only=True)
    model.fit(*DATA, epochs=1, verbose=0, callbacks=[cb])
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        model.fit(*DATA, epochs=1, verbose=0, callbacks=[cb])
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["best.weights"]  # and no temporary file is left behind


def test_csv_logger_and_lr_scheduler(tmp_path):
    model = small_model()
    log = tmp_path / "log.csv"
    sched = C.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(*DATA, epochs=3, verbose=0, callbacks=[sched, C.CSVLogger(str(log))])
    rows = list(csv.DictReader(open(log)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([0.1, 0.05, 0.1 / 3])
    np.testing.assert_allclose([float(r["loss"]) for r in rows], history.history["loss"], rtol=1e-12)
    assert model.optimizer.learning_rate == pytest.approx(0.1 / 3)


def test_lambda_callback_and_hook_order():
    events = []
    cb = C.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda e, logs: events.append(f"epoch{e}"),
        on_batch_end=lambda b, logs: events.append("batch"),
        on_test_end=lambda logs: events.append("test_end"),
        on_train_end=lambda logs: events.append("train_end"),
    )
    small_model().fit(*DATA, epochs=2, batch_size=32, verbose=0, validation_data=DATA, callbacks=[cb])
    assert events == [
        "train_begin",
        "epoch0",
        "batch",
        "batch",
        "test_end",
        "epoch1",
        "batch",
        "batch",
        "test_end",
        "train_end",
    ]
    with pytest.raises(ValueError, match="unknown hook 'on_epoch_finish'"):
        C.LambdaCallback(on_epoch_finish=print)


def test_history_plot_delegates_to_tp_plot(monkeypatch):
    seen = {}
    import tapeflow.plot as plot

    monkeypatch.setattr(plot, "history", lambda h, **kw: seen.update(h=h, kw=kw) or "figure")
    h = C.History()
    assert h.plot(metrics=["loss"]) == "figure" and seen["h"] is h and seen["kw"] == {"metrics": ["loss"]}


def test_progbar_refreshes_at_most_a_few_times_a_second():
    out = io.StringIO()
    bar = C.Progbar(10_000, verbose=1, stream=out)
    for step in range(1, 10_001):
        bar.update(step, {"loss": 1.0})
    bar.update(10_000, {"loss": 1.0}, finalize=True)
    assert out.getvalue().count("\r") <= 5  # a fast loop draws once, plus the final line
    assert out.getvalue().endswith("loss: 1.0000\n")
    with pytest.raises(ValueError, match="`verbose` must be 0, 1, 2 or 'auto'"):
        C.resolve_verbose(3)
