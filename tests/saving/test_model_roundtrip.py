"""Round trips for every layer type: predictions bit-identical after load, and training continued after a load
equal to training never interrupted."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.layers.serialization import _REGISTRY

from .layer_cases import CASES, STANDALONE


def _data(name, n=16):
    rng = np.random.default_rng(3)
    build, make_x = CASES[name]
    return build, make_x(rng, n), rng.standard_normal((n, 3)).astype("float32")


def _trained(name):
    build, x, y = _data(name)
    model = build()
    model.compile(optimizer=tp.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    return model, x, y


def _same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u, v)


def test_every_registered_layer_has_a_round_trip_case():
    builtin = {name for name, cls in _REGISTRY.items() if cls.__module__.startswith("tapeflow.")}
    missing = sorted(builtin - set(CASES) - set(STANDALONE))
    assert not missing, f"add a case to tests/saving/layer_cases.py for: {missing}"


@pytest.mark.parametrize("name", sorted(STANDALONE))
def test_string_layers_round_trip_through_their_json_config(name):
    layer, x = STANDALONE[name]()
    config = json.loads(json.dumps(tp.layers.serialize(layer)))
    clone = tp.layers.deserialize(config)
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_predicts_bit_identically_and_trains_on_identically(name, tmp_path):
    model, x, y = _trained(name)
    path = tmp_path / "model.tapeflow"
    model.save(path)
    loaded = tp.models.load_model(path)
    assert type(loaded) is type(model)
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations == 2

    # one more epoch for each, from the same point of the random stream: identical weights
    state = tp.random.generator().bit_generator.state
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    tp.random.generator().bit_generator.state = state
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    _same_weights(model, loaded)
    assert os.listdir(tmp_path) == ["model.tapeflow"]


@pytest.mark.parametrize("name", ["Dense", "Conv2D", "LSTM", "BatchNormalization", "Embedding", "Add"])
def test_weights_only_round_trip_in_both_formats(name, tmp_path):
    model, x, _ = _trained(name)
    build = CASES[name][0]
    for filename in ("w.safetensors", "w.weights.tapeflow"):
        other = build()
        other.load_weights(_saved_weights(model, tmp_path / filename))
        np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def _saved_weights(model, path):
    model.save_weights(path)
    return path


def test_weights_file_is_plain_safetensors(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="the `save` extra is not installed")
    model, _, _ = _trained("Dense")
    model.save_weights(tmp_path / "w.safetensors")
    arrays = safetensors_numpy.load_file(str(tmp_path / "w.safetensors"))
    assert sorted(arrays) == [f"{i:04d}/{w.name}" for i, w in enumerate(model.weights)]
    for i, w in enumerate(model.weights):
        np.testing.assert_array_equal(arrays[f"{i:04d}/{w.name}"], w.numpy())


def test_loading_leaves_the_global_random_stream_untouched(tmp_path):
    model, _, _ = _trained("Dense")
    model.save(tmp_path / "m.tapeflow")
    before = tp.random.generator().bit_generator.state
    tp.models.load_model(tmp_path / "m.tapeflow")
    assert tp.random.generator().bit_generator.state == before


def test_metadata_records_version_seed_and_epoch(tmp_path):
    from tapeflow.saving import archive

    tp.random.set_seed(42)
    model, x, y = _trained("Dense")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.tapeflow")
    meta = archive.read_archive(tmp_path / "m.tapeflow")["metadata.json"]
    assert meta["tapeflow_version"] == tp.__version__
    assert meta["seed"] == 42 and meta["epoch"] == 2 and meta["kind"] == "model"


def test_same_model_saves_to_identical_bytes(tmp_path):
    model, _, _ = _trained("Conv2D")
    model.save(tmp_path / "a.tapeflow")
    model.save(tmp_path / "b.tapeflow")
    assert (tmp_path / "a.tapeflow").read_bytes() == (tmp_path / "b.tapeflow").read_bytes()


def test_compile_false_and_models_saved_without_optimizer(tmp_path):
    model, x, _ = _trained("Dense")
    model.save(tmp_path / "m.tapeflow", include_optimizer=False)
    loaded = tp.models.load_model(tmp_path / "m.tapeflow")
    assert loaded.optimizer.iterations == 0
    bare = tp.models.load_model(tmp_path / "m.tapeflow", compile=False)
    assert bare.optimizer is None
    np.testing.assert_array_equal(bare.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(tmp_path / "m.tapeflow", overwrite=False)


def test_uncompiled_and_unbuilt_models(tmp_path):
    model = tp.Sequential([tp.layers.Dense(2, input_shape=(3,))])
    model.save(tmp_path / "m.tapeflow")
    assert tp.models.load_model(tmp_path / "m.tapeflow").optimizer is None
    lazy = tp.Sequential([tp.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built yet"):
        lazy.save(tmp_path / "lazy.tapeflow")
    with pytest.raises(ValueError, match="not built yet"):
        lazy.save_weights(tmp_path / "lazy.safetensors")
    with pytest.raises(ValueError, match="build model"):
        lazy.load_weights(tmp_path / "m.tapeflow")


def test_compile_settings_survive(tmp_path):
    model = tp.Sequential([tp.layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(
        optimizer=tp.optimizers.SGD(0.05, momentum=0.9, clipnorm=1.0),
        loss=tp.losses.SparseCategoricalCrossentropy(from_logits=False),
        metrics=["accuracy", tp.metrics.SparseTopKCategoricalAccuracy(k=2)],
    )
    x = np.random.default_rng(0).standard_normal((12, 4)).astype("float32")
    y = np.arange(12) % 3
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "m.tapeflow")
    loaded = tp.models.load_model(tmp_path / "m.tapeflow")
    assert type(loaded.optimizer) is tp.optimizers.SGD
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    logs = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == model.evaluate(x, y, verbose=0, return_dict=True)


@tp.layers.register_serializable
class _Residual(tp.Model):
    """A subclassed model with get_config (registered, so loading needs no custom_objects)."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = tp.layers.Dense(units, activation="tanh")
        self.out = tp.layers.Dense(3)

    def call(self, x, training=None):
        return self.out(x + self.inner(x))

    def get_config(self):
        return {"units": self.units, "name": self.name}


