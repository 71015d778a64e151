"""``check_layer``: the one harness every layer goes through.

For a layer class and its arguments it checks the output shape, the number and shapes of trainable weights, a
float64 finite-difference gradient check through the layer (with respect to its float inputs and to every
trainable weight), and that the config survives a JSON round trip (the rebuilt layer, given the same weights,
computes the same outputs).
"""

from __future__ import annotations

import json

import numpy as np

import tapeflow as tp


def _inputs(input_shape, rng, int_high=None):
    if isinstance(input_shape, list):
        return [_inputs(s, rng, int_high) for s in input_shape]
    if int_high is not None:
        return rng.integers(0, int_high, input_shape)
    return rng.standard_normal(input_shape)


def _project(out, u):
    if isinstance(out, (list, tuple)):
        return sum(tp.sum(o * ui) for o, ui in zip(out, u))
    return tp.sum(out * u)


def check_compiled(layer, input_shape, training, int_high=None):
    """``tp.function`` of the layer's forward pass and gradients (inputs and weights) equals eager to the bit,
    traced on one draw of inputs and replayed on two more, with the random stream reseeded alike."""
    rng = np.random.default_rng(1)
    out = layer(_inputs(input_shape, rng, int_high), training=training)
    u = [rng.standard_normal(o.shape) for o in _leaves(out)]
    u = u if isinstance(out, (list, tuple)) else u[0]

    def step(*xs):
        floats = [t for t in xs if t.dtype.kind == "f"]
        with tp.GradientTape() as tape:
            tape.watch(floats)
            out = layer(list(xs) if isinstance(input_shape, list) else xs[0], training=training)
            value = _project(out, u)
        return out, tape.gradient(value, [*floats, *layer.trainable_weights])

    compiled = tp.function(step)
    for seed in (2, 3, 4):
        x = _inputs(input_shape, np.random.default_rng(seed), int_high)
        xs = [tp.constant(a) for a in (x if isinstance(x, list) else [x])]
        tp.random.set_seed(seed)
        want = step(*xs)
        tp.random.set_seed(seed)
        got = compiled(*xs)
        for w, g in zip(_leaves(want), _leaves(got)):
            assert (w is None) == (g is None), f"{layer.name}: compiled gradient presence differs"
            if w is not None:
                assert np.array_equal(w.numpy(), g.numpy(), equal_nan=True), (
                    f"{layer.name}: compiled result differs from eager (seed {seed})"
                )
    assert compiled.tracing_count == 1, f"{layer.name}: traced {compiled.tracing_count} times"


def _leaves(x):
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def check_weight_gradients(layer, x, training, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Compare tape gradients with respect to ``layer.trainable_weights`` with central differences."""
    rng = np.random.default_rng(seed)
    out = layer(x, training=training)
    u = rng.standard_normal(out.shape)
    weights = layer.trainable_weights
    with tp.GradientTape() as tape:
        value = _project(layer(x, training=training), u)
    grads = tape.gradient(value, weights)
    for w, g in zip(weights, grads):
        assert g is not None, f"{layer.name}: no gradient for {w.name}"
        assert g.shape == w.shape, f"{layer.name}: gradient of {w.name} has shape {g.shape}, weight {w.shape}"
        v = rng.standard_normal(w.shape)
        base = w.numpy().copy()
        w.assign(base + eps * v)
        plus = float(_project(layer(x, training=training), u))
        w.assign(base - eps * v)
        minus = float(_project(layer(x, training=training), u))
        w.assign(base)
        numeric = (plus - minus) / (2 * eps)
        analytic = float(np.sum(g.numpy() * v))
        assert abs(numeric - analytic) <= atol + rtol * abs(numeric), (
            f"{layer.name}: gradient of {w.name}: tape {analytic}, finite differences {numeric}"
        )


def check_layer(
    cls,
    kwargs,
    input_shape,
    expected_shape,
    n_trainable,
    weight_shapes=None,
    training=False,
    int_inputs=None,
    n_non_trainable=0,
):
    """Run the standard checks on ``cls(**kwargs)`` for inputs of ``input_shape`` (a list for merge layers).

    Args:
        cls: the layer class.
        kwargs: constructor arguments (``dtype="float64"`` is added).
        input_shape: the full input shape, batch first (a list of shapes for several inputs).
        expected_shape: the output shape.
        n_trainable: the number of trainable weights.
        weight_shapes: the trainable weights' shapes, in order (optional).
        training: the ``training`` flag for the checks.
        int_inputs: for index inputs (Embedding): draw integers in ``[0, int_inputs)``.
        n_non_trainable: the number of non-trainable weights.

    Returns:
        The built layer.
    """
    rng = np.random.default_rng(0)
    layer = cls(**kwargs, dtype="float64")
    x = _inputs(input_shape, rng, int_inputs)
    out = layer(x, training=training)
    shapes = [o.shape for o in out] if isinstance(out, (list, tuple)) else out.shape
    assert shapes == expected_shape, f"{cls.__name__}: output shape {shapes}, expected {expected_shape}"
    assert out.dtype == np.float64, f"{cls.__name__}: output dtype {out.dtype}"
    assert len(layer.trainable_weights) == n_trainable, (
        f"{cls.__name__}: {len(layer.trainable_weights)} trainable weights, expected {n_trainable}"
    )
    assert len(layer.non_trainable_weights) == n_non_trainable
    if weight_shapes is not None:
        assert [w.shape for w in layer.trainable_weights] == [tuple(s) for s in weight_shapes]

    # gradients with respect to the float inputs
    if int_inputs is None:
        if isinstance(x, list):
            report = tp.check_gradients(lambda *xs: layer(list(xs), training=training), *x)
        else:
            report = tp.check_gradients(lambda t: layer(t, training=training), x)
        assert all(r["ok"] for r in report), f"{cls.__name__}: input gradient check failed: {report}"
    if n_trainable:
        check_weight_gradients(layer, x, training)

    check_compiled(layer, input_shape, training, int_inputs)

    # config round trip through JSON
    config = json.loads(json.dumps(tp.layers.serialize(layer)))
    clone = tp.layers.deserialize(config)
    assert type(clone) is cls and clone.get_config() == layer.get_config()
    clone(x, training=False)
    clone.set_weights(layer.get_weights())
    a, b = layer(x, training=False), clone(x, training=False)
    for p, q in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12, atol=1e-12)
    return layer
