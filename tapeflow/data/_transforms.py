"""Transformations that wrap one dataset: map, filter, shuffle, batch, unbatch, repeat, take, skip, cache."""

from __future__ import annotations

import numpy as np

from tapeflow.data import _structure as S
from tapeflow.data.dataset import INFINITE, UNKNOWN, Dataset
from tapeflow.errors import ShapeError


def _check_count(name, value, allow_minus_one=True):
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < (-1 if allow_minus_one else 1):
        need = "an integer >= -1" if allow_minus_one else "a positive integer"
        raise ValueError(f"`{name}` must be {need}. Received: {name}={value!r}")
    return int(value)


def _call(fn, element, tensors):
    """Call a user function the TensorFlow way: a tuple element is unpacked into positional arguments."""
    if tensors:
        from tapeflow._tensor import Tensor

        element = S.map_structure(
            lambda a: Tensor(a) if isinstance(a, (np.ndarray, np.generic)) and a.dtype.kind in "biuf" else a,
            element,
        )
    return fn(*element) if isinstance(element, tuple) else fn(element)


class _Unary(Dataset):
    def __init__(self, input_dataset):
        if not isinstance(input_dataset, Dataset):
            raise TypeError(f"expected a tp.data.Dataset. Received: {type(input_dataset).__name__}")
        self._input = input_dataset

    def _cardinality(self):
        return self._input._cardinality()


class MapDataset(_Unary):
    def __init__(self, input_dataset, fn, tensors):
        super().__init__(input_dataset)
        if not callable(fn):
            raise TypeError(f"map: `map_func` must be callable. Received: {type(fn).__name__}")
        self._fn = fn
        self._tensors = tensors

    def _iter(self):
        if not self._tensors:  # internal NumPy functions take the element as it is
            yield from map(self._fn, self._input._iter())
            return
        for element in self._input._iter():
            yield S.map_structure(S.to_numpy, _call(self._fn, element, True))


class ParallelMapDataset(MapDataset):
    """``map`` with ``num_parallel_calls`` threads: up to twice that many elements in flight, output in order.

    Threads pay off when the function releases the GIL (file reading and image decoding with Pillow, large
    NumPy operations). An exception in the function is raised at that element's place in the output.
    Stopping early cancels what has not started and waits for what has.
    """

    def __init__(self, input_dataset, fn, num_parallel_calls, tensors=True):
        super().__init__(input_dataset, fn, tensors=tensors)
        self._workers = num_parallel_calls

    def _apply(self, element):
        if not self._tensors:
            return self._fn(element)
        return S.map_structure(S.to_numpy, _call(self._fn, element, True))

    def _iter(self):
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        executor = ThreadPoolExecutor(self._workers, thread_name_prefix="tapeflow-map")
        pending = deque()
        source = self._input._iter()
        try:
            for element in source:
                pending.append(executor.submit(self._apply, element))
                if len(pending) >= 2 * self._workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            executor.shutdown(wait=True)
            close = getattr(source, "close", None)
            if close is not None:
                close()


class FilterDataset(_Unary):
    def __init__(self, input_dataset, predicate):
        super().__init__(input_dataset)
        if not callable(predicate):
            raise TypeError(f"filter: `predicate` must be callable. Received: {type(predicate).__name__}")
        self._predicate = predicate

    def _cardinality(self):
        return 0 if self._input._cardinality() == 0 else UNKNOWN

    def _iter(self):
        for element in self._input._iter():
            keep = np.asarray(S.to_numpy(_call(self._predicate, element, True)))
            if keep.shape != ():
                raise ShapeError(
                    f"filter: the predicate must return a scalar boolean; got shape {keep.shape}"
                )
            if bool(keep):
                yield element


