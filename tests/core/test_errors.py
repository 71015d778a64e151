"""Errors are raised at the op boundary, naming the op and every shape."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(tp.ShapeError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        tp.add(tp.ones((2, 3)), tp.ones(4))
    with pytest.raises(ValueError):  # ShapeError is a ValueError
        tp.ones((2, 3)) * tp.ones((3, 2))


def test_matmul_inner_dimensions():
    message = r"matmul: inner dimensions differ; got a.shape=\(2, 3\), b.shape=\(4, 5\)"
    with pytest.raises(tp.ShapeError, match=message):
        tp.matmul(tp.ones((2, 3)), tp.ones((4, 5)))
    with pytest.raises(tp.ShapeError, match="matmul"):
        tp.ones((2, 3)) @ tp.ones(2)
    with pytest.raises(tp.ShapeError, match="at least one dimension"):
        tp.matmul(tp.ones(()), tp.ones(2))


def test_reshape_errors_show_sizes_and_inference():
    message = r"reshape: cannot reshape 6 elements into shape \(4, 2\) \(8 elements\)"
    with pytest.raises(tp.ShapeError, match=message):
        tp.reshape(tp.ones((2, 3)), (4, 2))
    with pytest.raises(tp.ShapeError, match=r"cannot infer the -1 dimension of \(4, -1\): 6 elements"):
        tp.reshape(tp.ones((2, 3)), (4, -1))
    with pytest.raises(tp.ShapeError, match="only one dimension can be inferred"):
        tp.reshape(tp.ones(6), (-1, None))
    with pytest.raises(ValueError, match="order"):
        tp.reshape(tp.ones(6), (2, 3), order="K")


def test_index_out_of_range_names_axis_and_size():
    t = tp.ones((2, 3))
    with pytest.raises(IndexError, match=r"index 3 is out of range for axis 1 with size 3"):
        t[0, 3]
    with pytest.raises(IndexError, match=r"index -3 is out of range for axis 0 with size 2"):
        t[-3]
    with pytest.raises(IndexError, match=r"index 5 is out of range for axis 0 with size 2"):
        t[[0, 5]]
    with pytest.raises(IndexError, match=r"index 4 is out of range for axis 1 with size 3"):
        t[..., 4]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0]


def test_concat_and_stack_errors_list_shapes():
    with pytest.raises(tp.ShapeError, match=r"concatenate: .*\(2, 3\).*\(2, 4\)"):
        tp.concatenate([tp.ones((2, 3)), tp.ones((2, 4))], axis=0)
    with pytest.raises(tp.ShapeError, match=r"stack: .*\(2,\).*\(3,\)"):
        tp.stack([tp.ones(2), tp.ones(3)])


def test_broadcast_to_and_split_errors():
    with pytest.raises(tp.ShapeError, match=r"broadcast_to: cannot broadcast shape \(3,\) to \(2, 4\)"):
        tp.broadcast_to(tp.ones(3), (2, 4))
    with pytest.raises(tp.ShapeError, match="split"):
        tp.split(tp.ones(5), 2)


def test_dtype_errors_are_type_errors():
    with pytest.raises(TypeError, match="Unknown dtype 'floaty'"):
        tp.zeros(2, dtype="floaty")
    assert issubclass(tp.DTypeError, TypeError) and issubclass(tp.ShapeError, ValueError)
    with pytest.raises(TypeError, match="one_hot"):
        tp.one_hot([0.5], 3)


def test_gradient_shape_check_names_the_op():
    from tapeflow.ops._registry import Op

    bad = Op("bad_grad_op", lambda x: x * 2, grads=(lambda g, out, x: tp.ones((7,)),))
    x = tp.Variable(np.ones(3, np.float32))
    with tp.GradientTape() as tape:
        y = bad(x)
    with pytest.raises(tp.ShapeError, match=r"bad_grad_op: gradient of shape \(7,\) does not fit .* \(3,\)"):
        tape.gradient(y, x)
    from tapeflow.ops._registry import REGISTRY

    del REGISTRY["bad_grad_op"]


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="unconnected_gradients"):
        with tp.GradientTape() as tape:
            y = tp.Variable(1.0) * 2
        tape.gradient(y, [], unconnected_gradients="nope")
    with pytest.raises(TypeError, match="repeats"):
        tp.repeat(tp.ones(2), [1, 2])
    with pytest.raises(TypeError, match="sources must be Tensors"):
        with tp.GradientTape() as tape:
            y = tp.Variable(1.0) * 2
        tape.gradient(y, [1.0])


def test_squeeze_expand_dims_and_einsum_errors_name_the_op():
    x = tp.ones((2, 3))
    with pytest.raises(tp.ShapeError, match=r"squeeze: cannot remove axis 0 from shape \(2, 3\)"):
        tp.squeeze(x, 0)
    with pytest.raises(tp.ShapeError, match=r"expand_dims: cannot insert axis 5 into shape \(2, 3\)"):
        tp.expand_dims(x, 5)
    with pytest.raises(tp.ShapeError, match=r"einsum: operands of shapes \(2, 3\), \(2, 3\) do not fit"):
        tp.einsum("ij,jk->ik", x, x)


class _TwoArgumentError(ValueError):
    """An exception whose constructor takes two required arguments: ``type(e)(message)`` cannot rebuild it."""

    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class _NotAValueError(Exception):
    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code


@pytest.mark.parametrize("n_inputs", [1, 2, 3])  # each number of inputs runs its own form of the call path
@pytest.mark.parametrize("error", [_TwoArgumentError, _NotAValueError])
def test_forward_error_keeps_its_object_and_gains_the_op_and_shapes(error, n_inputs):
    from tapeflow.ops._registry import REGISTRY, Op

    def forward(*arrays):
        raise error(7, "bad")

    op = Op("raises_in_forward", forward, vjp=lambda g, out, *xs: [g] * len(xs))
    try:
        inputs = [tp.ones((2, 3)), tp.ones(3), 2.0][:n_inputs]
        with pytest.raises(error) as info:
            op(*inputs)
        e = info.value
        assert type(e) is error and e.args == (7, "bad") and e.code == 7  # the object itself
        shapes = " and ".join(["(2, 3)", "(3,)", "()"][:n_inputs])
        assert e.__notes__ == [f"(while running op 'raises_in_forward' on inputs of shapes {shapes})"]
        assert info.traceback[-1].name == "forward"  # its own traceback, down to where it was raised
        if n_inputs == 2:  # what the operators call (`x * y` is `multiply.binary()(x, y)`)
            with pytest.raises(error, match="raises_in_forward"):
                op.binary()(*inputs)
    finally:
        del REGISTRY["raises_in_forward"]
