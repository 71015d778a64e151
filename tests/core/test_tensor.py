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
        "tapeflow.Tensor(\n[[ 5. 21.]\n [12. 32.]], shape=(2, 2), dtype=float32)"
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
    # As TensorFlow prints tf.constant([[5., 21.], [12., 32.]]): values from the next line, one row per line
    assert repr(tp.constant([[5.0, 21.0], [12.0, 32.0]])) == (
        "tapeflow.Tensor(\n[[ 5. 21.]\n [12. 32.]], shape=(2, 2), dtype=float32)"
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


def test_print_shows_one_row_per_line_at_every_rank(capsys):
    # Trip-up 4: `print(tp.reshape(tp.range(24), (2, 3, 4)))` printed everything on one line.
    t = tp.reshape(tp.range(24), (2, 3, 4))
    print(t)
    assert capsys.readouterr().out == str(np.arange(24).reshape(2, 3, 4)) + "\n"
    assert repr(t) == (
        "tapeflow.Tensor(\n"
        "[[[ 0  1  2  3]\n  [ 4  5  6  7]\n  [ 8  9 10 11]]\n\n"
        " [[12 13 14 15]\n  [16 17 18 19]\n  [20 21 22 23]]], shape=(2, 3, 4), dtype=int32)"
    )
    long = repr(tp.range(30.0))  # a wrapped vector lines up under its first value
    assert long.splitlines()[1].startswith(" " * len("tapeflow.Tensor([")) and long.endswith("dtype=float32)")


def test_printing_honors_numpy_and_tapeflow_print_options():
    t = tp.constant([1 / 3, 2 / 3, 1.0])
    with np.printoptions(precision=2):
        assert str(t) == "[0.33 0.67 1.  ]"
    with tp.printoptions(precision=1):
        assert repr(t) == "tapeflow.Tensor([0.3 0.7 1. ], shape=(3,), dtype=float32)"
        assert tp.get_printoptions()["precision"] == 1
    assert str(t) == "[0.33333334 0.6666667  1.        ]"  # back to NumPy's
    tp.set_printoptions(threshold=5, edgeitems=1)
    try:
        assert str(tp.range(100)) == "[ 0 ... 99]"
        assert str(np.arange(100)).startswith("[ 0  1  2")  # NumPy's own printing is untouched
    finally:
        tp.set_printoptions()
    assert "..." not in str(tp.range(100))
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['precison'\]"):
        tp.set_printoptions(precison=3)


def test_r_view_prints_like_r():
    # R: array(1:24, dim = c(3, 4, 2)) prints the `, , 1` and `, , 2` slices, column-major
    x = tp.reshape(tp.range(1, 25), (3, 4, 2), order="F")
    text = str(tp.r_view(x))
    assert text.startswith(", , 1\n\n     [,1] [,2] [,3] [,4]\n[1,]    1    4    7   10\n")
    assert "\n\n, , 2\n\n     [,1] [,2] [,3] [,4]\n[1,]   13   16   19   22\n" in text
    assert text.endswith("[3,]   15   18   21   24")
    four = str(tp.r_view(np.arange(1, 9).reshape((1, 2, 2, 2), order="F")))
    assert [line for line in four.splitlines() if line.startswith(", ,")] == [
        ", , 1, 1", ", , 2, 1", ", , 1, 2", ", , 2, 2"]
    assert str(tp.r_view([True, False])) == "[1] TRUE FALSE"
    assert str(tp.r_view(tp.constant(2.5))) == "[1] 2.5"
    assert tp.r_view([[1, 10]])._repr_html_().startswith("<pre>")


def test_tensors_render_as_html_in_notebooks():
    page = tp.constant([[1.5, -2.0], [3.0, 4.0]])._repr_html_()
    assert "<b>tapeflow.Tensor</b>" in page and "shape=(2, 2)" in page and "dtype=float32" in page
    assert page.count("<tr>") == 2 and page.count("<td") == 4 and ">-2.<" in page
    big = tp.zeros((50, 50))._repr_html_()
    assert "<pre>" in big and "<table" not in big and "..." in big
    assert "tapeflow.Variable" in tp.Variable([1.0])._repr_html_()
    assert "&lt;" not in tp.constant([1])._repr_html_()
