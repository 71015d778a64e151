"""The CuPy backend's fused kernels, checked on the CPU: each kernel body is C, so it compiles here inside a
loop over ``i`` (as CUDA runs it per element) and must give the NumPy formula's values. (tests/gpu runs the
same kernels through CuPy on a device.)"""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import _cuda

pytestmark = pytest.mark.host_only(reason="the kernel bodies run compiled for the CPU, on NumPy arrays")

_HARNESS = r"""
#include <math.h>
typedef float T;
#define max fmaxf
void adam(long n, const T* gs, T beta_1, T beta_2, T scale, T eps_k, T* ws, T* ms, T* vs) {
    for (long i = 0; i < n; i++) { T g = gs[i], w = ws[i], m = ms[i], v = vs[i];
        %(adam)s
        ws[i] = w; ms[i] = m; vs[i] = v; }
}
void uniform(long n, unsigned long long seed, float* outs) {
    for (long i = 0; i < n; i++) { float out; %(uniform)s outs[i] = out; }
}
%(grads)s
void lstm_forward(const T* z, const T* zx, const T* h0, const T* c0, const T* mask, long long t,
                  long long batch, long long n, int masked, T* out) {
    for (long long i = 0; i < batch * n; i++) { %(lstm_forward)s }
}
void lstm_backward(const T* g, const T* out, const T* c0, const T* mask, const T* rmask, const T* dhmm,
                   long long t, long long batch, long long n, int masked, int has_rmask, T* dc, T* keep,
                   T* dz) {
    for (long long i = 0; i < batch * n; i++) { %(lstm_backward)s }
}
void gru_forward(const T* rec, const T* b, const T* zx, const T* h0, const T* mask, long long t,
                 long long batch, long long n, int masked, T* out) {
    for (long long i = 0; i < batch * n; i++) { %(gru_forward)s }
}
void gru_backward(const T* g, const T* out, const T* h0, const T* mask, const T* rmask, const T* dhmm,
                  long long t, long long batch, long long n, int masked, int has_rmask, T* carry, T* dzx,
                  T* drec) {
    for (long long i = 0; i < batch * n; i++) { %(gru_backward)s }
}
"""


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the kernel bodies on the CPU")
    acts = "\n".join(
        f"void bias_{name}(long n, long k, const T* bs, T* ys) {{ for (long i = 0; i < n; i++) "
        f"{{ T b = bs[i % k], y = ys[i]; {body} ys[i] = y; }} }}"
        for name, body in _cuda._ACTIVATIONS.items()
    )
    grads = acts + "\n" + "\n".join(
        f"void {name}_grad(long n, const T* gs, const T* outs, T* gzs) {{ for (long i = 0; i < n; i++) "
        f"{{ T g = gs[i], out = outs[i], gz; {body} gzs[i] = gz; }} }}"
        for name, body in _cuda._ACTIVATION_GRADS.items()
    )
    src = tmp_path_factory.mktemp("kernels") / "k.c"
    src.write_text(_HARNESS % {"adam": _cuda._ADAM, "uniform": _cuda._UNIFORM, "grads": grads,
                               "lstm_forward": _cuda._LSTM_FORWARD, "lstm_backward": _cuda._LSTM_BACKWARD,
                               "gru_forward": _cuda._GRU_FORWARD, "gru_backward": _cuda._GRU_BACKWARD})
    lib = src.with_suffix(".so")
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(lib), str(src), "-lm"], check=True)
    return ctypes.CDLL(str(lib))


def _p(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def test_adam_kernel_matches_the_optimizer(kernels):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=50).astype(np.float32)
    grads = [rng.normal(size=50).astype(np.float32) for _ in range(3)]
    var = tp.Variable(w0.copy())
    opt = tp.optimizers.Adam(0.01)
    w, m, v = w0.copy(), np.zeros(50, np.float32), np.zeros(50, np.float32)
    f = ctypes.c_float
    for t, g in enumerate(grads, start=1):
        opt.apply_gradients([(tp.constant(g), var)])
        k = 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * (1 - 0.9)
        kernels.adam(ctypes.c_long(50), _p(g), f(0.9), f(0.999), f((1 - 0.999) / (k * k)), f(1e-7 / k),
                     _p(w), _p(m), _p(v))
    np.testing.assert_allclose(w, var.numpy(), rtol=2e-6, atol=1e-7)


def test_uniform_kernel_is_uniform_repeatable_and_seeded(kernels):
    def draw(seed, n=20000):
        out = np.empty(n, np.float32)
        kernels.uniform(ctypes.c_long(n), ctypes.c_ulonglong(seed), _p(out))
        return out

    a = draw(12345)
    assert a.min() >= 0 and a.max() < 1
    assert abs(a.mean() - 0.5) < 0.01 and abs(a.var() - 1 / 12) < 0.005
    np.testing.assert_array_equal(a, draw(12345))
    assert not np.array_equal(a, draw(12346))
    assert np.histogram(a, bins=10, range=(0, 1))[0].min() > 1800  # no empty or starved bins


