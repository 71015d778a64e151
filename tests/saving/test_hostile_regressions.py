"""Regression tests for issue 17: each hostile file or careless input that once held badly.

Numbered as in the issue: (1) memory reserved up front, (2) activations allocated at build time, (3) quadratic
connection of a reversed functional config, (4) zip bombs under the ratio limit, (5) a FIFO that hangs the
loader, (6) leaked temporary files, (7) re-raised errors that lie about their type, (8) bare errors without
the file's name, (11) an integer Variable's silent None gradient. Items 9 and 10 (fit arguments, losses,
TerminateOnNaN) are in tests/training/test_bad_input.py.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.saving import FileFormatError, archive, safetensors_io
from tapeflow.saving.atomic import atomic_write, remove_stale_temps

from .hostile import run_limited

HERE = Path(__file__).resolve().parent


def _small_model():
    tp.random.set_seed(0)
    return tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(2)])


# --- 1. memory: the reader reserves what the file holds, not a fixed cap ------------------------------------
def test_1_tiny_safetensors_loads_under_a_tight_address_space_limit(tmp_path):
    """``f.read(max_bytes + 1)`` reserved 8 GiB: under ``ulimit -v`` a tiny file raised MemoryError."""
    path = tmp_path / "w.safetensors"
    _small_model().save_weights(path)
    code = f"""
import tapeflow as tp, numpy as np
model = tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(2)])
model.load_weights({str(path)!r})
print("loaded", float(np.abs(model.get_weights()[0]).sum()) > 0)
"""
    out = run_limited(code, extra_bytes=512 * 2**20, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "loaded True" in out.stdout


# --- 2. rebuilding a model makes no activations where layers have shape rules, none beyond a cap elsewhere --
def _edited_file(folder, model, edit):
    model.save(folder / "good.tapeflow")
    members = archive.read_archive(folder / "good.tapeflow")
    members["metadata.json"] = archive.dumps_json(members["metadata.json"])
    config = json.loads(members["config.json"])
    edit(config)
    path = folder / "evil.tapeflow"
    archive.write_archive(path, {**members, "config.json": json.dumps(config).encode()})
    return path


def _set_input(config, shape):
    config["model"]["config"]["build_input_shape"] = config["build_input_shape"] = [None, *shape]


def _first(config):
    return config["model"]["config"]["layers"][0]["config"]


def _repeat_vector_file(folder):  # the 828-byte file: no weights, 1.6 GB of placeholders
    model = tp.Sequential([tp.Input(shape=(8,)), tp.layers.RepeatVector(8)])
    return _edited_file(folder, model, lambda c: (_first(c).update(n=8192), _set_input(c, [8192])))


def _conv_file(folder):  # as the 1.5 KB Conv2D file asking for 18 GiB (here: 1 GiB at batch 2)
    model = tp.Sequential([tp.Input(shape=(8, 8, 1)), tp.layers.Conv2D(16, 3)])
    return _edited_file(folder, model, lambda c: _set_input(c, [4096, 4096, 1]))


@pytest.mark.parametrize("make, layer", [(_repeat_vector_file, "repeat_vector"), (_conv_file, "conv2d")])
def test_2_tiny_files_asking_for_huge_activations_are_refused_before_allocating(tmp_path, make, layer):
    path = make(tmp_path)
    assert path.stat().st_size < 3000
    code = f"""
import resource, tapeflow as tp
try:
    tp.models.load_model({str(path)!r}, compile=False)
    print("loaded")
except tp.saving.FileFormatError as e:
    print("refused:", e)
