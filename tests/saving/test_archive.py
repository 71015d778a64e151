"""The ``.tapeflow`` zip container: written atomically and deterministically, and every hostile shape of file
refused with a clear error, nothing run and nothing written."""

from __future__ import annotations

import os
import zipfile

import pytest

from tapeflow.saving import archive
from tapeflow.saving.errors import FileFormatError, UnsafeFileError

from .hostile import meta, patch_central_sizes, pickle_payload, set_encrypted_flag, zip_bytes


def _write(path, blob):
    path.write_bytes(blob)
    return path


def _snapshot(folder):
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*"))


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.tapeflow"
    archive.write_archive(path, {"metadata.json": archive.dumps_json(archive.new_metadata("weights")),
                                 "config.json": b'{"a": 1}',
                                 "model.weights.safetensors": lambda f: f.write(b"x" * 1000)})
    return path


def test_round_trip_and_member_order(good):
    members = archive.read_archive(good)
    assert members["metadata.json"]["kind"] == "weights"
    assert members["config.json"] == b'{"a": 1}'
    assert members["model.weights.safetensors"] == b"x" * 1000
    with zipfile.ZipFile(good) as zf:
        names = [i.filename for i in zf.infolist()]
        assert names == ["metadata.json", "config.json", "model.weights.safetensors"]
        assert zf.getinfo("model.weights.safetensors").compress_type == zipfile.ZIP_STORED


def test_same_content_gives_same_bytes(tmp_path):
    members = {"metadata.json": archive.dumps_json(archive.new_metadata("model")), "config.json": b"{}"}
    archive.write_archive(tmp_path / "a", members)
    archive.write_archive(tmp_path / "b", members)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_writer_refuses_unknown_members_and_missing_metadata(tmp_path):
    with pytest.raises(ValueError, match="Received: \\['evil.py', 'metadata.json'\\]"):
        archive.write_archive(tmp_path / "x", {"metadata.json": b"{}", "evil.py": b""})
    with pytest.raises(ValueError, match="holds 'metadata.json'"):
        archive.write_archive(tmp_path / "x", {"config.json": b"{}"})
    assert not list(tmp_path.iterdir())


def test_new_metadata_refuses_unknown_kind():
    with pytest.raises(ValueError, match="`kind` must be one of"):
        archive.new_metadata("pickle")


