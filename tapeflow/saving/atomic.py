"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

The data go to a temporary file in the target's own folder (so the final rename never crosses a file
system), which is flushed and fsynced before ``os.replace`` swaps it in; the folder is then fsynced so the
rename itself survives a power cut. A process killed at any moment leaves the previous file intact; at
worst a stray ``.<name>.*.tmp`` file stays behind, which no loader ever reads.

Example:
    >>> import os, tempfile
    >>> from tapeflow.saving.atomic import atomic_write
    >>> folder = tempfile.mkdtemp()
    >>> with atomic_write(os.path.join(folder, "notes.txt")) as f:
    ...     _ = f.write(b"hello")
    >>> open(os.path.join(folder, "notes.txt"), "rb").read()
    b'hello'
"""

from __future__ import annotations

import contextlib
import os
import tempfile

_UMASK = None


def _default_mode() -> int:
    """The permission bits ``open()`` would give a new file (mkstemp's 0o600 would surprise users)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


def fsync_dir(folder) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened (Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path):
    """Open ``path`` for binary writing so that it is replaced all at once when the block ends without error.

    Args:
        path: the file to write (str or path-like). Its folder must exist.

    Yields:
        A binary file object; write to it inside the ``with`` block.

    Raises:
        IsADirectoryError: if ``path`` is an existing folder.
        FileNotFoundError: if the folder does not exist.

    If the block raises, the temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot save to {path!r}: it is a folder; give a file name.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {path!r}: the folder {folder!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as f:
        f.write(data)
