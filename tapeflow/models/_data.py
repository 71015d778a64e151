"""How ``fit`` / ``evaluate`` / ``predict`` turn their inputs into batches: the one place that batches data.

:func:`adapt` picks the first adapter in ``ADAPTERS`` whose ``can_handle(x, y)`` is true. An adapter knows its
number of batches per epoch (``steps``, None if unknown) and yields ``(x, y, sample_weight)`` batches from
``epoch()``; ``y`` and ``sample_weight`` are None when absent. To accept another kind of input (datasets,
generators, ``Sequence`` objects, data frames), append an adapter class with the same interface.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from tapeflow import _backend as B
from tapeflow import random as _random
from tapeflow._nest import flatten as _leaves
from tapeflow._nest import map_structure as _map
from tapeflow._tensor import Tensor
from tapeflow.dtypes import as_dtype

# --- nests of arrays ----------------------------------------------------------------------------------------


def _is_array_like(x):
    if x is None:
        return True
    return all(isinstance(a, (np.ndarray, Tensor, np.generic)) for a in _leaves(x))


def to_numpy(x, float_dtype=None):
    """Arrays (and Tensors, lists of numbers) as NumPy arrays; float arrays cast to ``float_dtype`` once."""

    def conv(a):
        arr = a._value if isinstance(a, Tensor) else np.asarray(a)
        if float_dtype is not None and arr.dtype.kind == "f" and arr.dtype != float_dtype:
            arr = arr.astype(float_dtype)
        return arr

    return _map(conv, x)


def num_samples(x, y=None, sample_weight=None):
    """The common length of every array in ``x``, ``y`` and ``sample_weight``.

    Raises:
        ValueError: when lengths differ, naming each.
    """
    sizes = {}
    for name, part in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        if part is None:
            continue
        lengths = [int(a.shape[0]) if np.ndim(a) else None for a in _leaves(part)]
        if None in lengths:
            raise ValueError(f"{name} must be arrays with a batch axis; received a scalar")
        sizes[name] = lengths
    flat = {n for lens in sizes.values() for n in lens}
    if len(flat) > 1:
        detail = ", ".join(f"{k} sizes: {v if len(v) > 1 else v[0]}" for k, v in sizes.items())
        raise ValueError(
            f"Data cardinality is ambiguous: x, y and sample_weight must have the same number of "
            f"samples. Received: {detail}"
        )
    return flat.pop() if flat else 0


def take(x, index):
    """Rows ``index`` (a slice or an index array) of every array in a nest."""
    if x is None:
        return None
    if isinstance(index, slice):
        return _map(lambda a: a[index], x)
    return _map(lambda a: np.take(a, index, axis=0), x)


def class_weights_to_sample_weights(y, class_weight, sample_weight):
    """Per-sample weights ``class_weight[label]`` (times any ``sample_weight``); labels are integers or
    one-hot.

    Raises:
        ValueError: for a label missing from ``class_weight`` or for several outputs.
    """
    if class_weight is None:
        return sample_weight
    if y is None or isinstance(y, (list, tuple, dict)):
        raise ValueError("`class_weight` is supported only for a single output with labels (y)")
    labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else np.asarray(y).reshape(len(y))
    labels = labels.astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - {int(k) for k in class_weight})
    if missing:
        raise ValueError(
            f"`class_weight` has no weight for class(es) {missing}. Received keys: "
            f"{sorted(int(k) for k in class_weight)}"
        )
    table = np.zeros(int(labels.max()) + 1 if labels.size else 1)
    for k, w in class_weight.items():
        if int(k) < table.size:
            table[int(k)] = w
    weights = table[labels]
    if sample_weight is not None:
        weights = weights * np.asarray(sample_weight, dtype=np.float64).reshape(len(weights))
    return weights.astype(np.float32)


def train_validation_split(x, y, sample_weight, validation_split):
    """Keras's ``validation_split``: the last fraction of the samples, taken before any shuffling.

    Warns when that slice holds a single class (labels sorted by class, most likely).
    """
    if not 0 < validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in (0, 1). Received: validation_split={validation_split}"
        )
    x, y, sample_weight = (_frames_to_arrays(a) for a in (x, y, sample_weight))
    if not _is_array_like(x) or not _is_array_like(y):
        raise ValueError(
            "`validation_split` needs x and y as arrays; pass `validation_data` for other inputs"
        )
    n = num_samples(x, y, sample_weight)
    cut = int(math.floor(n * (1.0 - validation_split)))
    if cut == 0 or cut == n:
        raise ValueError(
            f"validation_split={validation_split} leaves no samples for training or validation out of {n}"
        )
    _warn_single_class(y, cut, validation_split)
    head, tail = slice(0, cut), slice(cut, n)
    return (
        (take(x, head), take(y, head), take(sample_weight, head)),
        (take(x, tail), take(y, tail), take(sample_weight, tail)),
    )


def _warn_single_class(y, cut, split):
    if y is None or isinstance(y, (list, tuple, dict)):
        return
    y = np.asarray(y)
    tail = y[cut:]
    if y.dtype.kind in "iub" or (y.ndim >= 1 and y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        labels = tail.argmax(axis=-1) if tail.ndim > 1 and tail.shape[-1] > 1 else tail.reshape(len(tail))
        classes = np.unique(labels)
        if (
            classes.size == 1
            and np.unique(y[:cut].argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y[:cut]).size > 1
        ):
            warnings.warn(
                f"validation_split={split} takes the last {len(tail)} samples (before shuffling, as Keras "
                f"does), "
                f"and they all belong to class {classes[0].item()}: the validation figures will mislead. "
                f"Shuffle "
                f"the data first if it is sorted by class.",
                UserWarning,
                stacklevel=4,
            )


# --- adapters -----------------------------------------------------------------------------------------------
class ArrayAdapter:
    """Batches from NumPy arrays or Tensors (or lists / tuples / dicts of them, for several inputs / outputs).

    Args:
        x, y, sample_weight: the data (y and sample_weight optional).
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: reshuffle the samples every epoch (from ``tp.random.generator()``).
        steps_per_epoch: batches per epoch; batches then continue across epochs, reshuffling when the data
            runs out, so every sample is seen.
        class_weight: ``{class: weight}`` turned into per-sample weights.
        dtype: float arrays are cast to it once, up front.
    """

    @staticmethod
    def can_handle(x, y=None):
        return _is_array_like(x) and _is_array_like(y) and x is not None

    def __init__(
        self,
        x,
        y=None,
        sample_weight=None,
        batch_size=32,
        shuffle=False,
        steps_per_epoch=None,
        class_weight=None,
        dtype=None,
    ):
        if batch_size is None:
            batch_size = 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        float_dtype = as_dtype(dtype) if dtype is not None else None
        self.x = to_numpy(x, float_dtype)
        self.y = None if y is None else to_numpy(y, float_dtype)
        sw = None if sample_weight is None else to_numpy(sample_weight, np.float32)
        self.num_samples = num_samples(self.x, self.y, sw)
        if self.num_samples == 0:
            raise ValueError("Expected at least one sample; received empty arrays")
        self.sample_weight = class_weights_to_sample_weights(self.y, class_weight, sw)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self._epoch_steps = math.ceil(self.num_samples / self.batch_size)
        if steps_per_epoch is not None and (
            not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch <= 0
        ):
            raise ValueError(f"`steps_per_epoch` must be a positive integer. Received: {steps_per_epoch!r}")
        self.steps = int(steps_per_epoch) if steps_per_epoch else self._epoch_steps
        self._stream = None

    def _order(self):
        if self.shuffle:
            return _random.generator().permutation(self.num_samples)
        return None

    def _batches_of(self, order):
        bs, n = self.batch_size, self.num_samples
        for start in range(0, n, bs):
            index = slice(start, min(start + bs, n)) if order is None else order[start : start + bs]
            yield to_device((take(self.x, index), take(self.y, index), take(self.sample_weight, index)))

    def _forever(self):
        while True:
            yield from self._batches_of(self._order())

    def epoch(self):
        """Yield this epoch's ``(x, y, sample_weight)`` batches."""
        if self.steps == self._epoch_steps:
            yield from self._batches_of(self._order())
            return
        if self._stream is None:
            self._stream = self._forever()
        for _ in range(self.steps):
            yield next(self._stream)

    def first_x(self):
        """A small batch of x, for building a model before training."""
        return take(self.x, slice(0, min(self.batch_size, self.num_samples)))


