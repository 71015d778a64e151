"""The TensorBoard callback: event files with the epoch (and batch) metrics, weight histograms and the model's
graph, which TensorBoard shows (``tensorboard --logdir logs``). Written by tapeflow's own small event writer
(``tapeflow.callbacks._event_file``): neither TensorFlow nor TensorBoard is needed to write them."""

from __future__ import annotations

import os
import time

import numpy as np

from tapeflow.callbacks._event_file import EventFileWriter
from tapeflow.callbacks.base import Callback


def _scalar(value):
    try:
        arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(arr) if arr.size == 1 else None


def _inputs_of(inbound_nodes):
    """The layer names in a functional config's ``inbound_nodes`` (``[name, node, tensor]`` triples)."""
    names, stack = [], [inbound_nodes]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            if len(item) == 3 and isinstance(item[0], str) and all(isinstance(i, int) for i in item[1:]):
                names.append(item[0])
            else:
                stack.extend(reversed(item))
    return names


def model_graph(model):
    """``(name, op, [input names])`` for every layer of ``model``: the functional graph's edges when the model
    has one, else the layers in a chain."""
    try:
        config = model.get_config()
    except (NotImplementedError, TypeError, ValueError):
        config = None
    specs = (config or {}).get("layers") or []
    if specs and all("inbound_nodes" in s for s in specs):
        return [(s.get("name") or s["config"]["name"], s["class_name"], _inputs_of(s["inbound_nodes"]))
                for s in specs]
    nodes, previous = [], []
    for layer in model.layers:
        nodes.append((layer.name, type(layer).__name__, previous))
        previous = [layer.name]
    return nodes


class TensorBoard(Callback):
    """Log training to TensorBoard event files under ``log_dir/train`` and ``log_dir/validation``.

    Scalars are tagged as Keras tags them: ``epoch_loss``, ``epoch_accuracy``, ... (validation values, logged
    without their ``val_`` prefix, in the validation folder), ``epoch_learning_rate``, and ``batch_<name>``
    with ``update_freq``.

    Args:
        log_dir: the folder of the logs.
        histogram_freq: every this many epochs, a histogram of each weight (tag ``<weight name>/histogram``);
            0: none.
        write_graph: write the model's layer graph (TensorBoard's Graphs tab).
        write_steps_per_second: also log ``epoch_steps_per_second``.
        update_freq: ``"epoch"`` (default), ``"batch"`` or an int ``n``: also log the batch metrics every
            ``n`` batches (as ``batch_loss``, ...).
        write_images, profile_batch, embeddings_freq, embeddings_metadata: Keras's; not supported (they must
            keep their defaults).

    Example:
        >>> import tempfile, numpy as np, tapeflow as tp
        >>> model = tp.Sequential([tp.Input((3,)), tp.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> logs = tempfile.mkdtemp()
        >>> _ = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0,
        ...               callbacks=[tp.callbacks.TensorBoard(logs, histogram_freq=1)])
        >>> sorted(os.listdir(logs))
        ['train']
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        unsupported = {"write_images": (write_images, False), "profile_batch": (profile_batch, 0),
                       "embeddings_freq": (embeddings_freq, 0),
                       "embeddings_metadata": (embeddings_metadata, None)}
        for key, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(f"TensorBoard: `{key}` is not supported by tapeflow's TensorBoard callback "
                                 f"(leave it at {default!r}). Received: {key}={value!r}")
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"`histogram_freq` must be a non-negative integer. Received: {histogram_freq!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq < 1):
            raise ValueError(f"`update_freq` must be 'epoch', 'batch' or a positive integer. "
                             f"Received: update_freq={update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph = histogram_freq, bool(write_graph)
        self.write_steps_per_second, self.update_freq = bool(write_steps_per_second), update_freq
        self._writers = {}
        self._step = 0

    def _writer(self, kind):
        if kind not in self._writers:
            self._writers[kind] = EventFileWriter(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_train_begin(self, logs=None):
        self._step = 0
        if self.write_graph:
            self._writer("train").add_graph(model_graph(self.model))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch_steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self._epoch_steps = getattr(self, "_epoch_steps", 0) + 1
        if self.update_freq != "epoch" and self._step % self.update_freq == 0:
            writer = self._writer("train")
            for key, value in (logs or {}).items():
                v = _scalar(value)
                if v is not None:
                    writer.add_scalar(f"batch_{key}", v, self._step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = self._writer("train")
        for key, value in logs.items():
            v = _scalar(value)
            if v is None:
                continue
            if key.startswith("val_"):
                self._writer("validation").add_scalar(f"epoch_{key[4:]}", v, epoch)
            else:
                train.add_scalar(f"epoch_{key}", v, epoch)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and "learning_rate" not in logs:
            train.add_scalar("epoch_learning_rate", optimizer.learning_rate, epoch)
        if self.write_steps_per_second and hasattr(self, "_epoch_start"):
            seconds = time.perf_counter() - self._epoch_start
            train.add_scalar("epoch_steps_per_second", self._epoch_steps / max(seconds, 1e-9), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for weight in self.model.weights:
                train.add_histogram(f"{weight.name}/histogram", weight.numpy(), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
