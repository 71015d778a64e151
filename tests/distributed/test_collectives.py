"""reduce_gradients, broadcast, all_reduce and sharding, on however many ranks the session has.

Expected values are written for any world size (rank ``r`` contributes ``r + 1``, ...), so the same tests
check the identity in one process and real reductions under ``mpiexec -n 2``. Every collective runs before any
assertion, so a failing assertion on one rank cannot leave the other waiting in a collective.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.distributed import _buffers, _comm
from tapeflow.distributed.strategy import shard_bounds


def _np(t):
    return None if t is None else np.asarray(t.numpy())


def test_local_rank_and_size(strategy):
    """All ranks of these tests run on one machine: the local view equals the world's."""
    local = (tp.distributed.local_rank(), tp.distributed.local_size())
    assert local == (strategy.rank, strategy.size)


def test_world_matches_strategy(strategy):
    assert strategy.size == tp.distributed.size() >= 1
    assert 0 <= strategy.rank == tp.distributed.rank() < strategy.size
    assert strategy.is_chief == (strategy.rank == 0) == tp.distributed.is_chief()
    ranks = strategy.all_reduce(float(strategy.rank), op="sum")
    assert float(ranks.numpy()) == sum(range(strategy.size))


def test_reduce_gradients_averages_and_keeps_dtypes(strategy):
    r, n = strategy.rank, strategy.size
    grads = [
        tp.constant(np.full((2, 3), r + 1.0, np.float32)),
        tp.constant(np.arange(4.0) * (r + 1)),  # float64
        np.full((5,), 10.0 * (r + 1), np.float32),  # a NumPy array works too
    ]
    out = strategy.reduce_gradients(grads)
    mean = (n + 1) / 2
    assert [o.dtype for o in out] == [np.float32, np.float64, np.float32]
    np.testing.assert_allclose(_np(out[0]), np.full((2, 3), mean), rtol=1e-6)
    np.testing.assert_allclose(_np(out[1]), np.arange(4.0) * mean, rtol=1e-12)
    np.testing.assert_allclose(_np(out[2]), np.full((5,), 10 * mean), rtol=1e-6)


def test_reduce_gradients_of_device_arrays(strategy):
    """Buffers off the host (the strict backend stands in for CuPy's) are reduced on the backend's terms:
    through NCCL on GPUs, else one copy to the host and back; the results stay backend arrays."""
    from tapeflow._testing import strict

    r, n = strategy.rank, strategy.size
    with tp.backend("strict"):
        (out,) = strategy.reduce_gradients([tp.constant(np.full(3, r + 1.0, np.float32))])
        on_backend = out._value.__class__ is strict.ndarray
        got = out.numpy()
    assert on_backend
    np.testing.assert_allclose(got, np.full(3, (n + 1) / 2), rtol=1e-6)


def test_weighted_mean_equals_mean_over_samples(strategy):
    """Rank r holds r+1 samples whose mean gradient is g_r: the result is the mean over all samples."""
    r, n = strategy.rank, strategy.size
    g = np.array([r + 1.0, -(r + 1.0) ** 2])
    (out,) = strategy.reduce_gradients([g], weight=r + 1)
    weights = np.arange(1, n + 1, dtype=np.float64)
    expected = sum(w * np.array([w, -(w**2)]) for w in weights) / weights.sum()
    np.testing.assert_allclose(_np(out), expected, rtol=1e-12)


def test_rank_without_gradients_contributes_nothing(strategy):
    """Even ranks saw no samples (None, weight 0); every rank gets the odd ranks' weighted mean."""
    r, n = strategy.rank, strategy.size
    v = tp.Variable(np.zeros(3), name="w")
    has = r % 2 == 1
    grad = tp.constant(np.full(3, r + 1.0)) if has else None
    (out,) = strategy.reduce_gradients([grad], variables=[v], weight=(r + 1) if has else 0)
    odd = [k + 1.0 for k in range(n) if k % 2 == 1]
    if not odd:
        assert out is None
    else:
        expected = sum(w * w for w in odd) / sum(odd)
        np.testing.assert_allclose(_np(out), np.full(3, expected), rtol=1e-12)