def test_every_prefix_of_a_good_file_is_refused(good, tmp_path):
    blob = good.read_bytes()
    bad = tmp_path / "cut.tapeflow"
    for cut in sorted({0, 1, 4, 22, 100, len(blob) // 2, len(blob) - 200, len(blob) - 23, len(blob) - 1}):
        bad.write_bytes(blob[:cut])
        with pytest.raises(FileFormatError, match="truncated, corrupt or not a zip file"):
            archive.read_archive(bad)


STORED = zipfile.ZIP_STORED
HOSTILE = {
    "empty": (b"", FileFormatError, "truncated, corrupt or not a zip"),
    "random bytes": (os.urandom(64) + b"\x00" * 64, FileFormatError, "not a zip file"),
    "traversal ../": (zip_bytes([("metadata.json", meta()), ("../evil.py", b"x")]), UnsafeFileError,
                      "'../evil.py' points outside the archive"),
    "traversal deep": (zip_bytes([("a/../../../evil", b"x")]), UnsafeFileError, "path traversal"),
    "absolute": (zip_bytes([("/tmp/evil", b"x")]), UnsafeFileError, "path traversal"),
    "backslash": (zip_bytes([("..\\evil", b"x")]), UnsafeFileError, "path traversal"),
    "drive": (zip_bytes([("C:evil", b"x")]), UnsafeFileError, "path traversal"),
    "pickle member": (zip_bytes([("metadata.json", meta()), ("model.pkl", b"x")]), UnsafeFileError,
                      "unexpected member 'model.pkl'"),
    "duplicate": (zip_bytes([("metadata.json", meta()), ("metadata.json", meta())]), UnsafeFileError,
                  "appears twice"),
    "encrypted": (set_encrypted_flag(zip_bytes([("metadata.json", meta())])), UnsafeFileError, "encrypted"),
    "bzip2": (zip_bytes([("metadata.json", meta())], compress=zipfile.ZIP_BZIP2), FileFormatError,
              "compression method 12"),
    "zip bomb": (zip_bytes([("metadata.json", meta()), ("config.json", b" " * 3_000_000)]), UnsafeFileError,
                 "a zip bomb"),
    "lying size": (patch_central_sizes(zip_bytes([("metadata.json", meta()), ("config.json", b"{}" * 500)]),
                                       "config.json", 10), FileFormatError, "truncated, corrupt"),
    "no metadata": (zip_bytes([("config.json", b"{}")]), FileFormatError, "has no metadata.json"),
    "metadata not json": (zip_bytes([("metadata.json", b"{nope")]), FileFormatError, "not valid JSON"),
    "metadata not utf8": (zip_bytes([("metadata.json", b"\xff\xfe")]), FileFormatError, "not valid JSON"),
    "metadata list": (zip_bytes([("metadata.json", b"[]")]), FileFormatError, "does not declare format"),
    "other format": (zip_bytes([("metadata.json", meta(format="keras"))]), FileFormatError,
                     "does not declare format 'tapeflow'"),
    "future version": (zip_bytes([("metadata.json", meta(format_version=99))]), FileFormatError,
                       "format_version 99 is not supported"),
    "bool version": (zip_bytes([("metadata.json", meta(format_version=True))]), FileFormatError,
                     "format_version True"),
    "bad kind": (zip_bytes([("metadata.json", meta(kind="exec"))]), FileFormatError, "has kind 'exec'"),
    "duplicate keys": (zip_bytes([("metadata.json", b'{"format": "tapeflow", "format": "x"}')]),
                       FileFormatError, "duplicate key 'format'"),
    "deep json": (zip_bytes([("metadata.json", b"[" * 100_000 + b"]" * 100_000)], STORED), UnsafeFileError,
                  "nested"),
    "depth 65": (zip_bytes([("metadata.json", b"[" * 65 + b"]" * 65)], STORED), UnsafeFileError,
                 "deeper than 64"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_archives_are_refused_and_nothing_is_written(name, tmp_path):
    blob, error, match = HOSTILE[name]
    target = tmp_path / "inbox"
    target.mkdir()
    path = _write(target / "model.tapeflow", blob)
    before = _snapshot(tmp_path)
    with pytest.raises(error, match=match) as info:
        archive.read_archive(path)
    assert repr(str(path)) in str(info.value)
    assert _snapshot(tmp_path) == before


def test_a_pickle_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    zipped = zip_bytes([("metadata.json", meta()), ("model.pkl", pickle_payload(marker))])
    for blob in (pickle_payload(marker), zipped):
        path = _write(tmp_path / "model.tapeflow", blob)
        with pytest.raises(FileFormatError):
            archive.read_archive(path)
    assert not marker.exists()


def test_size_limits_are_enforced_before_reading(tmp_path):
    path = _write(tmp_path / "m.tapeflow", zip_bytes([("metadata.json", meta()),
                                                      ("model.weights.safetensors", b"\0" * 2000)],
                                                     compress=zipfile.ZIP_STORED))
    with pytest.raises(UnsafeFileError, match="claims 2000 bytes \\(limit 1000\\)"):
        archive.read_archive(path, limits=archive.Limits(max_member_bytes=1000))
    with pytest.raises(UnsafeFileError, match="total 2\\d\\d\\d bytes \\(limit 2000\\)"):
        archive.read_archive(path, limits=archive.Limits(max_total_bytes=2000))
    with pytest.raises(UnsafeFileError, match="bytes of JSON"):
        archive.loads_json(b"[]" * 100, "x", archive.Limits(max_json_bytes=10))


def test_overlapping_members_are_refused(tmp_path):
    blob = bytearray(zip_bytes([("metadata.json", meta()), ("config.json", b"{}")], STORED))
    # point config.json's central-directory entry at metadata.json's local header: the classic overlap bomb
    cd = blob.rfind(b"PK\x01\x02")
    blob[cd + 42:cd + 46] = (0).to_bytes(4, "little")
    path = _write(tmp_path / "m.tapeflow", bytes(blob))
    with pytest.raises(FileFormatError, match="overlap|differ|corrupt"):
        archive.read_archive(path)


def test_special_files_and_folders_are_refused(tmp_path):
    with pytest.raises(FileFormatError, match="not a regular file"):
        archive.read_archive(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(FileFormatError, match="not a regular file"):
            archive.read_archive("/dev/zero")
    with pytest.raises(FileNotFoundError):
        archive.read_archive(tmp_path / "missing.tapeflow")
