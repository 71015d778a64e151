"""tape.explain names the cause of each None/zero gradient; tape.summary and the graph data read the tape."""

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.explain import tape_graph


@pytest.fixture
def w():
    return tp.Variable([1.0, -2.0], name="w")


def test_connected_source_prints_the_chain(w):
    x = tp.constant([[1.0, 2.0], [3.0, 4.0]])
    with tp.GradientTape(persistent=True) as tape:
        loss = tp.sum(tp.square(tp.matmul(x, w)))
    e = tape.explain(loss, w)
    assert e.cause == "connected"
    assert e.chain == ["matmul", "square", "sum"]
    text = str(e)
    assert "matmul" in text and "square" in text and "sum" in text
    # explaining does not consume the tape: the gradient is still there and right
    g = tape.gradient(loss, w).numpy()
    np.testing.assert_allclose(g, 2 * x.numpy().T @ (x.numpy() @ w.numpy()), rtol=1e-6)


def test_constant_never_watched(w):
    x = tp.constant(3.0)
    with tp.GradientTape() as tape:
        y = x * w
    assert tape.gradient(y, x) is None
    e = tape.explain(y, x)
    assert e.cause == "not_watched"
    assert "tape.watch" in e.fix


def test_non_trainable_variable_not_watched():
    v = tp.Variable(2.0, trainable=False)
    with tp.GradientTape() as tape:
        y = v * v
    e = tape.explain(y, v)
    assert e.cause == "not_watched" and "trainable=False" in e.message


def test_integer_dtype():
    n = tp.Variable([1, 2], name="n")
    with tp.GradientTape() as tape:
        y = tp.cast(n, "float32") * 2.0
    e = tape.explain(y, n)
    assert e.cause == "integer_dtype" and "int32" in e.message and "float32" in e.fix


def test_integer_tensor_on_the_path(w):
    with tp.GradientTape() as tape:
        y = tp.cast(tp.cast(w, "int32"), "float32") * 2.0
    assert tape.gradient(y, w, unconnected_gradients="none") is None
    with tp.GradientTape() as tape:
        y = tp.cast(tp.cast(w, "int32"), "float32") * 2.0
    e = tape.explain(y, w)
    assert e.cause == "integer_dtype" and "int32" in e.message and e.chain == ["cast", "cast", "multiply"]


def test_numpy_breaks_the_path(w):
    with tp.GradientTape() as tape:
        h = w * 2.0
        y = tp.sum(tp.constant(h.numpy()) * 3.0 + w * 0.0)
    e = tape.explain(y, w)
    assert e.cause == "zero_gradient" and "multiply" in e.message  # w is still connected through `w * 0.0`
    with tp.GradientTape() as tape:
        h = w * 2.0
        y = tp.sum(tp.constant(h.numpy()) * 3.0)
    e = tape.explain(y, w)
    assert e.cause == "left_tapeflow" and "numpy()" in e.message
    assert e.where.endswith(f"test_explain.py:{_line_of('y = tp.sum(tp.constant(h.numpy()) * 3.0)')}")


def test_python_float_breaks_the_path(w):
    b = tp.Variable(0.5, name="b")
    with tp.GradientTape() as tape:
        y = w * float(b)
    assert tape.gradient(y, b) is None
    e = tape.explain(y, b)
    assert e.cause == "left_tapeflow" and "float()" in e.message


def test_assign_breaks_the_path(w):
    v = tp.Variable([0.0, 0.0], name="v")
    with tp.GradientTape() as tape:
        v.assign(w * 2.0)
        y = tp.sum(v * 3.0)
    e = tape.explain(y, w)
    assert e.cause == "assign" and "'v'" in e.message


def test_target_computed_outside_the_tape(w):
    with tp.GradientTape() as tape:
        pass
    y = w * 2.0
    e = tape.explain(y, w)
    assert e.cause == "outside_tape"
    with tp.GradientTape() as tape:
        with tape.stop_recording():
            y = w * 2.0
    assert tape.explain(y, w).cause == "outside_tape"


def test_stop_gradient_on_the_path(w):
    b = tp.Variable(1.0)
    with tp.GradientTape() as tape:
        y = tp.stop_gradient(w * 2.0) * b
    assert tape.gradient(y, w) is None
    e = tape.explain(y, w)
    assert e.cause == "stop_gradient"


def test_non_differentiable_op(w):
    with tp.GradientTape() as tape:
        y = tp.cast(tp.argmax(w), "float32") * tp.sum(w * 0.0 + 1.0)
    with tp.GradientTape() as tape:
        k = tp.cast(tp.argmax(w), "float32")
        y = k * 2.0
    assert tape.explain(y, w).cause == "non_differentiable"


def test_no_path_at_all(w):
    b = tp.Variable(1.0, name="b")
    with tp.GradientTape() as tape:
        _ = w * 2.0
        y = b * 3.0
    e = tape.explain(y, w)
    assert e.cause == "no_path" and "'b'" in e.message
    unused = tp.Variable(1.0)
    assert tape.explain(y, unused).cause == "no_path"


