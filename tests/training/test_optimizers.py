"""Each optimizer's updates against the published formulas, computed here step by step in float64 NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import optimizers as O

GRADS = [np.array([0.5, -1.5, 2.0]), np.array([-0.3, 0.2, 1.0]), np.array([1.0, 1.0, -4.0])]
W0 = np.array([1.0, -2.0, 0.5])


def run(opt):
    w = tp.Variable(W0, dtype="float64")
    out = []
    for g in GRADS:
        opt.apply_gradients([(tp.constant(g), w)])
        out.append(w.numpy().copy())
    return out


def reference(step_fn, state):
    w, out = W0.copy(), []
    for t, g in enumerate(GRADS, start=1):
        w = step_fn(w, g, t, state)
        out.append(w.copy())
    return out


def sgd_momentum(lr, mom, nesterov):
    def step(w, g, t, s):
        s["m"] = mom * s.get("m", 0) - lr * g
        return w + (mom * s["m"] - lr * g if nesterov else s["m"])

    return step


def adam(lr, b1, b2, eps, amsgrad=False, wd=0.0):
    def step(w, g, t, s):
        w = w - lr * wd * w
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        v = s["v"]
        if amsgrad:
            s["vh"] = np.maximum(s.get("vh", 0), v)
            v = s["vh"]
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        return w - alpha * s["m"] / (np.sqrt(v) + eps)

    return step


def rmsprop(lr, rho, mom, eps, centered):
    def step(w, g, t, s):
        s["s"] = rho * s.get("s", 0) + (1 - rho) * g * g
        d = s["s"]
        if centered:
            s["a"] = rho * s.get("a", 0) + (1 - rho) * g
            d = d - s["a"] ** 2
        inc = lr * g / np.sqrt(d + eps)
        if mom:
            s["m"] = mom * s.get("m", 0) + inc
            return w - s["m"]
        return w - inc

    return step


def adagrad(lr, init, eps):
    def step(w, g, t, s):
        s["a"] = s.get("a", init) + g * g
        return w - lr * g / np.sqrt(s["a"] + eps)

    return step


def adadelta(lr, rho, eps):
    def step(w, g, t, s):
        s["eg"] = rho * s.get("eg", 0) + (1 - rho) * g * g
        d = -np.sqrt(s.get("ed", 0) + eps) / np.sqrt(s["eg"] + eps) * g
        s["ed"] = rho * s.get("ed", 0) + (1 - rho) * d * d
        return w + lr * d

    return step


def adamax(lr, b1, b2, eps):
    def step(w, g, t, s):
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["u"] = np.maximum(b2 * s.get("u", 0), np.abs(g))
        return w - lr / (1 - b1**t) * s["m"] / (s["u"] + eps)

    return step


def nadam(lr, b1, b2, eps):
    def mu(t):
        return b1 * (1 - 0.5 * 0.96**t)

    def step(w, g, t, s):
        s["prod"] = s.get("prod", 1.0) * mu(t)
        prod, prod_next = s["prod"], s["prod"] * mu(t + 1)
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        m_hat = mu(t + 1) * s["m"] / (1 - prod_next) + (1 - mu(t)) * g / (1 - prod)
        v_hat = s["v"] / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


CASES = [
    ("sgd", O.SGD(0.1), sgd_momentum(0.1, 0.0, False)),
    ("sgd-momentum", O.SGD(0.1, momentum=0.9), sgd_momentum(0.1, 0.9, False)),
    ("sgd-nesterov", O.SGD(0.1, momentum=0.9, nesterov=True), sgd_momentum(0.1, 0.9, True)),
    ("adam", O.Adam(0.01), adam(0.01, 0.9, 0.999, 1e-7)),
    ("adam-amsgrad", O.Adam(0.01, beta_1=0.8, amsgrad=True), adam(0.01, 0.8, 0.999, 1e-7, amsgrad=True)),
    ("adamw", O.AdamW(0.01, weight_decay=0.1), adam(0.01, 0.9, 0.999, 1e-7, wd=0.1)),
    ("rmsprop", O.RMSprop(0.01), rmsprop(0.01, 0.9, 0.0, 1e-7, False)),
    (
        "rmsprop-centered-momentum",
        O.RMSprop(0.01, momentum=0.5, centered=True),
        rmsprop(0.01, 0.9, 0.5, 1e-7, True),
    ),
    ("adagrad", O.Adagrad(0.1), adagrad(0.1, 0.1, 1e-7)),
    ("adadelta", O.Adadelta(1.0), adadelta(1.0, 0.95, 1e-7)),
    ("adamax", O.Adamax(0.01), adamax(0.01, 0.9, 0.999, 1e-7)),
    ("nadam", O.Nadam(0.01), nadam(0.01, 0.9, 0.999, 1e-7)),
]


@pytest.mark.parametrize("name, opt, step", CASES, ids=[c[0] for c in CASES])
def test_update_matches_published_formula(name, opt, step):
    got = run(opt)
    want = reference(step, {})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert opt.iterations == len(GRADS)


@pytest.mark.host_only(reason="numpy() shares the Variable's buffer only on the NumPy backend")
def test_float32_variables_updated_in_place_stay_float32():
    w = tp.Variable([1.0, 2.0])
    before = id(w._value)
    O.Adam(0.1).apply_gradients([(tp.constant([1.0, 1.0]), w)])
    assert w.dtype == np.float32 and id(w._value) == before  # in place, no new array
    np.testing.assert_allclose(w.numpy(), [0.9, 1.9], rtol=1e-5)


def test_clipping():
    g = np.array([3.0, 4.0])  # norm 5
    w = tp.Variable([0.0, 0.0], dtype="float64")
    O.SGD(1.0, clipnorm=1.0).apply_gradients([(g, w)])
    np.testing.assert_allclose(w.numpy(), [-0.6, -0.8])
    w = tp.Variable([0.0, 0.0], dtype="float64")
    O.SGD(1.0, clipvalue=3.5).apply_gradients([(g, w)])
    np.testing.assert_allclose(w.numpy(), [-3.0, -3.5])
    a, b = tp.Variable([0.0], dtype="float64"), tp.Variable([0.0], dtype="float64")
    O.SGD(1.0, global_clipnorm=1.0).apply_gradients([(np.array([3.0]), a), (np.array([4.0]), b)])
    np.testing.assert_allclose([a.numpy()[0], b.numpy()[0]], [-0.6, -0.8])
    with pytest.raises(ValueError, match="Only one of `clipnorm` and `global_clipnorm`"):
        O.SGD(clipnorm=1.0, global_clipnorm=1.0)


def test_minimize_and_unconnected_variables():
    w, unused = tp.Variable(3.0), tp.Variable(1.0)
    opt = O.SGD(0.1)
    opt.minimize(lambda: (w - 1.0) ** 2, [w, unused])
    assert abs(float(w) - 2.6) < 1e-6 and float(unused) == 1.0
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.apply_gradients([(None, w)])


def test_schedule_drives_learning_rate():
    sched = O.schedules.PiecewiseConstantDecay([1], [1.0, 0.5])
    w = tp.Variable([0.0], dtype="float64")
    opt = O.SGD(sched)
    for _ in range(3):
        opt.apply_gradients([(np.array([1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-2.5])  # steps 0 and 1 at lr 1.0, step 2 at 0.5
    with pytest.raises(TypeError, match="learning-rate schedule"):
        opt.learning_rate = 0.1


def test_schedules_match_formulas():
    S = O.schedules
    assert S.ExponentialDecay(1.0, 10, 0.5)(15) == pytest.approx(0.5**1.5)
    assert S.ExponentialDecay(1.0, 10, 0.5, staircase=True)(15) == pytest.approx(0.5)
    assert S.InverseTimeDecay(1.0, 10, 0.5)(20) == pytest.approx(1 / 2)
    assert S.PolynomialDecay(1.0, 10, end_learning_rate=0.0, power=2)(5) == pytest.approx(0.25)
    assert S.PolynomialDecay(1.0, 10, end_learning_rate=0.0)(50) == pytest.approx(0.0)
    assert S.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)(15) == pytest.approx(0.25)
    assert S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])(10) == 1.0
    assert S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])(11) == 0.5
    cos = S.CosineDecay(1.0, 100, alpha=0.1)
    assert cos(0) == pytest.approx(1.0) and cos(50) == pytest.approx(0.1 + 0.9 * 0.5) and cos(500) == 0.1
    warm = S.CosineDecay(0.0, 100, warmup_target=1.0, warmup_steps=10)
    assert warm(5) == pytest.approx(0.5) and warm(10) == pytest.approx(1.0) and warm(60) == pytest.approx(0.5)
    r = S.CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5)
    assert r(0) == pytest.approx(1.0) and r(5) == pytest.approx(0.5)
    assert r(10) == pytest.approx(0.5) and r(20) == pytest.approx(0.25)  # second period: 20 steps, peak 0.5
    for s in (cos, warm, r, S.ExponentialDecay(1.0, 10, 0.5)):
        assert S.deserialize(S.serialize(s)).get_config() == s.get_config()


def test_config_roundtrip_and_state():
    opt = O.Adam(O.schedules.ExponentialDecay(0.1, 10, 0.9), beta_1=0.8, clipnorm=2.0)
    clone = O.deserialize(O.serialize(opt))
    assert type(clone) is O.Adam and clone.get_config() == opt.get_config()
    w = tp.Variable([1.0, 2.0])
    opt.apply_gradients([(tp.constant([1.0, -1.0]), w)])
    clone.build([w])
    clone.set_weights(opt.get_weights())
    assert clone.iterations == 1
    for a, b in zip(clone.get_weights(), opt.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'. Choose one of"):
        O.get("adamm")


@pytest.mark.parametrize("cls", [tp.optimizers.RMSprop, tp.optimizers.SGD, tp.optimizers.Adam])
def test_old_lr_spelling_is_refused_with_the_new_name(cls):
    # R keras and Keras 2 wrote optimizer_rmsprop(lr = 0.01); Keras 3 refuses `lr` too. The message must say
    # what to write instead (it used to say only "unexpected keyword argument(s) ['lr']").
    name = cls.__name__
    expected = (rf"^{name}: `lr` is the old Keras 2 / R name; the argument is `learning_rate`: "
                rf"{name}\(learning_rate=0.01\). Received: lr=0.01$")
    with pytest.raises(TypeError, match=expected):
        cls(lr=0.01)
    assert cls(learning_rate=0.01).learning_rate == pytest.approx(0.01)
