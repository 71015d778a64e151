"""Categorical preprocessing layers: CategoryEncoding, Discretization, Hashing, IntegerLookup, StringLookup.

They turn raw features (integers, strings, numbers) into indices or count vectors. None has trainable weights
or gradients (their outputs are integers or counts); what they learn with ``adapt`` (a vocabulary, bin
boundaries) is kept in their config, so a saved model keeps it. Strings are NumPy string arrays (a Python list
of strings works too); models take them before the first ``Input`` (``tp.Input`` has no string dtype).

Output modes (Keras's names): ``"int"`` (indices, int64), ``"one_hot"``, ``"multi_hot"``, ``"count"`` and, for
the lookups, ``"tf_idf"`` (counts times the IDF weights), all in the layer's float dtype.
"""

from __future__ import annotations

import collections
import hashlib

import numpy as np

from tapeflow import _backend as B
from tapeflow._tensor import Tensor
from tapeflow.layers.base import Layer, register_serializable
from tapeflow.layers.preprocessing import _batches

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _check_mode(layer_name, mode, allowed):
    if mode not in allowed:
        raise ValueError(f"{layer_name}: `output_mode` must be one of {list(allowed)}. "
                         f"Received: output_mode={mode!r}")
    return mode


def encode(indices, depth, output_mode, dtype, count_weights=None, idf_weights=None, layer_name="encode"):
    """Indices (int array, ``(batch,)`` or ``(batch, k)``) to ``one_hot`` / ``multi_hot`` / ``count`` /
    ``tf_idf`` vectors of length ``depth`` (``"int"`` returns them as int64).

    Raises:
        ValueError: for an index outside ``[0, depth)``.
    """
    idx = np.asarray(indices)
    if output_mode == "int":
        return Tensor(idx.astype(np.int64))
    if idx.size and (idx.min() < 0 or idx.max() >= depth):
        raise ValueError(f"{layer_name}: input values must lie in [0, {depth}) (num_tokens={depth}). "
                         f"Received: values from {idx.min()} to {idx.max()}")
    if output_mode == "one_hot":
        if idx.ndim >= 2 and idx.shape[-1] == 1:
            idx = idx[..., 0]
        out = np.zeros((*idx.shape, depth), dtype=dtype)
        np.put_along_axis(out, idx[..., None], 1, axis=-1)
        return Tensor(out)
    if idx.ndim == 1:
        idx = idx[:, None]
    rows = np.broadcast_to(np.arange(idx.shape[0]).reshape(-1, *(1,) * (idx.ndim - 1)), idx.shape)
    out = np.zeros((idx.shape[0], depth), dtype=np.float64)
    if output_mode == "multi_hot":
        out[rows.ravel(), idx.ravel()] = 1
    else:
        weights = 1.0
        if count_weights is not None:
            weights = np.broadcast_to(np.asarray(count_weights), idx.shape).ravel()
        np.add.at(out, (rows.ravel(), idx.ravel()), weights)
        if output_mode == "tf_idf":
            out = out * np.asarray(idf_weights, np.float64)
    return Tensor(out.astype(dtype))


class _Preprocessing(Layer):
    """Integer and string inputs stay as they are (no cast to the layer's float dtype); lists of strings
    become one array."""

    _cast_ints = False

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and np.asarray(inputs).dtype.kind in "USO":
            inputs = np.asarray(inputs, dtype=str)
        return super().__call__(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        raise NotImplementedError(f"{type(self).__name__}: the output shape depends on the data")


@register_serializable
class CategoryEncoding(_Preprocessing):
    """Encode integer categories in ``[0, num_tokens)`` as one-hot, multi-hot or count vectors.

    Args:
        num_tokens: the number of categories.
        output_mode: "multi_hot" (default), "one_hot" or "count".

    Call arguments:
        count_weights: optional weights per input value for "count" (summed instead of counting 1).

    Shape:
        ``(batch,)`` or ``(batch, k)`` -> ``(batch, num_tokens)``; "one_hot" of ``(batch, k)`` (k > 1) gives
        ``(batch, k, num_tokens)``.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.CategoryEncoding(4, output_mode="count")([[0, 1, 1], [3, 3, 2]]).numpy()
        array([[1., 2., 0., 0.],
               [0., 0., 1., 2.]], dtype=float32)
    """

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens <= 0:
            raise ValueError(f"`num_tokens` must be a positive integer. Received: num_tokens={num_tokens!r}")
        if sparse:
            raise ValueError("CategoryEncoding: sparse outputs are not supported; use sparse=False")
        self.num_tokens = num_tokens
        self.output_mode = _check_mode("CategoryEncoding", output_mode, ("one_hot", "multi_hot", "count"))

    def call(self, inputs, count_weights=None):
        return encode(B.to_numpy(inputs).astype(np.int64), self.num_tokens, self.output_mode, self.dtype,
                      None if count_weights is None else B.to_numpy(count_weights), layer_name=self.name)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}