class _Unregistered(_Residual):
    pass


def custom_loss(y_true, y_pred):
    return tp.mean(tp.square(y_true - y_pred))


def test_subclassed_models_with_get_config_and_custom_objects(tmp_path):
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    for cls in (_Residual, _Unregistered):
        model = cls(units=4)
        model.compile(optimizer="adam", loss=custom_loss)
        model.fit(x, x[:, :3], verbose=0)
        path = tmp_path / f"{cls.__name__}.tapeflow"
        model.save(path)
        with pytest.raises(tp.saving.UnsafeFileError, match="custom function 'custom_loss'"):
            tp.models.load_model(path, custom_objects={"_Unregistered": _Unregistered})
        loaded = tp.models.load_model(
            path, custom_objects={"_Unregistered": _Unregistered, "custom_loss": custom_loss}
        )
        assert type(loaded) is cls
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(tp.saving.UnsafeFileError, match="'_Unregistered', which is neither a registered"):
        tp.models.load_model(tmp_path / "_Unregistered.tapeflow", compile=False)


def test_subclassed_model_without_get_config_says_how_to_save(tmp_path):
    class Plain(tp.Model):
        def __init__(self):
            super().__init__()
            self.d = tp.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    model = Plain()
    model(np.ones((1, 3), "float32"))
    with pytest.raises(NotImplementedError, match="implement get_config"):
        model.save(tmp_path / "m.tapeflow")
    model.save_weights(tmp_path / "w.safetensors")
    other = Plain()
    other(np.ones((1, 3), "float32"))
    other.load_weights(tmp_path / "w.safetensors")
    _same_weights(model, other)


class Halved(tp.optimizers.SGD):
    """A user optimizer class: saved by name, rebuilt only from custom_objects."""

    def update_step(self, gradient, variable, lr):
        super().update_step(gradient, variable, lr / 2)


def test_two_output_model_with_dict_losses_and_a_custom_optimizer(tmp_path):
    inp = tp.Input(shape=(4,))
    h = tp.layers.Dense(6, activation="relu")(inp)
    model = tp.Model(
        inp, [tp.layers.Dense(1, name="score")(h), tp.layers.Dense(3, activation="softmax", name="kind")(h)]
    )
    model.compile(
        optimizer=Halved(0.1, momentum=0.5),
        loss={"score": "mse", "kind": "sparse_categorical_crossentropy"},
        loss_weights={"score": 0.5, "kind": 2.0},
        metrics={"kind": ["accuracy"]},
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 4)).astype("float32")
    y = [rng.standard_normal((20, 1)).astype("float32"), rng.integers(0, 3, 20)]
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.tapeflow")
    with pytest.raises(tp.saving.UnsafeFileError, match="'Halved'"):
        tp.models.load_model(tmp_path / "m.tapeflow")
    loaded = tp.models.load_model(tmp_path / "m.tapeflow", custom_objects={"Halved": Halved})
    assert type(loaded.optimizer) is Halved
    for got, want in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)
    state = tp.random.generator().bit_generator.state
    model.fit(x, y, epochs=1, verbose=0)
    tp.random.generator().bit_generator.state = state
    loaded.fit(x, y, epochs=1, verbose=0)
    _same_weights(model, loaded)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(
        x, y, verbose=0, return_dict=True
    )
