"""Losses against NumPy formulas (values, reductions, sample weights, stability at extreme logits, gradients)
and metrics against hand counts and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import losses as L
from tapeflow import metrics as M

RNG = np.random.default_rng(0)
YT = RNG.random((6, 4))
YP = RNG.random((6, 4)) + 0.1


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


REFERENCES = [
    (L.MeanSquaredError(), lambda t, p: ((t - p) ** 2).mean(-1)),
    (L.MeanAbsoluteError(), lambda t, p: np.abs(t - p).mean(-1)),
    (L.MeanAbsolutePercentageError(), lambda t, p: 100 * np.abs((t - p) / t).mean(-1)),
    (
        L.Huber(delta=0.3),
        lambda t, p: np.where(np.abs(t - p) <= 0.3, 0.5 * (t - p) ** 2, 0.3 * (np.abs(t - p) - 0.15)).mean(
            -1
        ),
    ),
    (L.LogCosh(), lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
    (
        L.BinaryCrossentropy(),
        lambda t, p: (
            -(t * np.log(np.clip(p, 1e-7, 1 - 1e-7)) + (1 - t) * np.log(1 - np.clip(p, 1e-7, 1 - 1e-7))).mean(
                -1
            )
        ),
    ),
    (
        L.BinaryCrossentropy(from_logits=True),
        lambda t, p: (
            -(t * np.log(1 / (1 + np.exp(-p))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-p)))).mean(-1)
        ),
    ),
    (L.CategoricalCrossentropy(from_logits=True), lambda t, p: -(t * np.log(_softmax(p))).sum(-1)),
    (L.CategoricalCrossentropy(), lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1)),
    (L.KLDivergence(), lambda t, p: (t * np.log(t / np.clip(p, 1e-7, 1))).sum(-1)),
    (L.Poisson(), lambda t, p: (p - t * np.log(p + 1e-7)).mean(-1)),
    (L.Hinge(), lambda t, p: np.maximum(1 - (2 * (t > 0.5) - 1) * p, 0).mean(-1)),
]


@pytest.mark.parametrize(
    "loss, ref", REFERENCES, ids=[type(r[0]).__name__ + str(i) for i, r in enumerate(REFERENCES)]
)
def test_loss_values_and_gradients(loss, ref):
    t = (YT > 0.5).astype(float) if isinstance(loss, L.Hinge) else YT
    want = ref(t, YP)
    got = type(loss).from_config({**loss.get_config(), "reduction": "none"})(t, YP.astype(np.float64))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    assert float(loss(t, YP.astype(np.float64))) == pytest.approx(want.mean(), rel=1e-6)
    report = tp.check_gradients(lambda p: loss(t, p), YP)
    assert report[0]["ok"], report


def test_sparse_crossentropy_matches_categorical_and_checks_labels():
    labels = np.array([0, 3, 1, 2, 3, 0])
    logits = RNG.standard_normal((6, 4))
    onehot = np.eye(4)[labels]
    a = L.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    b = L.CategoricalCrossentropy(from_logits=True)(onehot, logits)
    assert float(a) == pytest.approx(float(b), rel=1e-6)
    probs = _softmax(logits)
    assert float(L.SparseCategoricalCrossentropy()(labels[:, None], probs)) == pytest.approx(
        float(b), rel=1e-5
    )


@pytest.mark.host_only(reason="label range checks read the labels on the host; device backends skip them")
def test_sparse_crossentropy_checks_label_range():
    logits = RNG.standard_normal((2, 4))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\).*received a label 4"):
        L.SparseCategoricalCrossentropy(from_logits=True)([0, 4], logits)


@pytest.mark.parametrize(
    "loss, y",
    [
        (L.SparseCategoricalCrossentropy(from_logits=True), np.array([0, 1])),
        (L.CategoricalCrossentropy(from_logits=True), np.eye(3)[[0, 1]]),
        (L.BinaryCrossentropy(from_logits=True), np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])),
        (L.CategoricalCrossentropy(), np.eye(3)[[0, 1]]),
        (L.BinaryCrossentropy(), np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])),
    ],
)
def test_stable_for_extreme_logits(loss, y):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3e4]], dtype=np.float32)
    if not loss.get_config().get("from_logits"):
        logits = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)  # saturated probabilities
    x = tp.Variable(logits)
    with tp.GradientTape() as tape:
        value = loss(y, x)
    g = tape.gradient(value, x)
    assert np.isfinite(float(value)) and np.isfinite(g.numpy()).all()


def test_reductions_and_sample_weights():
    per = L.MeanSquaredError(reduction="none")(YT, YP).numpy()
    w = np.array([1.0, 0.0, 2.0, 1.0, 0.5, 0.0])
    assert float(L.MeanSquaredError()(YT, YP, sample_weight=w)) == pytest.approx(
        (per * w).sum() / 6, rel=1e-6
    )
    assert float(L.MeanSquaredError(reduction="sum")(YT, YP, sample_weight=w)) == pytest.approx(
        (per * w).sum(), rel=1e-6
    )
    assert float(
        L.MeanSquaredError(reduction="mean_with_sample_weight")(YT, YP, sample_weight=w)
    ) == pytest.approx((per * w).sum() / w.sum(), rel=1e-6)
    with pytest.raises(ValueError, match="`reduction` must be one of"):
        L.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match="Unknown loss 'mse2'. Choose one of"):
        L.get("mse2")


def test_label_smoothing():
    y = np.array([[1.0, 0.0]])
    p = np.array([[2.0, -1.0]])
    smoothed = y * 0.8 + 0.1
    want = -(smoothed * np.log(_softmax(p))).sum()
    assert float(L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)(y, p)) == pytest.approx(
        want
    )


# --- metrics ------------------------------------------------------------------------------------------------
def test_accuracy_metrics():
    probs = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]])
    labels = np.array([1, 0, 0, 0])  # sample 2 ties for second place: in the top 2, as tf.math.in_top_k
    m = M.SparseCategoricalAccuracy()
    m.update_state(labels[:2], probs[:2])
    m.update_state(labels[2:], probs[2:])
    assert float(m.result()) == 0.5
    assert float(M.CategoricalAccuracy()(np.eye(3)[labels], probs)) == 0.5
    top2 = M.SparseTopKCategoricalAccuracy(k=2)
    assert float(top2(labels, probs)) == 0.75 and top2.name == "sparse_top_k_categorical_accuracy"
    assert float(M.TopKCategoricalAccuracy(k=2)(np.eye(3)[labels], probs)) == 0.75
    assert float(M.BinaryAccuracy()([[1], [0], [1]], [[0.7], [0.6], [0.2]])) == pytest.approx(1 / 3)
    assert float(M.Accuracy()([1, 2, 3], [1, 2, 4])) == pytest.approx(2 / 3)
    m.reset_state()
    assert float(m.result()) == 0.0
    weighted = M.SparseCategoricalAccuracy()
    weighted.update_state(labels, probs, sample_weight=[1.0, 1.0, 0.0, 2.0])
    assert float(weighted.result()) == pytest.approx(2 / 4)


def test_regression_metrics_against_sklearn():
    from sklearn import metrics as skm

    t, p = RNG.random((50, 3)), RNG.random((50, 3))
    assert float(M.MeanSquaredError()(t, p)) == pytest.approx(skm.mean_squared_error(t, p), rel=1e-6)
    assert float(M.MeanAbsoluteError()(t, p)) == pytest.approx(skm.mean_absolute_error(t, p), rel=1e-6)
    assert float(M.RootMeanSquaredError()(t, p)) == pytest.approx(
        np.sqrt(skm.mean_squared_error(t, p)), rel=1e-6
    )
    r2 = M.R2Score()
    r2.update_state(t[:20], p[:20])
    r2.update_state(t[20:], p[20:])
    assert float(r2.result()) == pytest.approx(skm.r2_score(t, p), rel=1e-5)


def test_classification_metrics_against_sklearn():
    from sklearn import metrics as skm

    y = RNG.integers(0, 2, 300)
    score = np.clip(y * 0.3 + RNG.random(300) * 0.7, 0, 1)
    assert float(M.Precision()(y, score)) == pytest.approx(skm.precision_score(y, score > 0.5), rel=1e-6)
    assert float(M.Recall()(y, score)) == pytest.approx(skm.recall_score(y, score > 0.5), rel=1e-6)
    auc = M.AUC(num_thresholds=1000)
    auc.update_state(y[:100], score[:100])
    auc.update_state(y[100:], score[100:])
    assert float(auc.result()) == pytest.approx(skm.roc_auc_score(y, score), abs=2e-3)
    pr = M.AUC(curve="PR", num_thresholds=1000)(y, score)
    assert float(pr) == pytest.approx(skm.average_precision_score(y, score), abs=0.02)
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'. Choose one of"):
        M.get("acuracy")


@pytest.mark.parametrize(
    "units, activation, loss, y",
    [
        (3, "softmax", L.SparseCategoricalCrossentropy(), np.array([0, 2])),
        (3, "softmax", L.CategoricalCrossentropy(), np.eye(3)[[0, 2]]),
        (1, "sigmoid", L.BinaryCrossentropy(), np.array([[0.0], [1.0]])),
    ],
)
def test_probability_losses_use_the_logits_of_a_softmax_or_sigmoid_layer(units, activation, loss, y):
    # As Keras: exact where the probabilities saturate (no 1e-7 clipping), same gradient as from logits
    kernel = np.array([[30.0, -30.0, 0.0], [-30.0, 30.0, 0.0], [0.0, 0.0, 1.0]])[:, :units]
    layer = tp.layers.Dense(units, activation=activation, kernel_initializer=lambda shape, dtype=None: kernel)
    x = np.array([[1.0, -1.0, 2.0], [-2.0, 1.0, 0.5]])
    with tp.GradientTape(persistent=True) as tape:
        probs = layer(x)
        logits = tp.ops.fused.dense(x.astype("float32"), layer.kernel, layer.bias)
        via_probs = loss(y, probs)
        via_logits = type(loss)(from_logits=True)(y, logits)
    assert float(via_probs) == pytest.approx(float(via_logits), rel=1e-6) and float(via_logits) > 20
    for a, b in zip(
        tape.gradient(via_probs, layer.trainable_weights), tape.gradient(via_logits, layer.trainable_weights)
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5)
    plain = (
        tp.softmax(logits) if activation == "softmax" else tp.sigmoid(logits)
    )  # no layer: clipped as usual
    assert float(loss(y, plain)) < float(via_logits)


def test_binary_crossentropy_on_a_sigmoid_layer_is_finite_and_exact():
    # normal use: equals the textbook formula on the probabilities (float64, no clipping needed)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    y = rng.integers(0, 2, (64, 1)).astype("float64")
    layer = tp.layers.Dense(1, activation="sigmoid", dtype="float64")
    p = layer(x)
    expected = -np.mean(y * np.log(p.numpy()) + (1 - y) * np.log(1 - p.numpy()))
    assert float(L.BinaryCrossentropy()(y, p)) == pytest.approx(expected, rel=1e-10)
    # saturated: the loss of a confidently wrong sample is its logit (no 1e-7 cap at 16.1), gradients finite
    big = tp.layers.Dense(1, activation="sigmoid", kernel_initializer="ones", bias_initializer="zeros")
    with tp.GradientTape() as tape:
        loss = L.BinaryCrossentropy()(np.array([[0.0], [1.0]]), big(np.array([[100.0], [-300.0]])))
    assert float(loss) == pytest.approx((100.0 + 300.0) / 2, rel=1e-6)
    assert all(np.all(np.isfinite(g.numpy())) for g in tape.gradient(loss, big.trainable_weights))
