"""``BackupAndRestore``: a training run killed at any moment resumes, when started again, from the last
completed epoch — and, seeded, ends with exactly the weights of a run never interrupted.

At the end of every epoch the callback writes one archive (atomically: a kill mid-write leaves the previous
backup whole) holding everything the rest of the run depends on: the weights, the optimizer's slots and
iteration count, its learning rate, the global random generator's state (which draws the next epoch's
shuffle and dropout masks), the state of every layer's private generator (layers made with ``seed=``), and
the History so far. When ``fit`` starts with a backup present, the callback restores all of it (in
``on_train_begin``) and answers ``fit``'s :meth:`~tapeflow.callbacks.Callback.resume_epoch` with the next
epoch. After a run completes, the backup is deleted (``delete_checkpoint=True``).

Not restored: the internal counters of other callbacks (``EarlyStopping``'s patience, ``ReduceLROnPlateau``'s
wait), as in Keras; and data pipelines with their own random state (``tp.data`` shuffling with a fixed seed
repeats anyway).

Example:
    >>> import os, tempfile
    >>> import numpy as np, tapeflow as tp
    >>> folder = tempfile.mkdtemp()
    >>> tp.random.set_seed(0)
    >>> model = tp.Sequential([tp.layers.Dense(1, input_shape=(2,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> backup = tp.callbacks.BackupAndRestore(folder)
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=3, callbacks=[backup], verbose=0)
    >>> os.listdir(folder)  # a completed run deletes its backup
    []
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from tapeflow.callbacks.base import Callback
from tapeflow.saving import archive, model_io, rng_state, safetensors_io
from tapeflow.saving.errors import FileFormatError

FILENAME = "backup.tapeflow"


class BackupAndRestore(Callback):
    """Back up the whole training state each epoch; resume from it when ``fit`` starts again.

    Args:
        backup_dir: a folder for the backup (created if needed); use one per training run.
        save_freq: ``"epoch"`` (the only choice: a resumed run restarts at an epoch boundary).
        delete_checkpoint: delete the backup when training completes.

    Raises:
        ValueError: for another ``save_freq``.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(f"`save_freq` must be 'epoch' (a run resumes at an epoch boundary). "
                             f"Received: save_freq={save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self._epochs_completed = 0  # by the restored backup

    @property
    def path(self) -> str:
        """The backup file."""
        return os.path.join(self.backup_dir, FILENAME)

    def on_train_begin(self, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        self._epochs_completed = 0
        if os.path.exists(self.path):
            self._epochs_completed = self._restore()

    def resume_epoch(self, epoch):
        """The epoch after the restored backup (``epoch`` when there was none, or it is later)."""
        return max(epoch, self._epochs_completed)

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        state = {
            "epochs_completed": epoch + 1,
            "rng": rng_state.capture(model),
            "history": {"epoch": list(model.history.epoch), "history": model.history.history}
            if getattr(model, "history", None) is not None else None,
            "learning_rate": _plain_lr(model.optimizer),
        }
        meta = archive.new_metadata("backup", epoch=epoch + 1, seed=state["rng"]["seed"])
        weights = model_io.weight_arrays(model)
        members = {
            "metadata.json": archive.dumps_json(meta),
            "training_state.json": archive.dumps_json(_json_safe(state)),
            model_io.WEIGHTS: lambda f: safetensors_io.write(f, weights),
        }
        if model.optimizer is not None and model.optimizer.iterations > 0:
            slots = model_io.optimizer_arrays(model.optimizer, model)
            members[model_io.OPTIMIZER] = lambda f: safetensors_io.write(f, slots)
        archive.write_archive(self.path, members)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)

    def _restore(self):
        """Put the backup's state into the model; return the number of epochs it completed."""
        model, what = self.model, repr(self.path)
        with archive.open_archive(self.path, lazy=archive.ARRAY_MEMBERS) as members:
            if (members["metadata.json"]["kind"] != "backup" or "training_state.json" not in members
                    or model_io.WEIGHTS not in members):
                raise FileFormatError(f"{what} is not a training backup")
            state = archive.loads_json(members["training_state.json"], f"{what}: training_state.json")
            if not isinstance(state, dict):
                raise FileFormatError(f"{what}: training_state.json is not an object")
            model_io.load_members_into(model, members, what)
        if isinstance(state.get("learning_rate"), float):
            model.optimizer.learning_rate = state["learning_rate"]
        rng_state.restore(model, state.get("rng"), what)
        past = state.get("history")
        if past and getattr(model, "history", None) is not None:
            model.history.epoch[:0] = list(past["epoch"])
            for key, values in past["history"].items():
                model.history.history.setdefault(key, [])[:0] = values
        done = state.get("epochs_completed")
        if not isinstance(done, int) or isinstance(done, bool) or done < 0:
            raise FileFormatError(f"{what}: invalid epochs_completed {done!r}")
        return done


def _plain_lr(optimizer):
    if optimizer is None or callable(optimizer._learning_rate):
        return None
    return float(optimizer._learning_rate)


def _json_safe(obj):
    """History values may be NumPy scalars or arrays (per-class metrics): make them JSON lists and floats."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
