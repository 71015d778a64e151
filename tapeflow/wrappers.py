"""scikit-learn estimators around tapeflow models, for ``Pipeline``, ``GridSearchCV``, ``cross_val_score``.

``SKLearnClassifier(model=build_fn, **params)`` and ``SKLearnRegressor(model=build_fn, **params)`` follow
scikit-learn's estimator contract: ``get_params``/``set_params``, ``clone``, ``fit``/``predict``/``score``
(and ``predict_proba``/``classes_`` for the classifier). ``build_fn`` returns a *compiled* tapeflow model.

Each keyword in ``params`` is routed by name: one that ``build_fn`` accepts goes to ``build_fn`` (so a grid
search over ``units`` rebuilds the model), any other goes to ``model.fit`` (``epochs``, ``batch_size``, ...).
``build_fn`` may also ask for the data's facts by naming them: ``n_features_in`` and ``n_classes``
(classifier) or ``n_outputs`` (regressor). ``verbose`` defaults to 0.

scikit-learn is an optional extra (``pip install scikit-learn``, or ``pip install -e ".[sklearn]"`` in a
checkout), imported on first use.

Example:
    >>> import numpy as np, tapeflow as tp
    >>> def build(n_features_in, n_classes, units=8):
    ...     model = tp.Sequential([tp.layers.Dense(units, activation="relu", input_shape=(n_features_in,)),
    ...                            tp.layers.Dense(n_classes, activation="softmax")])
    ...     model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    ...     return model
    >>> clf = tp.wrappers.SKLearnClassifier(build, units=4, epochs=2, random_state=0)
    >>> x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    >>> y = np.array(["cat", "dog"] * 10)
    >>> clf.fit(x, y).predict(x[:3]).shape, clf.classes_.tolist()
    ((3,), ['cat', 'dog'])
"""

from __future__ import annotations

import inspect

import numpy as np

from tapeflow._extras import install_hint

__all__ = ["SKLearnClassifier", "SKLearnRegressor"]  # noqa: F822 - made on first use, see __getattr__

_OWN = ("model", "warm_start", "random_state")


def _accepted(fn) -> set:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


