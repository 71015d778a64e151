"""``tp.data.Dataset``: a re-iterable pipeline of elements, built from sources and chained transformations.

A dataset is a recipe, not a container: every ``for`` loop over it (every epoch) runs the recipe again, so a
``shuffle`` reshuffles and a generator source is called afresh. Elements are NumPy arrays, or tuples/dicts of
them; iterating yields them as ``tp.Tensor`` s and :meth:`Dataset.as_numpy_iterator` yields NumPy arrays.

Example:
    >>> import tapeflow as tp
    >>> ds = tp.data.Dataset.range(10).map(lambda x: x * 2).batch(4)
    >>> [b.tolist() for b in ds.as_numpy_iterator()]
    [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18]]
    >>> len(ds)
    3
"""

from __future__ import annotations

import numpy as np

from tapeflow.data import _structure as S

INFINITE = -1
UNKNOWN = -2
AUTOTUNE = -1


class Dataset:
    """A re-iterable sequence of elements with chainable transformations (``tf.data.Dataset``).

    Build one with :meth:`from_tensor_slices`, :meth:`from_tensors`, :meth:`from_generator`, :meth:`range` or
    :meth:`zip`, then chain :meth:`map`, :meth:`filter`, :meth:`shuffle`, :meth:`batch`, :meth:`unbatch`,
    :meth:`repeat`, :meth:`take`, :meth:`skip`, :meth:`cache`, :meth:`prefetch`, ... Each returns a new
    dataset; the original is unchanged.

    Subclasses implement ``_iter()`` (a fresh iterator of NumPy elements per call) and ``_cardinality()``.
    """

    # --- the two methods a dataset defines ------------------------------------------------------------------
    def _iter(self):
        raise NotImplementedError

    def _cardinality(self) -> int:
        return UNKNOWN

    # --- iteration and size ---------------------------------------------------------------------------------
    def __iter__(self):
        from tapeflow._tensor import Tensor

        def as_tensor(a):
            return Tensor(a) if isinstance(a, (np.ndarray, np.generic)) and a.dtype.kind in "biuf" else a

        for element in self._iter():
            yield S.map_structure(as_tensor, element)

    def as_numpy_iterator(self):
        """Iterate the elements as NumPy arrays (tuples and dicts keep their structure).

        Example:
            >>> import tapeflow as tp
            >>> list(tp.data.Dataset.from_tensor_slices([1, 2, 3]).as_numpy_iterator())
            [np.int32(1), np.int32(2), np.int32(3)]
        """
        return self._iter()

    def cardinality(self) -> int:
        """The number of elements: a count, ``tp.data.INFINITE`` (-1) or ``tp.data.UNKNOWN`` (-2)."""
        return self._cardinality()

    def __len__(self):
        n = self._cardinality()
        if n == INFINITE:
            raise TypeError("The dataset is infinite (it repeats forever); len() is undefined.")
        if n == UNKNOWN:
            raise TypeError(
                "The dataset's length is unknown (it comes from a generator, filter or unbatch); "
                "iterate it to count, or use .take(n)."
            )
        return n

    def __bool__(self):
        return True

    def __repr__(self):
        n = self._cardinality()
        size = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(n, str(n))
        return f"<{type(self).__name__} cardinality={size}>"

    # --- sources --------------------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        """A dataset of the slices of ``tensors`` along their first axis.

        Args:
            tensors: an array (or Tensor, list, pandas DataFrame/Series), or a tuple/dict of them, all with
                the same first dimension.

        Raises:
            ShapeError: when the components' first dimensions differ.

        Example:
            >>> import numpy as np, tapeflow as tp
            >>> ds = tp.data.Dataset.from_tensor_slices((np.arange(6).reshape(3, 2), np.array([0, 1, 0])))
            >>> x, y = next(ds.as_numpy_iterator()); x, y
            (array([0, 1]), np.int64(0))
        """
        from tapeflow.data._sources import TensorSlicesDataset

        return TensorSlicesDataset(tensors)

    @staticmethod
    def from_tensors(tensors):
        """A dataset of exactly one element, ``tensors``."""
        from tapeflow.data._sources import TensorsDataset

        return TensorsDataset(tensors)

    @staticmethod
    def from_generator(generator, output_signature=None, args=()):
        """A dataset whose elements come from calling ``generator(*args)`` afresh for every pass.

        Args:
            generator: a callable returning an iterator (a generator function, not a generator object, so the
                dataset can be iterated more than once).
            output_signature: optional structure of ``(shape, dtype)`` pairs (or objects with ``.shape`` and
                ``.dtype``); each element is then converted to those dtypes and checked against those shapes
                (``None`` in a shape matches any size).
            args: arguments passed to ``generator``.

        Example:
            >>> import tapeflow as tp
            >>> def gen():
            ...     for i in range(3):
            ...         yield i, i * i
            >>> [tuple(int(v) for v in e) for e in tp.data.Dataset.from_generator(gen).as_numpy_iterator()]
            [(0, 0), (1, 1), (2, 4)]
        """
        from tapeflow.data._sources import GeneratorDataset

        return GeneratorDataset(generator, output_signature, tuple(args))

    @staticmethod
    def range(*args, dtype="int64"):
        """The integers of Python's ``range(*args)`` as scalar elements.

        Example:
            >>> import tapeflow as tp
            >>> [int(v) for v in tp.data.Dataset.range(2, 8, 3).as_numpy_iterator()]
            [2, 5]
        """
        from tapeflow.data._sources import RangeDataset

        return RangeDataset(range(*args), np.dtype(dtype))

    @staticmethod
    def zip(*datasets):
        """Pair up the elements of several datasets (stops at the shortest).

        Accepts ``zip(a, b)`` or, as TensorFlow does, ``zip((a, b))`` / ``zip({"x": a, "y": b})``.

        Example:
            >>> import tapeflow as tp
            >>> ds = tp.data.Dataset.zip(tp.data.Dataset.range(3), tp.data.Dataset.range(10, 13))
            >>> [(int(a), int(b)) for a, b in ds.as_numpy_iterator()]
            [(0, 10), (1, 11), (2, 12)]
        """
        from tapeflow.data._sources import ZipDataset

        structure = datasets[0] if len(datasets) == 1 and S.is_nest(datasets[0]) else datasets
        return ZipDataset(structure)

    # --- transformations ------------------------------------------------------------------------------------
    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        """Apply ``map_func`` to every element; a tuple element is unpacked into positional arguments.

        The function receives ``tp.Tensor`` s (so tapeflow ops and NumPy functions both work) and may return
        Tensors, arrays or Python numbers, in any structure.

        Args:
            map_func: the function.
            num_parallel_calls: apply it in this many threads (``tp.data.AUTOTUNE``: one per CPU core); the
                output keeps the input order. Worth it when the function releases the GIL (reading files,
                decoding images, large array operations). None or 1: in the calling thread.
            deterministic: accepted for TensorFlow compatibility; the order is always kept.

        Example:
            >>> import tapeflow as tp
            >>> ds = tp.data.Dataset.from_tensor_slices(([1., 2.], [0, 1])).map(lambda x, y: (x * 10, y))
            >>> [(float(x), int(y)) for x, y in ds.as_numpy_iterator()]
            [(10.0, 0), (20.0, 1)]
        """
        from tapeflow.data._transforms import MapDataset, ParallelMapDataset, _check_count

        if num_parallel_calls == AUTOTUNE:
            import os

            num_parallel_calls = os.cpu_count() or 1
        elif num_parallel_calls is not None:
            num_parallel_calls = _check_count("num_parallel_calls", num_parallel_calls, allow_minus_one=False)
        if num_parallel_calls is None or num_parallel_calls == 1:
            return MapDataset(self, map_func, tensors=True)
        return ParallelMapDataset(self, map_func, num_parallel_calls)

    def filter(self, predicate):
        """Keep the elements for which ``predicate`` (called like :meth:`map`'s function) is true.

        Example:
            >>> import tapeflow as tp
            >>> [int(v) for v in tp.data.Dataset.range(10).filter(lambda x: x % 3 == 0).as_numpy_iterator()]
            [0, 3, 6, 9]
        """
        from tapeflow.data._transforms import FilterDataset

        return FilterDataset(self, predicate)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Shuffle with a buffer: keep ``buffer_size`` elements and emit one of them at random each step.

        A buffer at least as large as the dataset gives a uniform shuffle. Every element still appears exactly
        once per pass.

        Args:
            buffer_size: how many elements to draw from (a positive integer).
            seed: makes the order repeatable; without it the order comes from ``tp.random`` (so
                ``tp.random.set_seed`` makes it repeatable too).
            reshuffle_each_iteration: a new order on every pass (epoch) when True; the same order when False.

        Example:
            >>> import tapeflow as tp
            >>> ds = tp.data.Dataset.range(5).shuffle(5, seed=0)
            >>> sorted(int(v) for v in ds.as_numpy_iterator())
            [0, 1, 2, 3, 4]
        """
        from tapeflow.data._transforms import ShuffleDataset

        return ShuffleDataset(self, buffer_size, seed, reshuffle_each_iteration)

    def batch(self, batch_size, drop_remainder=False):
        """Stack consecutive elements into batches of ``batch_size`` (the last one smaller unless dropped).

        Raises:
            ShapeError: when elements of one batch have different shapes (use :meth:`padded_batch`).

        Example:
            >>> import tapeflow as tp
            >>> [b.shape for b in tp.data.Dataset.range(10).batch(4).as_numpy_iterator()]
            [(4,), (4,), (2,)]
            >>> [b.shape for b in tp.data.Dataset.range(10).batch(4, drop_remainder=True).as_numpy_iterator()]
            [(4,), (4,)]
        """
        from tapeflow.data._transforms import BatchDataset

        return BatchDataset(self, batch_size, drop_remainder)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None, drop_remainder=False):
        """Like :meth:`batch`, padding each component (at the end of every axis) to the longest in the batch.

        Args:
            batch_size: elements per batch.
            padded_shapes: optional shapes to pad to (``None`` entries mean "longest in the batch").
            padding_values: the fill value (default 0), or a structure of them.
            drop_remainder: drop a last, smaller batch.

        Example:
            >>> import tapeflow as tp
            >>> ds = tp.data.Dataset.from_generator(lambda: iter([[1], [2, 3], [4, 5, 6]]))
            >>> next(ds.padded_batch(3).as_numpy_iterator()).tolist()
            [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
        """
        from tapeflow.data._transforms import BatchDataset

        return BatchDataset(self, batch_size, drop_remainder, pad=True, padded_shapes=padded_shapes,
                            padding_values=padding_values)

    def unbatch(self):
        """Split each element along its first axis into separate elements (the inverse of :meth:`batch`).

        Example:
            >>> import tapeflow as tp
            >>> ds = tp.data.Dataset.range(5).batch(2).unbatch()
            >>> [int(v) for v in ds.as_numpy_iterator()]
            [0, 1, 2, 3, 4]
        """
        from tapeflow.data._transforms import UnbatchDataset

        return UnbatchDataset(self)

    def repeat(self, count=None):
        """Repeat the dataset ``count`` times (forever when ``count`` is None or -1).

        Example:
            >>> import tapeflow as tp
            >>> [int(v) for v in tp.data.Dataset.range(2).repeat(3).as_numpy_iterator()]
            [0, 1, 0, 1, 0, 1]
        """
        from tapeflow.data._transforms import RepeatDataset

        return RepeatDataset(self, count)

    def take(self, count):
        """The first ``count`` elements (all of them when ``count`` is -1).

        Example:
            >>> import tapeflow as tp
            >>> [int(v) for v in tp.data.Dataset.range(10).repeat().take(3).as_numpy_iterator()]
            [0, 1, 2]
        """
        from tapeflow.data._transforms import TakeDataset

        return TakeDataset(self, count)

    def skip(self, count):
        """All but the first ``count`` elements (skips everything when ``count`` is -1).

        Example:
            >>> import tapeflow as tp
            >>> [int(v) for v in tp.data.Dataset.range(5).skip(3).as_numpy_iterator()]
            [3, 4]
        """
        from tapeflow.data._transforms import SkipDataset

        return SkipDataset(self, count)

    def cache(self):
        """Keep the elements of the first complete pass in memory and replay them on later passes.

        Put it after expensive, deterministic steps (loading, decoding) and before :meth:`shuffle`. A pass
        that stops early stores nothing.

        Example:
            >>> import tapeflow as tp
            >>> calls = []
            >>> ds = tp.data.Dataset.range(3).map(lambda x: calls.append(1) or x).cache()
            >>> _ = list(ds.as_numpy_iterator()); _ = list(ds.as_numpy_iterator()); len(calls)
            3
        """
        from tapeflow.data._transforms import CacheDataset

        return CacheDataset(self)

    def prefetch(self, buffer_size=AUTOTUNE):
        """Produce up to ``buffer_size`` elements ahead in a background thread (overlaps loading, training).

        An exception raised while producing is re-raised in the consumer at the point where it happened;
        stopping the loop early stops the thread. ``tp.data.AUTOTUNE`` picks a buffer of 2.

        Example:
            >>> import tapeflow as tp
            >>> [int(v) for v in tp.data.Dataset.range(4).prefetch(2).as_numpy_iterator()]
            [0, 1, 2, 3]
        """
        from tapeflow.data._prefetch import PrefetchDataset

        return PrefetchDataset(self, buffer_size)

    def enumerate(self, start=0):
        """Pair each element with its index: ``(i, element)``.

        Example:
            >>> import tapeflow as tp
            >>> [(int(i), int(v)) for i, v in tp.data.Dataset.range(5, 7).enumerate().as_numpy_iterator()]
            [(0, 5), (1, 6)]
        """
        return Dataset.zip(Dataset.range(start, np.iinfo(np.int64).max), self)

    def concatenate(self, dataset):
        """The elements of this dataset followed by those of ``dataset``.

        Example:
            >>> import tapeflow as tp
            >>> ds = tp.data.Dataset.range(2).concatenate(tp.data.Dataset.range(5, 6))
            >>> [int(v) for v in ds.as_numpy_iterator()]
            [0, 1, 5]
        """
        from tapeflow.data._transforms import ConcatenateDataset

        return ConcatenateDataset(self, dataset)

    def apply(self, transformation_func):
        """``transformation_func(self)``: lets a reusable pipeline step be chained."""
        return transformation_func(self)

    def _map_numpy(self, fn, num_parallel_calls=None):
        """Internal: map a function of NumPy elements (no Tensor conversion, no argument unpacking)."""
        from tapeflow.data._transforms import MapDataset, ParallelMapDataset

        if num_parallel_calls and num_parallel_calls > 1:
            return ParallelMapDataset(self, fn, num_parallel_calls, tensors=False)
        return MapDataset(self, fn, tensors=False)
