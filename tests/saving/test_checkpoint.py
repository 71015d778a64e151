"""ModelCheckpoint on the .tapeflow format: whole models, weights only, best only — each file loads."""

from __future__ import annotations

import numpy as np

import tapeflow as tp


def _model():
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input(shape=(4,)), tp.layers.Dense(8, activation="relu"), tp.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def test_checkpoint_every_epoch_writes_loadable_models(tmp_path):
    x, y = _data()
    model = _model()
    path = str(tmp_path / "ckpt-{epoch:02d}.tapeflow")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[tp.callbacks.ModelCheckpoint(path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ckpt-0{i}.tapeflow" for i in (1, 2, 3)]
    last = tp.models.load_model(tmp_path / "ckpt-03.tapeflow")
    np.testing.assert_array_equal(last.predict(x, verbose=0), model.predict(x, verbose=0))
    assert last.optimizer.iterations == model.optimizer.iterations
    first = tp.models.load_model(tmp_path / "ckpt-01.tapeflow")
    assert first.optimizer.iterations == model.optimizer.iterations // 3


def test_best_only_weights_only_keeps_the_best_epoch(tmp_path):
    x, y = _data()
    model = _model()
    best = tmp_path / "best.safetensors"
    seen = []
    record = tp.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append((logs["val_loss"],
                                                                                    model.get_weights())))
    checkpoint = tp.callbacks.ModelCheckpoint(best, monitor="val_loss", save_best_only=True,
                                              save_weights_only=True)
    model.fit(x, y, epochs=4, validation_split=0.25, verbose=0, callbacks=[record, checkpoint])
    target = min(seen, key=lambda s: s[0])[1]
    restored = _model()
    restored.load_weights(best)
    for a, b in zip(target, restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["best.safetensors"]
