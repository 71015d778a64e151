"""Keras 3 ``.keras`` files: models saved by the real Keras (committed fixtures) load in tapeflow and predict
what Keras predicted; tapeflow writes Keras's layout; Lambda layers and unknown options are refused; and,
where the ``keras`` package is installed, a file tapeflow writes loads in Keras with the same predictions."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.saving import FileFormatError, UnsafeFileError

h5py = pytest.importorskip("h5py", reason="the `keras` extra (h5py) is not installed")

FIXTURES = Path(__file__).parent / "keras_fixtures"
L = tp.layers


def _inputs(data):
    xs = [data[k] for k in sorted(data.files) if k.startswith("x")]
    return xs if len(xs) > 1 else xs[0]


@pytest.mark.parametrize("name", ["mlp", "sequence", "two_inputs"])
def test_models_saved_by_keras_load_and_predict_what_keras_predicted(name):
    model = tp.models.load_model(FIXTURES / f"{name}.keras")
    data = np.load(FIXTURES / f"{name}.npz")
    np.testing.assert_allclose(model.predict(_inputs(data), verbose=0), data["y"], rtol=1e-5, atol=1e-6)
    assert model.name == name


def test_the_keras_compile_settings_are_restored():
    model = tp.models.load_model(FIXTURES / "mlp.keras")
    assert isinstance(model.optimizer, tp.optimizers.Adam)
    assert model.optimizer.learning_rate == pytest.approx(0.001)
    bare = tp.models.load_model(FIXTURES / "mlp.keras", compile=False)
    assert getattr(bare, "optimizer", None) is None


def test_a_lambda_layer_is_refused_as_keras_safe_mode_does():
    with pytest.raises(UnsafeFileError, match="Lambda layer, which is Python code.*nothing was run"):
        tp.models.load_model(FIXTURES / "with_lambda.keras")


def _edited(tmp_path, name, edit):
    """A copy of a fixture whose config.json went through ``edit``."""
    source = zipfile.ZipFile(FIXTURES / f"{name}.keras")
    config = json.loads(source.read("config.json"))
    edit(config)
    path = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(path, "w") as out:
        for member in source.namelist():
            out.writestr(member, json.dumps(config) if member == "config.json" else source.read(member))
    return path


def test_unknown_classes_modules_and_options_are_refused(tmp_path):
    def custom(config):
        config["config"]["layers"][1]["class_name"] = "Evil"
        config["config"]["layers"][1]["module"] = "os"

    with pytest.raises(UnsafeFileError, match="layer class 'Evil' is not one tapeflow knows"):
        tp.models.load_model(_edited(tmp_path, "mlp", custom))

    def option(config):
        config["config"]["layers"][1]["config"]["lora_rank"] = 4

    with pytest.raises(FileFormatError, match="sets the Keras option lora_rank=4"):
        tp.models.load_model(_edited(tmp_path, "mlp", option))

    def mixed(config):
        config["config"]["layers"][1]["config"]["dtype"]["config"]["name"] = "mixed_float16"

    with pytest.raises(FileFormatError, match="dtype policy 'mixed_float16' is not supported"):
        tp.models.load_model(_edited(tmp_path, "mlp", mixed))


def test_weights_that_do_not_fit_are_refused(tmp_path):
    def wider(config):
        config["config"]["layers"][1]["config"]["units"] = 9

    with pytest.raises(FileFormatError, match=r"holds shape \(6, 8\) for weight"):
        tp.models.load_model(_edited(tmp_path, "mlp", wider))


def _models():
    tp.random.set_seed(0)
    seq = tp.Sequential([tp.Input((6,)), L.Dense(8, activation="relu", kernel_regularizer="l2",
                                                 kernel_constraint="max_norm"),
                         L.BatchNormalization(), L.Dropout(0.2), L.AlphaDropout(0.1), L.RMSNormalization(),
                         L.Dense(3, activation="softmax")], name="mlp")
    inp = tp.Input((10, 4), name="s")
    h = L.MaxPooling1D(2)(L.Conv1D(5, 3, padding="same", activation="relu")(inp))
    b = L.GRU(4)(L.LSTM(6, return_sequences=True)(h))
    fn = tp.Model(inp, L.Dense(2)(L.Concatenate()([b, L.GlobalAveragePooling1D()(h)])), name="sequence")
    img, tok = tp.Input((8, 8, 3), name="image"), tp.Input((5,), dtype="int32", name="tokens")
    g = L.SeparableConv2D(4, 3, padding="same")(L.GroupNormalization(groups=3)(img))
    two = tp.Model([img, tok], L.Add()([L.Dense(3)(L.Flatten()(g)),
                                        L.Dense(3)(L.SimpleRNN(3)(L.Embedding(20, 4)(tok)))]), name="two")
    rng = np.random.default_rng(0)
    return [(seq, rng.standard_normal((4, 6)).astype("float32")),
            (fn, rng.standard_normal((3, 10, 4)).astype("float32")),
            (two, [rng.standard_normal((2, 8, 8, 3)).astype("float32"), rng.integers(0, 20, (2, 5))])]


def test_files_tapeflow_writes_have_keras_layout_and_load_back(tmp_path):
    for model, x in _models():
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        with zipfile.ZipFile(path) as zf:
            assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
            config = json.loads(zf.read("config.json"))
            assert config["class_name"] in ("Sequential", "Functional")
            assert json.loads(zf.read("metadata.json"))["keras_version"].startswith("3.")
        again = tp.models.load_model(path)
        np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    with zipfile.ZipFile(tmp_path / "sequence.keras") as zf:
        with h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as h5:
            assert h5["layers/lstm/cell/vars/1"].shape == (6, 24)
            assert h5["layers/dense/vars/0"].shape == (9, 2)


def test_models_without_a_keras_form_are_refused_by_name(tmp_path):
    model = tp.Sequential([tp.Input((4, 3)), L.TimeDistributed(L.Dense(2))])
    with pytest.raises(NotImplementedError, match=r"\(TimeDistributed\) has no Keras counterpart"):
        model.save(tmp_path / "m.keras")
    assert list(tmp_path.iterdir()) == []

    class Sub(tp.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(1)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.ones((1, 2)))
    with pytest.raises(NotImplementedError, match="subclassed model"):
        sub.save(tmp_path / "s.keras")


_KERAS_CHECK = """
import os, sys, numpy as np
os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
for path in sys.argv[1:]:
    model = keras.saving.load_model(path)
    data = np.load(path[:-6] + ".npz")
    xs = [data[k] for k in sorted(data.files) if k.startswith("x")]
    got = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    np.testing.assert_allclose(got, data["y"], rtol=1e-5, atol=1e-6)
print("keras agrees")
"""


def _keras_python():
    """A Python that has the real keras with a backend: this one, or $TAPEFLOW_KERAS_PYTHON."""
    candidates = [os.environ.get("TAPEFLOW_KERAS_PYTHON"), sys.executable]
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "import keras, jax"], capture_output=True,
                               env={**os.environ, "KERAS_BACKEND": "jax"})
        if probe.returncode == 0:
            return python
    return None


def test_files_tapeflow_writes_load_in_the_real_keras(tmp_path):
    python = _keras_python()
    if python is None:
        pytest.skip("the real keras package (with JAX) is not installed; set TAPEFLOW_KERAS_PYTHON to a "
                    "Python that has it (not part of CI)")
    paths = []
    for model, x in _models():
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        xs = x if isinstance(x, list) else [x]
        np.savez(tmp_path / f"{model.name}.npz", **{f"x{i}": v for i, v in enumerate(xs)},
                 y=model.predict(x, verbose=0))
        paths.append(str(path))
    result = subprocess.run([python, "-c", _KERAS_CHECK, *paths], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "KERAS_BACKEND": "jax"})
    assert result.returncode == 0 and "keras agrees" in result.stdout, result.stderr[-3000:]