@pytest.mark.parametrize("name, derivative", [
    ("relu", lambda out: (out > 0).astype(np.float32)),
    ("tanh", lambda out: 1 - out * out),
    ("sigmoid", lambda out: out * (1 - out)),
])
def test_activation_grad_kernels(kernels, name, derivative):
    rng = np.random.default_rng(1)
    g = rng.normal(size=64).astype(np.float32)
    out = {"relu": np.maximum, "tanh": lambda z, _: np.tanh(z), "sigmoid": lambda z, _: 1 / (1 + np.exp(-z))}[
        name](rng.normal(size=64).astype(np.float32), 0).astype(np.float32)
    gz = np.empty(64, np.float32)
    getattr(kernels, f"{name}_grad")(ctypes.c_long(64), _p(g), _p(out), _p(gz))
    np.testing.assert_allclose(gz, g * derivative(out), rtol=1e-6)


@pytest.mark.parametrize("name", ["linear", "relu", "tanh", "sigmoid"])
def test_bias_activation_kernels_match_the_dense_forward(kernels, name):
    rng = np.random.default_rng(2)
    y, b = rng.normal(size=(6, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    want = tp.nn.__dict__.get(name, lambda z: z)(tp.constant(y + b)).numpy() if name != "linear" else y + b
    getattr(kernels, f"bias_{name}")(ctypes.c_long(y.size), ctypes.c_long(5), _p(b), _p(y))
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-7)


class _HostSteps:
    """The CUDA LSTM/GRU kernel bodies compiled for the CPU, behind the device kernels' Python signatures."""

    def __init__(self, lib):
        self.lib = lib

    def lstm_forward(self, z, zx, out, h0, c0, mask, t):
        batch, n = out.shape[1], out.shape[2] // 6
        ll = ctypes.c_longlong
        self.lib.lstm_forward(_p(z), _p(zx), _p(h0), _p(c0), _p(z if mask is None else mask), ll(t),
                              ll(batch), ll(n), ctypes.c_int(mask is not None), _p(out))

    def lstm_backward(self, g, out, c0, mask, rmask, dhmm, dc, keep, dz, t):
        batch, n = out.shape[1], out.shape[2] // 6
        ll = ctypes.c_longlong
        keep = np.empty(1, dc.dtype) if keep is None else keep
        self.lib.lstm_backward(_p(g), _p(out), _p(c0), _p(out if mask is None else mask),
                               _p(out if rmask is None else rmask), _p(dhmm), ll(t), ll(batch), ll(n),
                               ctypes.c_int(mask is not None), ctypes.c_int(rmask is not None), _p(dc),
                               _p(keep), _p(dz))

    def gru_forward(self, rec, b, zx, out, h0, mask, t):
        batch, n = out.shape[1], out.shape[2] // 5
        ll = ctypes.c_longlong
        self.lib.gru_forward(_p(rec), _p(b), _p(zx), _p(h0), _p(rec if mask is None else mask), ll(t),
                             ll(batch), ll(n), ctypes.c_int(mask is not None), _p(out))

    def gru_backward(self, g, out, h0, mask, rmask, dhmm, carry, dzx, drec, t):
        batch, n = out.shape[1], out.shape[2] // 5
        ll = ctypes.c_longlong
        self.lib.gru_backward(_p(g), _p(out), _p(h0), _p(out if mask is None else mask),
                              _p(out if rmask is None else rmask), _p(dhmm), ll(t), ll(batch), ll(n),
                              ctypes.c_int(mask is not None), ctypes.c_int(rmask is not None), _p(carry),
                              _p(dzx), _p(drec))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("masked, dropout", [(False, False), (True, False), (False, True), (True, True)])
def test_step_kernels_match_the_numpy_loop(kernels, monkeypatch, cell, masked, dropout):
    """ops/recurrent.py's per-step loop with the CUDA kernels' bodies (compiled here for float32) gives the
    NumPy loop's sequence and gradients."""
    from tapeflow import _backend as B
    from tapeflow.ops import _native
    from tests.conv.test_recurrent_kernels import _problem, _run

    problem = _problem(cell, np.float32, 5, 3, 4, masked=masked, dropout=dropout)
    monkeypatch.setattr(_native, "ckernels", None)
    out_np, grads_np = _run(*problem)
    monkeypatch.setattr(B, "_accel", _HostSteps(kernels))  # what B.fused() gives under CuPy
    out_k, grads_k = _run(*problem)
    np.testing.assert_allclose(out_k, out_np, rtol=2e-6, atol=2e-6)
    for a, b in zip(grads_k, grads_np):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(b).max())))
