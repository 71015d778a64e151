"""The TensorFlow tensor API beside the ops (sorting, nd-indexing, clipping, matrices, mapping, bfloat16) and
Keras 3's ``ops`` namespace: values against NumPy, gradients in float64."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tapeflow import ops
from tests.core.gradcheck import assert_gradients


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_sort_argsort_top_k_values_and_gradients(rng):
    x = rng.permutation(12).reshape(3, 4).astype("float64") + rng.uniform(0, 0.1, (3, 4))
    np.testing.assert_array_equal(tp.sort(x).numpy(), np.sort(x))
    np.testing.assert_array_equal(tp.sort(x, axis=0, direction="DESCENDING").numpy(), -np.sort(-x, axis=0))
    np.testing.assert_array_equal(tp.argsort(x).numpy(), np.argsort(x))
    values, idx = tp.math.top_k(x, k=2)
    np.testing.assert_array_equal(values.numpy(), -np.sort(-x)[:, :2])
    np.testing.assert_array_equal(np.take_along_axis(x, idx.numpy(), -1), values.numpy())
    assert_gradients(lambda t: tp.sort(t, axis=0), [x])
    assert_gradients(lambda t: tp.math.top_k(t, 3)[0], [x])
    with pytest.raises(tp.ShapeError, match="top_k: k=5"):
        tp.math.top_k(x, 5)


def test_unique_keeps_first_appearance_order():
    y, idx = tp.unique([4, 1, 4, 2, 1])
    assert y.numpy().tolist() == [4, 1, 2] and idx.numpy().tolist() == [0, 1, 0, 2, 1]


def test_nd_indexing_and_masks(rng):
    x = rng.standard_normal((3, 4, 2))
    ind = np.array([[0, 1], [2, 3], [0, 1]])
    np.testing.assert_array_equal(tp.gather_nd(x, ind).numpy(), x[ind[:, 0], ind[:, 1]])
    mask = np.array([True, False, True])
    np.testing.assert_array_equal(tp.boolean_mask(x, mask).numpy(), x[mask])
    np.testing.assert_array_equal(tp.boolean_mask(x, x[..., 0] > 0, axis=0).numpy(), x[x[..., 0] > 0])
    upd = rng.standard_normal((3, 2))
    want = np.zeros((3, 4, 2))
    np.add.at(want, (ind[:, 0], ind[:, 1]), upd)  # the duplicate index adds up
    np.testing.assert_allclose(tp.scatter_nd(ind, upd, (3, 4, 2)).numpy(), want)
    replaced = x.copy()
    replaced[[0, 2], [1, 3]] = upd[:2]
    np.testing.assert_allclose(tp.tensor_scatter_nd_update(x, ind[:2], upd[:2]).numpy(), replaced)
    assert_gradients(lambda t: tp.gather_nd(t, ind), [x])
    assert_gradients(lambda t, u: tp.tensor_scatter_nd_update(t, ind[:2], u), [x, upd[:2]])
    assert_gradients(lambda t: tp.boolean_mask(t, mask), [x])
    np.testing.assert_array_equal(tp.sequence_mask([1, 3], 4).numpy(), [[1, 0, 0, 0], [1, 1, 1, 0]])


def test_roll_meshgrid_triangles(rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(tp.roll(x, 1, axis=1).numpy(), np.roll(x, 1, axis=1))
    np.testing.assert_array_equal(tp.roll(x, [1, -2], axis=[0, 1]).numpy(), np.roll(x, [1, -2], axis=[0, 1]))
    np.testing.assert_array_equal(tp.roll(x, 5).numpy(), np.roll(x, 5))
    for indexing in ("xy", "ij"):
        for got, want in zip(tp.meshgrid([1.0, 2.0, 3.0], [4.0, 5.0], indexing=indexing),
                             np.meshgrid([1.0, 2.0, 3.0], [4.0, 5.0], indexing=indexing)):
            np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(tp.linalg.tril(x).numpy(), np.tril(x))
    np.testing.assert_array_equal(ops.triu(x, 1).numpy(), np.triu(x, 1))
    assert_gradients(lambda t: tp.roll(t, 2, axis=0), [x])


def test_clipping_and_normalizing(rng):
    x = rng.standard_normal((3, 4)) * 3
    np.testing.assert_allclose(tp.clip_by_value(x, -1.0, 1.0).numpy(), np.clip(x, -1, 1))
    norm = np.sqrt((x**2).sum())
    np.testing.assert_allclose(tp.clip_by_norm(x, 1.0).numpy(), x / norm, rtol=1e-12)
    np.testing.assert_allclose(tp.clip_by_norm(x, 2 * norm).numpy(), x)
    rows = np.sqrt((x**2).sum(1, keepdims=True))
    np.testing.assert_allclose(tp.clip_by_norm(x, 1.0, axes=[1]).numpy(), x / np.maximum(rows, 1.0))
    clipped, gnorm = tp.clip_by_global_norm([x, None, 2 * x], 1.0)
    total = np.sqrt(5 * (x**2).sum())
    assert clipped[1] is None and np.isclose(float(gnorm), total)
    np.testing.assert_allclose(clipped[2].numpy(), 2 * x / total)
    np.testing.assert_allclose(tp.math.l2_normalize(x, axis=1).numpy(), x / rows)
    assert_gradients(lambda t: tp.clip_by_norm(t, 1.0), [x])
    assert_gradients(lambda t: tp.math.l2_normalize(t, axis=-1), [x])


def test_confusion_matrix():
    m = tp.math.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], num_classes=4, weights=[1, 2, 3, 4])
    assert m.numpy().tolist() == [[1, 0, 0, 0], [0, 0, 2, 0], [0, 4, 3, 0], [0, 0, 0, 0]]


def test_matmul_transposes_and_matrix_functions(rng):
    a, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5, 4))
    got = tp.matmul(a, b, transpose_a=True, transpose_b=True).numpy()
    np.testing.assert_allclose(got, np.swapaxes(a, 1, 2) @ np.swapaxes(b, 1, 2))
    assert_gradients(lambda p, q: tp.matmul(p, q, transpose_a=True, transpose_b=True), [a, b])
    m = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    np.testing.assert_allclose(tp.linalg.trace(m).numpy(), np.trace(m))
    s, u, v = tp.linalg.svd(a)
    np.testing.assert_allclose((u.numpy() * s.numpy()[:, None, :]) @ np.swapaxes(v.numpy(), 1, 2), a,
                               atol=1e-12)
    q, r = tp.linalg.qr(a)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-12)
    with pytest.raises(ValueError, match="full_matrices=False"):
        tp.linalg.svd(a, full_matrices=True)
    with pytest.raises(tp.ShapeError, match="inv: needs square matrices"):
        tp.linalg.inv(a)


def test_map_fn_and_vectorized_map(rng):
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(tp.map_fn(lambda r: tp.sum(r * r), x).numpy(), (x**2).sum(1))
    pair = tp.map_fn(lambda e: (e[0] + e[1], e[0] * e[1]), (x, 2 * x))
    np.testing.assert_allclose(pair[1].numpy(), 2 * x * x)
    np.testing.assert_allclose(tp.vectorized_map(lambda r: r[::-1], x).numpy(), x[:, ::-1])
    assert_gradients(lambda t: tp.map_fn(lambda r: tp.exp(r) * r, t), [x])


def test_bfloat16_through_ml_dtypes_and_its_gradient():
    pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed")
    x = tp.constant([1.5, 2.25], dtype="bfloat16")
    assert x.dtype == tp.bfloat16 and (x * 2).dtype.name == "bfloat16"
    v = tp.Variable([1.0, 2.0], dtype=tp.bfloat16)
    with tp.GradientTape() as tape:
        y = tp.sum(v * v)
    np.testing.assert_array_equal(tape.gradient(y, v).numpy().astype("float32"), [2.0, 4.0])


def test_numpy_functions_on_tracked_tensors_run_or_name_the_op():
    v = tp.Variable([[2.0, 1.0], [1.0, 3.0]])
    with tp.GradientTape() as tape:
        y = tp.sum(np.linalg.inv(v)) + tp.sum(np.sort(v, axis=0))
    inv = np.linalg.inv(v.numpy())
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), -(inv.T @ np.ones((2, 2)) @ inv.T) + 1, rtol=1e-6)
    with tp.GradientTape():
        with pytest.raises(TypeError, match=r"np.linalg.svd .* Use tp.linalg.svd"):
            np.linalg.svd(v * 1.0)
        with pytest.raises(TypeError, match=r"np.unique .* Use tp.unique"):
            np.unique(v * 1.0)


def test_keras_ops_namespace():
    x = tp.constant([[1.0, -2.0, 3.0]])
    assert ops.shape(x) == (1, 3) and tp.shape(x) == (1, 3) and ops.ndim(x) == 2
    assert ops.zeros((2, 3)).shape == (2, 3) and ops.convert_to_tensor([1.0]).shape == (1,)
    assert ops.moveaxis(tp.zeros((2, 3, 4)), 0, -1).shape == (3, 4, 2)
    mean, variance = ops.moments(x, axes=[1])
    np.testing.assert_allclose([mean.numpy()[0], variance.numpy()[0]], [2 / 3, np.var([1, -2, 3])], rtol=1e-6)
    np.testing.assert_allclose(ops.take_along_axis(x, np.array([[2, 0]]), axis=1).numpy(), [[3.0, 1.0]])
    np.testing.assert_allclose(ops.relu6(x * 3).numpy(), [[3.0, 0.0, 6.0]])
    assert bool(ops.any(x > 2)) and not bool(ops.all(x > 2))
    assert isinstance(ops.convert_to_numpy(x), np.ndarray) and ops.is_tensor(x)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ops.nope