class _TapeflowEstimator:
    """The shared logic; the public classes add scikit-learn's ``BaseEstimator`` and a mixin on first use."""

    def __init__(self, model=None, *, warm_start=False, random_state=None, **params):
        self.model = model
        self.warm_start = warm_start
        self.random_state = random_state
        for key in params:
            self._check_name(key)
        # kept apart from the attributes: scikit-learn's contract wants only __init__'s named parameters there
        self._params = dict(params)

    def __getattr__(self, name):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # --- parameters -----------------------------------------------------------------------------------------
    def _check_name(self, key):
        if key in _OWN:
            return
        if key.startswith("_") or key.endswith("_") or hasattr(type(self), key):
            raise ValueError(f"{type(self).__name__}: {key!r} cannot be a parameter (it is private, a fitted "
                             f"attribute, or a method name)")

    def get_params(self, deep=True):
        """The parameters: ``model``, ``warm_start``, ``random_state`` and every routed keyword."""
        return {**{k: getattr(self, k) for k in _OWN}, **self._params}

    def set_params(self, **params):
        """Set parameters (any keyword ``build_fn`` or ``model.fit`` accepts). Returns self.

        Raises:
            ValueError: for a name neither ``build_fn`` nor ``fit`` accepts, listing the valid ones.
        """
        valid = set(_OWN) | set(self._params) | self._build_names() | self._fit_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for {type(self).__name__}. "
                                 f"Valid: {sorted(valid)}")
            self._check_name(key)
            if key in _OWN:
                setattr(self, key, value)
            else:
                self._params[key] = value
        return self

    def _build_names(self) -> set:
        return _accepted(self.model) if callable(self.model) and not _is_model(self.model) else set()

    @staticmethod
    def _fit_names() -> set:
        from tapeflow.models import Model

        return _accepted(Model.fit) - {"self", "x", "y"}

    def _routed(self):
        build_names = self._build_names()
        build = {k: v for k, v in self._params.items() if k in build_names}
        fit = {k: v for k, v in self._params.items() if k not in build_names}
        fit.setdefault("verbose", 0)
        return build, fit

    # --- fitting --------------------------------------------------------------------------------------------
    def _build(self, build_kwargs, facts):
        if _is_model(self.model):
            from tapeflow.saving import model_io

            model = model_io.clone_model(self.model)
            settings = model_io.compile_config(self.model)
            if settings is not None:
                model_io.compile_from_config(model, settings, None, "model")
            return model
        if not callable(self.model):
            raise TypeError(f"{type(self).__name__}: `model` must be a function returning a compiled "
                            f"tapeflow model, or a model. Received: model={self.model!r}")
        names = _accepted(self.model)
        model = self.model(**build_kwargs, **{k: v for k, v in facts.items() if k in names})
        if not _is_model(model):
            raise TypeError(f"{type(self).__name__}: the `model` function must return a tapeflow model. "
                            f"Received: {type(model).__name__}")
        return model

    def _fit(self, x, y, sample_weight, fit_kwargs, facts):
        from tapeflow import random

        if self.random_state is not None:
            seed = self.random_state
            if not isinstance(seed, (int, np.integer)):  # a RandomState, as scikit-learn allows: draw a seed
                from sklearn.utils import check_random_state

                seed = check_random_state(seed).randint(2**31)
            random.set_seed(int(seed))
        build_kwargs, routed_fit = self._routed()
        if not (self.warm_start and hasattr(self, "model_")):
            self.model_ = self._build(build_kwargs, facts)
        if getattr(self.model_, "optimizer", None) is None:
            raise ValueError(f"{type(self).__name__}: the model must be compiled (call model.compile(...) in "
                             f"the build function) before fit")
        kwargs = {**routed_fit, **fit_kwargs}
        if sample_weight is not None:
            from sklearn.utils.validation import _check_sample_weight

            weights = _check_sample_weight(sample_weight, x, dtype=np.float32, ensure_non_negative=True)
            if not weights.any():
                raise ValueError(f"{type(self).__name__}: the sample weights are all zero, so nothing can be "
                                 f"learned")
            kwargs["sample_weight"] = weights
        self.history_ = self.model_.fit(x, y, **kwargs)
        return self

    def _check_x(self, x, reset):
        from sklearn.utils.validation import check_array

        x = check_array(x, dtype=("float32", "float64"), allow_nd=True)
        if x.dtype == np.float64:
            x = x.astype(np.float32)
        if reset:
            self.n_features_in_ = x.shape[1]
        elif x.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {x.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        return x

    def _raw_predict(self, x):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "model_")
        x = self._check_x(x, reset=False)
        return np.asarray(self.model_.predict(x, verbose=0))


def _require_y(estimator, y):
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None.")


def _is_model(obj) -> bool:
    from tapeflow.models import Model

    return isinstance(obj, Model)


