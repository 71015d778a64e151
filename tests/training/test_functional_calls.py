"""The functional API with symbolic tensors in any argument of a layer call (not only the first).

The headline case is a transformer block built functionally: ``MultiHeadAttention()(h, h)`` reads the graph
tensor twice, once as its second positional argument.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import layers as L
from tapeflow.models.functional import Functional


def adjacent_pair_task(n, length=10, seed=0):
    """Token sequences holding one 3 and one 7; label 1 when the 7 directly follows the 3.

    Both tokens occur in every sequence, so only their relative position decides the label: a model that
    looks at each position separately and pools cannot solve it (checked below); attention can.
    """
    rng = np.random.default_rng(seed)
    others = np.array([1, 2, 4, 5, 6, 8, 9])
    x = others[rng.integers(0, len(others), (n, length))]
    y = rng.integers(0, 2, n)
    i3 = rng.integers(0, length - 1, n)
    i7 = i3 + np.where(y == 1, 1, rng.choice([-1, 2, 3, 4], n))
    i7 = np.where((i7 < 0) | (i7 >= length), i3 - 2, i7)
    i7 = np.where(i7 < 0, i3 + 2, i7)
    x[np.arange(n), i3] = 3
    x[np.arange(n), i7] = 7
    return x, (i7 - i3 == 1).astype("int64")


def encoder(length=10, dim=16, attention=True):
    """Token + position embeddings, then one transformer block (or, without ``attention``, its feed-forward
    half only), pooled into a two-class softmax."""
    tokens = tp.Input((length,), dtype="int64", name="tokens")
    positions = tp.Input((length,), dtype="int64", name="positions")
    h = L.Add()([L.Embedding(10, dim)(tokens), L.Embedding(length, dim)(positions)])
    if attention:
        h = L.LayerNormalization()(L.Add()([h, L.MultiHeadAttention(num_heads=2, key_dim=8)(h, h)]))
    h = L.LayerNormalization()(L.Add()([h, L.Dense(dim)(L.Dense(32, activation="relu")(h))]))
    out = L.Dense(2, activation="softmax")(L.GlobalAveragePooling1D()(h))
    model = tp.Model([tokens, positions], out)
    model.compile(tp.optimizers.Adam(5e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_functional_transformer_block_trains_and_attention_is_what_solves_it():
    x, y = adjacent_pair_task(1500)
    pos = np.tile(np.arange(x.shape[1]), (len(x), 1))
    accuracy = {}
    for attention in (True, False):
        tp.random.set_seed(0)
        model = encoder(attention=attention)
        model.fit([x[:1200], pos[:1200]], y[:1200], epochs=15, batch_size=32, verbose=0)
        accuracy[attention] = model.evaluate([x[1200:], pos[1200:]], y[1200:], verbose=0)[1]
    assert accuracy[True] >= 0.95, accuracy
    assert accuracy[False] <= 0.75, accuracy  # the task needs attention between positions


def test_second_positional_argument_is_a_graph_edge(tmp_path, capsys):
    tp.random.set_seed(1)
    x = tp.Input((10, 16), name="x")
    attention = L.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")
    h = attention(x, x)
    y = L.Add(name="residual")([x, h])
    model = tp.Model(x, y)
    node = attention._inbound_nodes[-1]
    assert [t.node.layer.name for t in node.parent_tensors] == ["x", "x"]
    model.summary()
    text = capsys.readouterr().out
    mha_row = text[text.index("mha (MultiHeadAttention)"):text.index("residual (Add)")]
    assert mha_row.count("x[0]") == 2, text
    data = np.random.default_rng(0).normal(size=(64, 10, 16)).astype("float32")
    model.compile("adam", "mse")
    history = model.fit(data, 2 * data, epochs=3, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < history[0]
    spec = next(s for s in model.get_config()["layers"] if s["name"] == "mha")
    assert spec["inbound_nodes"][0]["args"] == ["x", 0, 0]
    assert spec["inbound_nodes"][0]["call_args"] == [["x", 0, 0]]
    path = tmp_path / "block.tapeflow"
    model.save(path)
    loaded = tp.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_keyword_arguments_carry_symbolic_tensors(tmp_path):
    tp.random.set_seed(2)
    query, context = tp.Input((5, 8), name="query"), tp.Input((7, 6), name="context")
    out = L.MultiHeadAttention(num_heads=2, key_dim=4, name="cross")(query, value=context, key=context)
    model = tp.Model([query, context], out)
    assert out.shape == (None, 5, 8)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 5, 8)).astype("float32"), rng.normal(size=(3, 7, 6)).astype("float32")
    layer = model.layers[-1]
    np.testing.assert_allclose(
        model.predict([a, b], verbose=0), layer(a, value=b, key=b).numpy(), rtol=1e-6, atol=1e-6
    )
    config = model.get_config()
    spec = next(s for s in config["layers"] if s["name"] == "cross")
    assert spec["inbound_nodes"][0]["kwargs"] == {"value": ["context", 0, 0], "key": ["context", 0, 0]}
    assert "call_args" not in spec["inbound_nodes"][0]
    rebuilt = tp.Model.from_config(config)  # as in Keras, Model.from_config takes a functional config
    assert isinstance(rebuilt, Functional)
    assert [t.node.layer.name for t in rebuilt.layers[-1]._inbound_nodes[-1].parent_tensors] == [
        "query", "context", "context"
    ]
    spec["inbound_nodes"][0]["call_args"] = "context"
    with pytest.raises(ValueError, match="`call_args` must be a list"):
        Functional.from_config(config)
    model.save(tmp_path / "cross.tapeflow")
    loaded = tp.models.load_model(tmp_path / "cross.tapeflow")
    np.testing.assert_array_equal(loaded.predict([a, b], verbose=0), model.predict([a, b], verbose=0))


def test_graph_disconnected_through_a_keyword_argument():
    query, context = tp.Input((5, 8)), tp.Input((7, 8))
    out = L.MultiHeadAttention(num_heads=1, key_dim=4)(query, value=context)
    with pytest.raises(ValueError, match="Graph disconnected"):
        tp.Model(query, out)
