"""The TensorBoard callback's event files, read back by TensorBoard's own reader (the ``tensorboard``
package, a dev dependency), and the record framing checked byte by byte."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.callbacks import _event_file as E

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="the dev extra (tensorboard) is missing")


def _accumulator(folder):
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    return x, (x[:, :1] > 0).astype("float32")


def test_scalars_histograms_and_graph_are_read_back_by_tensorboard(tmp_path):
    x, y = _data()
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input((4,)), tp.layers.Dense(8, activation="relu", name="hidden"),
                           tp.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(tp.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[tp.callbacks.TensorBoard(tmp_path, histogram_freq=1, update_freq=2,
                                                            write_steps_per_second=True)])
    train, val = _accumulator(tmp_path / "train"), _accumulator(tmp_path / "validation")
    tags = train.Tags()
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "batch_loss",
            "epoch_steps_per_second"} <= set(tags["scalars"])
    losses = train.Scalars("epoch_loss")
    assert [e.step for e in losses] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in losses], history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in val.Scalars("epoch_loss")], history.history["val_loss"],
                               rtol=1e-6)
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]  # 9 batches in all, every 2nd
    assert train.Scalars("epoch_learning_rate")[0].value == pytest.approx(0.01)
    assert set(tags["histograms"]) == {f"{w.name}/histogram" for w in model.weights}
    kernel = model.layers[0].kernel.numpy()
    last = train.Histograms("hidden/kernel/histogram")[-1].histogram_value
    assert last.num == kernel.size and last.min == pytest.approx(kernel.min()) \
        and last.max == pytest.approx(kernel.max()) and sum(last.bucket) == kernel.size
    assert last.sum == pytest.approx(kernel.sum(), rel=1e-5)
    graph = train.Graph()
    assert [(n.name, n.op, list(n.input)) for n in graph.node] == [("hidden", "Dense", []),
                                                                  ("out", "Dense", ["hidden"])]


def test_functional_graph_has_its_edges(tmp_path):
    a = tp.Input((3,), name="x")
    b, c = tp.layers.Dense(2, name="left")(a), tp.layers.Dense(2, name="right")(a)
    model = tp.Model(a, tp.layers.Add(name="join")([b, c]))
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1, verbose=0,
              callbacks=[tp.callbacks.TensorBoard(tmp_path)])
    nodes = {n.name: (n.op, list(n.input)) for n in _accumulator(tmp_path / "train").Graph().node}
    assert nodes["join"] == ("Add", ["left", "right"]) and nodes["left"] == ("Dense", ["x"])
    assert not (tmp_path / "validation").exists()


def test_records_are_framed_with_masked_crc32c(tmp_path):
    with E.EventFileWriter(tmp_path) as writer:
        writer.add_scalar("loss", 1.5, step=3)
    data = open(writer.path, "rb").read()
    records, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        (len_crc,) = struct.unpack_from("<I", data, pos + 8)
        assert len_crc == E.masked_crc32c(data[pos:pos + 8])
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack_from("<I", data, pos + 12 + length)
        assert body_crc == E.masked_crc32c(body)
        records.append(body)
        pos += 16 + length
    assert len(records) == 2 and b"brain.Event:2" in records[0] and b"loss" in records[1]
    assert hex(E.crc32c(b"123456789")) == "0xe3069283"
    assert os.path.basename(writer.path).startswith("events.out.tfevents.")


def test_constant_histograms_and_unsupported_arguments(tmp_path):
    assert E.histogram_buckets(np.full(5, 2.0)) == ([2.0], [5.0])
    with pytest.raises(ValueError, match="`write_images` is not supported"):
        tp.callbacks.TensorBoard(tmp_path, write_images=True)
    with pytest.raises(ValueError, match="`update_freq` must be 'epoch', 'batch' or a positive integer"):
        tp.callbacks.TensorBoard(tmp_path, update_freq=0)
