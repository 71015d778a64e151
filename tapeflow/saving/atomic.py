"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

The data go to a temporary file in the target's own folder (so the final rename never crosses a file
system), which is flushed and fsynced before ``os.replace`` swaps it in; the folder is then fsynced so the
rename itself survives a power cut. A process killed at any moment leaves the previous file intact; at
worst a stray temporary file stays behind, which no loader ever reads and which the next save of the same
target removes (:func:`remove_stale_temps`).

Temporary files are named ``.<name>.<pid>.<random>.tmp`` and their writer holds an exclusive ``flock`` on
them while it writes, so a later save can tell a dead writer's leftovers from a live writer's work.

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
import re
import tempfile

from tapeflow.errors import add_note

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporary files are left alone there
    fcntl = None

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


def _temp_prefix(path) -> str:
    return f".{os.path.basename(path)}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's live process (or we cannot tell): not ours to judge
    return True


def _lock(fd, blocking=True) -> bool:
    """Take an exclusive flock on ``fd``; False when another open file holds it (non-blocking)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def remove_stale_temps(path) -> list:
    """Remove the temporary files that killed writers of ``path`` left behind; return their names.

    Only files named as :func:`atomic_write` names them (``.<name>.<pid>.<8 characters>.tmp``) in the
    target's own folder are considered, and one is removed only when its writer process is gone *and* no
    one holds its lock. Nothing happens where ``flock`` does not exist (Windows).
    """
    if fcntl is None:
        return []
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(_temp_prefix(path)) + r"(\d+)\.[A-Za-z0-9_]{8}\.tmp")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or int(match.group(1)) == os.getpid() or _pid_alive(int(match.group(1))):
            continue
        full = os.path.join(folder, name)
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            if _lock(fd, blocking=False) and os.path.samestat(os.fstat(fd), os.lstat(full)):
                os.unlink(full)
                removed.append(name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


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
        OSError: from the file system (disk full, ...), its message naming ``path``.

    If the block raises, the temporary file is removed and ``path`` is untouched. Temporary files that
    earlier, killed writers of ``path`` left are removed first (see :func:`remove_stale_temps`).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot save to {path!r}: it is a folder; give a file name.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {path!r}: the folder {folder!r} does not exist.")
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        _lock(fd)  # held until the file is closed: while it is, no other save treats it as stale
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:
            if e.errno is not None:
                e.filename = path  # "[Errno 28] No space left on device: 'model.tapeflow'", not a bare errno
            else:
                add_note(e, f"(while saving {path!r})")
        raise
    fsync_dir(folder)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as f:
        f.write(data)
