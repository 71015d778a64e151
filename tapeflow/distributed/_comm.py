"""The communicator layer: one small interface over MPI, with a single-process stand-in.

tapeflow talks to MPI only through :class:`Communicator`. Two implementations exist:

- :class:`SingleProcess`, used when the script was not started by an MPI launcher (or mpi4py is not installed
  and none was used). Every collective is the identity, so code written for many processes runs unchanged in
  one.
- :class:`MPICommunicator`, a thin wrapper over an ``mpi4py`` communicator (``MPI.COMM_WORLD`` by default).

mpi4py is imported lazily, and only when the process was started by a launcher (``mpiexec``, ``mpirun``,
``srun``; detected from the variables they set) or when the script already imported ``mpi4py.MPI`` itself. A
plain ``python train.py`` therefore never initializes MPI. ``TAPEFLOW_MPI=0`` forces single-process mode and
``TAPEFLOW_MPI=1`` forces MPI.

When the world has more than one process, an uncaught exception in any rank prints its traceback (prefixed
with the rank) and then calls ``MPI_Abort``, which ends every rank of the job: the other ranks would otherwise
wait forever in their next collective.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import traceback
import zlib

import numpy as np

from tapeflow import _backend as B
from tapeflow import _env
from tapeflow._extras import install_hint

# Variables that MPI launchers set in every process they start: MPICH/Hydra and Intel MPI (PMI_*), Open MPI
# (OMPI_*), PMIx-based launchers including Slurm's srun --mpi=pmix (PMIX_*), MVAPICH (MV2_*).
_LAUNCHER_VARS = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")


class Communicator:
    """The collectives tapeflow needs. Subclasses implement them; all buffers are contiguous arrays.

    Attributes:
        rank: this process's index, ``0 <= rank < size``.
        size: the number of processes.
    """

    rank = 0
    size = 1

    def allreduce_sum_(self, buf) -> None:
        """Sum ``buf`` element-wise over all ranks, in place (every rank gets the sum)."""
        raise NotImplementedError

    def allreduce_min_max(self, values) -> tuple[np.ndarray, np.ndarray]:
        """Element-wise minimum and maximum of a small float64 vector over all ranks."""
        raise NotImplementedError

    def allreduce_max_(self, buf) -> None:
        """Element-wise maximum of ``buf`` over all ranks, in place."""
        raise NotImplementedError

    def bcast_(self, buf, root=0) -> None:
        """Overwrite ``buf`` on every rank with ``root``'s ``buf``."""
        raise NotImplementedError

    def bcast_object(self, obj, root=0):
        """Return ``root``'s (picklable) ``obj`` on every rank."""
        raise NotImplementedError

    def barrier(self) -> None:
        """Wait until every rank has reached this call."""
        raise NotImplementedError

    def abort(self, code=1) -> None:
        """End every process of the job with exit status ``code``."""
        raise NotImplementedError

    def local(self) -> tuple[int, int]:
        """``(rank, size)`` among the processes on this machine (those sharing its memory)."""
        return 0, 1

    def __repr__(self):
        return f"<{type(self).__name__} rank={self.rank} size={self.size}>"


class SingleProcess(Communicator):
    """The one-process world: every collective is the identity."""

    def allreduce_sum_(self, buf) -> None:
        pass

    def allreduce_max_(self, buf) -> None:
        pass

    def allreduce_min_max(self, values):
        values = np.asarray(values, dtype=np.float64)
        return values.copy(), values.copy()

    def bcast_(self, buf, root=0) -> None:
        check_root(root, 1)

    def bcast_object(self, obj, root=0):
        check_root(root, 1)
        return obj

    def barrier(self) -> None:
        pass

    def abort(self, code=1) -> None:
        sys.stderr.flush()
        os._exit(code)


_NCCL_CODES = {"float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64", "float16": "NCCL_FLOAT16",
               "int32": "NCCL_INT32", "int64": "NCCL_INT64"}


