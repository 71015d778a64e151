"""Sequences of batches: ``pad_sequences`` for ragged lists and the ``Sequence`` base class for batch
loaders."""

from __future__ import annotations

import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or cut) a list of sequences to one length (``keras.utils.pad_sequences``).

    Args:
        sequences: a list of lists/arrays (each item a scalar or a fixed-shape array).
        maxlen: the length to pad/cut to; default the longest sequence.
        dtype: the result's dtype.
        padding: "pre" pads at the start, "post" at the end.
        truncating: "pre" drops the start of longer sequences, "post" the end.
        value: the padding value.

    Returns:
        A NumPy array of shape ``(len(sequences), maxlen, *item_shape)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.utils.pad_sequences([[1, 2, 3], [4, 5], [6]], maxlen=2)
        array([[2, 3],
               [4, 5],
               [0, 6]], dtype=int32)
        >>> tp.utils.pad_sequences([[1], [2, 3]], padding="post", value=-1)
        array([[ 1, -1],
               [ 2,  3]], dtype=int32)
    """
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ValueError(f"pad_sequences: `{name}` must be 'pre' or 'post'. Received: {name}={choice!r}")
    arrays = [np.asarray(s) for s in sequences]
    lengths = [len(a) for a in arrays]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    item_shape = next((a.shape[1:] for a in arrays if len(a)), ())
    out = np.full((len(arrays), maxlen, *item_shape), value, dtype=dtype)
    for i, a in enumerate(arrays):
        if not len(a) or maxlen == 0:
            continue
        if a.shape[1:] != item_shape:
            raise ValueError(
                f"pad_sequences: sequence {i} has items of shape {a.shape[1:]}, others {item_shape}"
            )
        a = a[-maxlen:] if truncating == "pre" else a[:maxlen]
        if padding == "post":
            out[i, : len(a)] = a
        else:
            out[i, maxlen - len(a):] = a
    return out


class Sequence:
    """Base class for a loader that gives batches by index (``keras.utils.Sequence``).

    Subclass it with ``__len__`` (the number of batches) and ``__getitem__(i)`` returning batch ``i`` as
    ``x``, ``(x, y)`` or ``(x, y, sample_weight)``; ``on_epoch_end`` runs after each epoch (e.g. to
    reshuffle). ``fit``, ``evaluate`` and ``predict`` accept it directly.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> class Batches(tp.utils.Sequence):
        ...     def __init__(self, x, y, batch_size):
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return -(-len(self.x) // self.batch_size)
        ...     def __getitem__(self, i):
        ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
        >>> seq = Batches(np.zeros((10, 3)), np.zeros(10), batch_size=4)
        >>> len(seq), [x.shape[0] for x, _ in seq]
        (3, [4, 4, 2])
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of batches)")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__ (batch number `index`)")

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def on_epoch_end(self):
        """Called after every epoch; override to reshuffle."""