print("peak MiB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    out = run_limited(code, extra_bytes=256 * 2**20, timeout=60)  # the old loader needed 1.6 GB or 18 GiB
    assert out.returncode == 0, out.stderr
    assert f"refused: {str(path)!r}" in out.stdout
    assert re.search(f"Layer '{layer}(_\\d+)?' would make an output", out.stdout), out.stdout
    with pytest.raises(FileFormatError, match="raise it with tp.saving.Limits\\(max_activation_bytes="):
        tp.models.load_model(path)


def test_2_the_cap_can_be_raised_for_a_genuinely_large_model(tmp_path):
    model = tp.Sequential([tp.Input(shape=(8,)), tp.layers.RepeatVector(8)])
    path = _edited_file(tmp_path, model, lambda c: (_first(c).update(n=600), _set_input(c, [600])))
    with pytest.raises(FileFormatError, match="more than the 1000000 bytes allowed"):
        tp.models.load_model(path, limits=tp.saving.Limits(max_activation_bytes=10**6))
    assert tp.models.load_model(path).output_shape == (None, 600, 600)


L = tp.layers
SHAPE_RULES = [
    (lambda: L.Dense(3), (5,), "float32"), (lambda: L.Dense(3), (4, 5), "float32"),
    (lambda: L.Dense(3), (None, 5), "float32"), (lambda: L.RepeatVector(4), (3,), "float32"),
    (lambda: L.Embedding(10, 4), (7,), "int32"), (lambda: L.Embedding(10, 4), (None,), "int32"),
    (lambda: L.Conv1D(2, 3), (9, 3), "float32"),
    (lambda: L.Conv1D(2, 3, padding="same", strides=2), (9, 3), "float32"),
    (lambda: L.Conv1D(2, 3, padding="causal", dilation_rate=2), (None, 3), "float32"),
    (lambda: L.Conv2D(2, (3, 2), strides=(2, 1), padding="same"), (7, 6, 3), "float32"),
    (lambda: L.Conv2D(4, 3, data_format="channels_first", groups=2), (4, 7, 6), "float32"),
    (lambda: L.Conv2D(2, 5), (3, 3, 1), "float32"), (lambda: L.Conv3D(2, 2), (4, 5, 3, 1), "float32"),
    (lambda: L.Conv1DTranspose(2, 3, strides=2), (5, 3), "float32"),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1), (4, None, 2), "float32"),
    (lambda: L.Conv2DTranspose(2, (3, 2), strides=(1, 3), data_format="channels_first"), (2, 4, 5),
     "float32"),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (6, 5, 2), "float32"),
    (lambda: L.SeparableConv2D(4, 3, strides=2), (7, 7, 2), "float32"),
    (lambda: L.UpSampling1D(3), (4, 2), "float32"), (lambda: L.UpSampling2D((2, 3)), (None, 4, 2), "float32"),
    (lambda: L.UpSampling3D(2, data_format="channels_first"), (1, 2, 3, 4), "float32"),
    (lambda: L.ZeroPadding1D((1, 2)), (4, 2), "float32"),
    (lambda: L.ZeroPadding2D(((1, 0), (2, 3))), (3, None, 1), "float32"),
    (lambda: L.ZeroPadding3D(1), (2, 2, 2, 1), "float32"),
    (lambda: L.SimpleRNN(4), (5, 3), "float32"),
    (lambda: L.LSTM(4, return_sequences=True, return_state=True), (None, 3), "float32"),
    (lambda: L.GRU(3, return_state=True, go_backwards=True), (5, 2), "float32"),
]


@pytest.mark.parametrize("make, shape, dtype", SHAPE_RULES)
def test_2_shape_rules_agree_with_running_the_layer(make, shape, dtype):
    """The loader's symbolic build (compute_output_shape) gives what running on placeholders gives."""
    from tapeflow.layers._budget import activation_cap

    try:
        ran = make()(tp.Input(shape=shape, dtype=dtype))
    except tp.errors.ShapeError:  # a window that does not fit: the rule refuses it too
        with activation_cap(2**40), pytest.raises(tp.errors.ShapeError):
            make()(tp.Input(shape=shape, dtype=dtype))
        return
    with activation_cap(2**40):
        layer = make()
        ruled = layer(tp.Input(shape=shape, dtype=dtype))
    from tapeflow.layers.base import flatten

    assert [(t.shape, t.dtype) for t in flatten(ruled)] == [(t.shape, t.dtype) for t in flatten(ran)]
    x = np.ones((2, *(3 if d is None else d for d in shape)), dtype)
    for symbolic, real in zip(flatten(ruled), flatten(layer(x))):  # the built layer runs, as announced
        assert all(a in (b, None) for a, b in zip(symbolic.shape, real.shape))


@pytest.mark.parametrize("make", [tp.layers.Attention, tp.layers.AdditiveAttention])
def test_2_attention_is_rebuilt_from_shapes_without_its_scores(make):
    from tapeflow.layers._budget import activation_cap

    def graph():
        q, v = tp.Input(shape=(None, 4)), tp.Input(shape=(7, 4))
        return make()([q, v])

    ran = graph()
    with activation_cap(2**40):
        ruled = graph()
    assert ruled.shape == ran.shape == (None, None, 4)
    with activation_cap(2**20):  # 30,000 steps: 2.7 GB of placeholder scores, none made by the rule
        out = make()([tp.Input(shape=(30000, 2)), tp.Input(shape=(30000, 2))])
    assert out.shape == (None, 30000, 2)


