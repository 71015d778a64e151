"""Opening saved files without trusting them: regular files only, read no more than they hold.

Every loader in :mod:`tapeflow.saving` opens its file through :func:`open_regular`, so a path that names a
FIFO, a device or a socket is refused at once instead of blocking forever (``open()`` on a FIFO waits for a
writer) or reading without end (``/dev/zero``). :func:`read_regular` reads exactly the size the file system
reports, so no buffer is reserved beyond the file's own bytes.

Example:
    >>> import os, tempfile
    >>> from tapeflow.saving.files import open_regular, read_regular
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "w.bin")
    >>> _ = open(path, "wb").write(b"abc")
    >>> read_regular(path)
    b'abc'
    >>> os.mkfifo(os.path.join(folder, "pipe"))
    >>> open_regular(os.path.join(folder, "pipe"))
    Traceback (most recent call last):
    ...
    tapeflow.saving.errors.FileFormatError: '.../pipe' is not a regular file (a FIFO); refused without reading
"""

from __future__ import annotations

import os
import stat

from tapeflow.saving.errors import FileFormatError

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def _kind(mode) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path, max_bytes: int | None = None):
    """Open ``path`` for binary reading if, and only if, it is a regular file (of at most ``max_bytes``).

    The file is opened non-blocking (so a FIFO cannot stall the open) and checked with ``fstat`` on the open
    descriptor (so a swap between the check and the open cannot slip a FIFO in).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        FileFormatError: naming the file, for a FIFO, device, socket or folder, or a file over ``max_bytes``.
    """
    what = repr(os.fspath(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except IsADirectoryError:
        raise FileFormatError(f"{what} is not a regular file (a folder); refused without reading") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileFormatError(f"{what} is not a regular file ({_kind(info.st_mode)}); refused without "
                                  f"reading")
        if max_bytes is not None and info.st_size > max_bytes:
            raise FileFormatError(f"{what}: {info.st_size} bytes (limit {max_bytes})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, max_bytes: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_regular`), read with one buffer of the
    file's own size.

    Raises:
        FileFormatError: as :func:`open_regular`, or if the file changes size while it is read.
    """
    with open_regular(path, max_bytes) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(size)
        if len(data) != size or f.read(1):
            raise FileFormatError(f"{os.fspath(path)!r} changed size while it was read")
    return data
