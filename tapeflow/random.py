"""Random tensors from one seeded generator: ``tp.random.set_seed(s)`` makes a whole script repeatable.

The draws come from one host NumPy Generator, so a seed gives the same numbers on every backend; each result
is copied to the backend once (dropout masks inside a training step are drawn on the device instead, by
``tapeflow._backend.uniform``).

Example:
    >>> import tapeflow as tp
    >>> tp.random.set_seed(1); a = tp.random.normal((2,))
    >>> tp.random.set_seed(1); b = tp.random.normal((2,))
    >>> bool(tp.reduce_all(a == b))
    True
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from tapeflow import _backend as B
from tapeflow import _trace
from tapeflow._tensor import to_array, wrap
from tapeflow.dtypes import as_dtype, floatx

_seed = None
_generator = np.random.default_rng()


def set_seed(seed):
    """Reseed the global generator (and remember the seed, which training records in its History)."""
    global _seed, _generator
    _seed = None if seed is None else int(seed)
    _generator = np.random.default_rng(_seed)


def get_seed():
    """The seed last given to :func:`set_seed` (None if never set)."""
    return _seed


def generator(seed=None) -> np.random.Generator:
    """The generator a draw uses: the global one every tapeflow random draw shares (``seed=None``:
    initializers, dropout, shuffling), a fresh one from an int seed (independent of, and not advancing, the
    global one: the draw is the same every time), or a :class:`SeedGenerator`'s own.

    Example:
        >>> import tapeflow as tp
        >>> tp.random.generator(7).random() == tp.random.generator(7).random()
        True
    """
    if seed is None:
        return _generator
    if isinstance(seed, SeedGenerator):
        return seed.generator
    return np.random.default_rng(seed)


@contextlib.contextmanager
def use_global_generator(generator):
    """Make draws from the global generator (``seed=None``) use ``generator`` during the block; the global one
    is back afterwards, not advanced. Process-wide, like the global generator itself.

    Example:
        >>> import numpy as np
        >>> import tapeflow as tp
        >>> with tp.random.use_global_generator(np.random.default_rng(7)):
        ...     a = tp.random.generator().random()
        >>> a == np.random.default_rng(7).random()
        True
    """
    global _generator
    saved = _generator
    _generator = generator
    try:
        yield generator
    finally:
        _generator = saved


def generator_of(owner) -> np.random.Generator:
    """The generator of an object with a ``seed`` attribute (a layer's random masks): its own, made from
    ``owner.seed`` on first use and kept in ``owner._rng`` (so successive draws differ), or the global one
    when ``owner.seed`` is None."""
    if owner.seed is None:
        return _generator
    if owner._rng is None:
        owner._rng = generator(owner.seed)
    return owner._rng


class SeedGenerator:
    """A seed that advances (Keras 3's ``keras.random.SeedGenerator``): pass it as ``seed=`` and each draw
    differs from the last, while the whole sequence repeats from the same starting seed.

    Args:
        seed: the starting seed (None: a random one).

    Example:
        >>> import tapeflow as tp
        >>> g = tp.random.SeedGenerator(42)
        >>> a, b = tp.random.normal((2,), seed=g), tp.random.normal((2,), seed=g)
        >>> bool(tp.reduce_all(a == b))
        False
        >>> g2 = tp.random.SeedGenerator(42)
        >>> bool(tp.reduce_all(tp.random.normal((2,), seed=g2) == a))
        True
    """

    def __init__(self, seed=None):
        self.seed = seed
        self.generator = np.random.default_rng(seed)

    def __repr__(self):
        return f"<SeedGenerator seed={self.seed}>"


def _shape(shape):
    return (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples. A ``seed`` gives a draw independent of (and not advancing) the global generator."""
    dtype = as_dtype(dtype) or floatx
    rng_of = functools.partial(generator, seed)
    return wrap(_trace.source(rng_of, _normal, _shape(shape), mean, stddev, dtype))


# The draws themselves: `generator` is looked up again at each draw, so a tp.function draws on every call from
# the generator eager code would use (set_seed between calls included).
def _normal(rng, shape, mean, stddev, dtype):
    return B.xp.asarray((rng.standard_normal(shape) * stddev + mean).astype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform samples in ``[minval, maxval)`` (integers when ``dtype`` is an int type)."""
    dtype = as_dtype(dtype) or floatx
    rng_of = functools.partial(generator, seed)
    return wrap(_trace.source(rng_of, _uniform, _shape(shape), minval, maxval, dtype))


def _uniform(rng, shape, minval, maxval, dtype):
    if dtype.kind in "iu":
        return B.xp.asarray(rng.integers(minval, maxval, shape).astype(dtype))
    return B.xp.asarray(rng.uniform(minval, maxval, shape).astype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples redrawn until within two standard deviations of the mean
    (``tf.random.truncated_normal``)."""
    dtype = as_dtype(dtype) or floatx
    rng_of = functools.partial(generator, seed)
    return wrap(_trace.source(rng_of, _truncated_normal, _shape(shape), mean, stddev, dtype))


def _truncated_normal(rng, shape, mean, stddev, dtype):
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return B.xp.asarray((out * stddev + mean).astype(dtype))


def shuffle(value, seed=None):
    """A copy of ``value`` with its first axis randomly permuted."""
    rng = generator(seed)
    arr = to_array(value)
    return wrap(arr[B.xp.asarray(rng.permutation(arr.shape[0]))] if arr.ndim else arr.copy())
