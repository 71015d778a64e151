"""The ``.tapeflow`` container: a zip archive of JSON and safetensors members, written atomically and read
defensively.

Members (only these names are ever written or accepted):

* ``metadata.json`` — always: ``{"format": "tapeflow", "format_version": 1, "kind": ..., "tapeflow_version":
  ..., ...}``.
* ``config.json`` — the architecture and compile settings (plain JSON, class names only).
* ``model.weights.safetensors`` and ``optimizer.safetensors`` — the arrays.
* ``training_state.json`` — epoch and random-generator state, for resuming.

The reader never extracts anything to disk and never trusts a size it has not checked: the whole archive
is refused if it has an unexpected or path-like member name, a duplicate name, encryption, an unknown
compression, overlapping members, a member or total size over :class:`Limits`, or a compression ratio that
marks a zip bomb; members are read with bounded reads and their CRCs are checked.

Example:
    >>> import os, tempfile
    >>> from tapeflow.saving import archive
    >>> path = os.path.join(tempfile.mkdtemp(), "m.tapeflow")
    >>> archive.write_archive(path, {"metadata.json": archive.dumps_json(archive.new_metadata("weights"))})
    >>> sorted(archive.read_archive(path))
    ['metadata.json']
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
import zipfile

from tapeflow.saving.atomic import atomic_write
from tapeflow.saving.errors import FileFormatError, UnsafeFileError
from tapeflow.saving.files import open_regular
from tapeflow.saving.safetensors_io import bounded_int, no_duplicate_keys, read_header

FORMAT = "tapeflow"
FORMAT_VERSION = 1
KINDS = ("model", "weights", "backup")
JSON_MEMBERS = ("metadata.json", "config.json", "training_state.json")
ARRAY_MEMBERS = ("model.weights.safetensors", "optimizer.safetensors")
MEMBERS = JSON_MEMBERS + ARRAY_MEMBERS
_EPOCH = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp: the same model always gives the same bytes


@dataclasses.dataclass(frozen=True)
class Limits:
    """Upper bounds the reader enforces before it reads a byte of a member.

    Attributes:
        max_member_bytes: the largest uncompressed member.
        max_total_bytes: the largest sum of uncompressed members.
        max_json_bytes: the largest JSON member.
        max_ratio: the largest uncompressed/compressed ratio of a compressed member (zip-bomb guard).
        max_json_depth: the deepest nesting of JSON arrays and objects.
        max_config_int: the largest integer a model config may hold (seeds excepted): layer sizes, lengths.
        max_sample_elements: the most values per sample a shape in a model config may describe.
        max_activation_bytes: the largest activation rebuilding a model may make: layers with a shape rule
            are built from shapes (no activation at all); the placeholder inputs and outputs of any other
            layer are held to this.
    """

    max_member_bytes: int = 8 * 2**30
    max_total_bytes: int = 16 * 2**30
    max_json_bytes: int = 64 * 2**20
    max_ratio: int = 200
    max_json_depth: int = 64
    max_config_int: int = 2**24
    max_sample_elements: int = 2**28
    max_activation_bytes: int = 128 * 2**20


DEFAULT_LIMITS = Limits()


def new_metadata(kind: str, **extra) -> dict:
    """The ``metadata.json`` content for an archive of ``kind`` ("model", "weights" or "backup")."""
    from tapeflow import __version__

    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "tapeflow_version": __version__,
            **extra}


def dumps_json(obj) -> bytes:
    """Serialize ``obj`` as UTF-8 JSON (only JSON types; NaN and infinities allowed, as Python does)."""
    return json.dumps(obj, indent=1, sort_keys=False, ensure_ascii=False).encode("utf-8")


def _check_depth(obj, limit, what):
    stack = [(obj, 1)]  # iterative: a hostile file must not be able to exhaust the Python stack
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                raise UnsafeFileError(f"{what}: JSON nested deeper than {limit} levels")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


def loads_json(data: bytes, what: str, limits: Limits = DEFAULT_LIMITS):
    """Parse JSON bytes from a file, refusing invalid UTF-8, duplicate keys and absurd nesting.

    Raises:
        FileFormatError: if the bytes are not valid JSON.
        UnsafeFileError: if the JSON is too large or nested too deeply.
    """
    if len(data) > limits.max_json_bytes:
        raise UnsafeFileError(f"{what}: {len(data)} bytes of JSON (limit {limits.max_json_bytes})")
    try:
        obj = json.loads(bytes(data).decode("utf-8"), object_pairs_hook=no_duplicate_keys,
                         parse_int=bounded_int)
    except FileFormatError as e:
        raise FileFormatError(f"{what}: {e}") from None
    except RecursionError:
        raise UnsafeFileError(f"{what}: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise FileFormatError(f"{what}: not valid JSON ({type(e).__name__}: {e})") from None
    _check_depth(obj, limits.max_json_depth, what)
    return obj


def write_archive(path, members: dict) -> None:
    """Write a ``.tapeflow`` archive atomically.

    Args:
        path: the file to (re)place.
        members: member name -> ``bytes``, or a function ``fn(file)`` that writes the member's content (so
            large arrays stream into the archive without an extra copy). ``metadata.json`` is required.

    Raises:
        ValueError: for a member name outside :data:`MEMBERS`, or without ``metadata.json``.
    """
    unknown = sorted(set(members) - set(MEMBERS))
    if unknown or "metadata.json" not in members:
        raise ValueError(f"An archive holds 'metadata.json' and optionally {list(MEMBERS[1:])}. "
                         f"Received: {sorted(members)}")
    order = [m for m in MEMBERS if m in members]
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", allowZip64=True) as zf:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED if name in JSON_MEMBERS else zipfile.ZIP_STORED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            content = members[name]
            if callable(content):
                with zf.open(info, "w", force_zip64=True) as dst:
                    content(dst)
            else:
                zf.writestr(info, content)


def _traversal(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _check_infos(infos, limits, what):
    seen, total = set(), 0
    for info in infos:
        name = info.filename
        if _traversal(name):
            raise UnsafeFileError(f"{what}: member {name!r} points outside the archive (path traversal); "
                                  f"refused, nothing was extracted")
        if name not in MEMBERS:
            raise UnsafeFileError(f"{what}: unexpected member {name!r}; a tapeflow archive holds only "
                                  f"{list(MEMBERS)}")
        if name in seen:
            raise UnsafeFileError(f"{what}: member {name!r} appears twice")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise UnsafeFileError(f"{what}: member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FileFormatError(f"{what}: member {name!r} uses compression method {info.compress_type}; "
                                  f"only stored (0) and deflated (8) are read")
        cap = limits.max_json_bytes if name in JSON_MEMBERS else limits.max_member_bytes
        if info.file_size > cap:
            raise UnsafeFileError(f"{what}: member {name!r} claims {info.file_size} bytes (limit {cap})")
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > limits.max_ratio * max(
                info.compress_size, 1):
            raise UnsafeFileError(f"{what}: member {name!r} expands {info.compress_size} bytes to "
                                  f"{info.file_size} (ratio limit {limits.max_ratio}): a zip bomb")
        total += info.file_size
    if total > limits.max_total_bytes:
        raise UnsafeFileError(f"{what}: members total {total} bytes (limit {limits.max_total_bytes})")
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for a, b in zip(ordered, ordered[1:]):
        if a.header_offset + 30 + a.compress_size > b.header_offset:
            raise UnsafeFileError(f"{what}: members {a.filename!r} and {b.filename!r} overlap: a zip bomb")


def _read_member(zf, info, what) -> bytes:
    with zf.open(info) as src:
        data = src.read(info.file_size + 1)  # bounded: a lying header cannot make us read more
    if len(data) != info.file_size:
        raise FileFormatError(f"{what}: member {info.filename!r} holds {len(data)} bytes, its header says "
                              f"{info.file_size}")
    return data


@contextlib.contextmanager
def _corrupt_as_format_error(what):
    """zipfile and zlib raise a zoo of types on hostile bytes; each means "corrupt"."""
    try:
        yield
    except FileFormatError:
        raise
    except Exception as e:
        raise FileFormatError(f"{what} is not a readable tapeflow archive: it is truncated, corrupt or not a "
                              f"zip file ({type(e).__name__}: {e})") from None


class LazyMember:
    """An array member of an open archive, read only when asked: first its safetensors header alone (so a
    loader compares what it declares with what the model needs before inflating anything), then all of it.
    Valid inside :func:`open_archive`'s block only."""

    def __init__(self, zf, info, what):
        self._zf, self._info, self._what = zf, info, what
        self.name = info.filename

    def header(self):
        """The member's checked :class:`~tapeflow.saving.safetensors_io.Header`; its declared size must be
        the member's size.

        Raises:
            FileFormatError: naming the archive and the member.
        """
        what = f"{self._what}: {self.name}"
        with _corrupt_as_format_error(self._what), self._zf.open(self._info) as src:
            header = read_header(src, what)
        if header.size != self._info.file_size:
            raise FileFormatError(f"{what}: its header describes {header.size} bytes but the member holds "
                                  f"{self._info.file_size}")
        return header

    def read(self) -> bytes:
        """The member's bytes (bounded by its checked size)."""
        with _corrupt_as_format_error(self._what):
            return _read_member(self._zf, self._info, self._what)


