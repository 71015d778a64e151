"""scikit-learn wrappers: the estimator contract, Pipeline, cross_val_score and GridSearchCV on digits."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp

sklearn = pytest.importorskip("sklearn", reason="the `sklearn` extra is not installed")
from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

L = tp.layers


def build_classifier(n_features_in, n_classes, units=16, learning_rate=0.01):
    model = tp.Sequential(
        [
            tp.Input(shape=(n_features_in,)),
            L.Dense(units, activation="relu"),
            L.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer=tp.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    return model


def build_regressor(n_features_in, n_outputs, units=8):
    model = tp.Sequential(
        [tp.Input(shape=(n_features_in,)), L.Dense(units, activation="tanh"), L.Dense(n_outputs)]
    )
    model.compile(optimizer=tp.optimizers.Adam(0.05), loss="mse")
    return model


@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), (x_test, y_test) = tp.datasets.digits.load_data()
    flat = lambda x: x.reshape(len(x), -1).astype("float32") / 16.0  # noqa: E731
    return flat(x_train), y_train, flat(x_test), y_test


def blobs(n=90, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["ant", "bee", "cat"])[np.arange(n) % 3]
    centers = {"ant": [2, 0], "bee": [-2, 0], "cat": [0, 2.5]}
    x = np.array([centers[c] for c in y]) + rng.normal(scale=0.5, size=(n, 2))
    return x.astype("float32"), y


def test_estimator_contract_params_and_clone():
    clf = tp.wrappers.SKLearnClassifier(build_classifier, units=8, epochs=3, random_state=1)
    assert is_classifier(clf) and is_regressor(tp.wrappers.SKLearnRegressor(build_regressor))
    params = clf.get_params()
    assert params == {
        "model": build_classifier,
        "warm_start": False,
        "random_state": 1,
        "units": 8,
        "epochs": 3,
    }
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    assert clf.set_params(units=4, batch_size=16) is clf
    assert clf.get_params()["units"] == 4 and clf.get_params()["batch_size"] == 16
    with pytest.raises(ValueError, match="Invalid parameter 'unitz' for SKLearnClassifier"):
        clf.set_params(unitz=3)
    with pytest.raises(ValueError, match="cannot be a parameter"):
        tp.wrappers.SKLearnClassifier(build_classifier, predict=1)
    assert "units=4" in repr(clf)


def test_fit_predict_proba_score_with_string_labels():
    x, y = blobs()
    clf = tp.wrappers.SKLearnClassifier(build_classifier, epochs=30, batch_size=16, random_state=0)
    assert clf.fit(x, y) is clf
    assert clf.classes_.tolist() == ["ant", "bee", "cat"] and clf.n_features_in_ == 2
    proba = clf.predict_proba(x)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(clf.predict(x)) <= set(clf.classes_)
    assert clf.score(x, y) > 0.9
    assert len(clf.history_.history["loss"]) == 30


def test_random_state_repeats_and_warm_start_continues():
    x, y = blobs()
    a = tp.wrappers.SKLearnClassifier(build_classifier, epochs=2, random_state=3).fit(x, y)
    b = tp.wrappers.SKLearnClassifier(build_classifier, epochs=2, random_state=3).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    c = tp.wrappers.SKLearnClassifier(build_classifier, epochs=2, random_state=np.random.RandomState(5)).fit(
        x, y
    )
    d = tp.wrappers.SKLearnClassifier(build_classifier, epochs=2, random_state=np.random.RandomState(5)).fit(
        x, y
    )
    np.testing.assert_array_equal(c.predict_proba(x), d.predict_proba(x))
    warm = tp.wrappers.SKLearnClassifier(build_classifier, epochs=1, warm_start=True, random_state=0).fit(
        x, y
    )
    first = warm.model_
    warm.fit(x, y)
    assert warm.model_ is first and first.optimizer.iterations == 2 * int(np.ceil(90 / 32))


def test_errors_are_clear():
    x, y = blobs()
    clf = tp.wrappers.SKLearnClassifier(build_classifier, epochs=1)
    with pytest.raises(NotFittedError):
        clf.predict(x)
    clf.fit(x, y)
    with pytest.raises(ValueError, match="X has 3 features, but SKLearnClassifier is expecting 2"):
        clf.predict(np.ones((2, 3), "float32"))

    def logits(n_features_in, n_classes):
        model = tp.Sequential([tp.Input(shape=(n_features_in,)), L.Dense(n_classes)])
        model.compile(optimizer="sgd", loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    with pytest.raises(ValueError, match="not probabilities"):
        tp.wrappers.SKLearnClassifier(logits, epochs=1, random_state=0).fit(x, y).predict(x)

    def uncompiled(n_features_in, n_classes):
        return tp.Sequential([tp.Input(shape=(n_features_in,)), L.Dense(n_classes, activation="softmax")])

    with pytest.raises(ValueError, match="must be compiled"):
        tp.wrappers.SKLearnClassifier(uncompiled).fit(x, y)
    with pytest.raises(TypeError, match="`model` must be a function"):
        tp.wrappers.SKLearnClassifier(model=3).fit(x, y)


def test_a_compiled_model_instance_is_cloned_for_each_fit():
    x, y = blobs()
    template = build_classifier(2, 3)
    clf = tp.wrappers.SKLearnClassifier(template, epochs=20, random_state=0).fit(x, y)
    assert clf.model_ is not template and template.optimizer.iterations == 0
    assert clf.score(x, y) > 0.8


def test_regressor_shapes_and_score():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5], "float32") + 0.3
    reg = tp.wrappers.SKLearnRegressor(build_regressor, units=16, epochs=60, batch_size=16, random_state=0)
    assert reg.fit(x, y).predict(x).shape == (120,)
    assert reg.score(x, y) > 0.9
    y2 = np.stack([y, -y], axis=1)
    assert reg.fit(x, y2).predict(x).shape == (120, 2) and reg.n_outputs_ == 2
    weights = np.ones(120)
    assert reg.fit(x, y, sample_weight=weights).predict(x[:5]).shape == (5,)


def test_pipeline_and_cross_val_score():
    x, y = blobs(60)
    pipe = make_pipeline(
        StandardScaler(), tp.wrappers.SKLearnClassifier(build_classifier, epochs=20, random_state=0)
    )
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8


def test_grid_search_over_a_hyper_parameter_on_digits(digits):
    x_train, y_train, x_test, y_test = digits
    clf = tp.wrappers.SKLearnClassifier(build_classifier, epochs=8, batch_size=32, random_state=0)
    search = GridSearchCV(clf, {"units": [4, 32]}, cv=3)
    search.fit(x_train, y_train)
    assert search.best_params_ == {"units": 32}  # 4 hidden units are too few for ten digits
    means = search.cv_results_["mean_test_score"]
    assert means[1] > means[0] and means[1] > 0.9
    assert search.score(x_test, y_test) > 0.9
    assert search.best_estimator_.classes_.tolist() == list(range(10))


# mini-batch gradient descent on weighted samples is not the same computation as on repeated samples, and a
# float32 matrix product rounds differently for a batch of one than for a batch of twenty (different BLAS
# kernels): two checks whose premise does not hold for neural networks
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": "mini-batch training: weights are not repetitions",
    "check_methods_subset_invariance": "float32 products round differently for different batch sizes",
}


# sklearn's own notices: array-API checks need SciPy's flag; its NaN/inf data warn when cast
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_scikit_learn_estimator_checks(kind):
    from sklearn.utils.estimator_checks import check_estimator

    estimator = (
        tp.wrappers.SKLearnClassifier(build_classifier, epochs=25, random_state=0)
        if kind == "classifier"
        else tp.wrappers.SKLearnRegressor(build_regressor, units=16, epochs=25, random_state=0)
    )
    results = check_estimator(estimator, expected_failed_checks=EXPECTED_FAILURES, on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    assert not failed, failed
    assert sum(r["status"] == "passed" for r in results) > 50


def test_binary_classifier_with_one_sigmoid_unit():
    def build(n_features_in):
        model = tp.Sequential([tp.Input(shape=(n_features_in,)), L.Dense(1, activation="sigmoid")])
        model.compile(optimizer=tp.optimizers.Adam(0.05), loss="binary_crossentropy")
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype("float32")
    y = np.where(x[:, 0] > 0, "yes", "no")
    clf = tp.wrappers.SKLearnClassifier(build, epochs=40, random_state=0).fit(x, y)
    proba = clf.predict_proba(x)
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba[:, 1], clf.model_.predict(x, verbose=0)[:, 0], rtol=1e-6)
    assert clf.score(x, y) > 0.9
