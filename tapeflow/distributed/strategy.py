"""``DataParallel``: the same model on every process, each training on its shard of every global batch.

The semantics are those of Horovod, PyTorch's DistributedDataParallel and Keras's multi-worker strategy:

- rank 0 broadcasts the initial weights and optimizer state, so every rank starts from the same point;
- ``batch_size`` is the *global* batch: rank ``r`` takes the ``r``-th of ``size`` near-equal contiguous
  slices;
- the gradients of all ranks are packed into one buffer (or a few buckets for a large model) and averaged with
  one in-place all-reduce per step, weighted by each rank's number of samples, so the step equals the step one
  process takes on the whole batch, whatever the last batch's size;
- metric states are summed over ranks before results are read, so logged losses and metrics are global;
- only rank 0 prints progress and writes checkpoints and plots.

The same object serves custom ``GradientTape`` loops through :meth:`DataParallel.reduce_gradients` and
:meth:`DataParallel.broadcast`.
"""

from __future__ import annotations

import contextlib

from tapeflow import _backend as B
from tapeflow._tensor import Variable, to_array, wrap
from tapeflow.callbacks.hooks import NO_HOOKS, TrainingHooks
from tapeflow.distributed import _buffers
from tapeflow.distributed._comm import (
    Communicator,
    MPICommunicator,
    check_root,
    check_same_on_all_ranks,
    check_timeout,
    install_abort_on_error,
    world,
)

_OPS = ("mean", "sum")


