"""The backend seam: choosing the array library, the strict test backend, values leaving only at edges."""

import sys
import types

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import _backend as B
from tapeflow._testing import strict


@pytest.fixture
def restore_backend():
    before = tp.get_backend()
    yield
    tp.set_backend(before)


def test_set_and_get_backend_by_name_and_module(restore_backend):
    tp.set_backend("strict")
    assert tp.get_backend() == "strict"
    assert B.xp.ones(2).__class__ is strict.ndarray
    assert tp.ones((2,))._value.__class__ is strict.ndarray
    tp.set_backend(np)
    assert tp.get_backend() == "numpy"
    assert B.xp.ones(2).__class__ is np.ndarray


def test_scoped_backend_switches_back_even_after_an_error(restore_backend):
    start = tp.get_backend()
    with pytest.raises(KeyError), tp.backend("strict" if start == "numpy" else "numpy"):
        assert tp.get_backend() != start
        raise KeyError
    assert tp.get_backend() == start


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="unknown backend 'jax'.*numpy, cupy, strict"):
        tp.set_backend("jax")


def test_cupy_missing_names_the_extra(monkeypatch, restore_backend):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    with pytest.raises(RuntimeError, match=r"CuPy is not installed.*pip install cupy-cuda12x"):
        tp.set_backend("cupy")


def test_cupy_without_a_device_says_so(monkeypatch, restore_backend):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(RuntimeError, match="found no CUDA device"):
        tp.set_backend("cupy")
    assert tp.get_backend() != "cupy"


def test_strict_arrays_refuse_implicit_conversion_and_host_mixing():
    a = strict.asarray([1.0, 2.0])
    assert not isinstance(a, np.ndarray)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="numpy.ndarray mixed"):
        a + np.ones(2)
    with pytest.raises(TypeError, match="numpy.ndarray mixed"):
        strict.concatenate([a, np.ones(2)])
    assert (np.add(a, a)).__class__ is strict.ndarray  # NumPy's ufuncs dispatch to the array's library
    assert np.sum(a).__class__ is strict.ndarray  # reductions stay arrays (0-d), as on a device
    np.testing.assert_array_equal(B.to_numpy(a * 2), [2.0, 4.0])


def test_no_host_transfers_catches_every_way_out():
    a = strict.asarray([1.0, 2.0])
    with strict.no_host_transfers():
        b = (a * 2).sum()  # device math is fine
        for leave in (lambda: b.get(), lambda: float(b), lambda: bool(b), lambda: repr(b), lambda: b.item(),
                      lambda: strict.asarray(np.ones(2))):
            with pytest.raises(RuntimeError, match="inside no_host_transfers"):
                leave()
    assert float(b) == 6.0


def test_to_numpy_is_the_one_way_out(restore_backend):
    tp.set_backend("strict")
    t = tp.constant([1.0, 2.0]) * 3
    assert t.numpy().__class__ is np.ndarray
    assert np.asarray(t).__class__ is np.ndarray  # a Tensor converts explicitly, through to_numpy
    assert "3. 6." in repr(t) and "3. 6." in str(t)
    v = tp.Variable([1.0])
    assert "numpy=array([1.], dtype=float32)" in repr(v)


def _step_model(dropout=0.5):
    tp.random.set_seed(0)
    model = tp.Sequential([
        tp.layers.Dense(8, activation="relu"),
        tp.layers.Dropout(dropout),
        tp.layers.Dense(3),
    ])
    model.compile(optimizer=tp.optimizers.Adam(0.01, clipnorm=1.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_a_training_step_moves_nothing_between_host_and_device(restore_backend):
    """The strict backend makes every host<->device copy raise inside the block: forward, gradient, optimizer
    update (with clipping), dropout masks, loss and metric updates all stay on the backend."""
    tp.set_backend("strict")
    model = _step_model()
    loss_fn = tp.losses.SparseCategoricalCrossentropy(from_logits=True)
    accuracy = tp.metrics.SparseCategoricalAccuracy()
    x = tp.constant(np.random.default_rng(0).normal(size=(16, 4)).astype("float32"))
    y = tp.constant(np.arange(16) % 3)

    def step():
        with tp.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_weights)
        model.optimizer.apply_gradients(zip(grads, model.trainable_weights))
        accuracy.update_state(y, logits)
        return loss

    step()  # builds the weights and the optimizer's slots: host -> device once
    before = [w.numpy() for w in model.trainable_weights]
    with strict.no_host_transfers():
        loss = step()
    after = [w.numpy() for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))
    assert np.isfinite(float(loss)) and 0 <= float(accuracy.result()) <= 1


def test_train_step_reads_only_its_logs_on_the_host(restore_backend):
    tp.set_backend("strict")
    model = _step_model()
    x = tp.constant(np.random.default_rng(0).normal(size=(16, 4)).astype("float32"))
    y = tp.constant(np.arange(16) % 3)
    model.train_step((x, y))
    counts = dict(strict.transfers)
    logs = model.train_step((x, y))
    assert sorted(logs) == ["accuracy", "loss"]
    assert strict.transfers["to_host"] - counts["to_host"] == len(logs)  # one scalar per log entry
    assert strict.transfers["to_device"] == counts["to_device"]


def test_fit_and_predict_match_numpy(restore_backend):
    """The same seeded fit gives the same weights on NumPy and on the strict backend."""
    x = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    y = np.arange(32) % 3
    results = []
    for name in ("numpy", "strict"):
        tp.set_backend(name)
        model = _step_model(dropout=0.0)  # masks are drawn on the device, from other streams than NumPy's
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
        results.append((model.predict(x, verbose=0), [w.numpy() for w in model.weights]))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fit_moves_each_batch_to_the_device_once(restore_backend):
    tp.set_backend("strict")
    model = _step_model(dropout=0.0)
    x, y = np.random.default_rng(2).normal(size=(32, 4)).astype("float32"), np.arange(32) % 3
    model.fit(x[:8], y[:8], epochs=1, batch_size=8, verbose=0)  # builds the weights and slots
    before = strict.transfers["to_device"]
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert strict.transfers["to_device"] - before == 4 * 2  # 4 batches, x and y each copied once


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "adamax", "nadam", "rmsprop", "adagrad", "adadelta",
                                  "lion", "lamb", "adafactor", "ftrl"])
def test_every_optimizer_steps_without_host_transfers(restore_backend, name):
    tp.set_backend("strict")
    w = tp.Variable(np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4))
    g = tp.constant(np.full((3, 4), 0.5, "float32"))
    opt = tp.optimizers.get(name)
    opt.apply_gradients([(g, w)])  # builds the slots
    before = w.numpy().copy()
    with strict.no_host_transfers():
        opt.apply_gradients([(g, w)])
    assert not np.array_equal(w.numpy(), before)
