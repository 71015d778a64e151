"""The optional C kernels of the fused LSTM and GRU (``tapeflow._ckernels``) against the NumPy code they
replace.

Both paths run in every test session: the NumPy one by setting ``tapeflow.ops._native.ckernels`` to None
(what happens when the extension is not built). Tests that need the built extension skip, with a reason,
when it is missing, except under CI (``CI`` set), where a missing build is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import tapeflow as tp
import tapeflow.ops._native as N
import tapeflow.ops.recurrent as R
from tapeflow._tensor import Tensor
from tapeflow.ops import fusable
from tests.conv.op_cases_conv import CASES as CONV_CASES
from tests.conv.test_window_kernels import spy_on
from tests.core.gradcheck import assert_gradients

BUILT = N.load()

CELL_CASES = [c for c in CONV_CASES if c.op in ("lstm", "gru")]


@pytest.fixture
def kernels():
    """The built extension (the tests using it skip, or fail under CI, when it is not built)."""
    if BUILT is None:
        message = ("tapeflow._ckernels is not built or is stale (`python setup.py build_ext --inplace` "
                   "rebuilds it); the NumPy path is tested by the other tests")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return BUILT


@pytest.fixture(params=["c", "c-per-step", "numpy"])
def path(request, monkeypatch, kernels_or_none):
    """Run the test with the C whole-sequence kernels (the batch split over 3 threads, one row each at
    least), with the C per-step kernels (what runs when the BLAS's gemm cannot be called from C), and with the
    NumPy code."""
    if request.param.startswith("c"):
        if kernels_or_none is None:
            pytest.skip("tapeflow._ckernels is not built")
        monkeypatch.setattr(N, "ckernels", kernels_or_none)
        if request.param == "c":
            assert R.gemm_address("f") is not None, "no cblas gemm found in the loaded BLAS"
            monkeypatch.setattr(N, "CORES", 3)
            monkeypatch.setattr(R, "_ROWS_PER_THREAD", 1)
        else:
            monkeypatch.setattr(R, "gemm_address", lambda kind: None)
    else:
        monkeypatch.setattr(N, "ckernels", None)
    return request.param


@pytest.fixture
def kernels_or_none():
    return BUILT


def _problem(cell, dtype, steps=6, batch=3, n=5, masked=False, dropout=False, seed=0):
    """Random inputs of ``R._lstm``/``R._gru`` and an upstream gradient of its packed output."""
    rng = np.random.default_rng(seed)
    gates, parts = (4, 6) if cell == "lstm" else (3, 5)
    zx = rng.standard_normal((steps, batch, gates * n)).astype(dtype)
    h0 = rng.standard_normal((batch, n)).astype(dtype)
    u = (rng.standard_normal((n, gates * n)) * 0.5).astype(dtype)
    # the LSTM's c0, the GRU's recurrent bias
    extra = rng.standard_normal((batch, n) if cell == "lstm" else (gates * n,)).astype(dtype)
    mask = (rng.random((steps, batch, 1)) > 0.3).astype(dtype) if masked else None
    rmask = ((rng.random((batch, n)) > 0.3) / 0.7).astype(dtype) if dropout else None
    g = rng.standard_normal((steps, batch, parts * n)).astype(dtype)
    return cell, zx, h0, u, extra, mask, rmask, g


def _run(cell, zx, h0, u, extra, mask, rmask, g):
    """The packed output and the gradients of every input."""
    if cell == "lstm":
        inputs, forward, vjp = (zx, h0, extra, u), R._lstm, R._lstm_vjp
    else:
        inputs, forward, vjp = (zx, h0, u, extra), R._gru, R._gru_vjp
    out = forward(*inputs, mask=mask, recurrent_mask=rmask)
    grads = vjp(Tensor(g), Tensor(out), *[Tensor(a) for a in inputs], mask=mask, recurrent_mask=rmask)
    return out, [x.numpy() for x in grads]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("masked, dropout", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("shape", [(6, 3, 5), (1, 1, 1), (4, 2, 19), (3, 7, 4)])
@pytest.mark.parametrize("split", [False, True])
def test_c_kernels_match_numpy(kernels, monkeypatch, cell, dtype, tol, masked, dropout, shape, split):
    """The whole-sequence C kernels on one thread, and with the batch split across up to 3 threads."""
    problem = _problem(cell, dtype, *shape, masked=masked, dropout=dropout)
    monkeypatch.setattr(N, "ckernels", kernels)
    if split:
        monkeypatch.setattr(N, "CORES", 3)
        monkeypatch.setattr(R, "_ROWS_PER_THREAD", 1)
    out_c, grads_c = _run(*problem)
    monkeypatch.setattr(N, "ckernels", None)
    out_np, grads_np = _run(*problem)
    assert out_c.dtype == out_np.dtype == dtype
    np.testing.assert_allclose(out_c, out_np, rtol=tol, atol=tol)
    assert len(grads_c) == len(grads_np) == 4
    for i, (a, b) in enumerate(zip(grads_c, grads_np)):
        assert a.dtype == b.dtype == dtype, i
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=f"gradient {i}")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_masked_steps_carry_the_state_in_both_paths(path, cell):
    _, zx, h0, u, extra, _, _, _ = _problem(cell, np.float64)
    mask = np.ones((6, 3, 1))
    mask[2:4, 1] = 0.0  # row 1 skips steps 2 and 3
    out = R._lstm(zx, h0, extra, u, mask=mask) if cell == "lstm" else R._gru(zx, h0, u, extra, mask=mask)
    n = u.shape[0]
    states = 2 * n if cell == "lstm" else n  # (h, c) or h
    np.testing.assert_array_equal(out[3, 1, :states], out[1, 1, :states])
    assert not np.allclose(out[3, 0, :n], out[1, 0, :n])


@pytest.mark.parametrize("case", CELL_CASES, ids=lambda c: c.id)
def test_gradient_checks_pass_in_both_paths(path, case):
    arrays = [np.asarray(a, np.float64) for a in case.inputs(np.random.default_rng(0))]
    assert_gradients(case.fn, arrays)
    np.testing.assert_allclose(case.fn(*[tp.constant(a) for a in arrays]).numpy(), case.ref(*arrays),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("masked, dropout", [(True, False), (False, True)])
def test_masked_and_dropout_gradients_in_both_paths(path, cell, masked, dropout):
    _, zx, h0, u, extra, mask, rmask, _ = _problem(cell, np.float64, 5, 3, 4, masked=masked, dropout=dropout,
                                                   seed=3)
    if cell == "lstm":
        fn = lambda zx, h, c, u: R.lstm(zx, h, c, u, mask=mask, recurrent_mask=rmask)[0]
        inputs = [zx, h0, extra, u]
    else:
        fn = lambda zx, h, u, b: R.gru(zx, h, u, b, mask=mask, recurrent_mask=rmask)[0]
        inputs = [zx, h0, u, extra]
    assert_gradients(fn, inputs)


@pytest.mark.parametrize("cell, gates", [("lstm", 4), ("gru", 3), ("simple_rnn", 1)])
def test_ops_over_zero_timesteps_return_the_initial_state(path, cell, gates):
    rng = np.random.default_rng(0)
    h0, c0 = (tp.constant(rng.normal(size=(2, 3))) for _ in range(2))
    u = tp.constant(rng.normal(size=(3, gates * 3)))
    zx = tp.zeros((0, 2, gates * 3), dtype="float64")
    args = {"lstm": (zx, h0, c0, u), "gru": (zx, h0, u, tp.zeros((9,), dtype="float64")),
            "simple_rnn": (zx, h0, u)}[cell]
    with tp.GradientTape() as tape:
        tape.watch(h0)
        seq, *states = getattr(R, cell)(*args)
        loss = tp.sum(states[0] * 2.0)
    assert seq.shape == (0, 2, 3) and seq.dtype == np.float64
    np.testing.assert_array_equal(states[0].numpy(), h0.numpy())
    if cell == "lstm":
        np.testing.assert_array_equal(states[1].numpy(), c0.numpy())
    np.testing.assert_array_equal(tape.gradient(loss, h0).numpy(), 2.0)


@pytest.mark.parametrize("layer", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("fused", [True, False])
def test_layers_over_zero_timesteps_follow_keras(path, layer, fused):
    """Keras: the initial state (zeros by default) for the last output, an empty sequence otherwise."""
    act = "tanh" if fused else (lambda z: tp.tanh(z))  # a plain function runs the per-step loop
    cls = getattr(tp.layers, layer)
    x = tp.ones((2, 0, 3), dtype="float64")
    np.testing.assert_array_equal(cls(4, activation=act, dtype="float64")(x).numpy(), np.zeros((2, 4)))
    seq = cls(4, return_sequences=True, go_backwards=True, activation=act)(tp.ones((2, 0, 3)))
    assert seq.shape == (2, 0, 4)
    n_states = 2 if layer == "LSTM" else 1
    init = [tp.constant(np.random.default_rng(i).normal(size=(2, 4))) for i in range(n_states)]
    rnn = cls(4, return_state=True, activation=act, dropout=0.5, recurrent_dropout=0.5, dtype="float64")
    with tp.GradientTape() as tape:
        tape.watch(init)
        out, *states = rnn(x, initial_state=init, training=True)
        loss = tp.sum(out * 3.0)
    np.testing.assert_array_equal(out.numpy(), init[0].numpy())
    for got, want in zip(states, init):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(tape.gradient(loss, init[0]).numpy(), 3.0)


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_layer_training_step_is_the_same_in_both_paths(kernels, monkeypatch, layer):
    x = np.random.default_rng(0).random((4, 7, 3), dtype=np.float32)
    y = np.random.default_rng(1).random((4, 1), dtype=np.float32)
    losses, weights = [], []
    for k in (kernels, None):
        monkeypatch.setattr(N, "ckernels", k)
        tp.random.set_seed(0)
        cell = getattr(tp.layers, layer)(6)
        model = tp.Sequential([tp.layers.Input(shape=(7, 3)), cell, tp.layers.Dense(1)])
        model.compile(optimizer=tp.optimizers.Adam(1e-2), loss="mse")
        losses.append([float(model.train_on_batch(x, y)) for _ in range(3)])
        weights.append([w.numpy() for w in model.weights])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_other_activations_and_dtypes_use_numpy(kernels, monkeypatch):
    calls = spy_on(monkeypatch, kernels)
    _, zx, h0, u, c0, _, _, _ = _problem("lstm", np.float64)
    R._lstm(zx, h0, c0, u, activation=fusable.RELU)
    R._lstm(zx, h0, c0, u, recurrent_activation=fusable.TANH)
    R._lstm(zx.astype(np.float16), h0.astype(np.float16), c0.astype(np.float16), u.astype(np.float16))
    R._lstm(zx, h0.astype(np.float32), c0, u)  # mixed dtypes
    _, gzx, gh0, gu, gb, _, _, _ = _problem("gru", np.float32)
    R._gru(gzx, gh0, gu, gb, activation=fusable.LINEAR)
    R._gru(gzx, gh0, gu, gb.astype(np.float64))
    assert calls == []
    R._lstm(zx, h0, c0, u)
    R._gru(gzx, gh0, gu, gb)
    assert calls == ["lstm_sequence", "gru_sequence"]


def test_float32_tanh_is_accurate(kernels):
    x = np.concatenate([np.linspace(-12, 12, 200_001), np.logspace(-30, 1.2, 5000),
                        -np.logspace(-30, 1.2, 5000), [0.0, -0.0, np.inf, -np.inf]]).astype(np.float32)
    out = np.empty_like(x)
    kernels.tanh(x, out)
    exact = np.tanh(x.astype(np.float64))
    ulps = np.abs(out - exact) / np.spacing(np.abs(exact).astype(np.float32))
    assert ulps.max() <= 4, f"max error {ulps.max()} ulp at x={x[ulps.argmax()]}"
    assert np.signbit(out[x == 0]).tolist() == np.signbit(x[x == 0]).tolist()
    nan = np.array([np.nan], np.float32)
    kernels.tanh(nan, out[:1])
    assert np.isnan(out[0])


def test_kernels_reject_bad_arguments(kernels):
    _, zx, h0, u, c0, _, _, _ = _problem("lstm", np.float32)
    out = np.empty((6, 3, 30), np.float32)
    z = np.zeros((3, 20), np.float32)
    with pytest.raises(TypeError, match="float32 or float64"):
        kernels.lstm_forward(z, zx.astype(np.float64), out, h0, c0, None, 0)
    with pytest.raises(ValueError, match="`z` has 40 elements, expected 60"):
        kernels.lstm_forward(np.zeros((2, 20), np.float32), zx, out, h0, c0, None, 0)
    with pytest.raises(IndexError, match="step 6 out of range"):
        kernels.lstm_forward(z, zx, out, h0, c0, None, 6)
    with pytest.raises(ValueError, match="contiguous"):
        kernels.lstm_forward(z, zx[:, :, ::2], out, h0, c0, None, 0)
    with pytest.raises(TypeError, match="takes 7 arguments"):
        kernels.lstm_forward(z, zx)
    with pytest.raises(ValueError, match="mask needs the `keep` buffer"):
        kernels.lstm_backward(np.zeros_like(out), out, c0, np.ones((6, 3), np.float32), None, h0, h0.copy(),
                              None, np.zeros((6, 3, 20), np.float32), 0)
    with pytest.raises(ValueError, match=r"\(steps, batch, 5 \* units\)"):
        kernels.gru_forward(z, np.zeros(15, np.float32), zx, np.empty((6, 3, 7), np.float32), h0, None, 0)
    with pytest.raises(ValueError, match="`b` has 20 elements, expected 15"):
        kernels.gru_forward(np.zeros((3, 15), np.float32), np.zeros(20, np.float32), zx[..., :15].copy(),
                            np.empty((6, 3, 25), np.float32), h0, None, 0)
    with pytest.raises(TypeError, match="gru_backward takes 10 arguments"):
        kernels.gru_backward(z)


def test_environment_variable_turns_the_kernels_off():
    code = "import tapeflow.ops._native as N; print(N.ckernels is None)"
    env = dict(os.environ, TAPEFLOW_CKERNELS="0")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


_VARIANT_CHECK = """
import numpy as np
import tapeflow.ops._native as N
from tapeflow import _ckernels
from tests.conv.test_recurrent_kernels import _problem, _run
kernels = N.ckernels
worst = 0.0
for cell, masked, dropout in ((c, m, m) for c in ("lstm", "gru") for m in (False, True)):
    problem = _problem(cell, np.float32, 5, 3, 21, masked=masked, dropout=dropout)
    N.ckernels = kernels
    out_c, grads_c = _run(*problem)
    N.ckernels = None
    out_np, grads_np = _run(*problem)
    worst = max(worst, float(np.abs(out_c - out_np).max()))
    for a, b in zip(grads_c, grads_np):
        worst = max(worst, float(np.abs(a - b).max() / max(1.0, np.abs(b).max())))
x = np.linspace(-12, 12, 100_001).astype(np.float32)
y = np.empty_like(x)
_ckernels.tanh(x, y)
exact = np.tanh(x.astype(np.float64))
ulps = float((np.abs(y - exact) / np.spacing(np.abs(exact).astype(np.float32))).max())
print(_ckernels.ISA, worst, ulps)
"""


@pytest.mark.parametrize("isa", ["baseline", "x86-64-v3", ""])
def test_every_instruction_set_variant_matches_numpy(kernels, isa):
    """The float32 kernels are compiled for several instruction sets (picked at import; the environment
    variable TAPEFLOW_CKERNELS_ISA caps the choice): each must agree with the NumPy code."""
    env = dict(os.environ, TAPEFLOW_CKERNELS_ISA=isa)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", _VARIANT_CHECK], env=env, capture_output=True, text=True,
                            cwd=root, check=True)
    ran, worst, ulps = result.stdout.split()
    assert ran in {"baseline", "x86-64-v3", "x86-64-v4"}
    if isa:
        assert ran in (isa, "baseline")  # a CPU without the instruction set runs the baseline
    assert float(worst) < 2e-6
    assert float(ulps) <= 4
