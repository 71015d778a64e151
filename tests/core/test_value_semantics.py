"""Value semantics: a Tensor never changes once handed out; a Variable's updates never reach values already
taken from it (what a tape saved, Tensors made from it, ``numpy()``), and a steady training step still updates
in place without copying."""

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import _tensor

OPTIMIZERS = {
    "sgd": lambda: tp.optimizers.SGD(0.5),
    "momentum": lambda: tp.optimizers.SGD(0.5, momentum=0.9),
    "nesterov": lambda: tp.optimizers.SGD(0.5, momentum=0.9, nesterov=True),
    "weight_decay": lambda: tp.optimizers.SGD(0.5, weight_decay=0.1),
    "adam": lambda: tp.optimizers.Adam(0.5),
    "adamw": lambda: tp.optimizers.AdamW(0.5),
    "rmsprop": lambda: tp.optimizers.RMSprop(0.5),
    "rmsprop_momentum": lambda: tp.optimizers.RMSprop(0.5, momentum=0.5, centered=True),
    "adagrad": lambda: tp.optimizers.Adagrad(0.5),
    "lion": lambda: tp.optimizers.Lion(0.5),
    "lamb": lambda: tp.optimizers.Lamb(0.5),
    "adafactor": lambda: tp.optimizers.Adafactor(0.5),
    "ftrl": lambda: tp.optimizers.Ftrl(0.5),
    "ema": lambda: tp.optimizers.Adam(0.5, use_ema=True, ema_overwrite_frequency=1),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_persistent_tape_after_an_optimizer_step(name):
    # TensorFlow and PyTorch: d(sum(x * w))/dx is w as it was when the tape recorded, [2, 2, 2]
    x = tp.constant([1.0, 2.0, 3.0])
    w = tp.Variable([2.0, 2.0, 2.0])
    with tp.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tp.reduce_sum(x * w)
    OPTIMIZERS[name]().apply_gradients([(tape.gradient(y, w), w)])
    assert not np.allclose(w.numpy(), 2.0)  # the step did change the weight
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_gan_pattern_second_gradient_from_the_same_tape(name):
    # step the "discriminator" w, then take another gradient from the same tape: d(sum(x * w**2))/dw = 2 x w
    x = tp.constant([1.0, 2.0, 3.0])
    w = tp.Variable([2.0, 2.0, 2.0])
    with tp.GradientTape(persistent=True) as tape:
        y = tp.reduce_sum(x * w**2)
    first = tape.gradient(y, w)
    OPTIMIZERS[name]().apply_gradients([(first, w)])
    np.testing.assert_array_equal(tape.gradient(y, w).numpy(), [4.0, 8.0, 12.0])
    np.testing.assert_array_equal(first.numpy(), [4.0, 8.0, 12.0])


def test_assign_after_recording_keeps_the_tape_intact():
    w = tp.Variable([3.0])
    with tp.GradientTape(persistent=True) as tape:
        y = w * w
    w.assign([100.0])
    w.assign_add([1.0])
    w.assign_sub([2.0])
    np.testing.assert_array_equal(tape.gradient(y, w).numpy(), [6.0])


SNAPSHOTS = {
    "identity": tp.identity,
    "convert_to_tensor": tp.convert_to_tensor,
    "reshape": lambda v: tp.reshape(v, (-1,)),
    "transpose": tp.transpose,
    "slice": lambda v: v[:1],
    "squeeze": tp.squeeze,
    "expand_dims": lambda v: tp.expand_dims(v, 0),
    "value": lambda v: v.value(),
}


@pytest.mark.parametrize("how", sorted(SNAPSHOTS))
def test_tensors_taken_from_weights_never_change_during_fit(how):
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(4, activation="relu"), tp.layers.Dense(1)])
    model.compile(optimizer=tp.optimizers.Adam(0.1), loss="mse")
    before = [np.array(v.numpy()) for v in model.weights]
    snaps = [SNAPSHOTS[how](v) for v in model.weights]
    # plain values, never the Variable itself (v[:1] is a VariableSlice: a Tensor that also offers .assign)
    assert all(isinstance(s, tp.Tensor) and not isinstance(s, tp.Variable) for s in snaps)
    x = np.random.default_rng(0).random((16, 3), dtype=np.float32)
    model.fit(x, x[:, :1], epochs=2, batch_size=4, verbose=0)
    changed = [not np.allclose(b, v.numpy()) for b, v in zip(before, model.weights)]
    assert any(changed)
    for b, s in zip(before, snaps):
        want = SNAPSHOTS[how](tp.Variable(b))
        np.testing.assert_array_equal(np.reshape(s.numpy(), -1), np.reshape(want.numpy(), -1))


