"""Tensors, Variables, creation, dtype rules, repr, NumPy interop and the lecture's examples."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp

# --- the lecture's examples, exactly
# ---------------------------------------------------------------------------


def test_lecture_multiply_and_matmul():
    a, b = [[1, 3], [2, 4]], [[5, 7], [6, 8]]
    assert tp.multiply(a, b).numpy().tolist() == [[5, 21], [12, 32]]
    assert tp.matmul(a, b).numpy().tolist() == [[23, 31], [34, 46]]
    assert repr(tp.multiply(tp.constant(a, dtype="float32"), tp.constant(b, dtype="float32"))) == (
        "tapeflow.Tensor([[ 5. 21.] [12. 32.]], shape=(2, 2), dtype=float32)"
    )


def test_lecture_reshape_column_major():
    x = tp.reshape(tp.range(1, 25), (3, 4, 2), order="F")
    expected = np.arange(1, 25).reshape((3, 4, 2), order="F")
    assert x.numpy().tolist() == expected.tolist()
    assert x.numpy()[:, :, 0].tolist() == [[1, 4, 7, 10], [2, 5, 8, 11], [3, 6, 9, 12]]
    f = tp.reshape(x, (3, 8), order="F")
    c = tp.reshape(x, (3, 8), order="C")
    assert f.numpy().tolist() == expected.reshape((3, 8), order="F").tolist()
    assert f.numpy()[0].tolist() == [1, 4, 7, 10, 13, 16, 19, 22]
    assert c.numpy().tolist() == expected.reshape((3, 8)).tolist()
    assert c.numpy()[0].tolist() == [1, 13, 4, 16, 7, 19, 10, 22]


def test_lecture_gradient_of_2x_plus_3():
    x = tp.Variable([[1.0, 2.0], [3.0, 4.0]])
    with tp.GradientTape() as tape:
        y = 2 * x + 3
    g = tape.gradient(y, x)
    assert g.numpy().tolist() == [[2.0, 2.0], [2.0, 2.0]] and g.dtype == np.float32


def test_lecture_dense_layer_gradients():
    x = tp.constant([[1.0, 2.0, 3.0]])
    w = tp.Variable(tp.random.normal((3, 2)))
    b = tp.Variable(tp.zeros(2))
    with tp.GradientTape() as tape:
        y = tp.matmul(x, w) + b
    gw, gb = tape.gradient(y, [w, b])
    assert gw.numpy().tolist() == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
    assert gb.numpy().tolist() == [1.0, 1.0]


# --- tensor basics
# ----------------------------------------------------------------------------------------------


def test_tensor_facts_and_conversions():
    t = tp.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and isinstance(t.shape, tuple)
    assert (t.ndim, t.rank, t.size, len(t)) == (2, 2, 6, 2)
    assert np.asarray(t).tolist() == t.numpy().tolist()
    assert [r.numpy().tolist() for r in t] == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert float(t[1, 2]) == 6.0 and int(tp.constant(7)) == 7
    assert t.T.shape == (3, 2)
    with pytest.raises(TypeError):
        len(tp.constant(1.0))
    with pytest.raises(TypeError):
        iter(tp.constant(1.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    with pytest.raises(TypeError, match="immutable"):
        t[0, 0] = 1.0


def test_repr_like_tensorflow():
    assert repr(tp.constant([[5.0, 21.0], [12.0, 32.0]])) == (
        "tapeflow.Tensor([[ 5. 21.] [12. 32.]], shape=(2, 2), dtype=float32)"
    )
    assert repr(tp.constant(3.0)) == "tapeflow.Tensor(3.0, shape=(), dtype=float32)"
    assert repr(tp.constant([1, 2])) == "tapeflow.Tensor([1 2], shape=(2,), dtype=int32)"
    assert repr(tp.constant(True)) == "tapeflow.Tensor(True, shape=(), dtype=bool)"
    assert "shape=(0, 3)" in repr(tp.zeros((0, 3)))
    assert str(tp.constant([1.5, 2.0])) == "[1.5 2. ]"


def test_variable_assign_family_and_errors():
    v = tp.Variable([1.0, 2.0], name="w")
    assert v.trainable and v.name == "w" and v.dtype == np.float32
    v.assign([3.0, 4.0]).assign_add([1.0, 1.0]).assign_sub([0.5, 0.5])
    assert v.numpy().tolist() == [3.5, 4.5]
    with pytest.raises(tp.ShapeError, match="assign"):
        v.assign([1.0, 2.0, 3.0])
    assert tp.Variable(lambda: tp.ones(2)).numpy().tolist() == [1.0, 1.0]
    arr = np.ones(3)
    u = tp.Variable(arr)
    arr[0] = 5
    assert u.numpy()[0] == 1.0 and u.dtype == np.float64  # copied; the NumPy dtype kept
    assert "tapeflow.Variable 'w'" in repr(v)


# --- dtype rules
# ------------------------------------------------------------------------------------------------


def test_dtype_defaults_and_promotion_rules():
    assert tp.constant(1.5).dtype == tp.float32
    assert tp.constant([1, 2]).dtype == tp.int32
    assert tp.constant(True).dtype == tp.bool
    assert tp.constant(np.array([1.0])).dtype == tp.float64  # NumPy arrays keep their dtype
    assert tp.constant(np.array([1], np.int64)).dtype == tp.int64
    assert tp.constant([1, 2], dtype="float16").dtype == tp.float16
    # Python scalars never upcast a tensor
    for dt in ("float16", "float32", "float64", "int32", "int64"):
        t = tp.ones((2,), dtype=dt)
        assert (t * 2).dtype == np.dtype(dt) and (3 + t).dtype == np.dtype(dt), dt
    assert (tp.ones(2, dtype="float16") * 2.5).dtype == tp.float16
    assert (tp.constant([1, 2]) * 2.5).dtype == tp.float64  # int tensor with float scalar: NumPy's rule
    assert (tp.ones(2) + tp.ones(2, dtype="float64")).dtype == tp.float64
    assert tp.cast(tp.constant([1.7, -2.2]), "int32").numpy().tolist() == [1, -2]
    with pytest.raises(TypeError, match="Unknown dtype"):
        tp.cast(tp.ones(2), "float128x")
    assert tp.dtypes.as_dtype("float") == tp.float32 and tp.dtypes.as_dtype(float) == tp.float32


def test_ndarray_on_the_left_gives_a_tensor():
    t = tp.constant([1.0, 2.0])
    for out in (np.array([2.0, 3.0]) * t, np.array([2.0, 3.0]) + t, np.ones(2) - t, np.ones(2) / t,
                np.ones((2, 2)) @ t, 2.0 ** t, 1 - t):
        assert isinstance(out, tp.Tensor), type(out)


# --- creation
# ---------------------------------------------------------------------------------------------------


def test_creation_functions():
    assert tp.zeros((2, 3)).dtype == tp.float32 and tp.ones(3, dtype="int32").numpy().tolist() == [1, 1, 1]
    assert tp.zeros_like(tp.constant([1, 2])).dtype == tp.int32
    assert tp.fill((2,), 7).numpy().tolist() == [7, 7] and tp.fill((2,), 7).dtype == tp.int32
    assert tp.full((2, 2), 0.5).dtype == tp.float32
    assert tp.eye(2, 3).numpy().tolist() == [[1, 0, 0], [0, 1, 0]]
    assert tp.range(5).numpy().tolist() == [0, 1, 2, 3, 4] and tp.range(5).dtype == tp.int32
    assert tp.range(0.0, 1.0, 0.5).dtype == tp.float32
    assert tp.arange(1, 4).numpy().tolist() == [1, 2, 3]
    assert np.allclose(tp.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    oh = tp.one_hot([0, 2, 5], 3)
    assert oh.numpy().tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]] and oh.dtype == tp.float32
    assert tp.one_hot([1], 2, axis=0).shape == (2, 1)
    assert tp.constant(0.5, shape=(2, 2)).numpy().tolist() == [[0.5, 0.5], [0.5, 0.5]]
    assert tp.constant([1, 2, 3, 4], shape=(2, -1)).shape == (2, 2)
    assert tp.as_tensor(range(6), shape=(None, 3)).shape == (2, 3)
    assert tp.convert_to_tensor([1.0]).dtype == tp.float32
    x = tp.Variable([1.0])
    snapshot = tp.as_tensor(x)  # a Tensor holding the value now (TensorFlow's read), on the gradient path
    assert type(snapshot) is tp.Tensor and snapshot.numpy().tolist() == [1.0]
    with tp.GradientTape() as tape:
        y = tp.as_tensor(x) * 3.0
    assert tape.gradient(y, x).numpy().tolist() == [3.0]


def test_random_is_seeded_and_shuffle():
    tp.random.set_seed(3)
    a = tp.random.normal((3,)).numpy()
    u = tp.random.uniform((1000,), 2.0, 3.0).numpy()
    tp.random.set_seed(3)
    assert np.array_equal(a, tp.random.normal((3,)).numpy())
    assert u.min() >= 2.0 and u.max() < 3.0 and u.dtype == np.float32
    t = tp.random.truncated_normal((1000,), stddev=2.0).numpy()
    assert np.abs(t).max() <= 4.0
    s = tp.random.shuffle(tp.range(10)).numpy()
    assert sorted(s.tolist()) == list(range(10)) and s.tolist() != list(range(10))
    assert tp.random.uniform((5,), 0, 10, dtype="int32").dtype == tp.int32
    assert tp.random.get_seed() == 3


# --- NumPy dispatch
# ---------------------------------------------------------------------------------------------


def test_numpy_functions_dispatch_and_stay_on_the_tape():
    x = tp.Variable([1.0, 2.0])
    w = tp.Variable([[1.0], [2.0]])
    with tp.GradientTape() as tape:
        y = np.sum(np.exp(x)) + np.mean(np.matmul(x, w)) + np.max(np.square(x))
    assert isinstance(y, tp.Tensor)
    gx, gw = tape.gradient(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), np.exp([1.0, 2.0]) + np.array([1.0, 2.0]) + [0.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(gw.numpy(), [[1.0], [2.0]])


def test_numpy_function_without_an_op_refuses_to_cut_the_gradient():
    x = tp.Variable([3.0, 1.0, 2.0])
    with tp.GradientTape():
        with pytest.raises(TypeError, match="gradient"):
            np.diff(x * 1.0)
    assert np.sort(tp.constant([3, 1, 2])).numpy().tolist() == [1, 2, 3]  # constants are fine
    assert np.shape(tp.ones((2, 3))) == (2, 3)


def test_stop_gradient_and_identity():
    x = tp.Variable(2.0)
    with tp.GradientTape() as tape:
        y = x * tp.stop_gradient(x) + tp.identity(x)
    assert float(tape.gradient(y, x)) == 3.0


def test_namespaces():
    assert float(tp.math.reduce_sum(tp.ones((2, 2)))) == 4.0
    assert float(tp.math.reduce_max([1.0, 3.0])) == 3.0
    for name in ("add", "subtract", "multiply", "divide", "reduce_mean", "reduce_min", "reduce_prod",
                 "reduce_std", "reduce_variance", "reduce_logsumexp", "reduce_any", "reduce_all", "sigmoid",
                 "log_softmax"):
        assert callable(getattr(tp.math, name)), name
    for name in ("relu", "sigmoid", "softmax", "log_softmax", "tanh", "gelu", "silu", "elu", "selu",
                 "leaky_relu", "softplus"):
        assert callable(getattr(tp.nn, name)), name
    assert tp.linalg.matmul is tp.matmul
    assert tp.reduce_sum is tp.sum and tp.reduce_mean is tp.mean and tp.reduce_max is tp.max
    assert tp.all_dims() is Ellipsis and tp.newaxis is None
    assert tp.concat is tp.concatenate


FLOAT16_OPS = ["sigmoid", "exp", "gelu", "softmax", "erf", "log_softmax", "softplus", "elu", "selu", "silu",
               "tanh", "relu", "leaky_relu", "logsumexp", "mean", "var", "std", "norm", "sin", "abs",
               "square"]


@pytest.mark.parametrize("name", FLOAT16_OPS)
def test_float16_stays_float16_forward_and_backward(name):
    x = tp.Variable(np.array([0.5, 1.5, -2.0], np.float16))
    with tp.GradientTape() as tape:
        y = getattr(tp, name)(x)
    g = tape.gradient(y, x)
    assert y.dtype == tp.float16 and g.dtype == tp.float16
    assert np.isfinite(g.numpy()).all()


def test_pickle_and_copy_keep_values_not_graphs():
    import copy
    import pickle

    v = tp.Variable([3.0], name="w", trainable=False)
    with tp.GradientTape():
        y = tp.Variable([1.0]) * 2
    for obj in (tp.constant([1.0, 2.0]), v, y):
        back = pickle.loads(pickle.dumps(obj))
        assert type(back) is type(obj) and back._node is None
        assert back.numpy().tolist() == obj.numpy().tolist()
    w = copy.deepcopy(v)
    assert w.name == "w" and not w.trainable and w is not v
    w.assign([5.0])
    assert v.numpy().tolist() == [3.0]  # a deep copy owns its value


def test_namespaces_are_the_tensorflow_modules():
    import importlib

    assert tp.nn is importlib.import_module("tapeflow.nn")
    assert tp.linalg is importlib.import_module("tapeflow.linalg")
    assert not hasattr(tp, "np") and not hasattr(tp, "builtins")
