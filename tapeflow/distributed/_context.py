"""Which strategy is current: the innermost ``strategy.scope()`` block, if any.

Kept apart from the strategy itself and free of imports of its own. Importing it still runs
``tapeflow/distributed/__init__.py``, which loads the package's communicator and strategy modules (``_comm``,
``strategy``, ``_buffers``), but not MPI: mpi4py is imported only when a launcher started the process.
"""

from __future__ import annotations

import contextlib

_stack = []


def current():
    """The strategy of the innermost active ``scope()`` block, or ``None``."""
    return _stack[-1] if _stack else None


@contextlib.contextmanager
def entered(strategy):
    """Make ``strategy`` current for the duration of a ``with`` block (blocks nest)."""
    _stack.append(strategy)
    try:
        yield strategy
    finally:
        _stack.pop()
