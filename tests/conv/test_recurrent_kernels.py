"""The optional C kernels of the fused LSTM (``tapeflow._ckernels``) against the NumPy code they replace.

Both paths run in every test session: the NumPy one by setting ``tapeflow.ops.recurrent.ckernels`` to None
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
import tapeflow.ops.recurrent as R
from tapeflow._tensor import Tensor
from tests.conv.op_cases_conv import CASES as CONV_CASES
from tests.core.gradcheck import assert_gradients

BUILT = R._load_kernels()

LSTM_CASES = [c for c in CONV_CASES if c.op == "lstm"]


@pytest.fixture
def kernels():
    """The built extension (the tests using it skip, or fail under CI, when it is not built)."""
    if BUILT is None:
        message = ("tapeflow._ckernels is not built (`pip install -e .` with a C compiler builds it); "
                   "the NumPy path is tested by the other tests")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return BUILT


@pytest.fixture(params=["c", "numpy"])
def path(request, monkeypatch, kernels_or_none):
    """Run the test once with the C kernels and once with the NumPy code."""
    if request.param == "c":
        if kernels_or_none is None:
            pytest.skip("tapeflow._ckernels is not built")
        monkeypatch.setattr(R, "ckernels", kernels_or_none)
    else:
        monkeypatch.setattr(R, "ckernels", None)
    return request.param


@pytest.fixture
def kernels_or_none():
    return BUILT


def _problem(dtype, steps=6, batch=3, n=5, masked=False, dropout=False, seed=0):
    rng = np.random.default_rng(seed)
    zx = rng.standard_normal((steps, batch, 4 * n)).astype(dtype)
    h0 = rng.standard_normal((batch, n)).astype(dtype)
    c0 = rng.standard_normal((batch, n)).astype(dtype)
    u = (rng.standard_normal((n, 4 * n)) * 0.5).astype(dtype)
    mask = (rng.random((steps, batch, 1)) > 0.3).astype(dtype) if masked else None
    rmask = ((rng.random((batch, n)) > 0.3) / 0.7).astype(dtype) if dropout else None
    g = rng.standard_normal((steps, batch, 6 * n)).astype(dtype)
    return zx, h0, c0, u, mask, rmask, g


def _run(zx, h0, c0, u, mask, rmask, g):
    out = R._lstm(zx, h0, c0, u, mask=mask, recurrent_mask=rmask)
    grads = R._lstm_vjp(Tensor(g), Tensor(out), Tensor(zx), Tensor(h0), Tensor(c0), Tensor(u), mask=mask,
                        recurrent_mask=rmask)
    return out, [x.numpy() for x in grads]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("masked, dropout", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("shape", [(6, 3, 5), (1, 1, 1), (4, 2, 19)])
def test_c_kernels_match_numpy(kernels, monkeypatch, dtype, tol, masked, dropout, shape):
    problem = _problem(dtype, *shape, masked=masked, dropout=dropout)
    monkeypatch.setattr(R, "ckernels", kernels)
    out_c, grads_c = _run(*problem)
    monkeypatch.setattr(R, "ckernels", None)
    out_np, grads_np = _run(*problem)
    assert out_c.dtype == out_np.dtype == dtype
    np.testing.assert_allclose(out_c, out_np, rtol=tol, atol=tol)
    for name, a, b in zip(("dzx", "dh0", "dc0", "du"), grads_c, grads_np):
        assert a.dtype == b.dtype == dtype, name
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=name)


def test_masked_steps_carry_the_state_in_both_paths(path):
    zx, h0, c0, u, _, _, _ = _problem(np.float64)
    mask = np.ones((6, 3, 1))
    mask[2:4, 1] = 0.0  # row 1 skips steps 2 and 3
    out = R._lstm(zx, h0, c0, u, mask=mask)
    n = u.shape[0]
    np.testing.assert_array_equal(out[3, 1, : 2 * n], out[1, 1, : 2 * n])
    assert not np.allclose(out[3, 0, :n], out[1, 0, :n])


@pytest.mark.parametrize("case", LSTM_CASES, ids=lambda c: c.id)
def test_gradient_checks_pass_in_both_paths(path, case):
    arrays = [np.asarray(a, np.float64) for a in case.inputs(np.random.default_rng(0))]
    assert_gradients(case.fn, arrays)
    np.testing.assert_allclose(case.fn(*[tp.constant(a) for a in arrays]).numpy(), case.ref(*arrays),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("masked, dropout", [(True, False), (False, True)])
def test_masked_and_dropout_gradients_in_both_paths(path, masked, dropout):
    _, h0, c0, u, mask, rmask, _ = _problem(np.float64, 5, 3, 4, masked=masked, dropout=dropout, seed=3)
    zx = np.random.default_rng(4).standard_normal((5, 3, 16))
    assert_gradients(lambda zx, h, c, u: R.lstm(zx, h, c, u, mask=mask, recurrent_mask=rmask)[0],
                     [zx, h0, c0, u])


def test_layer_training_step_is_the_same_in_both_paths(kernels, monkeypatch):
    x = np.random.default_rng(0).random((4, 7, 3), dtype=np.float32)
    y = np.random.default_rng(1).random((4, 1), dtype=np.float32)
    losses, weights = [], []
    for k in (kernels, None):
        monkeypatch.setattr(R, "ckernels", k)
        tp.random.set_seed(0)
        model = tp.Sequential([tp.layers.Input(shape=(7, 3)), tp.layers.LSTM(6), tp.layers.Dense(1)])
        model.compile(optimizer=tp.optimizers.Adam(1e-2), loss="mse")
        losses.append([float(model.train_on_batch(x, y)) for _ in range(3)])
        weights.append([w.numpy() for w in model.weights])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_other_activations_and_dtypes_use_numpy(kernels, monkeypatch):
    calls = []

    class Spy:
        VERSION = kernels.VERSION

        def __getattr__(self, name):
            calls.append(name)
            return getattr(kernels, name)

    monkeypatch.setattr(R, "ckernels", Spy())
    zx, h0, c0, u, _, _, _ = _problem(np.float64)
    R._lstm(zx, h0, c0, u, activation="relu")
    R._lstm(zx.astype(np.float16), h0.astype(np.float16), c0.astype(np.float16), u.astype(np.float16))
    R._lstm(zx, h0.astype(np.float32), c0, u)  # mixed dtypes
    assert calls == []
    R._lstm(zx, h0, c0, u)
    assert calls == ["lstm_forward"]


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
    zx, h0, c0, u, _, _, _ = _problem(np.float32)
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


def test_environment_variable_turns_the_kernels_off():
    code = "import tapeflow.ops.recurrent as R; print(R.ckernels is None)"
    env = dict(os.environ, TAPEFLOW_NO_CKERNELS="1")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


_VARIANT_CHECK = """
import numpy as np
import tapeflow.ops.recurrent as R
from tapeflow import _ckernels
from tests.conv.test_recurrent_kernels import _problem, _run
kernels = R.ckernels
worst = 0.0
for masked, dropout in ((False, False), (True, True)):
    problem = _problem(np.float32, 5, 3, 21, masked=masked, dropout=dropout)
    R.ckernels = kernels
    out_c, grads_c = _run(*problem)
    R.ckernels = None
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
