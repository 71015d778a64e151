"""Categorical and text preprocessing layers: values, vocabularies, output modes, configs and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import layers as L


def _round_trip(layer, x):
    clone = tp.layers.deserialize(json.loads(json.dumps(tp.layers.serialize(layer))))
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    return clone


def test_category_encoding_modes():
    x = np.array([[0, 1, 1], [3, 3, 2]])
    np.testing.assert_array_equal(L.CategoryEncoding(4)(x).numpy(), [[1, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(L.CategoryEncoding(4, "count")(x).numpy(), [[1, 2, 0, 0], [0, 0, 1, 2]])
    weighted = L.CategoryEncoding(4, "count")(x, count_weights=np.array([[0.5, 1, 2], [1, 1, 1]]))
    np.testing.assert_array_equal(weighted.numpy(), [[0.5, 3, 0, 0], [0, 0, 1, 2]])
    np.testing.assert_array_equal(L.CategoryEncoding(3, "one_hot")(np.array([2, 0])).numpy(),
                                  [[0, 0, 1], [1, 0, 0]])
    assert L.CategoryEncoding(3, "one_hot")(np.array([[2], [0]])).shape == (2, 3)
    assert L.CategoryEncoding(3, "one_hot")(np.array([[2, 1], [0, 0]])).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"input values must lie in \[0, 4\)"):
        L.CategoryEncoding(4)(np.array([[4]]))
    with pytest.raises(ValueError, match="`output_mode` must be one of"):
        L.CategoryEncoding(4, "tf_idf")
    _round_trip(L.CategoryEncoding(5, "count"), x)


def test_discretization_given_and_adapted():
    layer = L.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    np.testing.assert_array_equal(layer(np.array([[-1.5, 1.0, 3.4, 0.5]])).numpy(), [[0, 2, 3, 1]])
    adapted = L.Discretization(num_bins=4)
    adapted.adapt(np.arange(100.0))
    np.testing.assert_allclose(adapted.bin_boundaries, [24.75, 49.5, 74.25])
    counts = np.bincount(adapted(np.arange(100.0)).numpy(), minlength=4)
    np.testing.assert_array_equal(counts, [25, 25, 25, 25])
    clone = _round_trip(adapted, np.array([[3.0, 60.0]]))
    assert clone.bin_boundaries == adapted.bin_boundaries
    assert L.Discretization([0.0], output_mode="one_hot")(np.array([-1.0, 1.0])).numpy().tolist() == [
        [1, 0], [0, 1]]
    with pytest.raises(ValueError, match="exactly one of `bin_boundaries` and `num_bins`"):
        L.Discretization()
    with pytest.raises(RuntimeError, match="call adapt"):
        L.Discretization(num_bins=3)(np.array([1.0]))


def test_hashing_is_stable_masks_and_salts():
    x = np.array([["apple", "", "pear", "apple"]])
    a = L.Hashing(num_bins=50, mask_value="")(x).numpy()
    assert a[0, 1] == 0 and a[0, 0] == a[0, 3] and a.min() >= 0 and a.max() < 50 and a[0, 0] != 0
    np.testing.assert_array_equal(L.Hashing(num_bins=50, mask_value="")(x).numpy(), a)
    # a fixed value: the hash is the same in every process (no PYTHONHASHSEED dependence)
    assert int(tp.layers.lookup.stable_hash(np.array(["apple"]))[0]) == int.from_bytes(
        __import__("hashlib").blake2b(b"apple", digest_size=8).digest(), "little")
    salted = L.Hashing(num_bins=1000, salt=7)(np.array(["apple", "pear"])).numpy()
    plain = L.Hashing(num_bins=1000)(np.array(["apple", "pear"])).numpy()
    assert not np.array_equal(salted, plain)
    ints = L.Hashing(num_bins=4, output_mode="multi_hot")(np.array([[1, 2, 3]]))
    assert ints.shape == (1, 4) and float(ints.numpy().sum()) <= 3
    with pytest.raises(ValueError, match="`num_bins` must be a positive integer"):
        L.Hashing(num_bins=1, mask_value=0)


def test_string_lookup():
    layer = L.StringLookup(vocabulary=["a", "b", "c"])
    np.testing.assert_array_equal(layer([["a", "c", "z"]]).numpy(), [[1, 3, 0]])
    assert layer.vocabulary_size() == 4
    inverse = L.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert inverse(np.array([[1, 3, 0]])).numpy().tolist() == [["a", "c", "[UNK]"]]
    masked = L.StringLookup(mask_token="", num_oov_indices=2)
    masked.adapt(np.array([["x", "y", "y", ""], ["y", "z", "x", "y"]]))
    assert masked.get_vocabulary() == ["", "[UNK]", "[UNK]", "y", "x", "z"]
    ids = masked(np.array(["y", "", "q", "q"])).numpy()
    assert ids[0] == 3 and ids[1] == 0 and ids[2] == ids[3] and ids[2] in (1, 2)
    hot = L.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot")([["b", "b", "q"]])
    np.testing.assert_array_equal(hot.numpy(), [[1, 0, 1]])
    counts = L.StringLookup(vocabulary=["a", "b"], output_mode="count", pad_to_max_tokens=True,
                            max_tokens=5)([["b", "b", "q"]])
    np.testing.assert_array_equal(counts.numpy(), [[1, 0, 2, 0, 0]])
    tfidf = L.StringLookup(vocabulary=["a", "b"], idf_weights=[0.5, 2.0], output_mode="tf_idf")
    np.testing.assert_allclose(tfidf([["b", "b", "a"]]).numpy(), [[0, 0.5, 4.0]])
    # get_vocabulary's output (with its special tokens) is accepted back as a vocabulary
    again = L.StringLookup(vocabulary=layer.get_vocabulary())
    assert again.get_vocabulary() == layer.get_vocabulary()
    with pytest.raises(ValueError, match=r"the vocabulary repeats \['a'\]"):
        L.StringLookup(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match="is not in the vocabulary and num_oov_indices=0"):
        L.StringLookup(vocabulary=["a"], num_oov_indices=0)(["b"])
    with pytest.raises(RuntimeError, match="has no vocabulary yet"):
        L.StringLookup()(["a"])


def test_string_lookup_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("dog\ncat\n", encoding="utf-8")
    assert L.StringLookup(vocabulary=str(path)).get_vocabulary() == ["[UNK]", "dog", "cat"]


def test_integer_lookup_adapt_max_tokens_and_model_use():
    layer = L.IntegerLookup(max_tokens=3)
    layer.adapt(np.array([[12, 7, 7], [7, 42, 12], [12, 5, 5]]))
    assert layer.get_vocabulary() == [-1, 7, 12]  # 7 and 12 three times each; 5 twice; 42 once
    np.testing.assert_array_equal(layer(np.array([[42, 7, 12]])).numpy(), [[0, 1, 2]])
    model = tp.Sequential([tp.Input((3,), dtype="int32"),
                           L.IntegerLookup(vocabulary=[7, 12], output_mode="multi_hot"), L.Dense(1)])
    assert model(np.array([[7, 7, 99]])).shape == (1, 1)
    with pytest.raises(ValueError, match="inputs must be integers"):
        layer(np.array([[1.5]]))


def test_text_vectorization_int_mode():
    layer = L.TextVectorization(output_sequence_length=5)
    layer.adapt(["The cat sat.", "The dog sat down!", "the end"])
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat", "cat", "dog", "down", "end"]
    np.testing.assert_array_equal(layer(["The CAT ran", "dog"]).numpy(), [[2, 4, 1, 0, 0], [5, 0, 0, 0, 0]])
    ragged = L.TextVectorization(vocabulary=["a", "b"])
    assert ragged(np.array([["a b a"], ["b"]])).numpy().tolist() == [[2, 3, 2], [3, 0, 0]]
    cut = L.TextVectorization(vocabulary=["a", "b"], output_sequence_length=2)
    assert cut(["a b a b"]).numpy().tolist() == [[2, 3]]


def test_text_vectorization_ngrams_split_standardize_and_bag_modes():
    bigrams = L.TextVectorization(ngrams=2, standardize="lower", split="whitespace")
    assert bigrams.tokenize("Hi, You there") == ["hi,", "you", "there", "hi, you", "you there"]
    chars = L.TextVectorization(split="character", standardize=None)
    assert chars.tokenize("a B") == ["a", "B"]
    only = L.TextVectorization(ngrams=(2,))
    assert only.tokenize("a b c") == ["a b", "b c"]
    hot = L.TextVectorization(vocabulary=["a", "b", "c"], output_mode="multi_hot")
    np.testing.assert_array_equal(hot(["a a z", ""]).numpy(), [[0, 1, 1, 0, 0], [0, 0, 0, 0, 0]])
    count = L.TextVectorization(vocabulary=["a", "b"], output_mode="count")
    np.testing.assert_array_equal(count(["b a b q"]).numpy(), [[0, 1, 1, 2]])
    tfidf = L.TextVectorization(max_tokens=4, output_mode="tf_idf")
    tfidf.adapt(["a a b", "a c", "a"])
    vocab = tfidf.get_vocabulary()
    assert vocab[:3] == ["", "[UNK]", "a"] and len(vocab) == 4
    out = tfidf(["a a"]).numpy()
    np.testing.assert_allclose(out[0, 2], 2 * np.log(1 + 3 / (1 + 3)))
    with pytest.raises(ValueError, match="`standardize` must be None, a callable or one of"):
        L.TextVectorization(standardize="upper")
    with pytest.raises(TypeError, match="a callable `split` has no JSON config"):
        L.TextVectorization(split=lambda s: s.split(",")).get_config()
    custom = L.TextVectorization(standardize="lower", split=lambda s: s.split(","), vocabulary=["x", "y"])
    assert custom(["x,y,w"]).numpy().tolist() == [[2, 3, 1]]


def test_text_vectorization_feeds_an_embedding_model():
    texts = np.array(["good movie", "bad movie", "very good", "very bad"])
    labels = np.array([1, 0, 1, 0])
    vectorize = L.TextVectorization(output_sequence_length=3)
    vectorize.adapt(texts)
    ids = vectorize(texts).numpy()
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input((3,), dtype="int32"),
                           L.Embedding(vectorize.vocabulary_size(), 4, mask_zero=True),
                           L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")])
    model.compile(tp.optimizers.Adam(0.1), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(ids, labels, epochs=30, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
