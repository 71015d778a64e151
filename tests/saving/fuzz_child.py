"""The hostile-file fuzzer, run by tests/saving/test_fuzz_hostile.py in a child process under a memory limit.

Usage: python -m tests.saving.fuzz_child SECONDS EXTRA_BYTES

Builds valid ``.tapeflow`` and ``.safetensors`` files, then lets Hypothesis mutate them (bytes, safetensors
headers: dtypes, shapes, offsets, sizes; config values; zip entries: declared sizes, compression, names,
duplicates, flags) and loads each one. Every load must end in one of two ways:

* refused with tapeflow's own error (``FileFormatError`` / ``UnsafeFileError``) whose message names the file;
* loaded correctly: the model runs on a batch of its input shape (the weights file: the weights equal the
  file's arrays).

Never a hang (each load has ``PER_LOAD_SECONDS``), a crash (the parent sees the exit status), another
exception type, or a peak memory growth beyond ``3 x the array bytes the file declares + CONSTANT_BYTES``
(measured per load as the growth of VmHWM, reset through /proc/self/clear_refs; 3x: the built model's
initial weights, the file's bytes and the copies assigned from them, as ``python -m bench loading``
measures). The address space is limited to what importing took plus EXTRA_BYTES (resource.setrlimit), so a
runaway allocation fails loudly.

Each fuzz target gets an equal share of SECONDS, spent in rounds of 20 examples with seeds 0, 1, 2, ... (so a
failure names its seed and reproduces); examples drawn after the share has run out are not loaded (the
summary line counts the ones that were). Prints one JSON summary line per target, then "FUZZ OK".
"""

from __future__ import annotations

import copy
import io
import json
import os
import resource
import signal
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as s

import tapeflow as tp
from tapeflow.saving import FileFormatError, archive, safetensors_io

from .hostile import json_positions, mutations, patch_central_sizes, set_encrypted_flag

PER_LOAD_SECONDS = 10
CONSTANT_BYTES = 96 * 2**20  # the bound's constant, with LIMITS below (docs/saving.md states both)
LIMITS = tp.saving.Limits(max_activation_bytes=16 * 2**20)
FOLDER = Path(tempfile.mkdtemp(prefix="tapeflow-fuzz-"))


# --- measuring ----------------------------------------------------------------------------------------------
def _status(key) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))


def _reset_peak() -> int:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    return _status("VmRSS")


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a load ran past {PER_LOAD_SECONDS} s")


signal.signal(signal.SIGALRM, _alarm)


