"""Data-parallel training over MPI: the same script on many processes, one model kept identical on all of
them.

Launch a script with ``mpiexec -n 4 python train.py`` (or ``tapeflow launch -n 4 train.py``) and, in it::

    strategy = tp.distributed.DataParallel()
    with strategy.scope():
        model = tp.Sequential([...])
        model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=256, epochs=10)      # batch_size is the global batch

MPI comes from the optional extra (``pip install mpi4py mpich``, or ``pip install -e ".[mpi]"`` in a
checkout). mpi4py is imported only when a launcher started the process; a plain ``python train.py`` runs as
one process, exactly as without this package. See ``docs/distributed.md`` for the guide.

Example:
    >>> import tapeflow as tp
    >>> tp.distributed.rank(), tp.distributed.size(), tp.distributed.is_chief()
    (0, 1, True)
    >>> tp.distributed.local_rank(), tp.distributed.local_size()
    (0, 1)
"""

from __future__ import annotations

import builtins
import functools

from tapeflow.callbacks import hooks as _hooks
from tapeflow.distributed._comm import world
from tapeflow.distributed.strategy import DataParallel, shard_bounds


def get_strategy():
    """The :class:`DataParallel` strategy of the innermost active ``strategy.scope()`` block, or ``None``."""
    hooks = _hooks.current()
    return hooks if isinstance(hooks, DataParallel) else None


def rank() -> int:
    """This process's rank in the job (0 in a plain single process)."""
    return world().rank


def size() -> int:
    """The number of processes in the job (1 in a plain single process)."""
    return world().size


def local_rank() -> int:
    """This process's rank among the job's processes on the same machine (0 in a single process).

    The first call on each process is a collective: call it on every rank.
    """
    return world().local()[0]


def local_size() -> int:
    """How many of the job's processes run on this machine (1 in a single process); e.g. to split its
    cores: ``os.cpu_count() // tp.distributed.local_size()`` threads each. A collective the first time."""
    return world().local()[1]


def barrier() -> None:
    """Wait until every process of the job reaches this call (returns at once in a single process)."""
    world().barrier()


def is_chief() -> bool:
    """True on rank 0: the process that prints, writes checkpoints and draws plots."""
    return world().rank == 0


def rank_zero_only(fn):
    """Decorate a function so it runs on rank 0 only (other ranks get ``None``), e.g. a save or plot helper.

    Example:
        >>> import tapeflow as tp
        >>> @tp.distributed.rank_zero_only
        ... def report(x):
        ...     return f"loss {x}"
        >>> report(0.5)
        'loss 0.5'
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs) if is_chief() else None

    return wrapper


@rank_zero_only
def print0(*args, **kwargs):
    """``print`` on rank 0 only (so N processes do not print N copies).

    Example:
        >>> import tapeflow as tp
        >>> tp.distributed.print0("epoch", 1)
        epoch 1
    """
    kwargs.setdefault("flush", True)
    builtins.print(*args, **kwargs)


__all__ = [
    "DataParallel", "rank", "size", "local_rank", "local_size", "barrier", "is_chief", "get_strategy",
    "rank_zero_only", "print0", "shard_bounds",
]