# --- datasets, generators, Sequence objects and data frames (the "data" issue) -----------------------------
def _is_pandas(x):
    return type(x).__module__.partition(".")[0] == "pandas"


def _frames_to_arrays(x):
    """pandas DataFrames and Series (also inside lists/dicts) as NumPy arrays: columns become features."""
    if x is None or not any(_is_pandas(a) for a in _leaves(x)):
        return x

    def conv(a):
        if not _is_pandas(a):
            return a
        frame = a.to_frame() if a.ndim == 1 else a
        bad = [str(c) for c, t in frame.dtypes.items() if t.kind not in "biuf"]
        if bad:
            raise TypeError(
                f"DataFrame column(s) {bad} are not numeric; encode them as numbers first (e.g. with "
                "pandas.get_dummies or .cat.codes)"
            )
        return a.to_numpy()

    return _map(conv, x)


def _is_dataset(x):
    # Duck-typed: tapeflow.data sits above models in the import order.
    return hasattr(x, "as_numpy_iterator") and hasattr(x, "cardinality")


def _is_iterator(x):
    return hasattr(x, "__next__") and hasattr(x, "__iter__") and not _is_dataset(x)


def _is_sequence(x):
    """A ``tp.utils.Sequence``-style object: ``__len__`` batches, ``__getitem__(i)`` gives batch i."""
    return (
        hasattr(x, "__getitem__")
        and hasattr(x, "__len__")
        and not isinstance(x, (list, tuple, dict, str, np.ndarray, Tensor))
        and not _is_pandas(x)
        and not _is_dataset(x)
    )


