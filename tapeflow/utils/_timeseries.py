"""``timeseries_dataset_from_array``: sliding windows over a series, batched (Keras's function)."""

from __future__ import annotations

import numpy as np

from tapeflow import random as _random


def _positive(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
    """A dataset of sliding windows over ``data`` (and their targets), in batches.

    Window ``i`` starts at row ``start_index + i * sequence_stride`` and holds ``sequence_length`` rows taken
    every ``sampling_rate`` rows. Its target is ``targets[start_index + i * sequence_stride]``: to predict
    the value right after each window, pass ``targets=series[sequence_length:]``.

    Args:
        data: an array (or DataFrame) of shape ``(timesteps, features...)``; a 2-D ``(timesteps, features)``
            array gives batches of shape ``(samples, sequence_length, features)``.
        targets: one target per start row, or None for windows alone.
        sequence_length: rows per window.
        sequence_stride: rows between the starts of consecutive windows.
        sampling_rate: take every ``sampling_rate``-th row inside a window.
        batch_size: windows per batch, or None for unbatched windows.
        shuffle: shuffle the windows (once, repeatably with ``seed``).
        seed: the shuffle's seed (default from ``tp.random``).
        start_index, end_index: use only rows ``[start_index, end_index)`` of ``data`` (and of ``targets``).

    Returns:
        A :class:`tp.data.Dataset` of ``(windows, targets)`` batches, or of windows when ``targets`` is None.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> series = np.arange(10, dtype="float32").reshape(10, 1)
        >>> ds = tp.utils.timeseries_dataset_from_array(series, series[3:, 0], sequence_length=3,
        ...                                             batch_size=4)
        >>> x, y = next(ds.as_numpy_iterator())
        >>> x.shape, x[1, :, 0].tolist(), y.tolist()
        ((4, 3, 1), [1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0])
    """
    from tapeflow.data import Dataset
    from tapeflow.data._structure import to_numpy

    data = to_numpy(data)
    sequence_length = _positive("sequence_length", sequence_length)
    sequence_stride = _positive("sequence_stride", sequence_stride)
    sampling_rate = _positive("sampling_rate", sampling_rate)
    if batch_size is not None:
        batch_size = _positive("batch_size", batch_size)
    start_index = 0 if start_index is None else int(start_index)
    end_index = len(data) if end_index is None else int(end_index)
    if not 0 <= start_index < end_index <= len(data):
        raise ValueError(
            f"timeseries_dataset_from_array: need 0 <= start_index < end_index <= len(data)={len(data)}. "
            f"Received: start_index={start_index}, end_index={end_index}"
        )
    span = (sequence_length - 1) * sampling_rate
    num_seqs = end_index - start_index - span
    if targets is not None:
        targets = to_numpy(targets)
        num_seqs = min(num_seqs, len(targets) - start_index)
    if num_seqs <= 0:
        raise ValueError(
            f"timeseries_dataset_from_array: a window spans {span + 1} rows but only "
            f"{end_index - start_index} rows are available"
        )
    starts = np.arange(start_index, start_index + num_seqs, sequence_stride)
    if shuffle:
        rng = _random.generator(seed)
        starts = rng.permutation(starts)
    offsets = np.arange(0, span + 1, sampling_rate)

    def windows(first_rows):
        x = data[np.asarray(first_rows)[..., None] + offsets]
        return x if targets is None else (x, targets[first_rows])

    ds = Dataset.from_tensor_slices(starts)
    if batch_size is not None:
        ds = ds.batch(batch_size)
    return ds._map_numpy(windows)