# --- 3. a functional config in any order connects in linear time --------------------------------------------
def test_3_reversed_functional_config_connects_each_call_once(monkeypatch):
    from tapeflow.models import functional

    x = inputs = tp.Input(shape=(4,))
    for i in range(300):
        x = tp.layers.Dense(4)(x) if i % 30 == 0 else tp.layers.Activation("relu")(x)
    config = tp.Model(inputs, x).get_config()
    config["layers"] = config["layers"][::-1]
    looked_at = []
    real = functional._ref_leaves
    monkeypatch.setattr(functional, "_ref_leaves", lambda parts: looked_at.append(1) or real(parts))
    rebuilt = tp.Model.from_config(config)
    assert len(looked_at) == 300  # each call's references read once (was once per call per pass: 45,000)
    data = np.ones((2, 4), "float32")
    assert rebuilt(data).shape == (2, 4)


def test_3_a_config_that_never_connects_names_the_layers():
    a = tp.Input(shape=(2,))
    config = tp.Model(a, tp.layers.Dense(1, name="head")(a)).get_config()
    config["layers"][1]["inbound_nodes"][0]["args"] = ["nowhere", 0, 0]
    with pytest.raises(ValueError, match="cannot connect layers \\['head'\\]"):
        tp.Model.from_config(config)


# --- 4. declared sizes are checked against what the model needs before anything is inflated ----------------
def _bomb(folder, declared_shape=(4096, 4096)):
    """A small model file whose deflated weights member declares 64 MiB of mostly zeros that do not fit the
    architecture, compressed under the ratio limit (1 byte in 100 random)."""
    import zipfile

    _small_model().save(folder / "good.tapeflow")
    members = archive.read_archive(folder / "good.tapeflow")
    nbytes = int(np.prod(declared_shape)) * 4
    header = json.dumps({"0000/dense/kernel": {"dtype": "F32", "shape": list(declared_shape),
                                               "data_offsets": [0, nbytes]}}).encode()
    data = bytearray(nbytes)
    data[::100] = np.random.default_rng(0).integers(0, 256, len(data[::100]), dtype=np.uint8).tobytes()
    path = folder / "bomb.tapeflow"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", archive.dumps_json(members["metadata.json"]))
        zf.writestr("config.json", members["config.json"])
        info = zipfile.ZipInfo("model.weights.safetensors")
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, len(header).to_bytes(8, "little") + header + bytes(data))
    return path, nbytes