@register_serializable
class Discretization(_Preprocessing):
    """Bucket numbers by ``bin_boundaries`` (given, or learned as quantiles by :meth:`adapt`).

    Bucket ``i`` holds ``boundaries[i - 1] <= x < boundaries[i]``: ``[0., 1., 2.]`` makes 4 buckets.

    Args:
        bin_boundaries: sorted boundaries; or None with ``num_bins`` and :meth:`adapt`.
        num_bins: how many buckets :meth:`adapt` makes (equal-frequency).
        epsilon: accepted for Keras compatibility (the quantiles here are exact).
        output_mode: "int" (default), "one_hot", "multi_hot" or "count".

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.Discretization([0.0, 1.0, 2.0])([[-1.5, 1.0, 3.4, 0.5]]).numpy()
        array([[0, 2, 3, 1]])
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False,
                 **kwargs):
        super().__init__(**kwargs)
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError("Discretization: pass exactly one of `bin_boundaries` and `num_bins` (and then "
                             f"adapt()). Received: bin_boundaries={bin_boundaries!r}, num_bins={num_bins!r}")
        if num_bins is not None and (not isinstance(num_bins, int) or num_bins < 1):
            raise ValueError(f"`num_bins` must be a positive integer. Received: num_bins={num_bins!r}")
        self.bin_boundaries = None if bin_boundaries is None else [float(b) for b in bin_boundaries]
        if self.bin_boundaries is not None and np.any(np.diff(self.bin_boundaries) < 0):
            raise ValueError(f"`bin_boundaries` must be sorted. Received: bin_boundaries={bin_boundaries!r}")
        self.num_bins, self.epsilon = num_bins, float(epsilon)
        self.output_mode = _check_mode("Discretization", output_mode, _MODES[:4])

    def adapt(self, data, batch_size=None, steps=None):
        """Set ``num_bins - 1`` boundaries at the equally spaced quantiles of ``data``."""
        values = [np.asarray(b, np.float64).ravel() for b in _batches(data, batch_size, steps)]
        values = np.concatenate(values) if values else np.zeros(0)
        if values.size == 0:
            raise ValueError(f"Layer '{self.name}' (Discretization): adapt() got no data")
        self.bin_boundaries = np.quantile(values, np.linspace(0, 1, self.num_bins + 1)[1:-1]).tolist()

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise RuntimeError(f"Layer '{self.name}' (Discretization) has no boundaries: call adapt(data) "
                               "first, or pass bin_boundaries=")
        idx = np.digitize(B.to_numpy(inputs), self.bin_boundaries)
        return encode(idx, len(self.bin_boundaries) + 1, self.output_mode, self.dtype, layer_name=self.name)

    def get_config(self):
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries,
                "num_bins": None if self.bin_boundaries is not None else self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode}


def stable_hash(values, salt=None):
    """A 64-bit hash of each value's text (BLAKE2b keyed by ``salt``): the same in every process and run,
    unlike Python's ``hash``. Returns a uint64 array of ``values``' shape."""
    arr = np.asarray(values)
    uniques, inverse = np.unique(arr.astype(str), return_inverse=True)
    key = b"" if salt is None else str(salt).encode()
    hashes = np.array([int.from_bytes(hashlib.blake2b(u.encode(), digest_size=8, key=key).digest(), "little")
                       for u in uniques], dtype=np.uint64)
    return hashes[inverse].reshape(arr.shape)


@register_serializable
class Hashing(_Preprocessing):
    """Hash integers or strings into ``num_bins`` buckets.

    The hash is BLAKE2b of the value's text (stable across runs; ``salt`` keys it), so the bucket of a given
    value differs from Keras's (TensorFlow's FarmHash), though the behaviour is the same.

    Args:
        num_bins: the number of buckets, including the mask bucket when ``mask_value`` is set.
        mask_value: a value that always goes to bucket 0 (the others share buckets 1..num_bins-1).
        salt: an int or string mixed into the hash.
        output_mode: "int" (default), "one_hot", "multi_hot" or "count".

    Example:
        >>> import tapeflow as tp
        >>> ids = tp.layers.Hashing(num_bins=3, mask_value="")([["a", "", "b"]]).numpy()
        >>> int(ids[0, 1]), bool(ids.max() < 3)
        (0, True)
    """

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < (2 if mask_value is not
                                                                                        None else 1):
            raise ValueError(f"`num_bins` must be a positive integer (at least 2 with a mask_value). "
                             f"Received: num_bins={num_bins!r}")
        self.num_bins, self.mask_value = num_bins, mask_value
        self.salt = salt
        self.output_mode = _check_mode("Hashing", output_mode, _MODES[:4])

    def call(self, inputs):
        x = B.to_numpy(inputs)
        h = stable_hash(x, self.salt)
        if self.mask_value is None:
            idx = (h % np.uint64(self.num_bins)).astype(np.int64)
        else:
            idx = (h % np.uint64(self.num_bins - 1)).astype(np.int64) + 1
            idx[x.astype(str) == str(self.mask_value)] = 0
        return encode(idx, self.num_bins, self.output_mode, self.dtype, layer_name=self.name)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "mask_value": self.mask_value,
                "salt": self.salt, "output_mode": self.output_mode}


class IndexLookup(_Preprocessing):
    """The shared lookup (base of StringLookup and IntegerLookup): a vocabulary mapped to indices after the
    special tokens: ``[mask_token]`` (index 0, when given), then ``num_oov_indices`` out-of-vocabulary
    indices, then the vocabulary in order.

    Args:
        max_tokens: the largest vocabulary :meth:`adapt` builds, special tokens included (None: no limit).
        num_oov_indices: indices for unknown values (they are hashed among them); 0 makes unknown values an
            error.
        mask_token: a value mapped to 0 (padding); None: no mask index.
        oov_token: the token :meth:`get_vocabulary` and ``invert=True`` show for the OOV index.
        vocabulary: a list (or a path to a text file with one token a line) instead of :meth:`adapt`.
        idf_weights: for "tf_idf" with a given vocabulary: one weight per vocabulary entry.
        invert: map indices back to tokens.
        output_mode: "int" (default), "one_hot", "multi_hot", "count" or "tf_idf".
        pad_to_max_tokens: make non-int outputs ``max_tokens`` wide whatever the vocabulary's size.
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None, vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise ValueError(f"`max_tokens` must be a positive integer or None. Received: {max_tokens!r}")
        if not isinstance(num_oov_indices, int) or num_oov_indices < 0:
            raise ValueError(
                f"`num_oov_indices` must be a non-negative integer. Received: {num_oov_indices!r}")
        self.output_mode = _check_mode(name, output_mode, _MODES)
        if invert and output_mode != "int":
            raise ValueError(f"{name}: `invert=True` needs output_mode='int'. Received: {output_mode!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{name}: `pad_to_max_tokens=True` needs `max_tokens`")
        self.max_tokens, self.num_oov_indices = max_tokens, num_oov_indices
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert, self.pad_to_max_tokens = bool(invert), bool(pad_to_max_tokens)
        self._vocab = None
        self.idf_weights = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError(f"{name}: `idf_weights` needs a `vocabulary`")

    # --- the vocabulary ------------------------------------------------------------------------------------
    def _token(self, value):
        return value

    def _read_file(self, path):
        with open(path, encoding="utf-8") as f:
            return [self._token(line.rstrip("\n")) for line in f if line.rstrip("\n")]

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (without special tokens; a list or a file path) and, for "tf_idf", its IDF
        weights.

        Raises:
            ValueError: for repeated tokens, special tokens inside it, or IDF weights of another length.
        """
        vocab = self._read_file(vocabulary) if isinstance(vocabulary, str) else [self._token(v) for v in
                                                                                 B.to_numpy(vocabulary).tolist()]
        head = [self.mask_token] if self.mask_token is not None else []
        head += [self.oov_token] * self.num_oov_indices
        if head and vocab[:len(head)] == head:  # given with its special tokens (get_vocabulary's output)
            vocab = vocab[len(head):]
        specials = {t for t in (self.mask_token, self.oov_token) if t is not None}
        if len(set(vocab)) != len(vocab):
            repeated = sorted({v for v in vocab if vocab.count(v) > 1}, key=str)
            raise ValueError(f"{type(self).__name__}: the vocabulary repeats {repeated}")
        if specials & set(vocab):
            raise ValueError(f"{type(self).__name__}: the vocabulary holds the special tokens "
                             f"{sorted(specials & set(vocab), key=str)}; pass the vocabulary without them")
        if self.output_mode == "tf_idf":
            if idf_weights is None or len(idf_weights) != len(vocab):
                raise ValueError(f"{type(self).__name__}: output_mode='tf_idf' needs one idf weight per "
                                 f"vocabulary entry ({len(vocab)}). Received: {idf_weights!r}")
            self.idf_weights = [float(w) for w in idf_weights]
        self._vocab = vocab
        self._index = {v: i + self._offset for i, v in enumerate(vocab)}

    @property
    def _offset(self):
        return (self.mask_token is not None) + self.num_oov_indices

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens in index order (with the mask and OOV tokens first unless told otherwise)."""
        self._need_vocabulary()
        head = [self.mask_token] if self.mask_token is not None else []
        head += [self.oov_token] * self.num_oov_indices
        return (head if include_special_tokens else []) + list(self._vocab)

    def vocabulary_size(self):
        """The number of indices, special ones included."""
        self._need_vocabulary()
        return self._offset + len(self._vocab)

    def _need_vocabulary(self):
        if self._vocab is None:
            raise RuntimeError(f"Layer '{self.name}' ({type(self).__name__}) has no vocabulary yet: call "
                               "adapt(data) first, or pass vocabulary=")

    def adapt(self, data, batch_size=None, steps=None):
        """Build the vocabulary from ``data``: the most frequent values first (ties in sorted order), at most
        ``max_tokens`` indices in all; for "tf_idf", also the IDF weights, each row of a batch a document."""
        def rows():
            for batch in _batches(data, batch_size, steps):
                arr = np.asarray(batch)
                yield from (arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)).tolist()

        self.learn_vocabulary(rows())

    def learn_vocabulary(self, documents):
        """:meth:`adapt`'s work on an iterable of documents (each a list of tokens)."""
        counts, docs, n_docs = collections.Counter(), collections.Counter(), 0
        for doc in documents:
            doc = [self._token(t) for t in doc]
            counts.update(doc)
            docs.update(set(doc))
            n_docs += 1
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
            docs.pop(special, None)
        vocab = sorted(counts, key=lambda t: (-counts[t], t))
        if self.max_tokens is not None:
            vocab = vocab[:max(0, self.max_tokens - self._offset)]
        idf = [float(np.log(1 + n_docs / (1 + docs[t]))) for t in vocab]
        self.set_vocabulary(vocab, idf if self.output_mode == "tf_idf" else None)

    # --- the lookup ----------------------------------------------------------------------------------------
    def _oov_index(self, value):
        if self.num_oov_indices == 1:
            return self._offset - 1
        bucket = int(stable_hash(np.asarray([value]))[0] % np.uint64(self.num_oov_indices))
        return (self.mask_token is not None) + bucket

    def lookup(self, tokens):
        """Indices of ``tokens`` (an array), as int64."""
        self._need_vocabulary()
        flat = [self._token(t) for t in np.asarray(tokens).ravel().tolist()]
        out = np.empty(len(flat), dtype=np.int64)
        for i, t in enumerate(flat):
            j = self._index.get(t)
            if j is None:
                if self.mask_token is not None and t == self.mask_token:
                    j = 0
                elif self.num_oov_indices == 0:
                    raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): {t!r} is not in the "
                                     "vocabulary and num_oov_indices=0")
                else:
                    j = self._oov_index(t)
            out[i] = j
        return out.reshape(np.shape(tokens))

    def call(self, inputs):
        x = B.to_numpy(inputs)
        if self.invert:
            vocab = np.asarray(self.get_vocabulary(), dtype=object)
            idx = x.astype(np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= len(vocab)):
                raise ValueError(f"Layer '{self.name}': indices must lie in [0, {len(vocab)})")
            return Tensor(np.asarray(vocab[idx].tolist()))
        idx = self.lookup(x)
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        idf = None
        if self.output_mode == "tf_idf":
            idf = np.zeros(depth)
            idf[self._offset:self._offset + len(self._vocab)] = self.idf_weights
            idf[:self._offset] = np.mean(self.idf_weights) if self.idf_weights else 0.0
        return encode(idx, depth, self.output_mode, self.dtype, idf_weights=idf, layer_name=self.name)

    def get_config(self):
        vocab = None if self._vocab is None else list(self._vocab)
        return {
            **super().get_config(), "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
            "mask_token": self.mask_token, "oov_token": self.oov_token, "vocabulary": vocab,
            "idf_weights": self.idf_weights, "invert": self.invert, "output_mode": self.output_mode,
            "pad_to_max_tokens": self.pad_to_max_tokens,
        }