class _ClassifierImpl(_TapeflowEstimator):
    def fit(self, X, y, sample_weight=None, **fit_kwargs):
        """Encode the labels (``classes_``), build the model and train it. Returns self."""
        from sklearn.preprocessing import LabelEncoder
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import check_consistent_length, column_or_1d

        _require_y(self, y)
        x = self._check_x(X, reset=True)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        check_consistent_length(x, y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; the data has 1 "
                             f"class: {encoder.classes_[0]!r}")
        self.classes_ = encoder.classes_
        self.n_classes_ = len(self.classes_)
        codes = encoder.transform(y).astype("int32")
        return self._fit(x, codes, sample_weight, fit_kwargs,
                         {"n_features_in": self.n_features_in_, "n_classes": self.n_classes_})

    def predict_proba(self, X):
        """Class probabilities, shape ``(n_samples, n_classes)``, columns in ``classes_`` order.

        Raises:
            ValueError: when the model's outputs are not probabilities (end the model with a softmax, or a
                one-unit sigmoid for two classes).
        """
        out = self._raw_predict(X).astype("float64")
        if out.ndim == 2 and out.shape[1] == 1 or out.ndim == 1:
            p = out.reshape(-1)
            out = np.stack([1.0 - p, p], axis=1)
        if out.ndim != 2 or out.shape[1] != self.n_classes_:
            raise ValueError(f"{type(self).__name__}: the model gives outputs of shape {out.shape}, but "
                             f"there are {self.n_classes_} classes; its last layer needs "
                             f"{self.n_classes_} units")
        if out.size and (out.min() < -1e-6 or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3)):
            raise ValueError(f"{type(self).__name__}: the model's outputs are not probabilities (rows "
                             f"must be non-negative and sum to 1); end the model with activation='softmax'")
        return out

    def predict(self, X):
        """The most probable class of each sample (labels from ``classes_``)."""
        proba = self.predict_proba(X)  # checks that it is fitted first
        return self.classes_[np.argmax(proba, axis=1)]


class _RegressorImpl(_TapeflowEstimator):
    def fit(self, X, y, sample_weight=None, **fit_kwargs):
        """Build the model and train it on targets ``y`` (1-d or 2-d). Returns self."""
        from sklearn.utils.validation import check_array, check_consistent_length

        _require_y(self, y)
        x = self._check_x(X, reset=True)
        y = check_array(y, ensure_2d=False, dtype=("float32", "float64")).astype("float32")  # refuses NaN/inf
        check_consistent_length(x, y)
        self._y_ndim = y.ndim
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return self._fit(x, y.reshape(len(y), -1), sample_weight, fit_kwargs,
                         {"n_features_in": self.n_features_in_, "n_outputs": self.n_outputs_})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # a 2-d y trains a model with several outputs
        return tags

    def predict(self, X):
        """Predictions, shaped like the targets given to ``fit``."""
        out = self._raw_predict(X).astype(np.float64)  # scikit-learn's metrics work in float64
        return out.reshape(len(out)) if self._y_ndim == 1 and out.ndim == 2 and out.shape[1] == 1 else out


_CLASSES: dict = {}


def _make(name):
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    mixin, impl = {"SKLearnClassifier": (ClassifierMixin, _ClassifierImpl),
                   "SKLearnRegressor": (RegressorMixin, _RegressorImpl)}[name]

    def __init__(self, model=None, *, warm_start=False, random_state=None, **params):
        impl.__init__(self, model, warm_start=warm_start, random_state=random_state, **params)

    doc = {"SKLearnClassifier": "A scikit-learn classifier that builds and trains a tapeflow model.",
           "SKLearnRegressor": "A scikit-learn regressor that builds and trains a tapeflow model."}[name]
    namespace = {
        "__init__": __init__, "__module__": __name__, "__qualname__": name, "__doc__": doc + _ARGS_DOC,
        "get_params": impl.get_params, "set_params": impl.set_params,
    }
    return type(name, (mixin, impl, BaseEstimator), namespace)


_ARGS_DOC = """

    Args:
        model: a function returning a compiled tapeflow model (or a compiled model, cloned on each fit).
        warm_start: keep training the fitted model on the next ``fit`` instead of building a new one.
        random_state: seed for ``tp.random.set_seed`` before building and fitting (repeatable results).
        **params: keywords for ``model`` (those it accepts by name) or for ``model.fit`` (the rest).
"""


def __getattr__(name):
    if name in __all__:
        if name not in _CLASSES:
            try:
                _CLASSES[name] = _make(name)
            except ImportError:
                raise ImportError(f"tapeflow.wrappers.{name} needs scikit-learn: "
                                  f"{install_hint('sklearn')}") from None
        return _CLASSES[name]
    raise AttributeError(f"module 'tapeflow.wrappers' has no attribute {name!r}")