def test_4_a_bomb_under_the_ratio_limit_is_refused_before_it_is_inflated(tmp_path):
    path, nbytes = _bomb(tmp_path)
    assert path.stat().st_size * archive.DEFAULT_LIMITS.max_ratio > nbytes  # the ratio check lets it pass
    code = f"""
import resource, tapeflow as tp
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for load in (lambda: tp.models.load_model({str(path)!r}),
             lambda: tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(2)]).load_weights({str(path)!r})):
    try:
        load()
    except tp.saving.FileFormatError as e:
        print("refused:", e)
print("grew KiB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    out = run_limited(code, extra_bytes=512 * 2**20, timeout=60)
    assert out.returncode == 0, out.stderr
    refusals = [line for line in out.stdout.splitlines() if line.startswith("refused:")]
    assert len(refusals) == 2 and all(repr(str(path)) in r for r in refusals), out.stdout
    assert "the file holds 1 weights; the model has 2" in refusals[1]
    grew = int(out.stdout.split("grew KiB")[1])
    assert grew * 1024 < nbytes // 4, out.stdout  # the 64 MiB were never inflated
    info = tp.saving.describe(path)  # describe reads the header only, too
    assert info["weights"] == [("0000/dense/kernel", (4096, 4096), "float32")]


def test_4_a_member_larger_than_its_header_declares_is_refused_unread(tmp_path):
    import zipfile

    _small_model().save(tmp_path / "good.tapeflow")
    members = archive.read_archive(tmp_path / "good.tapeflow")
    path = tmp_path / "padded.tapeflow"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", archive.dumps_json(members["metadata.json"]))
        zf.writestr("config.json", members["config.json"])
        zf.writestr("model.weights.safetensors", members["model.weights.safetensors"] + bytes(1000))
    size = len(members["model.weights.safetensors"])
    with pytest.raises(FileFormatError, match=f"model.weights.safetensors: its header describes {size} bytes "
                                              f"but the member holds {size + 1000}"):
        tp.models.load_model(path)


# --- 5. a FIFO (or device) named like a model file is refused at once ---------------------------------------
def _returns_within(fn, seconds=20):
    outcome = {}

    def run():
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), outcome.get("error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("name, load", [
    ("w.safetensors", lambda p: _small_model().load_weights(p)),
    ("w.tapeflow", lambda p: _small_model().load_weights(p)),
    ("m.tapeflow", lambda p: tp.models.load_model(p)),
    ("d.tapeflow", lambda p: tp.saving.describe(p)),
    ("a.safetensors", lambda p: tp.saving.load_arrays(p)),
])
def test_5_fifo_is_refused_without_blocking(tmp_path, name, load):
    path = tmp_path / name
    os.mkfifo(path)
    returned, error = _returns_within(lambda: load(path))
    if not returned:  # unblock the stuck reader so the test run can end, then fail
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail(f"loading the FIFO {name} blocked")
    assert isinstance(error, FileFormatError), error
    assert repr(str(path)) in str(error) and "a FIFO" in str(error)


def test_5_device_is_refused(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this platform")
    with pytest.raises(FileFormatError, match="'/dev/zero' is not a regular file \\(a character device\\)"):
        tp.saving.load_arrays("/dev/zero")


# --- 6. temporary files of killed saves are removed by the next save of the same target ---------------------
WRITER = """
import sys, time
from tapeflow.saving.atomic import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(b"x" * 100000)
    f.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.skipif(sys.platform == "win32", reason="stale temporary files are kept where there is no flock")
def test_6_stale_temp_files_are_removed_only_when_their_writer_is_gone(tmp_path):
    target = tmp_path / "model.tapeflow"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert child.stdout.readline().strip() == "writing"
        live = _temps(tmp_path)
        assert len(live) == 1 and live[0].startswith(f".model.tapeflow.{child.pid}.")
        # other files that look alike but are not tapeflow's temporary files of this target stay untouched
        (tmp_path / ".model.tapeflow.abc.tmp").write_bytes(b"not ours")
        (tmp_path / ".other.tapeflow.999999999.abcdefgh.tmp").write_bytes(b"another target")
        _small_model().save(target)  # the writer is alive: its file is kept
        assert live[0] in _temps(tmp_path)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert live[0] in _temps(tmp_path)  # killed mid-write: the leftover is there...
    _small_model().save(target)  # ...until the next save of the same target
    assert _temps(tmp_path) == [".model.tapeflow.abc.tmp", ".other.tapeflow.999999999.abcdefgh.tmp"]
    assert tp.models.load_model(target).count_params() == 8