def test_zero_gradient_names_the_op(w):
    with tp.GradientTape() as tape:
        y = tp.sum(tp.relu(w - 5.0))
    e = tape.explain(y, w)
    assert e.cause == "zero_gradient" and "relu" in e.message
    with tp.GradientTape() as tape:
        y = tp.sum(tp.round(w * 3.0))
    assert "round" in tape.explain(y, w).message


def test_bad_arguments(w):
    with tp.GradientTape() as tape:
        y = w * 2.0
    with pytest.raises(TypeError, match="one Tensor"):
        tape.explain([y, y], w)
    with pytest.raises(TypeError, match="source"):
        tape.explain(y, 3.0)


def test_spent_tape_still_names_the_cause(w):
    """After a non-persistent tape's gradient() freed what it recorded, explain still traces the path."""
    with tp.GradientTape() as tape:
        y = tp.sum(tp.square(w * 2.0))
    tape.gradient(y, w)
    e = tape.explain(y, w)
    assert e.cause == "connected" and "freed" in e.message
    with pytest.raises(ValueError, match="persistent"):
        tape_graph(tape, y)
    assert y._node.op is None and y._node.parents == ()  # the graph itself stays freed
    # a source the spending gradient() call was not asked about cannot be traced any more
    other = tp.Variable(1.0)
    with tp.GradientTape() as tape:
        y = tp.sum(w * other)
    tape.gradient(y, w)
    assert tape.explain(y, other).cause == "released"


def _spent(body, sources):
    """Record ``body`` on a non-persistent tape, spend it with gradient(), return (tape, target, grads)."""
    with tp.GradientTape() as tape:
        y = body()
    return tape, y, tape.gradient(y, sources)


def test_spent_tape_names_graph_causes(w):
    b = tp.Variable(1.0, name="b")
    v = tp.Variable([0.0, 0.0], name="v")
    cases = {
        "stop_gradient": lambda: tp.sum(tp.stop_gradient(w * 2.0) * b),
        "left_tapeflow": lambda: tp.sum(tp.constant((w * 2.0).numpy()) * b),
        "assign": lambda: (v.assign(w * 2.0), tp.sum(v * b))[1],
        "non_differentiable": lambda: (tp.cast(tp.argmax(w), "float32") + 1.0) * b,
        "no_path": lambda: (w * 2.0, b * 3.0)[1],
    }
    for cause, body in cases.items():
        tape, y, (gw, gb) = _spent(body, [w, b])
        assert gw is None and gb is not None, cause
        assert tape.explain(y, w).cause == cause, cause
        assert tape.explain(y, b).cause == "connected", cause
    tape, y, _ = _spent(lambda: (w * 2.0, b * 3.0)[1], [w, b])
    assert "'b'" in tape.explain(y, w).message  # names what the target does depend on


def test_spent_tape_names_value_causes(w):
    tape, y, g = _spent(lambda: tp.sum(tp.relu(w - 5.0)), w)
    e = tape.explain(y, w)
    assert not np.any(g.numpy()) and e.cause == "zero_gradient" and "persistent=True" in e.fix
    tape, y, g = _spent(lambda: tp.sum(tp.cast(tp.cast(w, "int32"), "float32") * 2.0), w)
    e = tape.explain(y, w)  # connected, no gradient: which op stopped it went with the graph
    assert g is None and e.cause == "non_differentiable" and "integer tensor" in e.message
    x = tp.constant(3.0)
    tape, y, g = _spent(lambda: x * w, x)
    assert g is None and tape.explain(y, x).cause == "not_watched"


def test_graph_data_and_edge_gradients(w):
    x = tp.constant([[1.0, 2.0], [3.0, 4.0]])
    with tp.GradientTape(persistent=True) as tape:
        h = tp.matmul(x, w)
        loss = tp.sum(h * h)
    g = tape_graph(tape, loss)
    assert g.ops == ["matmul", "multiply", "sum"]
    kinds = sorted(n.kind for n in g.nodes)
    assert kinds == ["constant", "op", "op", "op", "source"]
    src = next(n for n in g.nodes if n.kind == "source")
    assert src.label == "w" and src.shape == (2,) and src.dtype == "float32"
    np.testing.assert_allclose(src.grad.numpy(), tape.gradient(loss, w).numpy())
    # multiply(h, h): both inputs are one node, so one edge carrying both contributions, 2 * h
    mul = g.nodes.index(next(n for n in g.nodes if n.label == "multiply"))
    into_mul = [e for e in g.edges if e.dst == mul]
    assert len(into_mul) == 1
    np.testing.assert_allclose(into_mul[0].grad.numpy(), 2 * h.numpy())
    text = tape.summary(loss)
    assert "matmul" in text and "watched: Variable 'w'" in text
    assert len(text.splitlines()) == 2 + 1 + len(g.nodes)


def test_summary_without_target_and_breaks(w):
    with tp.GradientTape() as tape:
        y = w * 2.0
        float(tp.sum(y))
    text = tape.summary()
    assert "Variable 'w'" in text and "float()" in text


def test_no_cost_when_nothing_records(w):
    # outside any tape, reading values records nothing
    w.numpy()
    float(tp.sum(w))
    with tp.GradientTape() as tape:
        pass
    assert tape._recorder.breaks is None


def _line_of(snippet, nth=1):
    lines = open(__file__).read().splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if snippet in line and "_line_of" not in line]
    return hits[nth - 1]
