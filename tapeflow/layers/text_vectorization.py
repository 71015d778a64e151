"""TextVectorization: raw strings to token indices or bag-of-words vectors, with a vocabulary from adapt."""

from __future__ import annotations

import re
import string

import numpy as np

from tapeflow import _backend as B
from tapeflow._tensor import Tensor
from tapeflow.layers.base import register_serializable
from tapeflow.layers.lookup import StringLookup, _check_mode, _Preprocessing
from tapeflow.layers.preprocessing import _batches

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")


def _named_or_callable(arg, value, names):
    if value is None or callable(value) or value in names:
        return value
    raise ValueError(f"TextVectorization: `{arg}` must be None, a callable or one of {list(names)}. "
                     f"Received: {arg}={value!r}")


@register_serializable
class TextVectorization(_Preprocessing):
    """Standardize, split and index strings: ``"The cat sat."`` -> ``[2, 5, 7]``.

    Args:
        max_tokens: the vocabulary's largest size, the mask ``""`` and OOV ``"[UNK]"`` tokens included.
        standardize: "lower_and_strip_punctuation" (default), "lower", "strip_punctuation", None or a
            callable ``str -> str``.
        split: "whitespace" (default), "character", None (the whole string is one token) or a callable
            ``str -> list of str``.
        ngrams: None, an int ``n`` (all 1..n-grams) or a tuple of the n-gram sizes wanted; n-grams are the
            tokens joined by a space.
        output_mode: "int" (default: indices, padded with 0), "multi_hot", "count" or "tf_idf".
        output_sequence_length: for "int": pad or cut every row to this length (default: the longest row).
        pad_to_max_tokens: make non-int outputs ``max_tokens`` wide.
        vocabulary, idf_weights: a given vocabulary (list or file path) instead of :meth:`adapt`.
        encoding: of byte strings.

    Shape:
        ``(batch,)`` or ``(batch, 1)`` strings -> ``(batch, length)`` int64 or ``(batch, vocabulary_size)``.

    Example:
        >>> import tapeflow as tp
        >>> layer = tp.layers.TextVectorization(output_sequence_length=4)
        >>> layer.adapt(["The cat sat.", "The dog sat down!"])
        >>> layer.get_vocabulary()
        ['', '[UNK]', 'sat', 'the', 'cat', 'dog', 'down']
        >>> layer(["the cat ran"]).numpy()
        array([[3, 4, 1, 0]])
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
                 ngrams=None, output_mode="int", output_sequence_length=None, pad_to_max_tokens=False,
                 vocabulary=None, idf_weights=None, sparse=False, ragged=False, encoding="utf-8", **kwargs):
        super().__init__(**kwargs)
        if ragged or sparse:
            raise ValueError("TextVectorization: ragged and sparse outputs are not supported")
        self.standardize = _named_or_callable("standardize", standardize, _STANDARDIZE)
        self.split = _named_or_callable("split", split, _SPLIT)
        if isinstance(ngrams, int) and not isinstance(ngrams, bool):
            self.ngrams = ngrams if ngrams > 0 else None
            self._ngram_sizes = tuple(range(1, ngrams + 1))
        elif ngrams is None:
            self.ngrams, self._ngram_sizes = None, (1,)
        else:
            self.ngrams = self._ngram_sizes = tuple(int(n) for n in ngrams)
        modes = ("int", "multi_hot", "count", "tf_idf")
        self.output_mode = _check_mode("TextVectorization", output_mode, modes)
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError("TextVectorization: `output_sequence_length` applies to output_mode='int' only")
        self.output_sequence_length = output_sequence_length
        self.max_tokens, self.pad_to_max_tokens, self.encoding = max_tokens, bool(pad_to_max_tokens), encoding
        self._lookup = StringLookup(max_tokens=max_tokens, mask_token="", oov_token="[UNK]",
                                    vocabulary=vocabulary, idf_weights=idf_weights, output_mode=output_mode,
                                    pad_to_max_tokens=pad_to_max_tokens, encoding=encoding,
                                    name=f"{self.name}_lookup")

    # --- text to tokens ------------------------------------------------------------------------------------
    def tokenize(self, text):
        """The tokens of one string (standardized, split, n-grams added)."""
        if isinstance(text, bytes):
            text = text.decode(self.encoding)
        text = str(text)
        if callable(self.standardize):
            text = self.standardize(text)
        else:
            if self.standardize in ("lower_and_strip_punctuation", "lower"):
                text = text.lower()
            if self.standardize in ("lower_and_strip_punctuation", "strip_punctuation"):
                text = _PUNCTUATION.sub("", text)
        if callable(self.split):
            words = list(self.split(text))
        elif self.split == "whitespace":
            words = text.split()
        elif self.split == "character":
            words = [c for c in text if not c.isspace()]
        else:
            words = [text]
        return [" ".join(words[i:i + n]) for n in self._ngram_sizes for i in range(len(words) - n + 1)]

    def _documents(self, batch):
        arr = np.asarray(batch)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        return [self.tokenize(t) for t in arr.ravel().tolist()], arr.shape

    # --- the vocabulary ------------------------------------------------------------------------------------
    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (most frequent tokens first) and, for "tf_idf", the IDF weights."""
        self._lookup.learn_vocabulary(doc for batch in _batches(data, batch_size, steps)
                                      for doc in self._documents(batch)[0])

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens in index order: ``""`` (padding) and ``"[UNK]"`` first."""
        return self._lookup.get_vocabulary(include_special_tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (and IDF weights for "tf_idf")."""
        self._lookup.set_vocabulary(vocabulary, idf_weights)

    def vocabulary_size(self):
        """The number of indices, ``""`` and ``"[UNK]"`` included."""
        return self._lookup.vocabulary_size()

    # --- the computation -----------------------------------------------------------------------------------
    def call(self, inputs):
        docs, shape = self._documents(B.to_numpy(inputs))
        if len(shape) > 1:
            raise self._shape_error("takes one string per sample", "(batch,) or (batch, 1)", shape)
        ids = [self._lookup.lookup(np.asarray(d, dtype=str)) if d else np.zeros(0, np.int64) for d in docs]
        if self.output_mode == "int":
            length = self.output_sequence_length or max((len(i) for i in ids), default=0)
            out = np.zeros((len(ids), length), dtype=np.int64)
            for row, i in zip(out, ids):
                row[:min(length, len(i))] = i[:length]
            return Tensor(out)
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        counts = np.stack([np.bincount(i, minlength=depth)[:depth] for i in ids]).astype(np.float64)
        if self.output_mode == "multi_hot":
            counts = (counts > 0).astype(np.float64)
        elif self.output_mode == "tf_idf":
            idf = np.zeros(depth)
            idf[2:2 + len(self._lookup.idf_weights)] = self._lookup.idf_weights
            idf[1] = np.mean(self._lookup.idf_weights) if self._lookup.idf_weights else 0.0
            counts = counts * idf
        counts[:, 0] = 0  # the padding token is never counted
        return Tensor(counts.astype(self.dtype))

    def get_config(self):
        for arg in ("standardize", "split"):
            if callable(getattr(self, arg)):
                raise TypeError(f"TextVectorization '{self.name}': a callable `{arg}` has no JSON config; "
                                "save the layer without it, or use one of the named options")
        lookup = self._lookup.get_config()
        ngrams = list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams
        return {**super().get_config(), "max_tokens": self.max_tokens, "standardize": self.standardize,
                "split": self.split, "ngrams": ngrams,
                "output_mode": self.output_mode, "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens, "vocabulary": lookup["vocabulary"],
                "idf_weights": lookup["idf_weights"], "encoding": self.encoding}


__all__ = ["TextVectorization"]
