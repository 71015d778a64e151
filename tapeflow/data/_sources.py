"""The datasets that elements come from: slices of arrays, one element, a generator, a range, a zip."""

from __future__ import annotations

import numpy as np

from tapeflow.data import _structure as S
from tapeflow.data.dataset import INFINITE, UNKNOWN, Dataset
from tapeflow.errors import ShapeError


class TensorSlicesDataset(Dataset):
    """Slices of arrays along their first axis (``Dataset.from_tensor_slices``)."""

    def __init__(self, tensors):
        self._data = S.map_structure(S.to_numpy, tensors)
        leaves = S.flatten(self._data)
        if not leaves:
            raise ValueError("from_tensor_slices: got an empty structure; pass at least one array.")
        for leaf in leaves:
            if leaf.ndim == 0:
                raise ShapeError(
                    f"from_tensor_slices: every component needs a first axis to slice; got a scalar in "
                    f"{S.describe(self._data)}"
                )
        sizes = {leaf.shape[0] for leaf in leaves}
        if len(sizes) > 1:
            raise ShapeError(
                f"from_tensor_slices: components have different first dimensions; got shapes "
                f"{S.describe(self._data)}"
            )
        self._n = sizes.pop()

    def _cardinality(self):
        return self._n

    def _iter(self):
        data = self._data
        for i in range(self._n):
            yield S.map_structure(lambda a: a[i], data)  # noqa: B023 - used immediately

    def _gather_batches(self, order, batch_size, drop_remainder):
        """Batches of rows ``order[k:k + batch_size]`` (``order`` None: in sequence), gathered at once."""
        stop = self._n - self._n % batch_size if drop_remainder else self._n
        for start in range(0, stop, batch_size):
            end = min(start + batch_size, stop)
            if order is None:  # a copy, as stacking gives: a batch never aliases the source arrays
                yield S.map_structure(lambda a: a[start:end].copy(), self._data)  # noqa: B023
            else:  # fancy indexing copies already
                index = order[start:end]
                yield S.map_structure(lambda a: a.take(index, axis=0), self._data)  # noqa: B023

    def _row_batches(self, batch_size, drop_remainder):
        """Fast path for ``batch``: slices of the arrays instead of stacking single rows."""
        return self._gather_batches(None, batch_size, drop_remainder)


class TensorsDataset(Dataset):
    """One element (``Dataset.from_tensors``)."""

    def __init__(self, tensors):
        self._element = S.map_structure(S.to_numpy, tensors)

    def _cardinality(self):
        return 1

    def _iter(self):
        yield self._element


class GeneratorDataset(Dataset):
    """Elements from a fresh call of a generator function on every pass (``Dataset.from_generator``)."""

    def __init__(self, generator, output_signature, args):
        if not callable(generator):
            raise TypeError(
                "from_generator: `generator` must be a callable that returns an iterator (e.g. a generator "
                "function), so that every pass can start again. Received: "
                f"generator={type(generator).__name__} object; wrap it as `lambda: my_iterable`."
            )
        self._generator = generator
        self._args = args
        self._signature = output_signature

    def _iter(self):
        for element in self._generator(*self._args):
            element = S.map_structure(S.to_numpy, element)
            if self._signature is not None:
                element = _conform(element, self._signature)
            yield element


def _is_spec(spec) -> bool:
    """A leaf of an output signature: an object with .shape/.dtype or a (shape, dtype) pair."""
    if hasattr(spec, "shape") and hasattr(spec, "dtype"):
        return True
    if not (isinstance(spec, tuple) and len(spec) == 2):
        return False
    return (spec[0] is None or isinstance(spec[0], (tuple, list))) and not S.is_nest(spec[1])


def _conform(element, signature):
    """Cast ``element`` to the signature's dtypes and check its shapes (None matches any size)."""
    if _is_spec(signature):
        shape, dtype = (signature.shape, signature.dtype) if hasattr(signature, "shape") else signature
        arr = element if dtype is None else np.asarray(element, dtype=np.dtype(dtype))
        if shape is not None:
            shape = tuple(shape)
            if len(shape) != arr.ndim or any(s is not None and s != d for s, d in zip(shape, arr.shape)):
                raise ShapeError(
                    f"from_generator: an element does not match output_signature; expected shape {shape}, "
                    f"got {arr.shape}"
                )
        return arr
    if isinstance(signature, dict):
        return {k: _conform(element[k], signature[k]) for k in signature}
    if len(signature) != len(element):
        raise ValueError(
            f"from_generator: the generator yielded {len(element)} components but output_signature has "
            f"{len(signature)}"
        )
    return tuple(_conform(e, s) for e, s in zip(element, signature))


class RangeDataset(Dataset):
    """Scalar integers (``Dataset.range``)."""

    def __init__(self, values: range, dtype):
        self._values = values
        self._dtype = dtype

    def _cardinality(self):
        return len(self._values)

    def _iter(self):
        dtype = self._dtype
        for v in self._values:
            yield dtype.type(v)


class ZipDataset(Dataset):
    """Elements of several datasets side by side (``Dataset.zip``)."""

    def __init__(self, structure):
        for ds in S.flatten(structure):
            if not isinstance(ds, Dataset):
                raise TypeError(
                    f"Dataset.zip: every argument must be a Dataset. Received: {type(ds).__name__}"
                )
        self._structure = structure

    def _cardinality(self):
        sizes = [ds._cardinality() for ds in S.flatten(self._structure)]
        finite = [n for n in sizes if n >= 0]
        if finite and (min(finite) == 0 or UNKNOWN not in sizes):
            return min(finite)
        return UNKNOWN if UNKNOWN in sizes else INFINITE

    def _iter(self):
        datasets = S.flatten(self._structure)
        iterators = [ds._iter() for ds in datasets]
        try:
            while True:
                values = []
                for it in iterators:
                    try:
                        values.append(next(it))
                    except StopIteration:
                        return
                yield _pack(self._structure, values)
        finally:
            for it in iterators:
                close = getattr(it, "close", None)
                if close is not None:
                    close()


def _pack(structure, leaves):
    """Rebuild ``structure`` with ``leaves`` (in :func:`flatten` order)."""
    it = iter(leaves)
    return S.map_structure(lambda _: next(it), structure)