@register_serializable
class StringLookup(IndexLookup):
    """Map strings to indices through a vocabulary (see :class:`IndexLookup` for the arguments).

    Defaults as Keras: ``oov_token="[UNK]"`` at index 0, no mask token.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.StringLookup(vocabulary=["a", "b", "c"])
        >>> layer([["a", "c", "z"]]).numpy()
        array([[1, 3, 0]])
        >>> layer.get_vocabulary()
        ['[UNK]', 'a', 'b', 'c']
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, encoding="utf-8", **kwargs):
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, **kwargs)
        self.encoding = encoding  # read by _token, so the vocabulary is set after it
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError("StringLookup: `idf_weights` needs a `vocabulary`")

    def _token(self, value):
        return value.decode(self.encoding) if isinstance(value, bytes) else str(value)

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding}


@register_serializable
class IntegerLookup(IndexLookup):
    """Map integers to indices through a vocabulary (see :class:`IndexLookup` for the arguments).

    Defaults as Keras: ``oov_token=-1`` at index 0, no mask token (``mask_token=0`` keeps 0 as padding).

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.IntegerLookup()
        >>> layer.adapt([[12, 7, 7], [7, 42, 12]])
        >>> layer.get_vocabulary()
        [-1, 7, 12, 42]
        >>> layer([[42, 7, 99]]).numpy()
        array([[3, 1, 0]])
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary_dtype="int64", **kwargs):
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, **kwargs)
        self.vocabulary_dtype = vocabulary_dtype

    def _token(self, value):
        if isinstance(value, float) and value != int(value):
            raise ValueError(f"Layer '{self.name}' (IntegerLookup): inputs must be integers. "
                             f"Received: {value}")
        return int(value)

    def _oov_index(self, value):
        if self.num_oov_indices == 1:
            return self._offset - 1
        return (self.mask_token is not None) + int(value) % self.num_oov_indices

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": self.vocabulary_dtype}


__all__ = ["CategoryEncoding", "Discretization", "Hashing", "IndexLookup", "StringLookup", "IntegerLookup",
           "encode", "stable_hash"]