def is_batch_source(x):
    """True for inputs that yield their own ``(x, y[, sw])`` batches: Dataset, generator, Sequence."""
    return _is_dataset(x) or _is_iterator(x) or _is_sequence(x)


def _as_triple(element, where):
    """``(x, y, sample_weight)`` from an element ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``."""
    if isinstance(element, tuple):
        if not 1 <= len(element) <= 3:
            raise ValueError(
                f"{where} must give x, (x, y) or (x, y, sample_weight); received a tuple of {len(element)}"
            )
        return element + (None,) * (3 - len(element))
    return element, None, None


class _BatchStreamAdapter:
    """Shared by the adapters whose data already comes in batches: converts and counts them.

    Subclasses define ``_passes()`` (an iterator of batches for one pass, or None when no new pass can
    start) and set ``steps`` (batches per epoch, None when unknown). With ``steps_per_epoch``, batches
    continue across epochs and a new pass starts when one runs out, as Keras does.
    """

    kind = "the data"
    num_samples = None
    batch_size = None

    @classmethod
    def can_handle(cls, x, y=None):
        return cls._accepts(x)

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, shuffle=False, steps_per_epoch=None,
                 class_weight=None, dtype=None):
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"When x is {self.kind}, it must yield the targets itself: pass y=None and "
                f"sample_weight=None (elements (x, y) or (x, y, sample_weight)). Received: "
                f"y={type(y).__name__}, sample_weight={type(sample_weight).__name__}"
            )
        if steps_per_epoch is not None and (
            isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, (int, np.integer))
            or steps_per_epoch <= 0
        ):
            raise ValueError(f"`steps_per_epoch` must be a positive integer. Received: {steps_per_epoch!r}")
        self.source = x
        self._class_weight = class_weight
        self._float = as_dtype(dtype) if dtype is not None else None
        self._fixed_steps = None if steps_per_epoch is None else int(steps_per_epoch)
        self._stream = None
        self._seen = False  # has any batch been read yet?
        self._shuffle = shuffle
        self._setup()

    def _setup(self):
        """Set ``steps`` (and any state of the subclass)."""
        raise NotImplementedError

    def _convert(self, element):
        x, y, sw = _as_triple(element, f"each batch of {self.kind}")
        x = to_numpy(x, self._float)
        y = None if y is None else to_numpy(y, self._float)
        sw = None if sw is None else to_numpy(sw, np.float32)
        num_samples(x, y, sw)
        if self._class_weight is not None:
            sw = class_weights_to_sample_weights(y, self._class_weight, sw)
        return x, y, sw

    def _next_pass(self):
        batches = self._passes()
        if batches is None:
            if not self._seen:
                raise ValueError(f"{self.kind} gave no batches")
            raise ValueError(
                f"{self.kind} ran out of batches: a Python generator can be read only once. Make it "
                "endless and pass steps_per_epoch (and validation_steps), or use "
                "tp.data.Dataset.from_generator(fn) or a tp.utils.Sequence, which start again every epoch."
            )
        return batches

    def epoch(self):
        """Yield this epoch's ``(x, y, sample_weight)`` batches."""
        if self._fixed_steps is None:
            produced = 0
            for element in self._next_pass():
                produced += 1
                yield to_device(self._convert(element))
            self._seen = True
            if produced == 0 and self.steps != 0:
                raise ValueError(f"{self.kind} gave no batches in this epoch")
            self._epoch_end()
            return
        for _ in range(self._fixed_steps):
            yield to_device(self._convert(self._draw()))
        self._epoch_end()

    def _draw(self):
        for _ in range(2):  # the current pass, else one new pass; an empty new pass means no data at all
            if self._stream is None:
                self._stream = iter(self._next_pass())
            try:
                element = next(self._stream)
                self._seen = True
                return element
            except StopIteration:
                self._stream = None
                self._epoch_end()
        raise ValueError(f"{self.kind} gave no batches")

    def _epoch_end(self):
        pass

    def first_x(self):
        """A batch of x, for building a model before training (reads one batch)."""
        return self._convert(next(iter(self._next_pass())))[0]


