"""Property-based fuzzing of the file format: whatever the bytes, the readers either return well-formed data
or raise FileFormatError — never another exception, never a crash, never a write."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from tapeflow.saving import archive, safetensors_io
from tapeflow.saving.errors import FileFormatError

from .hostile import mutations

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_safetensors() -> bytes:
    return safetensors_io.dumps({"kernel": np.arange(6, dtype="float32").reshape(2, 3),
                                 "bias": np.zeros(3, "float64"), "step": np.array(4, "int64")},
                                metadata={"epoch": "1"})


def _valid_archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", archive.dumps_json(archive.new_metadata("weights")))
        zf.writestr("model.weights.safetensors", _valid_safetensors())
    return buf.getvalue()


SAFETENSORS = _valid_safetensors()
ARCHIVE = _valid_archive()


def _check_arrays(arrays, blob):
    assert sum(a.nbytes for a in arrays.values()) <= len(blob)
    for a in arrays.values():
        assert isinstance(a, np.ndarray) and a.dtype.kind in "biuf"


@FUZZ
@given(s.binary(max_size=300))
def test_random_bytes_never_escape_as_other_errors(blob):
    try:
        arrays, _ = safetensors_io.loads(blob)
    except FileFormatError:
        return
    _check_arrays(arrays, blob)


@FUZZ
@given(mutations(SAFETENSORS))
def test_mutated_safetensors_are_refused_or_well_formed(blob):
    try:
        arrays, metadata = safetensors_io.loads(blob)
    except FileFormatError:
        return
    _check_arrays(arrays, blob)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())


@FUZZ
@given(mutations(ARCHIVE))
def test_mutated_archives_are_refused_or_well_formed(tmp_path, blob):
    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    path = folder / "m.tapeflow"
    path.write_bytes(blob)
    try:
        members = archive.read_archive(path)
        safetensors_io.loads(members.get("model.weights.safetensors", SAFETENSORS))
    except FileFormatError:
        pass
    assert [p.name for p in folder.iterdir()] == ["m.tapeflow"]


DTYPES = ["bool", "uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32", "uint64",
          "int64", "float64"]


@FUZZ
@given(s.dictionaries(s.text(min_size=1, max_size=12).filter(lambda k: k != "__metadata__"),
                      s.tuples(s.sampled_from(DTYPES), s.lists(s.integers(0, 4), max_size=3)), max_size=5),
       s.dictionaries(s.text(max_size=5), s.text(max_size=5), max_size=3))
def test_round_trip_of_any_arrays(spec, metadata):
    rng = np.random.default_rng(0)
    arrays = {name: (rng.standard_normal(shape) * 50).astype(dtype) for name, (dtype, shape) in spec.items()}
    out, meta = safetensors_io.loads(safetensors_io.dumps(arrays, metadata))
    assert meta == metadata and list(out) == list(arrays)
    for name, arr in arrays.items():
        assert out[name].dtype == arr.dtype and out[name].shape == arr.shape
        np.testing.assert_array_equal(out[name], arr)


ENTRY = s.fixed_dictionaries({
    "dtype": s.sampled_from(["F32", "F64", "I8", "BOOL", "BF16", "F8", "", "f32"]),
    "shape": s.lists(s.one_of(s.integers(-2, 6), s.just(2**62), s.floats(0, 3), s.booleans()), max_size=3),
    "data_offsets": s.lists(s.integers(-4, 80), min_size=0, max_size=3),
})


@FUZZ
@given(s.dictionaries(s.text(min_size=1, max_size=4), ENTRY, max_size=4), s.binary(max_size=80))
def test_structured_headers_are_refused_or_consistent(header, data):
    """Headers that are valid JSON but say anything: every accepted array is backed by exactly its bytes."""
    text = json.dumps(header).encode()
    blob = len(text).to_bytes(8, "little") + text + data
    try:
        arrays, _ = safetensors_io.loads(blob)
    except FileFormatError:
        return
    assert sum(a.nbytes for a in arrays.values()) == len(data)
    for name, arr in arrays.items():
        begin, end = header[name]["data_offsets"]
        assert arr.tobytes() == data[begin:end]
