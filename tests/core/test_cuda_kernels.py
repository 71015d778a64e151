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

_HARNESS = r"""
#include <math.h>
typedef float T;
void adam(long n, const T* gs, T beta_1, T beta_2, T scale, T eps_k, T* ws, T* ms, T* vs) {
    for (long i = 0; i < n; i++) { T g = gs[i], w = ws[i], m = ms[i], v = vs[i];
        %(adam)s
        ws[i] = w; ms[i] = m; vs[i] = v; }
}
void uniform(long n, unsigned long long seed, float* outs) {
    for (long i = 0; i < n; i++) { float out; %(uniform)s outs[i] = out; }
}
%(grads)s
"""


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the kernel bodies on the CPU")
    grads = "\n".join(
        f"void {name}_grad(long n, const T* gs, const T* outs, T* gzs) {{ for (long i = 0; i < n; i++) "
        f"{{ T g = gs[i], out = outs[i], gz; {body} gzs[i] = gz; }} }}"
        for name, body in _cuda._ACTIVATION_GRADS.items()
    )
    src = tmp_path_factory.mktemp("kernels") / "k.c"
    src.write_text(_HARNESS % {"adam": _cuda._ADAM, "uniform": _cuda._UNIFORM, "grads": grads})
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