class DatasetAdapter(_BatchStreamAdapter):
    """Batches from a ``tp.data.Dataset`` whose elements are batches: ``x``, ``(x, y)`` or ``(x, y, sw)``.

    The dataset is iterated afresh every epoch (so its ``shuffle`` reshuffles); fit's ``batch_size`` and
    ``shuffle`` do not apply (batch and shuffle the dataset itself).
    """

    kind = "a tp.data.Dataset"
    _accepts = staticmethod(_is_dataset)

    def _setup(self):
        n = int(self.source.cardinality())
        if n == -1 and self._fixed_steps is None:
            raise ValueError(
                "The dataset is infinite (it repeats forever): pass steps_per_epoch (validation_steps, "
                "steps) to say how many batches make an epoch"
            )
        self.steps = self._fixed_steps if self._fixed_steps is not None else (n if n >= 0 else None)

    def _passes(self):
        return self.source.as_numpy_iterator()


class GeneratorAdapter(_BatchStreamAdapter):
    """Batches from a Python generator (or any iterator) of ``(x, y)`` or ``(x, y, sample_weight)``.

    A generator can be read only once: without ``steps_per_epoch`` the first epoch reads it to the end and a
    second epoch is an error that says what to do; with ``steps_per_epoch`` (an endless generator) each epoch
    takes that many batches.
    """

    kind = "a Python generator"
    _accepts = staticmethod(_is_iterator)

    def _setup(self):
        self.steps = self._fixed_steps
        self._used = False
        self._peeked = []

    def _passes(self):
        if self._used:
            return None
        self._used = True
        return _chain(self._peeked, self.source)

    def first_x(self):
        element = next(self.source)
        self._peeked.append(element)
        return self._convert(element)[0]


def _chain(head, tail):
    while head:
        yield head.pop(0)
    yield from tail


class SequenceAdapter(_BatchStreamAdapter):
    """Batches from a ``tp.utils.Sequence``-style object: ``len(seq)`` batches, ``seq[i]`` is batch ``i``.

    ``shuffle=True`` visits the batches in a new random order every epoch; ``on_epoch_end()`` (when the object
    has it) runs after every epoch.
    """

    kind = "a Sequence"
    _accepts = staticmethod(_is_sequence)

    def _setup(self):
        self.steps = self._fixed_steps if self._fixed_steps is not None else len(self.source)

    def _passes(self):
        n = len(self.source)
        order = _random.generator().permutation(n) if self._shuffle else range(n)
        return (self.source[int(i)] for i in order)

    def _epoch_end(self):
        hook = getattr(self.source, "on_epoch_end", None)
        if callable(hook):
            hook()


ADAPTERS: list = [ArrayAdapter, DatasetAdapter, SequenceAdapter, GeneratorAdapter]


def adapt(x, y=None, sample_weight=None, **options):
    """The adapter for ``x`` (and ``y``): the first in :data:`ADAPTERS` that can handle them.

    Args:
        x, y, sample_weight: the data, as ``fit`` takes it (pandas objects and lists of numbers become
            arrays first).
        **options: the adapters' keyword arguments: ``batch_size``, ``shuffle``, ``steps_per_epoch``,
            ``class_weight``, ``dtype`` (see :class:`ArrayAdapter`).

    Raises:
        TypeError: when none can, naming what was received.
    """
    x, y = _lists_to_arrays(_frames_to_arrays(x)), _lists_to_arrays(_frames_to_arrays(y))
    sample_weight = _frames_to_arrays(sample_weight)
    for cls in ADAPTERS:
        if cls.can_handle(x, y):
            return cls(x, y, sample_weight=sample_weight, **options)
    kinds = sorted({type(a).__name__ for a in _leaves(x)})
    raise TypeError(
        f"Unrecognized data type: x={kinds}, y={type(y).__name__}. Pass NumPy arrays or Tensors "
        f"(or lists/dicts of them for several inputs)."
    )


def _lists_to_arrays(x):
    """A (nested) list of Python numbers is one array; a list holding arrays is several inputs."""
    if (
        isinstance(x, (list, tuple))
        and x
        and not any(isinstance(a, (np.ndarray, Tensor, dict)) for a in _leaves(x))
    ):
        return np.asarray(x)
    return x


def pack(x, y=None, sample_weight=None):
    """The batch a ``train_step`` receives, in Keras's forms: ``(x, y)``, ``(x, y, sample_weight)``, or ``x``
    alone without targets (``(x,)`` when ``x`` is itself a tuple or list, so it stays one item)."""
    if y is None and sample_weight is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def to_device(batch):
    """A batch's host arrays copied to the backend once, before the step (nothing to do on NumPy), so the
    model, the loss and the metrics all read the same device copy."""
    if B.get_backend() == "numpy":
        return batch
    return _map(lambda a: B.xp.asarray(a) if isinstance(a, (np.ndarray, np.generic)) else a, batch)


def unpack(data):
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``."""
    if isinstance(data, tuple) and len(data) in (1, 2, 3):
        return data + (None,) * (3 - len(data))
    return data, None, None
