"""Environment switches, read one way (every switch is listed in docs/environment.md).

An on/off switch ``TAPEFLOW_X`` reads the same everywhere: unset or empty gives its default; ``1``, ``true``,
``yes``, ``on`` turn it on; ``0``, ``false``, ``no``, ``off`` turn it off (any case, spaces ignored); anything
else raises ``ValueError`` naming the variable, so a typo is never read as a choice. A count (:func:`count`)
reads the same way: unset or empty gives its default, anything but a positive integer raises.
"""

from __future__ import annotations

import os

_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def flag(name, default=False, environ=None):
    """The on/off switch ``name`` from the environment (``environ``: default ``os.environ``).

    Returns:
        True or False, or ``default`` (which may be None, for "not set") when the variable is unset or empty.

    Raises:
        ValueError: for a value that is neither on nor off, naming the variable.

    Example:
        >>> flag("TAPEFLOW_EXAMPLE", environ={"TAPEFLOW_EXAMPLE": "0"}), flag("TAPEFLOW_EXAMPLE", environ={})
        (False, False)
    """
    text = (os.environ if environ is None else environ).get(name, "").strip().lower()
    if not text:
        return default
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise ValueError(f"{name} must be 0 or 1 (or unset). Received: {name}={text!r}")


def count(name, default, environ=None):
    """The positive integer ``name`` from the environment (``environ``: default ``os.environ``), or
    ``default`` when the variable is unset or empty.

    Raises:
        ValueError: for anything but a positive integer, naming the variable.

    Example:
        >>> count("TAPEFLOW_EXAMPLE", 1, environ={"TAPEFLOW_EXAMPLE": " 4 "})
        4
        >>> count("TAPEFLOW_EXAMPLE", 1, environ={})
        1
    """
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a positive integer (or unset). Received: {name}={text!r}")
    return int(text)