class ShuffleDataset(_Unary):
    def __init__(self, input_dataset, buffer_size, seed, reshuffle_each_iteration):
        super().__init__(input_dataset)
        self._buffer_size = _check_count("buffer_size", buffer_size, allow_minus_one=False)
        if seed is None:
            from tapeflow import random

            seed = int(random.generator().integers(2**63 - 1))
        self._seed = int(seed)
        self._reshuffle = bool(reshuffle_each_iteration)
        self._epoch = 0

    def _rng(self):
        rng = np.random.default_rng([self._seed, self._epoch] if self._reshuffle else self._seed)
        self._epoch += 1
        return rng

    def _row_batches(self, batch_size, drop_remainder):
        """Fast path: whole batches gathered from the input's arrays, when the buffer holds everything.

        Gives exactly the batches of the element path: with ``buffer_size >= n`` that path fills the buffer
        with all n elements and emits them in ``rng.permutation(n)`` order, as here.
        """
        rows = getattr(self._input, "_row_batches", None)
        n = self._input._cardinality()
        if rows is None or not 0 <= n <= self._buffer_size:
            return None
        order = self._rng().permutation(n)
        return self._input._gather_batches(order, batch_size, drop_remainder)

    def _iter(self):
        rng = self._rng()
        buffer = []
        for element in self._input._iter():
            if len(buffer) < self._buffer_size:
                buffer.append(element)
                continue
            i = int(rng.integers(len(buffer)))
            out, buffer[i] = buffer[i], element
            yield out
        order = rng.permutation(len(buffer))
        for i in order:
            yield buffer[i]


def _stack(name, parts):
    try:
        return np.stack(parts)
    except ValueError:
        shapes = sorted({p.shape for p in parts})
        raise ShapeError(
            f"{name}: elements in one batch have different shapes; got {shapes}. "
            "Use padded_batch() or map them to one shape first."
        ) from None


def _pad_stack(parts, padded_shape, value):
    value = 0 if value is None else value
    ndim = parts[0].ndim
    if any(p.ndim != ndim for p in parts):
        shapes = sorted({p.shape for p in parts})
        raise ShapeError(f"padded_batch: elements have different ranks; got {shapes}")
    longest = [max(p.shape[k] for p in parts) for k in range(ndim)]
    if padded_shape is not None:
        padded_shape = tuple(padded_shape)
        for k, s in enumerate(padded_shape):
            if s is not None and s != -1:
                if s < longest[k]:
                    raise ShapeError(
                        f"padded_batch: an element of shape {parts[0].shape} is longer than padded_shapes="
                        f"{padded_shape} on axis {k}"
                    )
                longest[k] = s
    out = np.full((len(parts), *longest), value, dtype=parts[0].dtype)
    for i, p in enumerate(parts):
        out[(i, *(slice(0, d) for d in p.shape))] = p
    return out


class BatchDataset(_Unary):
    def __init__(self, input_dataset, batch_size, drop_remainder, pad=False, padded_shapes=None,
                 padding_values=None):
        super().__init__(input_dataset)
        self._batch_size = _check_count("batch_size", batch_size, allow_minus_one=False)
        self._drop = bool(drop_remainder)
        self._pad = pad
        self._padded_shapes = padded_shapes
        self._padding_values = padding_values

    def _cardinality(self):
        n = self._input._cardinality()
        if n < 0:
            return n
        return n // self._batch_size if self._drop else -(-n // self._batch_size)

    def _collate(self, elements):
        if not self._pad:
            return S.map_structure(lambda *parts: _stack("batch", parts), *elements)
        first = elements[0]
        columns = list(zip(*(S.flatten(e) for e in elements)))
        shapes = _per_component(self._padded_shapes, first, is_leaf=_is_shape)
        values = _per_component(self._padding_values, first, is_leaf=lambda v: not S.is_nest(v))
        padded = [_pad_stack(col, shape, value) for col, shape, value in zip(columns, shapes, values)]
        it = iter(padded)
        return S.map_structure(lambda _: next(it), first)

    def _iter(self):
        fast = getattr(self._input, "_row_batches", None)
        batches = fast(self._batch_size, self._drop) if fast is not None and not self._pad else None
        if batches is not None:
            yield from batches
            return
        pending = []
        for element in self._input._iter():
            pending.append(element)
            if len(pending) == self._batch_size:
                yield self._collate(pending)
                pending = []
        if pending and not self._drop:
            yield self._collate(pending)