@contextlib.contextmanager
def open_archive(path, limits: Limits | None = None, skip=(), lazy=()):
    """Open and check a ``.tapeflow`` archive, as :func:`read_archive`, but yield array members named in
    ``lazy`` as :class:`LazyMember` objects that read nothing until asked (valid inside the block).

    Raises:
        As :func:`read_archive`.
    """
    limits = limits or DEFAULT_LIMITS
    what = repr(os.fspath(path))
    with open_regular(path) as f:
        with _corrupt_as_format_error(what):
            zf = zipfile.ZipFile(f)
        with zf:
            with _corrupt_as_format_error(what):
                infos = zf.infolist()
                _check_infos(infos, limits, what)
                members = {i.filename: LazyMember(zf, i, what) if i.filename in lazy
                           else _read_member(zf, i, what) for i in infos if i.filename not in skip}
            if "metadata.json" not in members:
                raise FileFormatError(f"{what} is not a tapeflow archive: it has no metadata.json")
            members["metadata.json"] = _check_metadata(members["metadata.json"], what, limits)
            yield members  # outside the error translation: what the caller raises stays as it is


def _check_metadata(data, what, limits):
    metadata = loads_json(data, f"{what}: metadata.json", limits)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise FileFormatError(f"{what}: metadata.json does not declare format {FORMAT!r}")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise FileFormatError(f"{what}: format_version {version!r} is not supported (this tapeflow "
                              f"reads 1 to {FORMAT_VERSION}); upgrade tapeflow")
    if metadata.get("kind") not in KINDS:
        raise FileFormatError(f"{what}: metadata.json has kind {metadata.get('kind')!r}; "
                              f"expected one of {KINDS}")
    return metadata


def read_archive(path, limits: Limits | None = None, skip=()) -> dict:
    """Read and check a ``.tapeflow`` archive: member name -> bytes (``metadata.json`` parsed to a dict).

    Args:
        path: the archive.
        limits: size limits (default :data:`DEFAULT_LIMITS`).
        skip: member names to check but not read (absent from the result).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        FileFormatError: truncated, corrupt or not a tapeflow archive (or of a newer format version).
        UnsafeFileError: hostile structure (see the module docstring).
    """
    with open_archive(path, limits, skip) as members:
        return members
