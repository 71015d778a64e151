"""Errors raised when a saved file is refused.

Both are ``ValueError``s, so ``except ValueError`` keeps working; the message always names the file and
what is wrong with it.
"""

from __future__ import annotations


class FileFormatError(ValueError):
    """A saved file is truncated, corrupt, too large, or does not match the model it is loaded into."""


class UnsafeFileError(FileFormatError):
    """A saved file asks for something tapeflow never does on load: an unknown class, a path outside the
    archive, a zip bomb. Nothing in the file was run."""