def _is_shape(value) -> bool:
    if value is None:
        return True
    return isinstance(value, (tuple, list)) and all(v is None or isinstance(v, int) for v in value)


def _per_component(spec, element, is_leaf):
    """One entry of ``spec`` per component of ``element``: one value for all, or a matching tuple/dict."""
    n = len(S.flatten(element))
    if spec is None or is_leaf(spec):
        return [spec] * n
    if isinstance(element, dict):
        return [spec[k] for k in element]
    if len(spec) != n:
        raise ValueError(f"padded_batch: expected {n} padded shapes/values, one per component; got {spec!r}")
    return list(spec)


class UnbatchDataset(_Unary):
    def _cardinality(self):
        n = self._input._cardinality()
        return n if n in (0, INFINITE) else UNKNOWN

    def _iter(self):
        for element in self._input._iter():
            leaves = S.flatten(element)
            if any(leaf.ndim == 0 for leaf in leaves):
                raise ShapeError(f"unbatch: elements need a batch axis; got shapes {S.describe(element)}")
            sizes = {leaf.shape[0] for leaf in leaves}
            if len(sizes) > 1:
                raise ShapeError(f"unbatch: components have different batch sizes; got {S.describe(element)}")
            for i in range(sizes.pop()):
                yield S.map_structure(lambda a: a[i], element)  # noqa: B023 - used immediately


class RepeatDataset(_Unary):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = -1 if count is None else _check_count("count", count)

    def _cardinality(self):
        n = self._input._cardinality()
        if n == 0 or self._count == 0:
            return 0
        if self._count == -1:
            return INFINITE if n != UNKNOWN else UNKNOWN
        return n * self._count if n >= 0 else n

    def _iter(self):
        done = 0
        while self._count == -1 or done < self._count:
            produced = False
            for element in self._input._iter():
                produced = True
                yield element
            done += 1
            if not produced:  # an empty dataset repeated forever is still empty, not a hang
                return


class _Counted(_Unary):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _check_count("count", count)


class TakeDataset(_Counted):
    def _cardinality(self):
        n = self._input._cardinality()
        if self._count == -1:
            return n
        if n == INFINITE:
            return self._count
        return min(n, self._count) if n >= 0 else UNKNOWN

    def _iter(self):
        if self._count == 0:
            return
        it = self._input._iter()
        try:
            for i, element in enumerate(it):
                yield element
                if i + 1 == self._count:
                    return
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()


class SkipDataset(_Counted):
    def _cardinality(self):
        n = self._input._cardinality()
        if self._count == -1:
            return 0
        return max(n - self._count, 0) if n >= 0 else n

    def _iter(self):
        if self._count == -1:
            return
        for i, element in enumerate(self._input._iter()):
            if i >= self._count:
                yield element


class CacheDataset(_Unary):
    def __init__(self, input_dataset):
        super().__init__(input_dataset)
        self._cache = None

    def _iter(self):
        if self._cache is not None:
            yield from self._cache
            return
        filling = []
        for element in self._input._iter():
            filling.append(element)
            yield element
        self._cache = filling


class ConcatenateDataset(Dataset):
    def __init__(self, first, second):
        if not isinstance(second, Dataset):
            raise TypeError(f"concatenate: expected a tp.data.Dataset. Received: {type(second).__name__}")
        self._first, self._second = first, second

    def _cardinality(self):
        a, b = self._first._cardinality(), self._second._cardinality()
        if INFINITE in (a, b):
            return INFINITE
        return UNKNOWN if UNKNOWN in (a, b) else a + b

    def _iter(self):
        yield from self._first._iter()
        yield from self._second._iter()