class MPICommunicator(Communicator):
    """Collectives over an mpi4py communicator.

    Args:
        comm: an ``mpi4py.MPI.Comm`` (for example ``MPI.COMM_WORLD`` or a sub-communicator from ``Split``).
        timeout: ``None`` (wait as long as it takes) or the most seconds one collective may wait for the other
            ranks; past it, this rank prints which collective stalled and aborts the job. It catches a rank
            that is stuck outside any collective (an endless loop, a ``sys.exit`` under plain ``python``).
    """

    def __init__(self, comm, timeout=None):
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = check_timeout(timeout)
        self._local = None
        self._nccl = None  # the NCCL communicator for CuPy buffers (made on first use), False: none

    def _wait(self, request, what):
        """Wait for a nonblocking collective, aborting the job past ``timeout``."""
        deadline = time.monotonic() + self.timeout
        while not request.Test():
            if time.monotonic() > deadline:
                sys.stderr.write(
                    f"[tapeflow.distributed] rank {self.rank} of {self.size}: {what} waited more than "
                    f"{self.timeout:g} s for the other ranks: one of them is stuck, or has ended, outside a "
                    "collective. Aborting the job.\n"
                )
                self.abort(1)

    def _allreduce(self, buf, op, what):
        if buf.__class__ is not np.ndarray:  # a device buffer (CuPy, strict): NCCL, else through the host
            self._device_allreduce(buf, op, what)
            return
        if self.timeout is None:
            self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=op)
        else:
            self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, buf, op=op), what)

    def _device_allreduce(self, buf, op, what):
        """An all-reduce of a device buffer: on the GPUs through NCCL (``cupy.cuda.nccl``, one process per
        GPU) when CuPy has it; otherwise one copy to the host, MPI, and one copy back."""
        nccl = self._nccl_communicator()
        codes = _NCCL_CODES.get(buf.dtype.name) if nccl else None
        if codes is not None:
            from cupy.cuda import get_current_stream
            from cupy.cuda import nccl as N

            reduce_op = N.NCCL_SUM if op is self._MPI.SUM else N.NCCL_MAX
            nccl.allReduce(buf.data.ptr, buf.data.ptr, buf.size, getattr(N, codes), reduce_op,
                           get_current_stream().ptr)
            return
        host = np.ascontiguousarray(B.to_numpy(buf))  # a fresh host copy
        self._allreduce(host, op, what)
        buf[...] = B.xp.asarray(host)

    def _nccl_communicator(self):
        """The NCCL communicator of these ranks (made collectively on first use), or None: not CuPy, or CuPy
        without NCCL."""
        if self._nccl is None:
            self._nccl = False
            if B.get_backend() == "cupy":  # the same on every rank, so all ranks take the same branch
                try:
                    from cupy.cuda import nccl
                except ImportError:
                    nccl = None
                available = nccl is not None and getattr(nccl, "available", True)
                if available:
                    uid = self.bcast_object(nccl.get_unique_id() if self.rank == 0 else None)
                    self._nccl = nccl.NcclCommunicator(self.size, uid, self.rank)
        return self._nccl or None

    def allreduce_sum_(self, buf) -> None:
        self._allreduce(buf, self._MPI.SUM, "an all-reduce (sum)")

    def allreduce_max_(self, buf) -> None:
        self._allreduce(buf, self._MPI.MAX, "an all-reduce (max)")

    def allreduce_min_max(self, values):
        # One MAX over [values, -values]: the minimum is minus the maximum of the negations.
        values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        both = np.concatenate([values, -values])
        self.allreduce_max_(both)
        n = values.size
        return -both[n:], both[:n]

    def bcast_(self, buf, root=0) -> None:
        check_root(root, self.size)
        if buf.__class__ is not np.ndarray:  # a device buffer: through the host (broadcasts are rare)
            host = np.array(B.to_numpy(buf), copy=True)
            self.bcast_(host, root=root)
            buf[...] = B.xp.asarray(host)
            return
        if self.timeout is None:
            self.comm.Bcast(buf, root=root)
        else:
            self._wait(self.comm.Ibcast(buf, root=root), "a broadcast")

    def bcast_object(self, obj, root=0):
        check_root(root, self.size)
        if self.timeout is None:
            return self.comm.bcast(obj, root=root)
        data = pickle.dumps(obj) if self.rank == root else b""
        n = np.array([len(data)], dtype=np.int64)
        self.bcast_(n, root)
        buf = np.frombuffer(data, dtype=np.uint8).copy() if self.rank == root else np.empty(n[0], np.uint8)
        self.bcast_(buf, root)
        return obj if self.rank == root else pickle.loads(buf.tobytes())

    def barrier(self) -> None:
        if self.timeout is None:
            self.comm.Barrier()
        else:
            self._wait(self.comm.Ibarrier(), "a barrier")

    def abort(self, code=1) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        # Launchers forward a rank's output asynchronously: an abort right after a message can cut it.
        time.sleep(ABORT_GRACE_S)
        self.comm.Abort(code)

    def local(self):
        if self._local is None:  # a collective, the first time only
            node = self.comm.Split_type(self._MPI.COMM_TYPE_SHARED)
            self._local = (node.Get_rank(), node.Get_size())
            node.Free()
        return self._local


def check_timeout(timeout):
    """``timeout`` as a float (or None), or a ``ValueError`` naming the bad value."""
    if timeout is None:
        return None
    number = isinstance(timeout, (int, float, np.integer, np.floating)) and not isinstance(timeout, bool)
    if not number or not timeout > 0:
        raise ValueError(
            f"`timeout` must be a positive number of seconds or None. Received: timeout={timeout!r}"
        )
    return float(timeout)


