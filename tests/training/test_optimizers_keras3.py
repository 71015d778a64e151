"""Lion, Lamb, Adafactor, Ftrl against their formulas computed step by step in float64 NumPy; moving averages
(``use_ema``) and gradient accumulation in the base."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import optimizers as O

GRADS = [np.array([0.5, -1.5, 2.0]), np.array([-0.3, 0.2, 1.0]), np.array([1.0, 1.0, -4.0])]
W0 = np.array([1.0, -2.0, 0.5])


def run(opt, w0=W0, grads=GRADS):
    w = tp.Variable(w0, dtype="float64")
    out = []
    for g in grads:
        opt.apply_gradients([(tp.constant(g), w)])
        out.append(w.numpy().copy())
    return out


def reference(step_fn, w0=W0, grads=GRADS):
    w, out, state = w0.copy(), [], {}
    for t, g in enumerate(grads, start=1):
        w = step_fn(w, g, t, state)
        out.append(w.copy())
    return out


def lion(lr, b1, b2):
    def step(w, g, t, s):
        m = s.get("m", 0)
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        s["m"] = b2 * m + (1 - b2) * g
        return w

    return step


def lamb(lr, b1, b2, eps):
    def step(w, g, t, s):
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        update = (s["m"] / (1 - b1**t)) / (np.sqrt(s["v"] / (1 - b2**t)) + eps)
        ratio = np.linalg.norm(w) / np.linalg.norm(update)
        return w - lr * ratio * update

    return step


def ftrl(lr, power, init, l1, l2, shrink, beta):
    def step(w, g, t, s):
        n = s.get("n", np.full_like(w, init))
        z = s.get("z", np.zeros_like(w))
        g2 = g + 2 * shrink * w
        new_n = n + g * g
        z = z + g2 - (new_n ** -power - n ** -power) / lr * w
        quadratic = new_n ** -power / lr + 2 * (l2 + beta / (2 * lr))
        s["n"], s["z"] = new_n, z
        return (np.clip(z, -l1, l1) - z) / quadratic

    return step


def adafactor(lr, decay=-0.8, eps1=1e-30, eps2=1e-3, clip=1.0):
    def rms(x):
        return np.sqrt(np.mean(x * x))

    def step(w, g, t, s):
        rho = min(lr, 1 / math.sqrt(t))
        alpha = max(eps2, rms(w)) * rho
        b2 = 1 - t**decay
        sq = g * g + eps1
        if w.ndim >= 2:
            s["r"] = b2 * s.get("r", 0) + (1 - b2) * sq.mean(-1)
            s["c"] = b2 * s.get("c", 0) + (1 - b2) * sq.mean(-2)
            v = np.outer(s["r"] / s["r"].mean(), s["c"])
        else:
            s["v"] = v = b2 * s.get("v", 0) + (1 - b2) * sq
        u = g / np.sqrt(v)
        u = u / max(1.0, rms(u) / clip)
        return w - alpha * u

    return step


CASES = [
    (O.Lion(learning_rate=0.1), lion(0.1, 0.9, 0.99)),
    (O.Lion(learning_rate=0.05, beta_1=0.5, beta_2=0.9), lion(0.05, 0.5, 0.9)),
    (O.Lamb(learning_rate=0.1), lamb(0.1, 0.9, 0.999, 1e-7)),
    (O.Lamb(learning_rate=0.02, beta_1=0.8, beta_2=0.9, epsilon=1e-3), lamb(0.02, 0.8, 0.9, 1e-3)),
    (O.Ftrl(learning_rate=0.5), ftrl(0.5, -0.5, 0.1, 0, 0, 0, 0)),
    (O.Ftrl(learning_rate=0.3, learning_rate_power=-0.7, initial_accumulator_value=0.2,
            l1_regularization_strength=0.05, l2_regularization_strength=0.1,
            l2_shrinkage_regularization_strength=0.02, beta=0.3),
     ftrl(0.3, -0.7, 0.2, 0.05, 0.1, 0.02, 0.3)),
    (O.Adafactor(learning_rate=0.3), adafactor(0.3)),
    (O.Adafactor(learning_rate=0.05, beta_2_decay=-0.5, epsilon_2=1e-2, clip_threshold=0.5),
     adafactor(0.05, -0.5, 1e-30, 1e-2, 0.5)),
]


@pytest.mark.parametrize("opt, step", CASES, ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)])
def test_updates_match_the_formula(opt, step):
    for got, want in zip(run(opt), reference(step)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    again = O.deserialize(json.loads(json.dumps(O.serialize(opt))))
    assert type(again) is type(opt) and again.get_config() == opt.get_config()


def test_adafactor_factors_the_second_moment_of_matrices():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(3)]
    opt = O.Adafactor(learning_rate=0.2)
    for got, want in zip(run(opt, w0, grads), reference(adafactor(0.2), w0, grads)):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert [s.shape for s in opt.variables()[1:]] == [(3,), (4,), (0,)]


def test_ftrl_l1_makes_weights_exactly_zero():
    w = run(O.Ftrl(learning_rate=0.5, l1_regularization_strength=10.0))[-1]
    np.testing.assert_array_equal(w, 0.0)


def test_ema_keeps_a_moving_average_and_overwrites_on_schedule():
    opt = O.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5)
    w = tp.Variable(W0, dtype="float64")
    ema, plain = None, W0.copy()
    for g in GRADS:
        opt.apply_gradients([(tp.constant(g), w)])
        plain = plain - 0.1 * g
        ema = plain.copy() if ema is None else 0.5 * ema + 0.5 * plain
        np.testing.assert_allclose(w.numpy(), plain)  # the variables themselves follow plain SGD
    opt.finalize_variable_values([w])
    np.testing.assert_allclose(w.numpy(), ema)
    every_two = O.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    v = tp.Variable(W0, dtype="float64")
    every_two.apply_gradients([(tp.constant(GRADS[0]), v)])
    first = v.numpy().copy()
    every_two.apply_gradients([(tp.constant(GRADS[1]), v)])
    np.testing.assert_allclose(v.numpy(), 0.5 * first + 0.5 * (first - 0.1 * GRADS[1]))
    assert len(every_two.variables()) == 2  # iterations and the moving average (SGD has no other slot)


def test_gradient_accumulation_updates_every_n_steps_with_the_mean():
    opt = O.SGD(learning_rate=0.1, gradient_accumulation_steps=2)
    w = tp.Variable(W0, dtype="float64")
    opt.apply_gradients([(tp.constant(GRADS[0]), w)])
    np.testing.assert_array_equal(w.numpy(), W0)  # nothing yet
    opt.apply_gradients([(tp.constant(GRADS[1]), w)])
    np.testing.assert_allclose(w.numpy(), W0 - 0.1 * (GRADS[0] + GRADS[1]) / 2)
    assert opt.iterations == 2
    adam = O.Adam(learning_rate=0.1, gradient_accumulation_steps=3, clipnorm=1.0)
    v = tp.Variable(W0, dtype="float64")
    for g in GRADS:
        adam.apply_gradients([(tp.constant(g), v)])
    mean = sum(GRADS) / 3
    clipped = mean * min(1.0, 1.0 / np.linalg.norm(mean))
    single = O.Adam(learning_rate=0.1)
    u = tp.Variable(W0, dtype="float64")
    single._t = 3
    single.build([u])
    # with accumulation, the one real update is the third step (bias correction at t = 3)
    np.testing.assert_allclose(v.numpy(), run_at_step(single, u, clipped, 3))


def run_at_step(opt, var, g, t):
    opt.iterations = t - 1
    opt.apply_gradients([(tp.constant(g), var)])
    return var.numpy()


def test_errors_and_fit_with_the_new_options():
    with pytest.raises(ValueError, match="`gradient_accumulation_steps` must be a positive integer"):
        O.Adam(gradient_accumulation_steps=0)
    with pytest.raises(ValueError, match=r"`ema_momentum` must be in \[0, 1\]"):
        O.SGD(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="`learning_rate_power` must be <= 0"):
        O.Ftrl(learning_rate_power=0.5)
    assert isinstance(O.get("lion"), O.Lion) and isinstance(O.get("Adafactor"), O.Adafactor)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    for opt in (O.Lion(0.05), O.Lamb(0.05), O.Adafactor(0.1), O.Ftrl(0.5),
                O.Adam(0.05, use_ema=True, gradient_accumulation_steps=2)):
        tp.random.set_seed(0)
        model = tp.Sequential([tp.Input((3,)), tp.layers.Dense(1)])
        model.compile(opt, "mse")
        history = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
        assert history[-1] < 0.5 * history[0], (type(opt).__name__, history)


def test_swap_ema_weights_validates_with_the_averages_and_restores_the_training_weights():
    rng = np.random.default_rng(1)
    x, xv = rng.standard_normal((32, 3)).astype("float32"), rng.standard_normal((16, 3)).astype("float32")
    y, yv = x.sum(1, keepdims=True), xv.sum(1, keepdims=True)

    def run(callbacks):
        tp.random.set_seed(0)
        model = tp.Sequential([tp.Input((3,)), tp.layers.Dense(1)])
        model.compile(O.SGD(0.05, use_ema=True, ema_momentum=0.5), "mse")
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_data=(xv, yv),
                            callbacks=callbacks).history
        return model, history

    swapped, h_swapped = run([tp.callbacks.SwapEMAWeights()])
    plain, h_plain = run([])
    for a, b in zip(swapped.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)  # the training itself is unchanged
    assert h_swapped["loss"] == h_plain["loss"]
    assert h_swapped["val_loss"][-1] == pytest.approx(swapped.evaluate(xv, yv, verbose=0), rel=1e-6)
    assert h_swapped["val_loss"] != h_plain["val_loss"]
    with pytest.raises(ValueError, match="keeps no moving averages"):
        O.SGD(0.1).swap_with_averages([])
