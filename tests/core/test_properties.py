"""Hypothesis property tests: broadcasting, reductions and indexing over drawn shapes, including (), size-1
and size-0 dimensions. Values are compared with NumPy and gradients with their closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapeflow as tp

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3)


def _values(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@SETTINGS
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=3),
       st.sampled_from(["add", "subtract", "multiply", "maximum"]))
def test_binary_broadcasting_values_and_gradient_shapes(bshapes, name):
    sa, sb = bshapes.input_shapes
    a, b = _values(sa, 1), _values(sb, 2)
    ta, tb = tp.constant(a), tp.constant(b)
    with tp.GradientTape() as tape:
        tape.watch([ta, tb])
        out = getattr(tp, name)(ta, tb)
    expected = getattr(np, name)(a, b)
    assert out.shape == expected.shape == bshapes.result_shape
    np.testing.assert_allclose(out.numpy(), expected)
    ga, gb = tape.gradient(out, [ta, tb])
    assert ga.shape == sa and gb.shape == sb
    if name == "add":  # each input element is used prod(result)/prod(input) times
        n = int(np.prod(bshapes.result_shape))
        np.testing.assert_allclose(ga.numpy(), np.full(sa, n / max(a.size, 1) if a.size else 0.0))
        np.testing.assert_allclose(gb.numpy(), np.full(sb, n / max(b.size, 1) if b.size else 0.0))


@st.composite
def shape_and_axis(draw):
    shape = draw(shapes)
    ndim = len(shape)
    if ndim == 0:
        return shape, draw(st.sampled_from([None, ()]))
    axis = draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim).map(tuple),
    ))
    return shape, axis


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@SETTINGS
@given(shape_and_axis(), st.booleans(), st.sampled_from(["sum", "mean", "max", "min", "prod", "logsumexp"]))
def test_reductions_match_numpy(shape_axis, keepdims, name):
    shape, axis = shape_axis
    x = _values(shape, 3)
    ref = _np_logsumexp if name == "logsumexp" else getattr(np, name)
    try:
        with np.errstate(all="ignore"):
            expected = ref(x, axis=axis, keepdims=keepdims)
    except ValueError:  # max/min of an empty axis: tapeflow must raise too, as a ValueError naming the op
        try:
            getattr(tp, name)(tp.constant(x), axis=axis, keepdims=keepdims)
        except ValueError as e:
            assert name in str(e)
        else:
            raise AssertionError(f"{name} of an empty axis did not raise")
        return
    t = tp.constant(x)
    with tp.GradientTape() as tape, np.errstate(all="ignore"):
        tape.watch(t)
        out = getattr(tp, name)(t, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)
    assert out.shape == np.shape(expected)
    with np.errstate(all="ignore"):
        g = tape.gradient(out, t)
    assert g.shape == x.shape and g.dtype == x.dtype
    if name == "sum":
        np.testing.assert_allclose(g.numpy(), np.ones_like(x))


def _np_logsumexp(x, axis=None, keepdims=False):
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else tuple(range(x.ndim)))


def _check_index(shape, index, seed):
    """Values equal NumPy's; the gradient scatters the upstream gradient back with np.add.at (so repeated
    indices accumulate)."""
    x = _values(shape, seed)
    t = tp.constant(x)
    with tp.GradientTape() as tape:
        tape.watch(t)
        out = t[index]
    np.testing.assert_array_equal(out.numpy(), x[index])
    u = _values(out.shape, seed + 1)
    g = tape.gradient(out, t, output_gradients=tp.constant(u))
    expected = np.zeros_like(x)
    np.add.at(expected, index, u)
    np.testing.assert_allclose(g.numpy(), expected)


@SETTINGS
@given(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4).flatmap(
    lambda s: st.tuples(st.just(s), hnp.basic_indices(s, allow_newaxis=True, allow_ellipsis=True))))
def test_basic_indexing_values_and_scatter_gradient(shape_index):
    _check_index(*shape_index, seed=4)


@SETTINGS
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4).flatmap(
    lambda s: st.tuples(st.just(s), hnp.integer_array_indices(s, result_shape=hnp.array_shapes(max_dims=2)))))
def test_integer_array_indexing_accumulates_repeated_indices(shape_index):
    _check_index(*shape_index, seed=6)


@SETTINGS
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4), st.integers(0, 2**31 - 1))
def test_boolean_mask_indexing(shape, seed):
    x = _values(shape, seed % 100)
    mask = np.random.default_rng(seed).random(shape) > 0.5
    t = tp.constant(x)
    with tp.GradientTape() as tape:
        tape.watch(t)
        out = t[mask]
    np.testing.assert_array_equal(out.numpy(), x[mask])
    g = tape.gradient(out, t)
    np.testing.assert_array_equal(g.numpy(), mask.astype(float))
    m = tp.constant(mask)
    np.testing.assert_array_equal(t[m].numpy(), x[mask])  # a bool Tensor works as a mask too


@SETTINGS
@given(shapes, st.sampled_from(["float16", "float32", "float64", "int32", "int64"]))
def test_python_scalars_never_upcast(shape, dtype):
    t = tp.ones(shape, dtype=dtype)
    for out in (t + 1, 2 * t, t - 3, t * True):
        assert out.dtype == np.dtype(dtype) and out.shape == shape
