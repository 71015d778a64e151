"""Hostile and broken model files: each refused with a clear error; no code run, nothing written, nothing
allocated beyond what the file holds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

import tapeflow as tp
from tapeflow.saving import FileFormatError, UnsafeFileError, archive, safetensors_io

from .hostile import json_positions as _paths
from .hostile import meta, zip_bytes

MARKER_ENV = "TAPEFLOW_TEST_MARKER"


def _model():
    tp.random.set_seed(0)
    model = tp.Sequential([tp.layers.Dense(4, activation="relu", input_shape=(3,)), tp.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    return model


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.tapeflow"
    _model().save(path)
    out = archive.read_archive(path)
    out["metadata.json"] = archive.dumps_json(out["metadata.json"])
    return out


def _write(folder, members, **changes):
    out = {**members, **changes}
    out = {k: v for k, v in out.items() if v is not None}
    path = folder / "evil.tapeflow"
    archive.write_archive(path, out)
    return path


def _config(members, edit):
    config = json.loads(members["config.json"])
    edit(config)
    return json.dumps(config).encode()


def _layer(config, i=0):
    return config["model"]["config"]["layers"][i]


def _weights(members, edit):
    arrays, _ = safetensors_io.loads(members["model.weights.safetensors"])
    edit(arrays)
    return safetensors_io.dumps(arrays)


def _set(d, key, value):
    d[key] = value


def _listing(folder):
    return sorted(p.name for p in folder.rglob("*"))


CONFIG_ATTACKS = {
    "arbitrary class": (lambda c: _set(_layer(c), "class_name", "os.system"), UnsafeFileError,
                        "names class 'os.system', which is neither a registered tapeflow class"),
    "arbitrary model class": (lambda c: _set(c["model"], "class_name", "subprocess.Popen"), UnsafeFileError,
                              "'subprocess.Popen'"),
    "module reference": (lambda c: _set(_layer(c), "module", "os"), UnsafeFileError,
                         "names a module \\('os'\\); tapeflow never imports"),
    "keras-style registered_name": (lambda c: _set(_layer(c)["config"], "registered_name", "x"),
                                    FileFormatError, "registered_name"),
    "class name not a string": (lambda c: _set(_layer(c), "class_name", ["Dense"]), UnsafeFileError,
                                "names class \\['Dense'\\]"),
    "unknown activation": (lambda c: _set(_layer(c)["config"], "activation", "os.system"), FileFormatError,
                           "Unknown activation"),
    "unknown initializer class": (
        lambda c: _set(_layer(c)["config"], "kernel_initializer", {"class_name": "Evil", "config": {}}),
        UnsafeFileError, "'Evil'"),
    "absurd units": (lambda c: _set(_layer(c)["config"], "units", 10**6), FileFormatError,
                     "more than the \\d+ bytes of weights left in the file"),
    "huge int": (lambda c: _set(_layer(c)["config"], "units", 10**40), UnsafeFileError, "absurd value"),
    "absurd input shape": (lambda c: _set(_layer(c)["config"], "batch_input_shape", [None, 10**5, 10**5]),
                           UnsafeFileError, "absurd"),
    "negative units": (lambda c: _set(_layer(c)["config"], "units", -3), FileFormatError, "units"),
    "wrong type": (lambda c: _set(_layer(c)["config"], "units", "four"), FileFormatError, "units"),
    "unexpected argument": (lambda c: _set(_layer(c)["config"], "exec", "print(1)"), FileFormatError,
                            "unexpected keyword"),
    "different architecture": (lambda c: _set(_layer(c)["config"], "units", 5), FileFormatError,
                               "asks for weight 'kernel' of shape \\(5, 2\\)"),
    "no model": (lambda c: c.pop("model"), FileFormatError, "no 'model' entry"),
    "unknown optimizer": (lambda c: _set(c["compile"]["optimizer"], "class_name", "Evil"), UnsafeFileError,
                          "'Evil'"),
    "unknown loss": (lambda c: _set(c["compile"], "loss", "os.system"), FileFormatError, "Unknown loss"),
    "custom function": (lambda c: _set(c["compile"], "loss", {"function": "evil"}), UnsafeFileError,
                        "custom function 'evil'"),
}


@pytest.mark.parametrize("name", sorted(CONFIG_ATTACKS))
def test_hostile_configs_are_refused_by_name(name, members, tmp_path):
    edit, error, match = CONFIG_ATTACKS[name]
    path = _write(tmp_path, members, **{"config.json": _config(members, edit)})
    before = _listing(tmp_path)
    with pytest.raises(error, match=match) as info:
        tp.models.load_model(path)
    assert repr(str(path)) in str(info.value)
    assert _listing(tmp_path) == before


def test_size_limits_can_be_raised_but_weights_stay_capped(members, tmp_path):
    path = _write(tmp_path, members, **{"config.json": _config(members, lambda c: _set(_layer(c)["config"],
                                                                                     "units", 2**25))})
    with pytest.raises(UnsafeFileError, match="'units' the absurd value 33554432 \\(limit 16777216"):
        tp.models.load_model(path)
    with pytest.raises(FileFormatError, match="more than the 104 bytes of weights left"):
        tp.models.load_model(path, limits=tp.saving.Limits(max_config_int=2**26))


def _retype(arrays, dtype):
    key = sorted(arrays)[0]
    arrays[key] = arrays[key].astype(dtype)


def _reshape(arrays):
    key = sorted(arrays)[0]
    arrays[key] = np.zeros((4, 3), "float32")


def _drop(arrays):
    arrays.pop(sorted(arrays)[-1])


def _rename(arrays):
    arrays["bogus"] = arrays.pop(sorted(arrays)[0])


WEIGHT_ATTACKS = {
    "wrong dtype": (lambda a: _retype(a, "float64"),
                    "has dtype float32 but the file's '0000/dense(_\\d+)?/kernel' has dtype float64"),
    "int weights": (lambda a: _retype(a, "int32"), "dtype int32"),
    "wrong shape": (_reshape,
                    "'dense(_\\d+)?/kernel' has shape \\(3, 4\\) but the file's '0000/dense(_\\d+)?/kernel' "
                    "has shape \\(4, 3\\)"),
    "missing weight": (_drop, "holds 3 weights; the model has 4|asks for weight 'bias' of shape \\(2,\\)"),
    "bad key": (_rename, "is not named '<4-digit index>/<name>'"),
}


@pytest.mark.parametrize("name", sorted(WEIGHT_ATTACKS))
def test_weights_that_do_not_fit_the_architecture_are_refused(name, members, tmp_path):
    edit, match = WEIGHT_ATTACKS[name]
    path = _write(tmp_path, members, **{"model.weights.safetensors": _weights(members, edit)})
    with pytest.raises(FileFormatError, match=match):
        tp.models.load_model(path)
    target = _model()
    before = target.get_weights()
    with pytest.raises(FileFormatError, match=match):
        target.load_weights(path)
    for a, b in zip(before, target.get_weights()):  # nothing assigned unless everything fits
        np.testing.assert_array_equal(a, b)


def test_optimizer_state_that_does_not_fit_is_refused(members, tmp_path):
    arrays, _ = safetensors_io.loads(members["optimizer.safetensors"])
    for edit, match in [
        (lambda a: a.pop("iterations"), "no valid 'iterations'"),
        (lambda a: a.update({"0000/m": np.zeros((9, 9), "float32")}), "optimizer slot '0000/m' has shape"),
        (lambda a: a.update({"0007/m": np.zeros(1, "float32")}), "fits neither the model"),
        (lambda a: a.update({"0000/evil": np.zeros((3, 4), "float32")}), "fits neither"),
        (lambda a: a.pop("0001/v"), "incomplete"),
    ]:
        bad = dict(arrays)
        edit(bad)
        path = _write(tmp_path, members, **{"optimizer.safetensors": safetensors_io.dumps(bad)})
        with pytest.raises(FileFormatError, match=match):
            tp.models.load_model(path)
    assert tp.models.load_model(path, compile=False).optimizer is None  # the weights alone are fine


def test_missing_members_and_wrong_kinds(members, tmp_path):
    with pytest.raises(FileFormatError, match="needs config.json"):
        tp.models.load_model(_write(tmp_path, members, **{"config.json": None}))
    weights_only = tmp_path / "w.tapeflow"
    _model().save_weights(weights_only)
    with pytest.raises(FileFormatError, match="holds weights only"):
        tp.models.load_model(weights_only)
    _model().save_weights(tmp_path / "w.safetensors")
    with pytest.raises(FileFormatError, match="holds weights only \\(safetensors\\)"):
        tp.models.load_model(tmp_path / "w.safetensors")
    with pytest.raises(FileFormatError, match="is not a training backup"):
        cb = tp.callbacks.BackupAndRestore(tmp_path / "b")
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "backup.tapeflow").write_bytes(weights_only.read_bytes())
        model = _model()
        model.fit(np.ones((4, 3)), np.zeros((4, 2)), callbacks=[cb], verbose=0)


def test_truncated_model_files_are_refused(tmp_path):
    good = tmp_path / "good.tapeflow"
    _model().save(good)
    blob = good.read_bytes()
    for cut in (10, len(blob) // 3, len(blob) - 1):
        bad = tmp_path / "cut.tapeflow"
        bad.write_bytes(blob[:cut])
        with pytest.raises(FileFormatError, match="truncated"):
            tp.models.load_model(bad)
        with pytest.raises(FileFormatError, match="truncated"):
            _model().load_weights(bad)
    st = tmp_path / "w.safetensors"
    _model().save_weights(st)
    st.write_bytes(st.read_bytes()[:-3])
    with pytest.raises(FileFormatError, match="truncated"):
        _model().load_weights(st)


def test_hostile_rng_state_is_refused(members, tmp_path):
    tp.random.set_seed(0)
    model = tp.Sequential([tp.layers.Dropout(0.5, seed=1, input_shape=(3,)), tp.layers.Dense(2)])
    model.save(tmp_path / "d.tapeflow")
    good = archive.read_archive(tmp_path / "d.tapeflow")
    good["metadata.json"] = archive.dumps_json(good["metadata.json"])
    for state, match in [
        ({"rng": {"layers": {"0": {"class_name": "Dense", "state": {}}}}}, "fits no layer"),
        ({"rng": {"layers": {"1": {"class_name": "Dropout", "state": {"bit_generator": "MT19937"}}}}},
         "random-generator state is invalid"),
        ({"rng": {"layers": {"1": "x"}}}, "invalid layer generator states"),
    ]:
        path = _write(tmp_path, good, **{"training_state.json": json.dumps(state).encode()})
        with pytest.raises(FileFormatError, match=match):
            tp.models.load_model(path)


# --- a property-based fuzzer over the config: any JSON value anywhere is refused cleanly or loads ----------
JSON = s.recursive(s.none() | s.booleans() | s.integers(-10**12, 10**12) | s.floats(allow_nan=True)
                   | s.text(max_size=8), lambda inner: s.lists(inner, max_size=3)
                   | s.dictionaries(s.text(max_size=6), inner, max_size=3), max_leaves=6)


def _fuzz(members, tmp_path, data):
    config = json.loads(members["config.json"])
    positions = _paths(config)
    for _ in range(data.draw(s.integers(1, 3))):
        node, key = positions[data.draw(s.integers(0, len(positions) - 1))]
        node[key] = data.draw(JSON)
    path = _write(tmp_path, members, **{"config.json": json.dumps(config).encode()})
    try:
        model = tp.models.load_model(path)
    except FileFormatError:
        return
    assert isinstance(model, tp.Model)
    assert sum(w.numpy().nbytes for w in model.weights) <= len(members["model.weights.safetensors"])


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=s.data())
def test_fuzzed_sequential_configs_are_refused_cleanly_or_load(members, tmp_path, data):
    _fuzz(members, tmp_path, data)


@pytest.fixture(scope="module")
def graph_members(tmp_path_factory):
    tp.random.set_seed(0)
    a, b = tp.Input(shape=(3,)), tp.Input(shape=(2, 2))
    h = tp.layers.Concatenate()([tp.layers.Dense(4)(a), tp.layers.Flatten()(b)])
    h = tp.layers.BatchNormalization()(tp.layers.Dense(3, activation="tanh")(h))
    model = tp.Model([a, b], tp.layers.Dense(2)(h))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    path = tmp_path_factory.mktemp("graph") / "graph.tapeflow"
    model.save(path)
    out = archive.read_archive(path)
    out["metadata.json"] = archive.dumps_json(out["metadata.json"])
    return out


@FUZZ
@given(data=s.data())
def test_fuzzed_functional_configs_are_refused_cleanly_or_load(graph_members, tmp_path, data):
    _fuzz(graph_members, tmp_path, data)


def test_describe_reads_a_hostile_file_without_building_it(members, tmp_path):
    config = _config(members, CONFIG_ATTACKS["arbitrary class"][0])
    path = _write(tmp_path, members, **{"config.json": config})
    info = tp.saving.describe(path)
    assert info["model"] == "Sequential" and info["layers"][0][0] == "os.system"
    assert [w[1] for w in info["weights"]] == [(3, 4), (4,), (4, 2), (2,)] and info["optimizer"]
    with pytest.raises(UnsafeFileError, match="path traversal"):
        bad = tmp_path / "t.tapeflow"
        bad.write_bytes(zip_bytes([("metadata.json", meta()), ("../x", b"")]))
        tp.saving.describe(bad)
