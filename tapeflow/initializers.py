"""Weight initializers (``tp.initializers``), all drawn from the seeded ``tp.random.generator()``.

After ``tp.random.set_seed(s)`` the same model gets bit-identical weights. An initializer given its own
``seed`` draws from a private generator instead, so it returns the same values every call.

Example:
    >>> import tapeflow as tp
    >>> init = tp.initializers.get("glorot_uniform")
    >>> w = init((784, 10))
    >>> w.shape, w.dtype.name, bool(abs(w).max() <= (6 / 794) ** 0.5)
    ((784, 10), 'float32', True)
"""

from __future__ import annotations

import math

import numpy as np

from tapeflow import _backend as B
from tapeflow import random as _random
from tapeflow._catalog import Catalog, Configurable
from tapeflow.dtypes import as_dtype, floatx


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight shape: kernels ``(..., in, out)`` count their receptive field."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer(Configurable):
    """Base class: ``init(shape, dtype=None)`` returns a backend array."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError


class _Seeded(Initializer):
    def __init__(self, seed=None):
        self.seed = seed

    def _rng(self):
        return _random.generator(self.seed)

    def get_config(self):
        return {"seed": self.seed}


def _out(arr, dtype):
    return B.xp.asarray(np.asarray(arr).astype(as_dtype(dtype) or floatx, copy=False))


def _shape(shape):
    return tuple(int(s) for s in shape)


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return B.xp.zeros(_shape(shape), dtype=as_dtype(dtype) or floatx)


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return B.xp.ones(_shape(shape), dtype=as_dtype(dtype) or floatx)


class Constant(Initializer):
    """Every element equal to ``value``."""

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return B.xp.full(_shape(shape), self.value, dtype=as_dtype(dtype) or floatx)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(_Seeded):
    """Normal draws with ``mean`` and ``stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        return _out(self._rng().normal(self.mean, self.stddev, _shape(shape)), dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_Seeded):
    """Uniform draws in ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype=None):
        return _out(self._rng().uniform(self.minval, self.maxval, _shape(shape)), dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


def _truncated(rng, shape):
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out


class TruncatedNormal(_Seeded):
    """Normal draws redrawn until within two standard deviations of the mean."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        return _out(_truncated(self._rng(), _shape(shape)) * self.stddev + self.mean, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class VarianceScaling(_Seeded):
    """Draws whose variance is ``scale / n``, with ``n`` the fan-in, fan-out or their average.

    Formula:
        ``distribution="truncated_normal"``: stddev ``sqrt(scale / n) / 0.8796``; ``"untruncated_normal"``:
        stddev ``sqrt(scale / n)``; ``"uniform"``: limit ``sqrt(3 * scale / n)``.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform", "normal")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if scale <= 0:
            raise ValueError(f"`scale` must be positive. Received: scale={scale}")
        if mode not in self._MODES:
            raise ValueError(f"`mode` must be one of {self._MODES}. Received: mode={mode!r}")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(
                f"`distribution` must be one of {self._DISTRIBUTIONS}. Received: "
                f"distribution={distribution!r}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution in ("truncated_normal", "normal"):
            return _out(_truncated(rng, shape) * (math.sqrt(scale) / 0.87962566103423978), dtype)
        if self.distribution == "untruncated_normal":
            return _out(rng.standard_normal(shape) * math.sqrt(scale), dtype)
        limit = math.sqrt(3.0 * scale)
        return _out(rng.uniform(-limit, limit, shape), dtype)

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            **super().get_config(),
        }


def _preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _preset(
    "GlorotUniform",
    1.0,
    "fan_avg",
    "uniform",
    "Glorot/Xavier uniform: limit ``sqrt(6 / (fan_in + fan_out))``.",
)
GlorotNormal = _preset(
    "GlorotNormal",
    1.0,
    "fan_avg",
    "truncated_normal",
    "Glorot/Xavier normal: truncated, stddev ``sqrt(2 / (fan_in + fan_out))``.",
)
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform", "He uniform: limit ``sqrt(6 / fan_in)``.")
HeNormal = _preset(
    "HeNormal", 2.0, "fan_in", "truncated_normal", "He normal: truncated, stddev ``sqrt(2 / fan_in)``."
)
LecunNormal = _preset(
    "LecunNormal", 1.0, "fan_in", "truncated_normal", "LeCun normal: truncated, stddev ``sqrt(1 / fan_in)``."
)
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform", "LeCun uniform: limit ``sqrt(3 / fan_in)``.")


class Orthogonal(_Seeded):
    """A (semi-)orthogonal matrix times ``gain``; kernels of rank > 2 are flattened to ``(prod(shape[:-1]),
    n)``."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have rank >= 2. Received: shape={shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # make the decomposition unique (uniform over orthogonal matrices)
        if rows < cols:
            q = q.T
        return _out(self.gain * q.reshape(shape), dtype)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: the shape must be 2-D. Received: shape={shape}")
        return B.xp.eye(*shape, dtype=as_dtype(dtype) or floatx) * self.gain

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {
    c.__name__: c
    for c in (
        Zeros,
        Ones,
        Constant,
        RandomNormal,
        RandomUniform,
        TruncatedNormal,
        VarianceScaling,
        GlorotUniform,
        GlorotNormal,
        HeUniform,
        HeNormal,
        LecunNormal,
        LecunUniform,
        Orthogonal,
        Identity,
    )
}
_NAMES = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal,
    "identity": Identity,
}
_CATALOG = Catalog("initializer", _CLASSES.values(), aliases=_NAMES)


def get(identifier):
    """Resolve an initializer from a name, a config dict, an instance or a callable ``(shape, dtype) ->
    array``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _CATALOG.lookup(identifier)
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    raise TypeError(f"Cannot interpret {identifier!r} as an initializer")


def serialize(initializer) -> dict:
    """``{"class_name", "config"}`` (JSON data) for a built-in initializer."""
    return _CATALOG.serialize(initializer)


def deserialize(config, custom_objects=None):
    """The initializer described by :func:`serialize`'s output (unknown class names are refused)."""
    return _CATALOG.deserialize(config, custom_objects)


# TensorFlow's lower-case function-style aliases
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_normal, lecun_uniform, orthogonal, zeros, ones = LecunNormal, LecunUniform, Orthogonal, Zeros, Ones
constant, random_normal, random_uniform, truncated_normal = (
    Constant,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
)

__all__ = ["get", "serialize", "deserialize", "compute_fans", "Initializer", *_CLASSES]
