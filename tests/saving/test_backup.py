"""BackupAndRestore: a run interrupted at any point and started again resumes from the last completed epoch
and ends with exactly the weights (and History) of an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tapeflow as tp

HERE = Path(__file__).resolve().parent


class Crash(Exception):
    pass


class CrashAt(tp.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise Crash(f"crashed after epoch {self.epoch}")


def _run(backup_dir, epochs=6, crash_at=None, seeded_dropout=True):
    """The same seeded script each time: build, compile, fit with a backup."""
    tp.random.set_seed(7)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = rng.standard_normal((64, 2)).astype("float32")
    model = tp.Sequential([tp.Input(shape=(5,)), tp.layers.Dense(8, activation="tanh"),
                           tp.layers.Dropout(0.25),
                           tp.layers.Dropout(0.25, seed=3 if seeded_dropout else None),
                           tp.layers.Dense(2)])
    model.compile(optimizer=tp.optimizers.Adam(0.01), loss="mse")
    callbacks = [tp.callbacks.BackupAndRestore(backup_dir)] + ([CrashAt(crash_at)] if crash_at else [])
    history = model.fit(x, y, batch_size=16, epochs=epochs, callbacks=callbacks, verbose=0)
    return model, history


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    reference, ref_history = _run(tmp_path / "ref")
    for crash_at in (1, 3, 5, 6):
        folder = tmp_path / f"crash{crash_at}"
        with pytest.raises(Crash):
            _run(folder, crash_at=crash_at)
        assert (folder / "backup.tapeflow").exists()
        model, history = _run(folder)
        assert history.epoch == list(range(6))
        assert history.history["loss"] == ref_history.history["loss"]
        for a, b in zip(reference.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert model.optimizer.iterations == reference.optimizer.iterations == 24
        assert os.listdir(folder) == []  # a completed run deletes its backup


def test_without_backup_a_restart_would_differ(tmp_path):
    """The control: a restart that ignores the backup does not reproduce the reference."""
    reference, _ = _run(tmp_path / "ref", epochs=4)
    with pytest.raises(Crash):
        _run(tmp_path / "c", epochs=4, crash_at=2)
    restarted, _ = _run(tmp_path / "fresh", epochs=2)  # the naive "train what is left" restart
    assert any(not np.array_equal(a, b) for a, b in zip(reference.get_weights(), restarted.get_weights()))


def test_backup_keeps_when_asked_and_validates_arguments(tmp_path):
    model, _ = _run(tmp_path / "b", epochs=1)
    cb = tp.callbacks.BackupAndRestore(tmp_path / "keep", delete_checkpoint=False)
    model.fit(np.ones((4, 5)), np.ones((4, 2)), callbacks=[cb], verbose=0)
    assert (tmp_path / "keep" / "backup.tapeflow").exists()
    with pytest.raises(ValueError, match="`save_freq` must be 'epoch'"):
        tp.callbacks.BackupAndRestore(tmp_path, save_freq=10)


def _start(folder, epochs):
    return subprocess.Popen([sys.executable, str(HERE / "backup_child.py"), str(folder), str(epochs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(child):
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return out


def test_kill_9_at_random_moments_then_resume(tmp_path):
    """kill -9 a training script at random moments, restart it each time; it ends exactly like a run never
    killed."""
    epochs = 16
    reference = tmp_path / "reference"
    reference.mkdir()
    assert _finish(_start(reference, epochs)).split()[-1] == "done"

    folder = tmp_path / "killed"
    folder.mkdir()
    rng = random.Random(11)
    kills, resumed_mid_run = 0, 0
    while kills < 5:
        child = _start(folder, epochs)
        assert child.stdout.readline().strip() == "start"
        seen = [child.stdout.readline().strip() for _ in range(rng.randint(0, 2))]
        if "done" in seen or (seen and seen[-1] == ""):
            break
        time.sleep(rng.uniform(0.0, 0.06))  # anywhere: mid-epoch, mid-backup-write, between the two
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()
        kills += 1
        resumed_mid_run += (folder / "backup" / "backup.tapeflow").exists()
    out = _finish(_start(folder, epochs))
    assert "done" in out
    assert resumed_mid_run >= 3, "most kills must land mid-run, after a backup"
    for name in ("final.safetensors", "history.safetensors"):
        a, b = tp.saving.load_arrays(reference / name), tp.saving.load_arrays(folder / name)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert not (folder / "backup" / "backup.tapeflow").exists()