def _declared_bytes(path) -> int:
    """The array bytes a file declares: the uncompressed sizes its zip directory gives its array members, or
    the size of a bare safetensors file (0 for what is neither)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(i.file_size for i in zf.infolist() if i.filename in archive.ARRAY_MEMBERS)
    except Exception:  # not a zip: a safetensors file, or garbage
        return os.path.getsize(path)


# --- the valid files ----------------------------------------------------------------------------------------
def _sequential():
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input(shape=(6,)), tp.layers.Dense(8, activation="relu"),
                           tp.layers.RepeatVector(3), tp.layers.Conv1D(4, 2), tp.layers.LSTM(3),
                           tp.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 6), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    return model


def _functional():
    tp.random.set_seed(0)
    image, words = tp.Input(shape=(6, 6, 1)), tp.Input(shape=(4,), dtype="int32")
    h = tp.layers.Conv2D(2, 3, padding="same")(image)
    h = tp.layers.ZeroPadding2D(1)(tp.layers.UpSampling2D(2)(h))
    h = tp.layers.Flatten()(tp.layers.BatchNormalization()(h))
    e = tp.layers.Flatten()(tp.layers.Embedding(10, 3)(words))
    out = tp.layers.Dense(2)(tp.layers.Concatenate()([h, e]))
    model = tp.Model([image, words], out)
    model.compile(optimizer="sgd", loss="mse")
    return model


def _files():
    sequential, functional = _sequential(), _functional()
    sequential.save(FOLDER / "sequential.tapeflow")
    functional.save(FOLDER / "functional.tapeflow")
    sequential.save_weights(FOLDER / "weights.safetensors")
    return {name: (FOLDER / name).read_bytes()
            for name in ("sequential.tapeflow", "functional.tapeflow", "weights.safetensors")}


FILES = _files()


# --- loading one candidate ----------------------------------------------------------------------------------
def _batch(model):
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    dtypes = [t.dtype for t in model.inputs] if hasattr(model, "inputs") else ["float32"]
    # one batch size for every input: the one an input fixes (the loaded graph checked they agree), else 2
    fixed = {shape[0] for shape in shapes if shape and shape[0] is not None}
    n = fixed.pop() if len(fixed) == 1 else 2
    xs = [np.zeros(tuple((n if i == 0 else 2) if d is None else d for i, d in enumerate(shape)), dtype)
          for shape, dtype in zip(shapes, dtypes)]
    return xs if len(xs) > 1 else xs[0]


def check(blob: bytes, name: str, stats: dict) -> None:
    """Write ``blob`` as ``name`` and load it; assert the contract in the module docstring."""
    path = FOLDER / "candidate" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(blob)
    declared = _declared_bytes(path)
    base = _reset_peak()
    signal.setitimer(signal.ITIMER_REAL, PER_LOAD_SECONDS)
    try:
        if name.endswith(".safetensors"):
            model = _sequential()
            tp.saving.load_weights(model, path, limits=LIMITS)
            arrays = safetensors_io.load_file(path)
            for v, key in zip(model.weights, sorted(arrays)):
                np.testing.assert_array_equal(v.numpy(), arrays[key])
            growth = _status("VmHWM") - base
        else:
            model = tp.models.load_model(path, limits=LIMITS)
            # the bound is the loader's; running the loaded model on a batch (its activations are the
            # model's own business, not the file's) is checked after the peak is read
            growth = _status("VmHWM") - base
            # the loaded model runs; what running it costs is the model's (a dilation of 8192 with "same"
            # padding, or 8192x8192 images, is legal and may exceed this process's memory limit)
            batch = _batch(model)
            if sum(x.size for x in (batch if isinstance(batch, list) else [batch])) <= 2**16:
                try:
                    model(batch)
                except MemoryError:
                    pass
        outcome = "loaded"
    except FileFormatError as e:  # UnsafeFileError included
        assert repr(str(path)) in str(e), f"the refusal does not name the file: {e}"
        outcome = "refused"
        growth = _status("VmHWM") - base
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    bound = 3 * declared + CONSTANT_BYTES
    assert growth <= bound, f"peak memory grew by {growth} bytes, over {bound} ({declared} declared)"
    stats[outcome] += 1
    stats["max_growth_MiB"] = max(stats["max_growth_MiB"], round(growth / 2**20, 1))
    assert [p.name for p in path.parent.iterdir()] == [name], "the loader wrote a file"
    path.unlink()


# --- the mutations ------------------------------------------------------------------------------------------
CONFIG_VALUES = s.sampled_from([0, 1, -1, 2, 3, 7, 64, 8192, 2**20, 2**24, 2**31, 2**63, 10**40, 1e308, -0.5,
                                0.5, None, True, "", "same", "valid", "x", "relu", [], {}, [None, 8192],
                                [8192, 8192], [None, 2**20, 3], [2, 2]])


def _members(blob):
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return [(i, zf.read(i)) for i in zf.infolist()]


def _zip(entries):
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names, which is the point
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


@s.composite
def config_edits(draw, base):
    entries = _members(FILES[base])
    config_at = next(i for i, (info, _) in enumerate(entries) if info.filename == "config.json")
    config = json.loads(entries[config_at][1])
    for _ in range(draw(s.integers(1, 3))):
        positions = json_positions(config)
        node, key = positions[draw(s.integers(0, len(positions) - 1))]
        node[key] = copy.deepcopy(draw(CONFIG_VALUES))  # a copy: a later edit may write into a drawn list
    entries[config_at] = (entries[config_at][0], json.dumps(config).encode())
    return _zip(entries)


def _edit_header(blob, edit):
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    edit(header)
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + blob[8 + n:]


HEADER_VALUES = s.sampled_from([0, 1, 3, 2**31, 2**32 + 3, 2**62, 2**63, -1, "F32", "F64", "I64", "BF16",
                                None, [], [0, 2**63], [2**40, 2**40], [10**6, 10**6], [0, 0],
                                [2**62, 2**62 + 8]])


@s.composite
def header_edits(draw, blob):
    def edit(header):
        names = sorted(k for k in header if k != "__metadata__")
        entry = header[names[draw(s.integers(0, len(names) - 1))]]
        field = draw(s.sampled_from(["dtype", "shape", "data_offsets"]))
        value = copy.deepcopy(draw(HEADER_VALUES))
        if field == "dtype" or not isinstance(entry[field], list) or not entry[field] or draw(s.booleans()):
            entry[field] = value
        else:
            entry[field][draw(s.integers(0, len(entry[field]) - 1))] = value

    out = _edit_header(blob, edit)
    cut = draw(s.sampled_from([None, 0, 8, -1, -100]))
    return out if cut is None else out[:cut] if cut else out + bytes(draw(s.integers(1, 64)))


@s.composite
def weights_header_edits(draw, base):
    entries = _members(FILES[base])
    at = next(i for i, (info, _) in enumerate(entries) if info.filename == "model.weights.safetensors")
    entries[at] = (entries[at][0], draw(header_edits(entries[at][1])))
    return _zip(entries)


@s.composite
def zip_edits(draw, base):
    blob = FILES[base]
    kind = draw(s.sampled_from(["size", "deflate", "duplicate", "drop", "rename", "extra", "encrypt",
                                "offset"]))
    names = [info.filename for info, _ in _members(blob)]
    name = draw(s.sampled_from(names))
    if kind == "size":
        return patch_central_sizes(blob, name, draw(s.sampled_from([0, 1, 2**20, 2**31, 2**32 - 1])))
    if kind == "encrypt":
        return set_encrypted_flag(blob)
    if kind == "offset":  # move one central-directory entry's local-header offset
        out = bytearray(blob)
        starts = [i for i in range(len(out) - 4) if out[i:i + 4] == b"PK\x01\x02"]
        at = starts[draw(s.integers(0, len(starts) - 1))]
        old = int.from_bytes(out[at + 42:at + 46], "little")
        out[at + 42:at + 46] = max(old + draw(s.integers(-64, 64)), 0).to_bytes(4, "little")
        return bytes(out)
    entries = _members(blob)
    at = names.index(name)
    info, data = entries[at]
    if kind == "deflate":
        copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
        stored = info.compress_type == zipfile.ZIP_STORED
        copy.compress_type = zipfile.ZIP_DEFLATED if stored else zipfile.ZIP_STORED
        entries[at] = (copy, data)
    elif kind == "duplicate":
        entries.insert(at, (zipfile.ZipInfo(info.filename), data))
    elif kind == "drop":
        del entries[at]
    elif kind == "rename":
        names = archive.MEMBERS + ("../x", "/etc/passwd", "a\\..\\b")
        entries[at] = (zipfile.ZipInfo(draw(s.sampled_from(names))), data)
    else:
        extra = draw(s.sampled_from(["x.py", "config.json", "model.pkl"]))
        entries.append((zipfile.ZipInfo(extra), b"x" * 100))
    return _zip(entries)


# --- the targets --------------------------------------------------------------------------------------------
def targets():
    return [
        ("tapeflow bytes", lambda: mutations(FILES["sequential.tapeflow"]), "m.tapeflow"),
        ("safetensors bytes", lambda: mutations(FILES["weights.safetensors"]), "w.safetensors"),
        ("safetensors headers", lambda: header_edits(FILES["weights.safetensors"]), "w.safetensors"),
        ("weights headers in a model", lambda: weights_header_edits("functional.tapeflow"), "m.tapeflow"),
        ("sequential config values", lambda: config_edits("sequential.tapeflow"), "m.tapeflow"),
        ("functional config values", lambda: config_edits("functional.tapeflow"), "m.tapeflow"),
        ("zip entries", lambda: s.sampled_from(["sequential.tapeflow", "functional.tapeflow"]).flatmap(
            zip_edits), "m.tapeflow"),
    ]


def main():
    seconds, extra = float(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (_status("VmSize") + extra, resource.RLIM_INFINITY))
    share = seconds / len(targets())
    for label, strategy, name in targets():
        stats = {"target": label, "loaded": 0, "refused": 0, "max_growth_MiB": 0.0}
        stop = time.monotonic() + share
        round_ = 0
        while time.monotonic() < stop:  # rounds of a fixed seed each: reproducible, and bounded in time

            @seed(round_)
            @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(strategy())
            def run(blob):
                if time.monotonic() < stop:
                    check(blob, name, stats)

            run()
            round_ += 1
        print(json.dumps(stats), flush=True)
    print("FUZZ OK", flush=True)


if __name__ == "__main__":
    main()