def test_none_everywhere_stays_none(strategy):
    a, b = tp.Variable(np.ones(2)), tp.Variable(np.ones(3))
    out = strategy.reduce_gradients([None, tp.constant(np.ones(3))], variables=[a, b])
    assert out[0] is None
    np.testing.assert_allclose(_np(out[1]), np.ones(3))


@pytest.mark.parametrize("bucket_bytes", [8, 24, 1 << 20])
def test_buckets_give_the_same_result(bucket_bytes):
    r = tp.distributed.rank()
    rng = np.random.default_rng(7)
    base = [rng.normal(size=s) for s in [(3, 4), (5,), (1,), (2, 2, 2)]]
    grads = [b * (r + 1) for b in base]
    fine = tp.distributed.DataParallel(bucket_bytes=bucket_bytes).reduce_gradients(grads)
    layout = _buffers.Layout([(b.shape, b.dtype) for b in base], bucket_bytes)
    mean = (tp.distributed.size() + 1) / 2
    for out, b in zip(fine, base):
        np.testing.assert_allclose(_np(out), b * mean, rtol=1e-12)
    if bucket_bytes == 8:  # every array in a bucket of its own
        assert len(layout.buckets) == 4
    elif bucket_bytes == 1 << 20:
        assert len(layout.buckets) == 1


def test_layout_groups_by_dtype_and_caps_bucket_size():
    specs = [((4,), np.float32), ((3,), np.float64), ((4,), np.float32), ((10,), np.float32)]
    layout = _buffers.Layout(specs, bucket_bytes=40)  # 10 float32 per bucket
    got = [(b.dtype.name, [e[0] for e in b.entries], b.size) for b in layout.buckets]
    assert got == [("float32", [0, 2], 8), ("float64", [1], 3), ("float32", [3], 10)]
    with pytest.raises(ValueError, match="bucket_bytes"):
        _buffers.Layout(specs, bucket_bytes=0)


