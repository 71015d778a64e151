"""GradientTape semantics as TensorFlow documents them, plus the functional API and check_gradients."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import tapeflow as tp


def test_variables_are_watched_automatically_constants_only_after_watch():
    v = tp.Variable(3.0)
    c = tp.constant(2.0)
    with tp.GradientTape() as tape:
        y = v * v * c
    gv, gc_ = tape.gradient(y, [v, c])
    assert float(gv) == 12.0 and gc_ is None
    with tp.GradientTape() as tape:
        tape.watch(c)
        y = v * c * c
    assert float(tape.gradient(y, c)) == 12.0


def test_watch_accessed_variables_false_and_non_trainable():
    v = tp.Variable(3.0)
    frozen = tp.Variable(3.0, trainable=False)
    with tp.GradientTape(watch_accessed_variables=False) as tape:
        y = v * v
    assert tape.gradient(y, v) is None
    with tp.GradientTape() as tape:
        y = frozen * frozen
    assert tape.gradient(y, frozen) is None
    assert tape.watched_variables() == ()
    with tp.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(v)
        y = v * v
    assert float(tape.gradient(y, v)) == 6.0


def test_watched_variables_in_order():
    a, b = tp.Variable(1.0, name="a"), tp.Variable(2.0, name="b")
    with tp.GradientTape() as tape:
        _ = b * a + a
    assert [v.name for v in tape.watched_variables()] == ["b", "a"]


def test_non_scalar_target_is_summed_and_output_gradients_weight_it():
    x = tp.Variable([1.0, 2.0, 3.0])
    with tp.GradientTape(persistent=True) as tape:
        y = x * x
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [2.0, 4.0, 6.0])
    w = tp.constant([1.0, 0.0, -1.0])
    np.testing.assert_allclose(tape.gradient(y, x, output_gradients=w).numpy(), [2.0, 0.0, -6.0])
    with pytest.raises(tp.ShapeError, match="output_gradients"):
        tape.gradient(y, x, output_gradients=tp.ones((2,)))


def test_list_of_targets_sums_their_gradients():
    x = tp.Variable(2.0)
    with tp.GradientTape() as tape:
        a, b = x * x, 3 * x
    assert float(tape.gradient([a, b], x)) == 7.0


def test_unconnected_gradients():
    x, z = tp.Variable(1.0), tp.Variable([1.0, 2.0])
    with tp.GradientTape(persistent=True) as tape:
        y = x * 2
    assert tape.gradient(y, z) is None
    zero = tape.gradient(y, z, unconnected_gradients="zero")
    assert zero.shape == (2,) and zero.dtype == np.float32 and not zero.numpy().any()
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(y, z, unconnected_gradients="zeros")


def test_result_structure_matches_sources():
    a, b, c = tp.Variable(1.0), tp.Variable(2.0), tp.Variable(3.0)
    with tp.GradientTape() as tape:
        y = a * b * c
    g = tape.gradient(y, {"first": a, "rest": [b, (c,)]})
    assert set(g) == {"first", "rest"} and isinstance(g["rest"], list) and isinstance(g["rest"][1], tuple)
    assert [float(g["first"]), float(g["rest"][0]), float(g["rest"][1][0])] == [6.0, 3.0, 2.0]


def test_the_same_source_twice():
    a = tp.Variable(2.0)
    with tp.GradientTape() as tape:
        y = a * a
    g1, g2 = tape.gradient(y, [a, a])
    assert float(g1) == float(g2) == 4.0


def test_gradient_with_respect_to_an_intermediate():
    x = tp.Variable(2.0)
    with tp.GradientTape() as tape:
        h = x * x
        y = h * 3
    gh, gx = tape.gradient(y, [h, x])
    assert float(gh) == 3.0 and float(gx) == 12.0


def test_non_persistent_tape_second_call_raises_and_persistent_allows_many():
    x = tp.Variable(2.0)
    with tp.GradientTape() as tape:
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="persistent=True"):
        tape.gradient(y, x)
    with tp.GradientTape(persistent=True) as tape:
        y = x * x
        z = y * x
    assert float(tape.gradient(y, x)) == 4.0
    assert float(tape.gradient(z, x)) == 12.0
    assert float(tape.gradient(z, x)) == 12.0


def test_nested_tapes_second_and_third_derivatives():
    x = tp.Variable(3.0)
    with tp.GradientTape() as t2:
        with tp.GradientTape() as t1:
            y = x**3
        dy = t1.gradient(y, x)
    d2y = t2.gradient(dy, x)
    assert float(dy) == 27.0 and float(d2y) == 18.0
    with tp.GradientTape() as t3:
        with tp.GradientTape() as t2:
            with tp.GradientTape() as t1:
                y = tp.sin(x)
            dy = t1.gradient(y, x)
        d2 = t2.gradient(dy, x)
    d3 = t3.gradient(d2, x)
    assert np.isclose(float(d3), -np.cos(3.0), rtol=1e-6)


def test_gradient_computed_inside_the_outer_tape_of_the_same_variable():
    """A persistent outer tape computing gradients inside its own block (TensorFlow's pattern for HVPs)."""
    x = tp.Variable([1.0, 2.0])
    v = tp.constant([1.0, -1.0])
    with tp.GradientTape() as outer:
        with tp.GradientTape() as inner:
            y = tp.sum(x**3)
        g = inner.gradient(y, x)
        gv = tp.sum(g * v)
    hvp = outer.gradient(gv, x)
    np.testing.assert_allclose(hvp.numpy(), [6.0, -12.0])


def test_gradient_penalty():
    w = tp.Variable([[1.0, -2.0], [0.5, 3.0]])
    x = tp.constant([[1.0, 2.0]])
    with tp.GradientTape() as outer:
        with tp.GradientTape() as inner:
            inner.watch(x)
            y = tp.sum(tp.tanh(x @ w))
        gx = inner.gradient(y, x)
        penalty = tp.sum(gx * gx)
    gw = outer.gradient(penalty, w)
    assert gw.shape == (2, 2) and np.isfinite(gw.numpy()).all() and np.abs(gw.numpy()).sum() > 0
    report = tp.check_gradients(lambda w64: _penalty(w64, x.numpy().astype(np.float64)), w.numpy())
    assert report[0]["ok"], report


def _penalty(w, x):
    x = tp.constant(x)
    with tp.GradientTape() as inner:
        inner.watch(x)
        y = tp.sum(tp.tanh(x @ w))
    gx = inner.gradient(y, x)
    return tp.sum(gx * gx)


def test_jacobian_and_batch_jacobian():
    x = tp.Variable([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    w = tp.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    with tp.GradientTape(persistent=True) as tape:
        y = tp.tanh(x @ w)
    jac = tape.jacobian(y, x)
    assert jac.shape == (3, 3, 3, 2)
    d = 1 - np.tanh(x.numpy() @ w.numpy()) ** 2
    expected = np.zeros((3, 3, 3, 2), np.float32)
    for b in range(3):
        for j in range(3):
            expected[b, j, b, :] = d[b, j] * w.numpy()[:, j]
    np.testing.assert_allclose(jac.numpy(), expected, rtol=1e-5)
    bj = tape.batch_jacobian(y, x)
    assert bj.shape == (3, 3, 2)
    np.testing.assert_allclose(bj.numpy(), np.stack([expected[b, :, b] for b in range(3)]), rtol=1e-5)
    z = tp.Variable([1.0])
    assert tape.jacobian(y, z) is None
    assert tape.jacobian(y, z, unconnected_gradients="zero").shape == (3, 3, 1)


def test_jacobian_of_scalar_and_nested_sources():
    a, b = tp.Variable([1.0, 2.0]), tp.Variable(3.0)
    with tp.GradientTape() as tape:
        y = tp.sum(a) * b
    ja, jb = tape.jacobian(y, [a, b])
    np.testing.assert_allclose(ja.numpy(), [3.0, 3.0])
    assert float(jb) == 3.0


def test_jacobian_is_differentiable_under_an_outer_tape():
    x = tp.Variable([1.0, 2.0])
    with tp.GradientTape() as outer:
        with tp.GradientTape() as inner:
            y = x**3
        jac = inner.jacobian(y, x)  # diag(3 x^2)
        s = tp.sum(jac)
    np.testing.assert_allclose(outer.gradient(s, x).numpy(), [6.0, 12.0])


def test_watching_an_integer_tensor_suggests_a_cast():
    with tp.GradientTape() as tape:
        with pytest.raises(TypeError, match=r"tp\.cast"):
            tape.watch(tp.constant([1, 2]))


def test_target_computed_outside_the_tape_is_an_error():
    x = tp.Variable(2.0)
    with tp.GradientTape() as tape:
        y = x * x
    z = y * 2  # after the block
    with pytest.raises(ValueError, match="outside"):
        tape.gradient(z, x)


def test_stop_recording():
    x = tp.Variable(2.0)
    with tp.GradientTape() as tape:
        y = x * x
        with tape.stop_recording():
            z = x * 100
        w = y + tp.stop_gradient(z)
    assert float(tape.gradient(w, x)) == 4.0


def test_reset_forgets_what_was_recorded():
    x = tp.Variable(2.0)
    with tp.GradientTape(persistent=True) as tape:
        y = x * x
        tape.reset()
        z = x * 3
    assert float(tape.gradient(z, x)) == 3.0
    assert tape.gradient(y, x) is None  # recorded before the reset: not on this tape any more (as TensorFlow)


def test_variable_snapshot_assign_after_use_does_not_change_gradient():
    v = tp.Variable(2.0)
    with tp.GradientTape() as tape:
        y = v * v
        v.assign(100.0)
    assert float(tape.gradient(y, v)) == 4.0


def test_in_place_optimizer_style_update_after_gradient():
    v = tp.Variable([1.0, 2.0])
    for _ in range(3):
        with tp.GradientTape() as tape:
            loss = tp.sum(v * v)
        g = tape.gradient(loss, v)
        v.assign_sub(0.1 * g)
    np.testing.assert_allclose(v.numpy(), np.array([1.0, 2.0]) * 0.8**3, rtol=1e-6)


def test_gradient_dtype_matches_source_dtype():
    for dtype in ("float16", "float32", "float64"):
        x = tp.Variable([1.0, 2.0], dtype=dtype)
        with tp.GradientTape() as tape:
            y = tp.sum(x * 3.0)
        g = tape.gradient(y, x)
        assert g.dtype == np.dtype(dtype), dtype
    x32 = tp.Variable([1.0, 2.0])
    with tp.GradientTape() as tape:
        y = tp.sum(tp.cast(x32, "float64") * tp.constant(np.array([1.0, 2.0])))
    g = tape.gradient(y, x32)
    assert g.dtype == np.float32 and g.numpy().tolist() == [1.0, 2.0]


def test_tapes_are_thread_local():
    x = tp.Variable(2.0)
    results = {}

    def other():
        y = x * x  # no tape open in this thread
        results["node"] = y._node

    with tp.GradientTape() as tape:
        t = threading.Thread(target=other)
        t.start()
        t.join()
        y = x * 3
    assert results["node"] is None or results["node"] is not y._node
    assert float(tape.gradient(y, x)) == 3.0


def test_long_chain_differentiates_without_recursion():
    x = tp.Variable(1.0)
    with tp.GradientTape() as tape:
        y = x
        for _ in range(100_000):
            y = y + 1.0
    assert float(tape.gradient(y, x)) == 1.0


def test_spent_tape_releases_what_it_recorded():
    x = tp.Variable(np.ones(1000, np.float32))
    with tp.GradientTape() as tape:
        h = tp.exp(x)  # exp keeps its output for the gradient
        y = tp.sum(h * 2)
    saved = weakref.ref(h._node)
    del h
    tape.gradient(y, x)
    gc.collect()
    node = saved()
    assert node is None or (node.out_value is None and node.inputs is None)


def test_what_backward_does_not_need_is_not_kept():
    x = tp.Variable(np.ones(10, np.float32))
    with tp.GradientTape() as tape:
        a = x + 1.0  # add keeps no inputs
        b = a * 2.0  # multiply keeps its inputs (a) ...
        c = tp.sum(b)  # ... but sum keeps nothing
        big = tp.exp(x) + 0.0
    ref_b = weakref.ref(b)
    del b, big
    gc.collect()
    assert ref_b() is None, "an intermediate that no gradient rule needs must be freed"
    np.testing.assert_allclose(tape.gradient(c, x).numpy(), np.full(10, 2.0))


def test_gradient_of_a_deleted_tape_graph_is_freed_with_the_tape():
    x = tp.Variable(np.ones(10, np.float32))

    def step():
        with tp.GradientTape(persistent=True) as tape:
            y = tp.sum(tp.exp(x))
        return weakref.ref(tape), weakref.ref(y._node)

    tape_ref, node_ref = step()
    gc.collect()
    assert tape_ref() is None and node_ref() is None


# --- custom_gradient, grad, value_and_grad, check_gradients -------------------------------------------------


def test_custom_gradient_log1pexp_is_stable():
    @tp.custom_gradient
    def log1pexp(x):
        e = tp.exp(x)

        def grad_fn(upstream):
            return upstream * (1 - 1 / (1 + e))

        return tp.log(1 + e), grad_fn

    x = tp.constant(100.0)
    # exp(100) overflows float32, as in TF's example
    with tp.GradientTape() as tape, np.errstate(over="ignore"):
        tape.watch(x)
        y = log1pexp(x)
    assert float(tape.gradient(y, x)) == 1.0


def test_custom_gradient_with_several_inputs_and_variables():
    w = tp.Variable(2.0)

    @tp.custom_gradient
    def scaled_product(a, b):
        out = a * b * w

        def grad_fn(upstream, variables=None):
            assert variables is not None and variables[0] is w
            return [upstream * b * w, upstream * a * w], [upstream * a * b * 10]

        return out, grad_fn

    a, b = tp.Variable(3.0), tp.Variable(5.0)
    with tp.GradientTape() as tape:
        y = scaled_product(a, b)
    ga, gb, gw = tape.gradient(y, [a, b, w])
    assert float(y) == 30.0 and float(ga) == 10.0 and float(gb) == 6.0 and float(gw) == 150.0


def test_custom_gradient_wrong_number_of_gradients():
    @tp.custom_gradient
    def f(a, b):
        return a * b, lambda g: g

    a, b = tp.Variable(1.0), tp.Variable(2.0)
    with tp.GradientTape() as tape:
        y = f(a, b)
    with pytest.raises(ValueError, match="custom_gradient"):
        tape.gradient(y, [a, b])


def test_grad_and_value_and_grad():
    f = lambda x, y: tp.sum(x * x * y)  # noqa: E731
    assert float(tp.grad(f)(3.0, 2.0)) == 12.0
    gx, gy = tp.grad(f, argnums=(0, 1))(3.0, 2.0)
    assert (float(gx), float(gy)) == (12.0, 9.0)
    value, g = tp.value_and_grad(f, argnums=1)(tp.constant([1.0, 2.0]), tp.constant(2.0))
    assert float(value) == 10.0 and float(g) == 5.0
    d2 = tp.grad(tp.grad(lambda x: x**4))(2.0)
    assert float(d2) == 48.0


def test_check_gradients_reports_and_raises():
    report = tp.check_gradients(lambda a, b: tp.sum(a * tp.sin(b)), [1.0, 2.0], [0.5, -0.3])
    assert [r["ok"] for r in report] == [True, True]
    assert {"abs_error", "rel_error"} <= set(report[0])

    @tp.custom_gradient
    def wrong(x):
        return x * x, lambda g: g * 3 * x  # should be 2x

    bad = tp.check_gradients(lambda x: wrong(x), [1.0, 2.0])
    assert not bad[0]["ok"]
    with pytest.raises(AssertionError, match="check_gradients"):
        tp.check_gradients(lambda x: wrong(x), [1.0, 2.0], raise_on_error=True)


def test_power_gradients_at_zero_and_negative_bases():
    assert float(tp.grad(lambda x: x**0)(0.0)) == 0.0
    assert float(tp.grad(lambda x: x**2)(0.0)) == 0.0
    assert float(tp.grad(lambda x: x**3)(-2.0)) == 12.0
    gy = tp.grad(lambda y: tp.power(tp.constant(-2.0), y))(2.0)
    assert float(gy) == 0.0  # d/dy (-2)^y is not real: 0, as TensorFlow


def test_a_value_from_a_closed_tape_is_a_constant_to_the_next():
    x = tp.Variable(2.0)
    with tp.GradientTape():
        y = x * 2
    with tp.GradientTape() as t2:
        z = y * 3
        w = z + x
    assert t2.gradient(w, x).numpy() == 1.0  # y (and so z) is a constant to t2, as in TensorFlow


def test_stop_recording_inside_an_outer_tape_marks_the_inner_tapes_view():
    x = tp.Variable(2.0)
    with tp.GradientTape(persistent=True) as outer:
        with tp.GradientTape() as inner:
            with inner.stop_recording():
                z = x * 3  # outer records it; inner does not
        assert float(outer.gradient(z, x)) == 3.0
    assert inner.gradient(z, x) is None


@pytest.mark.parametrize("name, pattern", [
    ("multiply", ("var", 2.0)), ("add", ("const", "var")), ("divide", (2.0, "tracked")), ("exp", ("var",)),
    ("maximum", ("tracked", "const")),
])
def test_each_form_of_the_op_call_path_records_the_same(name, pattern):
    """The call path (``_CALL``) is written out for one input and for two and kept as loops for any other
    number: every form gives the same value, the same node (what it keeps of each input) and gradient."""
    from tapeflow.ops._registry import REGISTRY, _call_path

    op = REGISTRY[name]
    if len(pattern) == 1:
        one = _call_path(1, True)(op)
        straight = lambda x: one(x, {})  # noqa: E731
    else:
        straight = _call_path(2, False)(op)
    loops = _call_path(None, True)(op)
    seen = []
    for form in (straight, lambda *xs: loops(xs, {})):
        v = tp.Variable([[1.0, 2.0], [3.0, 4.0]])
        c = tp.constant([[0.5, -1.0], [2.0, 3.0]])
        with tp.GradientTape(persistent=True) as tape:
            tracked = v * 1.5
            inputs = [{"var": v, "const": c, "tracked": tracked}.get(p, p) if isinstance(p, str) else p
                      for p in pattern]
            y = form(*inputs)
        node = y._node
        kept = node.inputs if node.inputs is not None else node.specs
        seen.append((y.numpy().tolist(), node.op.name, len(node.parents), len(node.tapes),
                     [type(k).__name__ for k in kept], tape.gradient(y, v).numpy().tolist()))
    assert seen[0] == seen[1]