class DataParallel(TrainingHooks):
    """Synchronous data-parallel training over MPI (or one process, where every collective is the identity).

    Use it as ``with strategy.scope(): model = ...; model.compile(...)`` and call the unchanged ``model.fit``;
    or call :meth:`reduce_gradients` and :meth:`broadcast` in a custom loop. It is a set of
    :class:`~tapeflow.callbacks.TrainingHooks`: each ``fit`` gets its own session of them (sharded batches,
    averaged gradients and metrics, output on rank 0); ``evaluate`` and ``predict`` run in full on every rank.

    Args:
        comm: ``None`` for all processes of the job (``MPI.COMM_WORLD`` under ``mpiexec``, a one-process
            stand-in otherwise), an ``mpi4py`` communicator, or a
            :class:`~tapeflow.distributed._comm.Communicator`.
        bucket_bytes: the most bytes of gradients one all-reduce carries; a model with more is reduced in
            several buckets (default 64 MiB, Horovod's fusion-buffer size).
        timeout: the most seconds any collective may wait for the other ranks before this rank aborts the
            job, naming the collective (default ``None``: no limit, or ``$TAPEFLOW_COLLECTIVE_TIMEOUT``). It
            ends a job whose rank is stuck outside a collective, which no exception would report.

    Example:
        >>> import tapeflow as tp
        >>> strategy = tp.distributed.DataParallel()
        >>> strategy.size, strategy.rank, strategy.is_chief  # a plain `python` process
        (1, 0, True)
        >>> w = tp.Variable([1.0, 2.0])
        >>> with tp.GradientTape() as tape:
        ...     loss = tp.sum(w * w)
        >>> strategy.reduce_gradients(tape.gradient(loss, [w]))
        [tapeflow.Tensor([2. 4.], shape=(2,), dtype=float32)]
    """

    def __init__(self, comm=None, bucket_bytes=_buffers.DEFAULT_BUCKET_BYTES, timeout=None):
        timeout = check_timeout(timeout)
        if comm is None:
            comm = world()
            if timeout is not None and isinstance(comm, MPICommunicator):
                comm = MPICommunicator(comm.comm, timeout=timeout)
        elif not isinstance(comm, Communicator):
            comm = MPICommunicator(comm, timeout=timeout)
            if comm.size > 1:
                install_abort_on_error(comm)
        self.comm = comm
        self.bucket_bytes = _buffers.check_bucket_bytes(bucket_bytes)

    # -- who am I --
    @property
    def rank(self) -> int:
        """This process's index among the strategy's processes."""
        return self.comm.rank

    @property
    def size(self) -> int:
        """The number of processes (replicas)."""
        return self.comm.size

    num_replicas_in_sync = size

    @property
    def is_chief(self) -> bool:
        """True on rank 0, the process that prints, checkpoints and plots."""
        return self.comm.rank == 0

    def __repr__(self):
        return f"<tapeflow.distributed.DataParallel rank={self.rank} size={self.size}>"

    @contextlib.contextmanager
    def scope(self):
        """Models compiled inside this block train with this strategy (``model.fit`` needs no other change).

        Example:
            >>> import tapeflow as tp
            >>> strategy = tp.distributed.DataParallel()
            >>> with strategy.scope():
            ...     tp.distributed.get_strategy() is strategy
            True
        """
        with super().scope():
            yield self

    def begin(self, model, loop):
        """The training hooks of one ``fit`` (a :class:`~tapeflow.distributed._fit.FitSession`); ``evaluate``
        and ``predict`` run unchanged (identical weights give identical results on every rank)."""
        if loop != "fit":
            return NO_HOOKS
        from tapeflow.distributed._fit import FitSession

        return FitSession(self, model)

    # -- collectives for custom loops --
    def reduce_gradients(self, grads, variables=None, weight=None):
        """Average gradients over ranks with one in-place all-reduce (per bucket).

        Args:
            grads: a list or tuple of gradients (Tensors, arrays or ``None``), as ``tape.gradient`` returns
                them for a list of variables. Every rank must pass the same shapes in the same order.
            variables: the variables the gradients belong to. Needed only where a gradient may be ``None`` on
                some ranks but not others (for example a rank that saw no samples): its shape comes from the
                variable.
            weight: this rank's weight in the mean, for example its number of samples when shards differ in
                size (then the result equals the gradient of the mean loss over all samples). ``None`` means
                1.

        Returns:
            A list of Tensors, the weighted mean ``sum_r weight_r * g_r / sum_r weight_r``; ``None`` where the
            gradient was ``None`` on every rank.

        Raises:
            ValueError: ``grads`` and ``variables`` differ in length or shape, or a ``None`` gradient has no
                variable to give its shape.
        """
        grads = list(grads)
        arrays, specs = [], []
        if variables is not None:
            variables, _ = _flatten_variables(variables)
            if len(variables) != len(grads):
                raise ValueError(
                    f"reduce_gradients: got {len(grads)} gradients for {len(variables)} variables"
                )
        for i, g in enumerate(grads):
            v = None if variables is None else variables[i]
            if g is None:
                if v is None:
                    raise ValueError(
                        f"reduce_gradients: gradient {i} is None; pass `variables=` so its shape is known on "
                        "every rank"
                    )
                arrays.append(None)
                specs.append((v.shape, v.dtype))
                continue
            a = to_array(g)
            if v is not None and tuple(a.shape) != tuple(v.shape):
                raise ValueError(
                    f"reduce_gradients: gradient {i} has shape {tuple(a.shape)} but variable '{v.name}' "
                    f"has shape {tuple(v.shape)}"
                )
            arrays.append(a)
            specs.append((a.shape, a.dtype))
        reduced = _buffers.weighted_allreduce(
            self.comm, arrays, specs, weight=1.0 if weight is None else weight, bucket_bytes=self.bucket_bytes
        )
        return [None if r is None else wrap(r) for r in reduced]

    def broadcast(self, variables, root=0):
        """Overwrite variables (and optimizer states) on every rank with ``root``'s values.

        Args:
            variables: a Variable, a list/tuple/dict of them, a model (anything with a ``variables``
                attribute), or an optimizer (its step count and slots; see :meth:`broadcast_optimizer`).
                Every rank must hold the same shapes and dtypes in the same order.
            root: the rank whose values win.

        Returns:
            The list of Variables, now equal on every rank.

        Raises:
            ValueError: ranks hold different variables (checked before any data moves), or ``root`` is not a
                rank.

        Example:
            >>> import tapeflow as tp
            >>> model = tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(2)])
            >>> len(tp.distributed.DataParallel().broadcast(model))  # kernel and bias
            2
        """
        flat, optimizers = _flatten_variables(variables)
        check_same_on_all_ranks(
            self.comm, [(tuple(v.shape), v.dtype.str) for v in flat], "the variables to broadcast"
        )
        check_root(root, self.size)
        if self.size > 1:
            arrays = [to_array(v) for v in flat]
            values = _buffers.broadcast_arrays(self.comm, arrays, root, self.bucket_bytes)
            if self.rank != root:
                for v, value in zip(flat, values):
                    v.assign(value)
        for optimizer in optimizers:
            self.broadcast_optimizer(optimizer, root=root)
        return flat

    def broadcast_optimizer(self, optimizer, variables=None, root=0):
        """Give every rank ``root``'s optimizer state: its step count and its slots (moments, momentum).

        Args:
            optimizer: a :class:`~tapeflow.optimizers.Optimizer`.
            variables: the variables it updates; an optimizer that ``root`` has built but this rank has not is
                built for them first. Without them, such an optimizer is an error.
            root: the rank whose state wins.

        Raises:
            ValueError: the optimizer is built on ``root`` but not here and ``variables`` is not given, or the
                ranks' states differ in shape.
        """
        check_root(root, self.size)
        if self.size == 1:
            return
        built_on_root = self.comm.bcast_object(len(optimizer.variables()) > 1, root=root)
        if built_on_root and len(optimizer.variables()) == 1:
            if variables is None:
                raise ValueError(
                    f"broadcast_optimizer: optimizer '{optimizer.name}' has state on rank {root} but not on "
                    f"rank {self.rank}: build it on every rank first (optimizer.build(variables)) or pass "
                    "`variables=`"
                )
            optimizer.build(list(variables))
        arrays = optimizer.variables()  # [iterations, *slots]
        check_same_on_all_ranks(
            self.comm, [(a.shape, a.dtype.str) for a in arrays], "the optimizer states to broadcast"
        )
        values = _buffers.broadcast_arrays(self.comm, arrays, root, self.bucket_bytes)
        optimizer.iterations = int(values[0])
        for slot, value in zip(arrays[1:], values[1:]):
            slot[...] = value

    def all_reduce(self, value, op="mean", weight=None):
        """Reduce one value (a number, array or Tensor) over ranks: its (weighted) ``"mean"`` or ``"sum"``.

        Example:
            >>> import tapeflow as tp
            >>> float(tp.distributed.DataParallel().all_reduce(3.0, op="sum"))  # one process: the value
            3.0
        """
        if op not in _OPS:
            raise ValueError(f"`op` must be one of {_OPS}. Received: op={op!r}")
        a = to_array(value)
        if op == "sum":
            if weight is not None:
                raise ValueError("all_reduce: `weight` applies to op='mean' only")
            buf = B.xp.array(a, copy=True).reshape(-1)
            self.comm.allreduce_sum_(buf)
            return wrap(buf.reshape(a.shape))
        (out,) = _buffers.weighted_allreduce(
            self.comm, [a], [(a.shape, a.dtype)], weight=1.0 if weight is None else weight,
            bucket_bytes=self.bucket_bytes,
        )
        return wrap(out)

    def broadcast_object(self, obj, root=0):
        """``root``'s picklable Python object on every rank (for small things: seeds, file names, configs)."""
        return self.comm.bcast_object(obj, root=root)

    def barrier(self):
        """Wait until every rank reaches this call."""
        self.comm.barrier()

    # -- sharding --
    def shard_bounds(self, n):
        """``(start, stop)`` of this rank's slice of a global batch of ``n`` samples.

        The ``size`` slices are contiguous and differ in length by at most one (the first ``n % size`` ranks
        get one more); a rank's slice is empty when ``n < size``.

        Example:
            >>> import tapeflow as tp
            >>> tp.distributed.DataParallel().shard_bounds(10)
            (0, 10)
        """
        return shard_bounds(n, self.rank, self.size)


def shard_bounds(n, rank, size):
    """``(start, stop)`` of rank ``rank``'s near-equal contiguous slice of ``n`` items split ``size`` ways.

    Example:
        >>> [shard_bounds(5, r, 2) for r in range(2)]
        [(0, 3), (3, 5)]
    """
    base, extra = divmod(int(n), int(size))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def _flatten_variables(variables):
    """The Variables in a Variable, a nest, or models (``variables`` attribute); and the optimizers found."""
    out, optimizers, stack = [], [], [variables]
    while stack:
        item = stack.pop()
        if isinstance(item, Variable):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif callable(getattr(item, "variables", None)) and hasattr(item, "apply_gradients"):
            optimizers.append(item)  # its `variables()` are arrays, broadcast in place
        elif hasattr(item, "variables"):
            stack.append(list(item.variables))
        else:
            raise TypeError(
                "expected Variables, models or optimizers. "
                f"Received: {type(item).__name__}"
            )
    return out, optimizers
