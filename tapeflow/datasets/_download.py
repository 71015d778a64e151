"""Downloading into the cache: SHA-256 verified, atomic (a temporary file renamed into place), never partial.

The cache is ``$TAPEFLOW_HOME`` or ``~/.cache/tapeflow``. A download is written to a hidden temporary file
next to its destination while its SHA-256 is computed, checked against the expected length and hash, and only
then renamed to its final name, so a file under its real name in the cache is always complete and verified.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

_CHUNK = 1 << 16


class DownloadError(OSError):
    """A file could not be fetched (offline, server error, interrupted transfer or checksum mismatch)."""


def cache_dir() -> Path:
    """The cache folder: ``$TAPEFLOW_HOME`` if set, else ``~/.cache/tapeflow``.

    Example:
        >>> import os
        >>> from tapeflow.datasets import cache_dir
        >>> saved = os.environ.get("TAPEFLOW_HOME")
        >>> os.environ["TAPEFLOW_HOME"] = "/srv/tapeflow-cache"
        >>> str(cache_dir())
        '/srv/tapeflow-cache'
        >>> _ = os.environ.pop("TAPEFLOW_HOME") if saved is None else os.environ.update(TAPEFLOW_HOME=saved)
    """
    home = os.environ.get("TAPEFLOW_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "tapeflow"


def sha256(path) -> str:
    """The SHA-256 hex digest of a file."""
    return _file_digest(path, None)


def _hasher(file_hash):
    """MD5 for a 32-digit ``file_hash`` (the older hashes Keras publishes for some files), else SHA-256."""
    return hashlib.md5(usedforsecurity=False) if file_hash is not None and len(file_hash) == 32 \
        else hashlib.sha256()


def _file_digest(path, file_hash) -> str:
    digest = _hasher(file_hash)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, destination: Path, file_hash: str | None, timeout: float) -> None:
    """Download ``url`` to ``destination`` atomically; raises DownloadError and leaves nothing behind."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    try:
        digest, received = _hasher(file_hash), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
        if expected is not None and received != int(expected):
            raise DownloadError(f"interrupted transfer from {url}: received {received} of {expected} bytes")
        if file_hash is not None and digest.hexdigest() != file_hash.lower():
            raise DownloadError(
                f"checksum mismatch for {url}: expected {digest.name} {file_hash}, got {digest.hexdigest()} "
                f"({received} bytes); the file was discarded"
            )
        os.replace(tmp, destination)
    except DownloadError:
        raise
    except urllib.error.URLError as error:  # no server, DNS failure, HTTP 404, ...
        raise DownloadError(f"could not download {url}: {error.reason}") from error
    except Exception as error:  # socket timeouts, http.client.IncompleteRead, RemoteDisconnected, bad URLs
        raise DownloadError(f"could not download {url}: {type(error).__name__}: {error}") from error
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def get_file(fname, origin, file_hash=None, cache_subdir="datasets", cache_dir=None, timeout=60.0):
    """Return the local path of ``fname``, downloading it from ``origin`` into the cache if needed.

    A cached file whose SHA-256 does not match ``file_hash`` is downloaded again. Each URL in ``origin`` is
    tried in turn; the error lists every attempt.

    Args:
        fname: the file name in the cache.
        origin: a URL, or a list of mirror URLs for the same file.
        file_hash: the expected SHA-256 hex digest (recommended; a 32-digit one is taken as MD5, as Keras
            does); None skips the check.
        cache_subdir: folder inside the cache.
        cache_dir: the cache folder (default: :func:`cache_dir`).
        timeout: seconds to wait for the server.

    Returns:
        The path (a ``pathlib.Path``) of the verified file.

    Raises:
        DownloadError: when no origin delivered a complete file with the right hash.

    Example:
        >>> import hashlib, pathlib, tempfile, tapeflow as tp
        >>> source = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
        >>> _ = source.write_text("hello")
        >>> digest = hashlib.sha256(b"hello").hexdigest()
        >>> cache = tempfile.mkdtemp()
        >>> path = tp.utils.get_file("notes.txt", source.as_uri(), file_hash=digest, cache_dir=cache)
        >>> path.name, path.read_text()
        ('notes.txt', 'hello')
    """
    folder = Path(cache_dir) if cache_dir is not None else globals()["cache_dir"]()
    destination = folder / cache_subdir / fname
    cached = destination.exists()
    if cached and (file_hash is None or _file_digest(destination, file_hash) == file_hash.lower()):
        return destination
    urls = [origin] if isinstance(origin, str) else list(origin)
    failures = []
    for url in urls:
        try:
            _fetch(url, destination, file_hash, timeout)
            return destination
        except DownloadError as error:
            failures.append(str(error))
    raise DownloadError(f"{fname}: every download attempt failed:\n  " + "\n  ".join(failures))