def test_6_a_locked_temp_file_of_a_dead_pid_is_kept(tmp_path):
    """A writer in another PID namespace (a container sharing the folder) has a pid we cannot see: its lock
    still protects its file."""
    fcntl = pytest.importorskip("fcntl")
    stale = tmp_path / ".w.bin.999999999.abcdefgh.tmp"
    with open(stale, "wb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        assert remove_stale_temps(tmp_path / "w.bin") == []
    assert remove_stale_temps(tmp_path / "w.bin") == [stale.name]


# --- 7. errors raised while building on symbolic inputs keep their type -------------------------------------
class _NeedsTwo(Exception):
    def __init__(self, code, detail):
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


def _raiser(exc):
    class Raising(tp.layers.Layer):
        def call(self, x):
            raise exc

    return Raising(name="raising")


@pytest.mark.parametrize("exc", [
    _NeedsTwo(7, "custom"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    MemoryError("Unable to allocate 18.0 GiB"),
    KeyError("missing"),
], ids=lambda e: type(e).__name__)
def test_7_symbolic_call_errors_keep_their_type_and_say_where(exc):
    with pytest.raises(type(exc)) as info:
        _raiser(exc)(tp.Input(shape=(3,)))
    assert info.value is exc  # the very exception, not a rebuilt one
    assert any("while calling layer 'raising' on symbolic inputs [(None, 3)]" in n for n in exc.__notes__)


# --- 8. every refusal names the file ------------------------------------------------------------------------
def _header(shape):
    text = json.dumps({"x": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}}).encode()
    return len(text).to_bytes(8, "little") + text


@pytest.mark.parametrize("shape", [[0, 2**63], [0, 2**40, 2**40], [2**62, 0]])
def test_8_zero_size_shapes_past_numpy_limits_are_refused_with_the_file_name(tmp_path, shape):
    path = tmp_path / "w.safetensors"
    path.write_bytes(_header(shape))
    with pytest.raises(FileFormatError, match="too large for any array") as info:
        tp.saving.load_arrays(path)
    assert repr(str(path)) in str(info.value)


def test_8_numbers_of_thousands_of_digits_are_refused_with_the_file_name(tmp_path):
    tp.random.set_seed(0)
    model = tp.Sequential([tp.layers.Dropout(0.5, seed=1, input_shape=(3,)), tp.layers.Dense(2)])
    model.save(tmp_path / "d.tapeflow")
    members = archive.read_archive(tmp_path / "d.tapeflow")
    members["metadata.json"] = archive.dumps_json(members["metadata.json"])
    digits = "9" * 5000
    state = members["training_state.json"].decode()
    for name, text, match in [
        ("training_state.json", state.replace('"state": {', f'"state": {{"x": {digits}, ', 1), "5000 digits"),
        ("training_state.json", state.replace('"1"', f'"{digits}"', 1), "fits no layer"),
        ("config.json", members["config.json"].decode().replace('"units": 2', f'"units": {digits}'),
         "5000 digits"),
    ]:
        path = tmp_path / "e.tapeflow"
        archive.write_archive(path, {**members, name: text.encode()})
        with pytest.raises(FileFormatError, match=match) as info:
            tp.models.load_model(path)
        assert repr(str(path)) in str(info.value)
    path = tmp_path / "w.safetensors"
    text = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).replace("[1]", digits)
    path.write_bytes(len(text).to_bytes(8, "little") + text.encode())
    with pytest.raises(FileFormatError, match="5000 digits") as info:
        tp.saving.load_arrays(path)
    assert repr(str(path)) in str(info.value)


def test_8_disk_full_names_the_file(tmp_path, monkeypatch):
    def full(f, tensors, metadata=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safetensors_io, "write", full)
    target = tmp_path / "model.tapeflow"
    with pytest.raises(OSError, match=f"\\[Errno {errno.ENOSPC}\\] .*: '{target}'") as info:
        _small_model().save(target)
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # and nothing is left behind
    with pytest.raises(OSError, match="model.tapeflow"):
        with atomic_write(target):
            raise OSError(errno.EIO, "Input/output error")


def test_8_a_backup_without_weights_or_with_foreign_weights_is_refused_by_name(tmp_path):
    class Stop(tp.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # a crash after the first backup

    def fit(model):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), epochs=3, verbose=0,
                  callbacks=[tp.callbacks.BackupAndRestore(tmp_path / "b"), Stop()])

    with pytest.raises(KeyboardInterrupt):
        fit(_small_model())
    path = tmp_path / "b" / "backup.tapeflow"
    members = archive.read_archive(path)
    members["metadata.json"] = archive.dumps_json(members["metadata.json"])
    foreign = safetensors_io.dumps({"0000/x": np.zeros(5, "float32")})
    for change, match in [({"model.weights.safetensors": None}, "is not a training backup"),
                          ({"model.weights.safetensors": foreign}, "file holds 1 weights; the model has 2")]:
        edited = {k: v for k, v in {**members, **change}.items() if v is not None}
        archive.write_archive(path, edited)
        with pytest.raises(FileFormatError, match=match) as info:
            fit(_small_model())
        assert repr(str(path)) in str(info.value)


# --- 11. an integer Variable warns that it has no gradient --------------------------------------------------
def test_11_integer_variable_warns_naming_the_dtype_and_the_fix():
    with pytest.warns(UserWarning, match="dtype int(32|64).*tp.Variable\\(0.0\\)"):
        v = tp.Variable(0)
    with tp.GradientTape() as tape:
        y = v * 2
    assert tape.gradient(y, v) is None  # what the warning announced
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tp.Variable(0.0)
        tp.Variable(0, trainable=False)  # a counter: no warning
        tp.Variable(0, dtype="float32")
