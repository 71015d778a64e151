"""The NumPy safetensors codec: round trips, interop with the reference package, refusal of bad headers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.saving import safetensors_io as st
from tapeflow.saving.errors import FileFormatError

DTYPES = ["bool", "uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32", "uint64",
          "int64", "float64"]


def _sample(dtype, shape):
    rng = np.random.default_rng(0)
    return (rng.standard_normal(shape) * 100).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 0, 2), (2, 3, 4)])
def test_round_trip_every_dtype_and_shape(dtype, shape):
    arr = _sample(dtype, shape)
    out, meta = st.loads(st.dumps({"x": arr}))
    assert meta == {}
    assert out["x"].dtype == arr.dtype and out["x"].shape == arr.shape
    np.testing.assert_array_equal(out["x"], arr)
    assert out["x"].flags.writeable and out["x"].flags.owndata


def test_non_contiguous_and_big_endian_inputs_are_stored_as_values():
    a = np.arange(12.0).reshape(3, 4).T
    b = np.arange(5, dtype=">i4")
    out, _ = st.loads(st.dumps({"a": a, "b": b}))
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"], b)
    assert out["b"].dtype == np.dtype("int32")


def test_reference_package_reads_ours_and_we_read_theirs():
    safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="the `save` extra is not installed")
    arrays = {name: _sample(name, (2, 3)) for name in DTYPES}
    arrays["scalar"] = np.array(3.5, dtype="float32")
    theirs = safetensors_numpy.load(st.dumps(arrays, metadata={"k": "v"}))
    ours, meta = st.loads(safetensors_numpy.save(arrays, metadata={"k": "v"}))
    assert meta == {"k": "v"}
    for name, arr in arrays.items():
        for got in (theirs[name], ours[name]):
            assert got.dtype == arr.dtype and got.shape == arr.shape
            np.testing.assert_array_equal(got, arr)


def test_header_is_aligned_and_output_is_deterministic():
    arrays = {"w": np.ones((3, 3), "float32"), "b": np.zeros(3, "float32")}
    blob = st.dumps(arrays)
    assert int.from_bytes(blob[:8], "little") % 8 == 0
    assert blob == st.dumps(arrays)


@pytest.mark.parametrize("bad, match", [
    ({"__metadata__": np.zeros(1)}, "names must be"),
    ({"": np.zeros(1)}, "names must be"),
    ({"x": np.zeros(1, dtype=complex)}, "cannot store array 'x' of dtype complex128"),
    ({"x": np.array(["a"])}, "cannot store"),
])
def test_writer_refuses_bad_names_and_dtypes(bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        st.dumps(bad)


def test_writer_refuses_non_string_metadata():
    with pytest.raises(TypeError, match="metadata must map strings"):
        st.dumps({"x": np.zeros(1)}, metadata={"epoch": 3})


def _blob(header: dict, data: bytes = b"", pad=True) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


GOOD_ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}

HOSTILE_HEADERS = [
    (b"", "truncated"),
    (b"\x05\x00\x00", "truncated"),
    ((2**63).to_bytes(8, "little"), "absurd"),
    ((200).to_bytes(8, "little") + b"{}", "truncated"),
    ((4).to_bytes(8, "little") + b"\xff\xfe{}", "not valid JSON"),
    ((3).to_bytes(8, "little") + b"{x}", "not valid JSON"),
    (_blob([1, 2]), "must be a JSON object"),
    (_blob({"x": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, bytes(2)), "bfloat16"),
    (_blob({"x": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)), "unsupported dtype 'O'"),
    (_blob({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)), "invalid shape"),
    (_blob({"x": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, bytes(4)), "invalid shape"),
    (_blob({"x": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, bytes(4)), "invalid shape"),
    (_blob({"x": {"dtype": "F32", "shape": [1] * 40, "data_offsets": [0, 4]}}, bytes(4)), "invalid shape"),
    (_blob({"x": {"dtype": "F32", "shape": [10**30], "data_offsets": [0, 4]}}, bytes(4)),
     "needs 4" + "0" * 30),
    (_blob({"x": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, bytes(8)), "invalid data_offsets"),
    (_blob({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "extra": 1}}, bytes(8)), "exactly"),
    (_blob({"x": "F32"}), "exactly"),
    (_blob({"x": GOOD_ENTRY}, bytes(4)), "truncated"),
    (_blob({"x": GOOD_ENTRY}, bytes(12)), "4 unexpected bytes"),
    (_blob({"x": GOOD_ENTRY, "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)),
     "overlaps"),
    (_blob({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)), "leaves a gap"),
    (_blob({"__metadata__": {"a": 1}}), "must map strings to strings"),
    (_blob({"__metadata__": [1]}), "must map strings to strings"),
    ((18).to_bytes(8, "little") + b'{"x": {}, "x": {}}', "duplicate key 'x'"),
    (_blob({"x" * 2000: GOOD_ENTRY}, bytes(8)), "2000 characters"),
]


@pytest.mark.parametrize("blob, match", HOSTILE_HEADERS, ids=[m for _, m in HOSTILE_HEADERS])
def test_hostile_safetensors_are_refused_with_a_clear_error(blob, match):
    with pytest.raises(FileFormatError, match=match) as info:
        st.loads(blob, what="'evil.safetensors'")
    assert str(info.value).startswith("'evil.safetensors'")


def test_views_without_copy_and_loaded_weights_own_their_memory(tmp_path):
    blob = st.dumps({"w": np.arange(6, dtype="float32")})
    view = st.loads(blob, copy=False)[0]["w"]
    assert not view.flags.writeable and not view.flags.owndata
    model = tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(2)])
    model.save_weights(tmp_path / "w.safetensors")
    model.load_weights(tmp_path / "w.safetensors")
    assert all(w._value.flags.writeable and w._value.flags.owndata for w in model.weights)
