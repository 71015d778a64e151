"""tapeflow on an NVIDIA GPU through CuPy (skipped with the reason "no CUDA device" elsewhere).

``bench/gpu.sh`` also runs the whole suite with ``TAPEFLOW_BACKEND=cupy``; these tests check what only a
device can: the fused kernels against the NumPy formulas, results equal to the CPU's, values staying on the
device, and files moving between the two.
"""

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import _backend as B

pytestmark = pytest.mark.gpu


@pytest.fixture
def cupy_backend():
    before = tp.get_backend()
    tp.set_backend("cupy")
    import cupy

    yield cupy
    tp.set_backend(before)


def test_backend_arrays_live_on_the_device(cupy_backend):
    t = tp.constant([1.0, 2.0]) * 2
    assert isinstance(t._value, cupy_backend.ndarray)
    assert t.numpy().__class__ is np.ndarray and t.numpy().tolist() == [2.0, 4.0]
    assert B.fused() is not None


def test_fused_adam_matches_the_numpy_update(cupy_backend):
    rng = np.random.default_rng(0)
    w0, grads = rng.normal(size=(33, 7)).astype(np.float32), rng.normal(size=(3, 33, 7)).astype(np.float32)
    results = []
    for name in ("numpy", "cupy"):
        tp.set_backend(name)
        v = tp.Variable(w0)
        opt = tp.optimizers.Adam(0.01)
        for g in grads:
            opt.apply_gradients([(tp.constant(g), v)])
        results.append(v.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


def test_uniform_masks_are_seeded_and_fair(cupy_backend):
    a = B.uniform(np.random.default_rng(3), (1000, 100))
    b = B.uniform(np.random.default_rng(3), (1000, 100))
    assert isinstance(a, cupy_backend.ndarray)
    assert bool((a == b).all()) and 0.49 < float(a.mean()) < 0.51


def test_activation_grad_kernels_match(cupy_backend):
    x = cupy_backend.asarray(np.random.default_rng(1).normal(size=(8, 9)).astype(np.float32))
    g = cupy_backend.ones_like(x) * 3
    out = cupy_backend.tanh(x)
    np.testing.assert_allclose(B.fused().activation_grad("tanh", g, out).get(), (g * (1 - out * out)).get(),
                               rtol=1e-6)


@pytest.mark.parametrize("build", ["mlp", "cnn", "lstm"])
def test_training_matches_the_cpu(cupy_backend, build):
    rng = np.random.default_rng(2)
    L = tp.layers
    if build == "mlp":
        x, layers = rng.normal(size=(64, 20)), [L.Dense(32, activation="relu"), L.Dense(3)]
    elif build == "cnn":
        x = rng.normal(size=(16, 12, 12, 1))
        layers = [L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(), L.Dense(3)]
    else:
        x, layers = rng.normal(size=(16, 10, 5)), [L.LSTM(8), L.Dense(3)]
    x, y = x.astype(np.float32), np.arange(len(x)) % 3
    results = []
    for name in ("numpy", "cupy"):
        tp.set_backend(name)
        tp.random.set_seed(0)
        model = tp.Sequential([L.Input(shape=x.shape[1:]), *[type(la).from_config(la.get_config())
                                                             for la in layers]])
        model.compile(optimizer="adam", loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        results.append(model.predict(x, verbose=0))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-3, atol=1e-4)


def test_saved_on_the_gpu_loads_on_the_cpu_and_back(cupy_backend, tmp_path):
    model = tp.Sequential([tp.layers.Input(shape=(4,)), tp.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    x = np.ones((2, 4), np.float32)
    model.fit(x, np.zeros((2, 3), np.float32), epochs=1, verbose=0)
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "m.tapeflow")
    tp.set_backend("numpy")
    cpu = tp.models.load_model(tmp_path / "m.tapeflow")
    np.testing.assert_allclose(cpu.predict(x, verbose=0), want, rtol=1e-6)
    cpu.save(tmp_path / "cpu.tapeflow")
    tp.set_backend("cupy")
    gpu = tp.models.load_model(tmp_path / "cpu.tapeflow")
    assert isinstance(gpu.weights[0]._value, cupy_backend.ndarray)
    np.testing.assert_allclose(gpu.predict(x, verbose=0), want, rtol=1e-6)