def check_root(root, size):
    if not isinstance(root, (int, np.integer)) or not 0 <= root < size:
        raise ValueError(f"`root` must be a rank in [0, {size}). Received: root={root!r}")


def launched_by_mpi(environ=None) -> bool:
    """Whether an MPI launcher started this process (it set one of the variables launchers set)."""
    environ = os.environ if environ is None else environ
    return any(name in environ for name in _LAUNCHER_VARS)


def _launcher_size(environ):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_NTASKS"):
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return None


def _want_mpi(environ) -> bool:
    forced = _env.flag("TAPEFLOW_MPI", None, environ)
    if forced is not None:
        return forced
    return "mpi4py.MPI" in sys.modules or launched_by_mpi(environ)


_world = None


def world() -> Communicator:
    """The communicator of all processes of this job (created on first use, then cached).

    Raises:
        ImportError: the process was started by an MPI launcher with more than one process (or
            ``TAPEFLOW_MPI=1``) but mpi4py is not installed; training on, each rank would silently train its
            own model.
    """
    global _world
    if _world is None:
        environ = os.environ
        if not _want_mpi(environ):
            _world = SingleProcess()
        else:
            try:
                from mpi4py import MPI
            except ImportError as err:
                n = _launcher_size(environ)
                if n == 1 and environ.get("TAPEFLOW_MPI", "") == "":
                    _world = SingleProcess()
                    return _world
                raise ImportError(
                    f"tapeflow.distributed: this process was started by an MPI launcher (world size {n}) but "
                    "mpi4py is not installed, so every process would train alone. Install it: "
                    f"{install_hint('mpi')}"
                ) from err
            _world = MPICommunicator(MPI.COMM_WORLD, timeout=_env_timeout(environ))
            if _world.size > 1:
                install_abort_on_error(_world)
    return _world


def _env_timeout(environ):
    text = environ.get("TAPEFLOW_COLLECTIVE_TIMEOUT", "").strip()
    if not text:
        return None
    try:
        return check_timeout(float(text))
    except ValueError:
        raise ValueError(
            f"TAPEFLOW_COLLECTIVE_TIMEOUT must be a positive number of seconds. Received: {text!r}"
        ) from None


def _reset_world_for_tests():
    global _world
    _world = None


_installed_hook = None
ABORT_GRACE_S = 0.5  # time for the launcher to forward the failing rank's message before the abort


def install_abort_on_error(comm: Communicator) -> None:
    """Make an uncaught exception in this rank end the whole job (after printing it) instead of a hang.

    The previous ``sys.excepthook`` prints the traceback first, so the failing rank's message is what the user
    sees; then ``comm.abort(1)`` ends every rank with a non-zero exit status. Installing twice is harmless.
    """
    global _installed_hook
    if _installed_hook is not None and sys.excepthook is _installed_hook:
        return
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        try:
            if previous is sys.__excepthook__:  # one write: a traceback printed line by line may be cut
                text = "".join(traceback.format_exception(exc_type, exc, tb))
                sys.stderr.write(f"[tapeflow.distributed] rank {comm.rank} of {comm.size} failed:\n{text}")
            else:
                sys.stderr.write(f"[tapeflow.distributed] rank {comm.rank} of {comm.size} failed:\n")
                previous(exc_type, exc, tb)
            if not issubclass(exc_type, KeyboardInterrupt):
                sys.stderr.write(
                    f"[tapeflow.distributed] rank {comm.rank} aborts the job so the other ranks do not wait "
                    "forever.\n"
                )
        finally:
            comm.abort(1)  # flushes and waits ABORT_GRACE_S first

    sys.excepthook = _installed_hook = hook


def signature(parts) -> float:
    """A float64-exact checksum of a description (shapes, dtypes, names), to compare layouts across ranks."""
    return float(zlib.crc32(repr(parts).encode()))


def check_same_on_all_ranks(comm: Communicator, parts, what: str) -> None:
    """Raise ``ValueError`` on every rank if ``parts`` differ between ranks (one tiny collective).

    Every rank must call this at the same point. The check runs before a buffer collective whose sizes depend
    on ``parts``, since MPI gives no defined result when ranks pass buffers of different sizes.
    """
    if comm.size == 1:
        return
    low, high = comm.allreduce_min_max([signature(parts)])
    if low[0] != high[0]:
        raise ValueError(
            f"tapeflow.distributed: {what} differ between ranks (rank {comm.rank} has {_short(parts)}); "
            "build the same model with the same variables on every rank"
        )


def _short(parts, limit=300):
    text = repr(parts)
    return text if len(text) <= limit else text[:limit] + "..."