def test_broadcast_makes_every_rank_hold_roots_values(strategy):
    r, n = strategy.rank, strategy.size
    w = tp.Variable(np.arange(6.0).reshape(2, 3) + 100 * r, name="w")
    b = tp.Variable(np.full(4, float(r), np.float32), name="b")
    step = tp.Variable(np.array(r, np.int64), trainable=False, name="step")

    class HasVariables:  # a model or an optimizer: anything with `.variables`
        variables = [step]

    strategy.broadcast([w, {"bias": b}, HasVariables()])
    root = n - 1
    z = tp.Variable(np.full(2, float(r)), name="z")
    strategy.broadcast(z, root=root)
    np.testing.assert_array_equal(w.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(b.numpy(), np.zeros(4, np.float32))
    assert int(step.numpy()) == 0 and step.dtype == np.int64
    np.testing.assert_array_equal(z.numpy(), np.full(2, float(root)))


def test_broadcast_rejects_different_variables_on_different_ranks(strategy):
    """Rank 0 has a (3,) variable, the others (4,): every rank raises instead of corrupting memory."""
    r, n = strategy.rank, strategy.size
    v = tp.Variable(np.zeros(3 if r == 0 else 4))
    if n == 1:
        strategy.broadcast(v)  # one rank always agrees with itself
        return
    with pytest.raises(ValueError, match="differ between ranks"):
        strategy.broadcast(v)


def test_all_reduce_sum_and_mean(strategy):
    r, n = strategy.rank, strategy.size
    total = strategy.all_reduce(np.array([1.0, r]), op="sum")
    mean = strategy.all_reduce(tp.constant([[r + 1.0]]), op="mean")
    weighted = strategy.all_reduce(float(r), op="mean", weight=r + 1)
    np.testing.assert_allclose(total.numpy(), [n, n * (n - 1) / 2])
    assert mean.shape == (1, 1)
    np.testing.assert_allclose(mean.numpy(), [[(n + 1) / 2]])
    w = np.arange(1, n + 1)
    np.testing.assert_allclose(float(weighted.numpy()), (w * (w - 1)).sum() / w.sum(), rtol=1e-6)


def test_collectives_with_a_timeout_behave_alike():
    """With a timeout the collectives take the nonblocking path; the results are the same."""
    s = tp.distributed.DataParallel(timeout=120)
    r, n = s.rank, s.size
    (mean,) = s.reduce_gradients([np.full(3, r + 1.0)])
    v = tp.Variable(np.full(2, float(r)))
    s.broadcast(v)
    got = s.broadcast_object({"from": r, "data": list(range(r + 3))})
    s.barrier()
    np.testing.assert_allclose(mean.numpy(), np.full(3, (n + 1) / 2))
    np.testing.assert_array_equal(v.numpy(), [0.0, 0.0])
    assert got == {"from": 0, "data": [0, 1, 2]}


def test_broadcast_object_and_barrier(strategy):
    got = strategy.broadcast_object({"seed": 1234 + strategy.rank})
    strategy.barrier()
    tp.distributed.barrier()
    assert got == {"seed": 1234}


@pytest.mark.parametrize("n_items", [0, 1, 2, 7, 8, 33])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_shard_bounds_partition_the_batch(n_items, size):
    bounds = [shard_bounds(n_items, r, size) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_items
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous, in rank order
    lengths = [stop - start for start, stop in bounds]
    assert max(lengths) - min(lengths) <= 1 and sorted(lengths, reverse=True) == lengths


def test_bad_arguments_name_the_problem(strategy):
    v = tp.Variable(np.zeros(2), name="kernel")
    with pytest.raises(ValueError, match="weight"):
        strategy.reduce_gradients([np.ones(2)], weight=-1)
    with pytest.raises(ValueError, match="gradient 0 is None"):
        strategy.reduce_gradients([None])
    with pytest.raises(ValueError, match="2 gradients for 1 variables"):
        strategy.reduce_gradients([np.ones(2), np.ones(2)], variables=[v])
    with pytest.raises(ValueError, match=r"variable 'kernel' has shape \(2,\)"):
        strategy.reduce_gradients([np.ones(3)], variables=[v])
    with pytest.raises(ValueError, match=r"`op` must be one of \('mean', 'sum'\)"):
        strategy.all_reduce(1.0, op="max")
    with pytest.raises(ValueError, match="bucket_bytes"):
        tp.distributed.DataParallel(bucket_bytes=-5)
    with pytest.raises(ValueError, match="root"):
        strategy.broadcast_object(1, root=strategy.size)
    with pytest.raises(TypeError, match="Received: str"):
        strategy.broadcast(["not a variable"])
    with pytest.raises(ValueError, match="`timeout` must be a positive number"):
        tp.distributed.DataParallel(timeout=0)


def test_scope_sets_and_restores_the_current_strategy(strategy):
    assert tp.distributed.get_strategy() is None
    other = tp.distributed.DataParallel()
    with strategy.scope() as s:
        assert s is strategy and tp.distributed.get_strategy() is strategy
        with other.scope():
            assert tp.distributed.get_strategy() is other
        assert tp.distributed.get_strategy() is strategy
    assert tp.distributed.get_strategy() is None


def test_plain_process_does_not_start_mpi(monkeypatch):
    """Without a launcher's variables (and mpi4py not imported), the world is the one-process stand-in."""
    for name in _comm._LAUNCHER_VARS + ("TAPEFLOW_MPI",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    assert _comm._want_mpi(dict()) is False
    assert _comm._want_mpi({"PMI_SIZE": "2"}) is True
    assert _comm._want_mpi({"OMPI_COMM_WORLD_SIZE": "4", "TAPEFLOW_MPI": "0"}) is False
    assert _comm._want_mpi({"TAPEFLOW_MPI": "1"}) is True
    with pytest.raises(ValueError, match="TAPEFLOW_MPI must be 0 or 1"):
        _comm._want_mpi({"TAPEFLOW_MPI": "maybe"})


def test_launched_without_mpi4py_is_a_clear_error(monkeypatch):
    """mpiexec started 4 processes but mpi4py is missing: each would train alone, so world() refuses."""
    saved = _comm._world
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes `from mpi4py import MPI` raise ImportError
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.delenv("TAPEFLOW_MPI", raising=False)
    _comm._reset_world_for_tests()
    try:
        hint = r'pip install mpi4py mpich \(or, in a tapeflow checkout: pip install -e "\.\[mpi\]"\)'
        with pytest.raises(ImportError, match=r"world size 4.*" + hint):
            _comm.world()
    finally:
        _comm._world = saved


def test_broadcast_optimizer_state(strategy):
    """Step count and slots (Adam's moments) become root's; an optimizer built only on root is built here."""
    r = strategy.rank
    w = tp.Variable(np.zeros(3), name="w")
    opt = tp.optimizers.Adam(0.1)
    for _ in range(r + 1):  # rank r has taken r + 1 steps from gradient r + 1
        opt.apply_gradients([(tp.constant(np.full(3, r + 1.0)), w)])
    strategy.broadcast([opt])
    state = [np.array(a) for a in opt.variables()]

    root_w = tp.Variable(np.zeros(3))
    root_opt = tp.optimizers.Adam(0.1)
    root_opt.apply_gradients([(tp.constant(np.ones(3)), root_w)])  # what rank 0 did
    assert opt.iterations == 1
    for got, want in zip(state, root_opt.variables()):
        np.testing.assert_array_equal(got, want)

    fresh = tp.optimizers.SGD(0.1, momentum=0.9)
    v = tp.Variable(np.zeros(2))
    if r == 0:
        fresh.apply_gradients([(tp.constant(np.ones(2)), v)])
    strategy.broadcast_optimizer(fresh, variables=[v])
    assert fresh.iterations == 1 and len(fresh.variables()) == 2
    np.testing.assert_allclose(fresh.variables()[1], -0.1 * np.ones(2))  # rank 0's momentum (SGD's sign)


def test_broadcast_of_an_optimizer_unbuilt_here_needs_variables(strategy):
    opt = tp.optimizers.Adam()
    if strategy.rank == 0:
        opt.apply_gradients([(tp.constant([1.0]), tp.Variable([0.0]))])
    if strategy.size == 1:
        strategy.broadcast_optimizer(opt)  # nothing to do alone
        return
    if strategy.rank == 0:
        # Rank 0 has nothing to build; it learns of the others' error from their failed check below.
        strategy.comm.bcast_object(True)
        return
    with pytest.raises(ValueError, match="build it on every rank first"):
        strategy.broadcast_optimizer(opt)


@pytest.mark.multi_rank
def test_strategy_over_an_mpi4py_communicator():
    """DataParallel(comm=...) takes any mpi4py communicator, here a duplicate of COMM_WORLD."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD.Dup()
    s = tp.distributed.DataParallel(comm=comm)
    (out,) = s.reduce_gradients([np.full(2, s.rank + 1.0)])
    n = s.size
    comm.Free()
    assert s.size == tp.distributed.size() and s.rank == tp.distributed.rank()
    np.testing.assert_allclose(out.numpy(), np.full(2, (n + 1) / 2))


def test_timeout_from_the_environment():
    assert _comm._env_timeout({}) is None
    assert _comm._env_timeout({"TAPEFLOW_COLLECTIVE_TIMEOUT": " 90 "}) == 90.0
    with pytest.raises(ValueError, match="TAPEFLOW_COLLECTIVE_TIMEOUT must be a positive number"):
        _comm._env_timeout({"TAPEFLOW_COLLECTIVE_TIMEOUT": "-1"})
    with pytest.raises(ValueError, match="TAPEFLOW_COLLECTIVE_TIMEOUT"):
        _comm._env_timeout({"TAPEFLOW_COLLECTIVE_TIMEOUT": "soon"})
