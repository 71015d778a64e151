"""Exceptions raised by tapeflow. Shape errors are ``ValueError``s and dtype errors ``TypeError``s."""


class ShapeError(ValueError):
    """Raised at an op's boundary when shapes do not fit, naming the op and every shape."""


class DTypeError(TypeError):
    """Raised when a dtype is unknown or not allowed for an op."""


def add_note(e: BaseException, note: str) -> BaseException:
    """Add context to an exception without rebuilding it, and return it.

    ``type(e)(message)`` breaks every exception whose constructor takes other arguments and drops its
    attributes; a note (PEP 678) keeps the exception object itself: its type, arguments, attributes and
    traceback. Python prints notes under the message (from 3.11; on 3.10 they are only kept in
    ``e.__notes__``).

    Example:
        >>> e = add_note(KeyError("w"), "(while loading layer 'dense')")
        >>> type(e).__name__, e.args, e.__notes__
        ('KeyError', ('w',), ["(while loading layer 'dense')"])
    """
    if hasattr(e, "add_note"):
        e.add_note(note)
    else:  # Python 3.10
        e.__notes__ = [*getattr(e, "__notes__", ()), note]
    return e