@pytest.mark.parametrize("how", ["numpy", "asarray"])
def test_arrays_handed_out_are_read_only(how):
    w = tp.Variable([2.0])
    get = (lambda t: t.numpy()) if how == "numpy" else np.asarray
    with tp.GradientTape(persistent=True) as tape:
        y = w * w
    for arr in (get(w), get(y), get(tp.identity(w))):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 9.0
    np.testing.assert_array_equal(tape.gradient(y, w).numpy(), [4.0])
    # a copy asked for is the caller's own
    mine = np.array(w, copy=True)
    mine[0] = 9.0
    assert float(w.numpy()[0]) == 2.0


def test_array_taken_before_an_update_keeps_its_value():
    w = tp.Variable([1.0, 2.0])
    held = w.numpy()
    tp.optimizers.SGD(1.0).apply_gradients([(tp.constant([1.0, 1.0]), w)])
    np.testing.assert_array_equal(held, [1.0, 2.0])
    np.testing.assert_array_equal(w.numpy(), [0.0, 1.0])


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_steady_training_updates_in_place_without_copies(optimizer):
    # copy-on-write copies only while something holds a weight's array; a released tape holds nothing
    rng = np.random.default_rng(0)
    x = rng.random((64, 5), dtype=np.float32)
    y = rng.integers(0, 3, 64)
    model = tp.Sequential([tp.Input(shape=(5,)), tp.layers.Dense(8, activation="relu"), tp.layers.Dense(3)])
    model.compile(optimizer=optimizer, loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    copies = _tensor._copies[0]
    ids = [id(v._value) for v in model.weights]
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    model.train_on_batch(x[:16], y[:16])
    assert _tensor._copies[0] == copies
    assert [id(v._value) for v in model.weights] == ids


def _step(model, x, y):
    """One forward and backward pass: the logits, the loss and every gradient."""
    with tp.GradientTape() as tape:
        logits = model(x)
        loss = tp.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    return [logits, loss, *tape.gradient(loss, model.trainable_variables)]


def _cnn():
    L = tp.layers
    return [L.Input(shape=(12, 12, 3)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(2),
            L.Conv2D(16, 3, activation="relu"), L.Flatten(), L.Dense(64, activation="relu"), L.Dense(4)]


def _rnn():
    L = tp.layers
    return [L.Input(shape=(6, 3)), L.LSTM(8, return_sequences=True), L.GRU(8), L.Dense(4)]


@pytest.mark.host_only(reason="step buffers are reused for NumPy arrays only; other array libraries allocate")
@pytest.mark.parametrize("layers, shape", [(_cnn, (40, 12, 12, 3)), (_rnn, (40, 6, 3))], ids=["cnn", "rnn"])
def test_reused_step_buffers_never_change_tensors_still_held(layers, shape):
    """Large step arrays are reused once nothing refers to them (tapeflow/ops/_reuse.py: dense, im2col,
    col2im, max pooling and its gradient, the LSTM/GRU sequences and their gradients): what a caller still
    holds from one step (outputs, gradients, a view of one) keeps its value through the next steps."""
    from tapeflow.ops import _reuse

    tp.random.set_seed(0)
    model = tp.Sequential(layers())
    rng = np.random.default_rng(0)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(_reuse, "MIN_SIZE", 1)  # every array goes through the cache
    try:
        held = []
        for step in range(3):
            x = rng.standard_normal(shape).astype(np.float32)
            tensors = _step(model, x, rng.integers(0, 4, shape[0]))
            held.append([(t, t.numpy().copy()) for t in tensors])
            view = tensors[2].numpy()[1:]  # a view keeps its base from reuse too
            held.append([(view, view.copy())])
            for t, value in (pair for batch in held for pair in batch):
                np.testing.assert_array_equal(t if isinstance(t, np.ndarray) else t.numpy(), value)
        before = {id(b) for bufs in _reuse._cache.values() for b in bufs}
        del held, tensors, view
        _step(model, x, np.zeros(shape[0], np.int64))
        after = {id(b) for bufs in _reuse._cache.values() for b in bufs}
        assert before & after  # once released, the step's arrays were taken again
    finally:
        monkey.undo()
        _reuse.clear()
