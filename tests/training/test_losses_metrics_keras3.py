"""Losses and metrics added for Keras 3 parity: values against NumPy formulas and scikit-learn, gradients,
configs, ``ignore_class``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import _backend as B
from tapeflow import losses as L
from tapeflow import metrics as M

RNG = np.random.default_rng(5)
YT = RNG.random((6, 4))
YP = RNG.random((6, 4)) + 0.1
ONE_HOT = np.eye(4)[RNG.integers(0, 4, 6)]


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _bfce(t, p, gamma=2.0, alpha=None):
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    pt = t * p + (1 - t) * (1 - p)
    w = 1.0 if alpha is None else t * alpha + (1 - t) * (1 - alpha)
    return (w * (1 - pt) ** gamma * bce).mean(-1)


PER_SAMPLE = [
    (L.MeanSquaredLogarithmicError(), YT, lambda t, p: ((np.log1p(p) - np.log1p(t)) ** 2).mean(-1)),
    (L.CosineSimilarity(), YT, lambda t, p: -(_unit(t) * _unit(p)).sum(-1)),
    (L.CategoricalHinge(), ONE_HOT,
     lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)),
    (L.BinaryFocalCrossentropy(gamma=1.5), YT, lambda t, p: _bfce(t, np.clip(p, 1e-7, 1 - 1e-7), 1.5)),
    (L.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True, alpha=0.3), YT,
     lambda t, p: _bfce(t, _sigmoid(p), 2.0, 0.3)),
    (L.CategoricalFocalCrossentropy(), ONE_HOT,
     lambda t, p: (-0.25 * (1 - p / p.sum(-1, keepdims=True)) ** 2 * t
                   * np.log(p / p.sum(-1, keepdims=True))).sum(-1)),
    (L.CategoricalFocalCrossentropy(from_logits=True, gamma=1.0), ONE_HOT,
     lambda t, p: (-0.25 * (1 - _softmax(p)) * t * np.log(_softmax(p))).sum(-1)),
]


@pytest.mark.parametrize("loss, t, ref", PER_SAMPLE, ids=[type(c[0]).__name__ + str(i) for i, c in
                                                       enumerate(PER_SAMPLE)])
def test_per_sample_losses_values_gradients_and_configs(loss, t, ref):
    p = np.clip(YP, 0.01, 0.99)
    got = type(loss).from_config({**loss.get_config(), "reduction": "none"})(t, p)
    np.testing.assert_allclose(got.numpy(), ref(t, p), rtol=1e-6)
    assert float(loss(t, p)) == pytest.approx(ref(t, p).mean(), rel=1e-6)
    report = tp.check_gradients(lambda q: loss(t, q), p)
    assert report[0]["ok"], report
    again = L.deserialize(json.loads(json.dumps(L.serialize(loss))))
    assert again.get_config() == loss.get_config()


def test_dice_and_tversky():
    t, p = (YT > 0.5).astype(float), np.clip(YP, 0, 1)
    dice = 1 - 2 * (t * p).sum() / (t.sum() + p.sum())
    assert float(L.Dice()(t, p)) == pytest.approx(dice, rel=1e-6)
    assert float(L.Tversky()(t, p)) == pytest.approx(dice, rel=1e-5)  # alpha = beta = 0.5 is Dice
    tp_, fp, fn = (t * p).sum(), ((1 - t) * p).sum(), (t * (1 - p)).sum()
    assert float(L.Tversky(alpha=0.7, beta=0.3)(t, p)) == pytest.approx(1 - tp_ / (tp_ + 0.7 * fp + 0.3 * fn),
                                                                       rel=1e-6)
    per_sample = L.Dice(axis=-1, reduction="none")(t, p).numpy()
    np.testing.assert_allclose(per_sample, 1 - 2 * (t * p).sum(-1) / (t.sum(-1) + p.sum(-1)), rtol=1e-6)
    assert tp.check_gradients(lambda q: L.Dice()(t, q), p)[0]["ok"]
    assert L.get("msle").__class__ is L.MeanSquaredLogarithmicError
    assert L.get("binary_focal_crossentropy").__class__ is L.BinaryFocalCrossentropy


def test_sparse_crossentropy_ignore_class():
    logits = RNG.standard_normal((5, 3))
    labels = np.array([0, 2, -1, 1, -1])
    loss = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    keep = labels != -1
    per = -np.log(_softmax(logits))[np.arange(5), np.where(keep, labels, 0)]
    assert float(loss(labels, logits)) == pytest.approx(per[keep].mean(), rel=1e-6)
    unreduced = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, reduction="none")
    values = unreduced(labels, logits)
    np.testing.assert_allclose(values.numpy(), np.where(keep, per, 0), rtol=1e-6)
    weights = np.array([1.0, 2.0, 5.0, 1.0, 5.0])
    weighted = float(loss(labels, logits, sample_weight=weights))
    assert weighted == pytest.approx((per * weights)[keep].sum() / keep.sum(), rel=1e-6)
    assert tp.check_gradients(lambda z: loss(labels, z), logits)[0]["ok"]
    # a padded sequence model: the padding class is left out of training
    seq = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    y = np.array([[1, 2, 0], [2, 0, 0]])
    assert float(seq(y, RNG.standard_normal((2, 3, 3)))) > 0


def test_mean_metrics_against_numpy():
    t, p = YT, YP
    cases = [
        (M.MeanAbsolutePercentageError(), 100 * np.abs((t - p) / t).mean()),
        (M.MeanSquaredLogarithmicError(), ((np.log1p(p) - np.log1p(t)) ** 2).mean()),
        (M.CosineSimilarity(), (_unit(t) * _unit(p)).sum(-1).mean()),
        (M.LogCoshError(), np.log(np.cosh(p - t)).mean()),
        (M.Poisson(), (p - t * np.log(p + 1e-7)).mean()),
        (M.BinaryCrossentropy(), (-(t * np.log(np.clip(p, 1e-7, 1 - 1e-7))
                                    + (1 - t) * np.log(1 - np.clip(p, 1e-7, 1 - 1e-7)))).mean()),
        (M.CategoricalCrossentropy(from_logits=True), -(ONE_HOT * np.log(_softmax(p))).sum(-1).mean()),
        (M.PearsonCorrelation(), np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(t, p)])),
    ]
    for metric, want in cases:
        target = ONE_HOT if isinstance(metric, M.CategoricalCrossentropy) else t
        metric.update_state(target[:3], p[:3])
        metric.update_state(target[3:], p[3:])
        assert float(metric.result()) == pytest.approx(want, rel=1e-5), type(metric).__name__
    sparse = M.SparseCategoricalCrossentropy(from_logits=True)
    labels = ONE_HOT.argmax(-1)
    want = -(ONE_HOT * np.log(_softmax(p))).sum(-1).mean()
    assert float(sparse(labels, p)) == pytest.approx(want, rel=1e-5)
    ccc = M.ConcordanceCorrelation()(t, t)
    assert float(ccc) == pytest.approx(1.0, rel=1e-6)
    assert float(M.Sum()([1.0, 2.0, 3.0], sample_weight=[1.0, 0.0, 2.0])) == 7.0
    assert isinstance(M.get("mape"), M.MeanAbsolutePercentageError)


def test_confusion_counts():
    y, s = np.array([0, 1, 1, 1, 0]), np.array([0.9, 0.8, 0.2, 0.6, 0.1])
    assert float(M.TruePositives()(y, s)) == 2
    assert float(M.FalsePositives()(y, s)) == 1
    assert float(M.TrueNegatives()(y, s)) == 1
    assert float(M.FalseNegatives()(y, s)) == 1
    np.testing.assert_array_equal(M.TruePositives(thresholds=[0.1, 0.7])(y, s).numpy(), [3, 1])
    assert float(M.FalseNegatives()(y, s, sample_weight=[1, 1, 3, 1, 1])) == 3
    assert isinstance(M.get("true_positives"), M.TruePositives)


def test_f1_and_fbeta_against_sklearn():
    from sklearn import metrics as skm

    labels = RNG.integers(0, 3, 60)
    scores = RNG.random((60, 3)) + np.eye(3)[labels] * 0.4
    onehot = np.eye(3)[labels]
    pred = scores.argmax(-1)
    for average in (None, "micro", "macro", "weighted"):
        m = M.F1Score(average=average)
        m.update_state(onehot[:25], scores[:25])
        m.update_state(onehot[25:], scores[25:])
        want = skm.f1_score(labels, pred, average=average)
        np.testing.assert_allclose(m.result().numpy(), want, rtol=1e-5)
        fb = M.FBetaScore(average=average, beta=2.0)(onehot, scores).numpy()
        np.testing.assert_allclose(fb, skm.fbeta_score(labels, pred, beta=2.0, average=average), rtol=1e-5)
    multilabel = (RNG.random((40, 3)) > 0.5).astype(float)
    probs = np.clip(multilabel * 0.5 + RNG.random((40, 3)) * 0.6, 0, 1)
    got = M.F1Score(average="macro", threshold=0.5)(multilabel, probs)
    assert float(got) == pytest.approx(skm.f1_score(multilabel, probs > 0.5, average="macro"), rel=1e-5)
    config = M.F1Score(average="macro").get_config()
    assert "beta" not in config and M.deserialize(M.serialize(M.F1Score("micro"))).average == "micro"


def test_constrained_curve_metrics_against_a_scan_of_thresholds():
    y = RNG.integers(0, 2, 400)
    s = np.clip(y * 0.35 + RNG.random(400) * 0.65, 0, 1)
    th = B.to_numpy(M.curve_thresholds(200))
    pred = s[None, :] > th[:, None]
    tp_ = (pred & (y == 1)).sum(1)
    fp = (pred & (y == 0)).sum(1)
    fn = (~pred & (y == 1)).sum(1)
    tn = (~pred & (y == 0)).sum(1)
    precision = np.where(tp_ + fp > 0, tp_ / np.maximum(tp_ + fp, 1), 0)
    recall = tp_ / (tp_ + fn)
    specificity = tn / (tn + fp)
    expected = {
        M.PrecisionAtRecall(0.8): precision[recall >= 0.8].max(),
        M.RecallAtPrecision(0.7): recall[precision >= 0.7].max(),
        M.SensitivityAtSpecificity(0.6): recall[specificity >= 0.6].max(),
        M.SpecificityAtSensitivity(0.9): specificity[recall >= 0.9].max(),
    }
    for metric, want in expected.items():
        metric.update_state(y[:150], s[:150])
        metric.update_state(y[150:], s[150:])
        assert float(metric.result()) == pytest.approx(want, rel=1e-6), type(metric).__name__
    assert float(M.RecallAtPrecision(1.0)([0, 1], [0.9, 0.1])) == 0.0  # no threshold reaches it
    assert M.PrecisionAtRecall(recall=0.5).get_config()["recall"] == 0.5
    with pytest.raises(ValueError, match=r"`recall` must be in \[0, 1\]"):
        M.PrecisionAtRecall(1.5)


def test_iou_family_against_sklearn():
    from sklearn import metrics as skm

    t, p = RNG.integers(0, 4, 80), RNG.integers(0, 4, 80)
    per_class = skm.jaccard_score(t, p, average=None)
    assert float(M.MeanIoU(num_classes=4)(t, p)) == pytest.approx(per_class.mean(), rel=1e-6)
    assert float(M.IoU(4, target_class_ids=[1, 3])(t, p)) == pytest.approx(per_class[[1, 3]].mean(), rel=1e-6)
    onehot, scores = np.eye(4)[t], np.eye(4)[p] + 0.1
    assert float(M.OneHotMeanIoU(4)(onehot, scores)) == pytest.approx(per_class.mean(), rel=1e-6)
    assert float(M.OneHotIoU(4, [2])(onehot, scores)) == pytest.approx(per_class[2], rel=1e-6)
    probs = RNG.random(50)
    labels = RNG.integers(0, 2, 50)
    want = skm.jaccard_score(labels, probs > 0.3, average=None).mean()
    assert float(M.BinaryIoU(threshold=0.3)(labels, probs)) == pytest.approx(want, rel=1e-6)
    ignoring = M.MeanIoU(num_classes=4, ignore_class=0)(t, p)
    keep = t != 0
    cm = skm.confusion_matrix(t[keep], p[keep], labels=range(4))
    denominator = cm.sum(0) + cm.sum(1) - np.diag(cm)
    assert float(ignoring) == pytest.approx((np.diag(cm) / denominator)[denominator > 0].mean(), rel=1e-6)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        M.MeanIoU(num_classes=4)([5], [1])


def test_new_metrics_serialize_and_work_in_fit():
    for metric in (M.F1Score(average="macro", threshold=0.4), M.IoU(3, [0, 2], ignore_class=1),
                   M.BinaryIoU([1], 0.6), M.SensitivityAtSpecificity(0.5, num_thresholds=50, class_id=1),
                   M.CosineSimilarity(axis=-1), M.OneHotMeanIoU(3)):
        again = M.deserialize(json.loads(json.dumps(M.serialize(metric))))
        assert type(again) is type(metric) and again.get_config() == metric.get_config()
    x = RNG.standard_normal((32, 4)).astype("float32")
    y = np.eye(3)[RNG.integers(0, 3, 32)]
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input((4,)), tp.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy",
                  metrics=[M.F1Score(average="macro"), M.OneHotMeanIoU(3), "mape"])
    logs = model.fit(x, y, epochs=1, verbose=0).history
    assert {"f1_score", "one_hot_mean_io_u", "mape"} <= set(logs)
