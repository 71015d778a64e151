"""tp.function's semantics, as tf.function's: what triggers a trace, what runs at trace time only, what runs
on every call, Variables, tapes, optimizers, randomness, and the errors for tensor-dependent control flow."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapeflow as tp


def _same(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b))


# --- tracing rules ------------------------------------------------------------------------------------------
def test_retraces_on_shape_dtype_and_python_value_changes_only():
    traces = []

    @tp.function
    def f(x, scale):
        traces.append(1)
        return x * scale

    f(tp.ones((2,)), 2.0)
    f(tp.zeros((2,)), 2.0)  # same signature
    f(np.ones(2, np.float32), 2.0)  # an array of the same shape and dtype: same signature
    assert len(traces) == 1
    f(tp.ones((3,)), 2.0)  # shape
    f(tp.ones((3,), dtype="float64"), 2.0)  # dtype
    f(tp.ones((3,)), 3.0)  # Python value
    assert len(traces) == f.tracing_count == 4
    assert _same(f(tp.ones((3,)), 3.0), [3.0, 3.0, 3.0]) and len(traces) == 4


def test_excessive_retracing_warns_once():
    f = tp.function(lambda x: x + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 9):
            f(tp.ones((n,)))
    messages = [str(w.message) for w in caught if "traced" in str(w.message)]
    assert len(messages) == 1 and "has been traced 6 times" in messages[0]


def test_reduce_retracing_does_not_warn():
    f = tp.function(lambda x: x + 1, reduce_retracing=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in range(1, 9):
            f(tp.ones((n,)))


def test_input_signature_rejects_other_arguments():
    f = tp.function(lambda x: x * 2, input_signature=[tp.TensorSpec((None, 2), "float32")])
    assert _same(f(tp.ones((3, 2))), np.full((3, 2), 2.0))
    with pytest.raises(TypeError, match="input_signature"):
        f(tp.ones((3, 3)))
    with pytest.raises(TypeError, match="input_signature"):
        f(tp.ones((3, 2), dtype="float64"))


# --- side effects -------------------------------------------------------------------------------------------
def test_python_side_effects_at_trace_time_only_and_tp_print_every_call(capsys):
    seen = []

    @tp.function
    def f(x):
        seen.append("traced")
        print("python print")
        tp.print("tp.print", x)
        return x + 1

    for value in (1.0, 2.0, 3.0):
        f(tp.constant([value]))
    out = capsys.readouterr().out.splitlines()
    assert seen == ["traced"]
    assert out == ["python print", "tp.print [1.]", "tp.print [2.]", "tp.print [3.]"]


def test_python_control_flow_on_python_values_is_unrolled():
    @tp.function
    def f(x, n):
        for _ in range(n):
            x = x * 2.0
        if n > 2:
            x = x + 1.0
        return x

    assert _same(f(tp.constant(1.0), 3), 9.0)
    assert _same(f(tp.constant(1.0), 2), 4.0)
    assert f.tracing_count == 2


# --- errors for tensor-dependent Python control flow --------------------------------------------------------
@pytest.mark.parametrize(
    "body, how",
    [
        (lambda x: x if x > 0 else -x, "bool()"),
        (lambda x: x * float(x), "float()"),
        (lambda x: tp.constant(x.numpy() * 2), "numpy()"),
    ],
    ids=["if", "float", "numpy"],
)
def test_tensor_dependent_python_values_raise_naming_cond_and_while_loop(body, how):
    f = tp.function(body)
    with pytest.raises(tp.TracingError, match="tp.cond or tp.while_loop") as info:
        f(tp.constant(2.0))
    assert how in str(info.value)


def test_reading_a_variable_in_python_while_tracing_raises():
    v = tp.Variable(1.0, name="w")
    f = tp.function(lambda x: x * 2.0 if float(v) > 0 else x)
    with pytest.raises(tp.TracingError, match="Variable 'w'"):
        f(tp.constant(1.0))


def test_constants_can_be_read_while_tracing():
    c = tp.constant(3.0)

    @tp.function
    def f(x):
        return x * float(c)  # a constant: its value is known at trace time

    assert _same(f(tp.constant(2.0)), 6.0)


# --- Variables ----------------------------------------------------------------------------------------------
def test_variables_are_read_at_call_time_and_assignments_run_every_call():
    v = tp.Variable(1.0)

    @tp.function
    def f(x):
        v.assign_add(x)
        return v * 2.0

    assert _same(f(tp.constant(1.0)), 4.0)
    assert _same(f(tp.constant(1.0)), 6.0)
    v.assign(10.0)  # outside: the plan reads the Variable, it did not capture its value
    assert _same(f(tp.constant(0.5)), 21.0)
    assert f.tracing_count == 1


def test_variables_created_on_the_first_trace_only():
    class Counter:
        def __init__(self):
            self.v = None

        @tp.function
        def __call__(self, x):
            if self.v is None:
                self.v = tp.Variable(0.0)
            self.v.assign_add(x)
            return self.v.value()

    c = Counter()
    for _ in range(3):
        out = c(tp.constant(1.0))
    assert _same(out, 3.0)

    @tp.function
    def makes_one(x):
        return x + tp.Variable(1.0)

    makes_one(tp.ones((1,)))
    with pytest.raises(ValueError, match="first trace only"):
        makes_one(tp.ones((2,)))


# --- tapes and optimizers -----------------------------------------------------------------------------------
def _mlp(seed):
    tp.random.set_seed(seed)
    return tp.Sequential([
        tp.layers.Dense(16, activation="tanh", input_shape=(4,)),
        tp.layers.Dropout(0.25),
        tp.layers.BatchNormalization(),
        tp.layers.Dense(2),
    ])


def _batches(n=4, batch=8):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((batch, 4)).astype("float32"), rng.integers(0, 2, batch)) for _ in range(n)]


def test_lecture_custom_training_loop_equals_eager():
    """The lecture's loop: GradientTape inside, apply_gradients inside, dropout and batch norm training."""
    results = []
    for compiled in (False, True):
        model = _mlp(0)
        opt = tp.optimizers.Adam(0.01)
        loss_fn = tp.losses.SparseCategoricalCrossentropy(from_logits=True)
        metric = tp.metrics.SparseCategoricalAccuracy()

        def step(x, y):
            with tp.GradientTape() as tape:
                logits = model(x, training=True)
                loss = loss_fn(y, logits)
            grads = tape.gradient(loss, model.trainable_weights)
            opt.apply_gradients(zip(grads, model.trainable_weights))
            metric.update_state(y, logits)
            return loss, metric.result()

        step = tp.function(step) if compiled else step
        tp.random.set_seed(1)
        logs = [step(x, y) for x, y in _batches()]
        results.append((logs, model.get_weights(), opt.iterations))
    (eager_logs, eager_w, eager_it), (logs, w, it) = results
    assert it == eager_it == 4
    for (a, b), (c, d) in zip(eager_logs, logs):
        assert _same(a, c) and _same(b, d)
    assert all(_same(p, q) for p, q in zip(eager_w, w))  # moving statistics too


def test_gan_style_two_optimizer_step_equals_eager():
    def run(compiled):
        tp.random.set_seed(3)
        gen = tp.Sequential([tp.layers.Dense(8, activation="relu", input_shape=(2,)), tp.layers.Dense(4)])
        disc = tp.Sequential([tp.layers.Dense(8, activation="relu", input_shape=(4,)), tp.layers.Dense(1)])
        g_opt, d_opt = tp.optimizers.Adam(1e-3), tp.optimizers.SGD(0.05, momentum=0.9)
        bce = tp.losses.BinaryCrossentropy(from_logits=True)

        def step(real):
            noise = tp.random.normal((real.shape[0], 2))
            with tp.GradientTape() as gt, tp.GradientTape() as dt:
                fake = gen(noise, training=True)
                real_logits, fake_logits = disc(real, training=True), disc(fake, training=True)
                d_loss = bce(tp.ones_like(real_logits), real_logits)
                d_loss = d_loss + bce(tp.zeros_like(fake_logits), fake_logits)
                g_loss = bce(tp.ones_like(fake_logits), fake_logits)
            g_opt.apply_gradients(zip(gt.gradient(g_loss, gen.trainable_weights), gen.trainable_weights))
            d_opt.apply_gradients(zip(dt.gradient(d_loss, disc.trainable_weights), disc.trainable_weights))
            return d_loss, g_loss

        step = tp.function(step) if compiled else step
        rng = np.random.default_rng(5)
        losses = [step(rng.standard_normal((6, 4)).astype("float32")) for _ in range(4)]
        return losses, gen.get_weights() + disc.get_weights()

    (el, ew), (cl, cw) = run(False), run(True)
    assert all(_same(a, c) and _same(b, d) for (a, b), (c, d) in zip(el, cl))
    assert all(_same(p, q) for p, q in zip(ew, cw))


def test_outer_tape_differentiates_through_a_compiled_function():
    w = tp.Variable([1.0, -2.0])
    f = tp.function(lambda x: tp.sum(tp.tanh(x * w)))
    x = tp.constant([0.5, 0.25])
    f(x)  # traced outside any tape
    with tp.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    gx, gw = tape.gradient(y, [x, w])
    with tp.GradientTape() as tape:
        tape.watch(x)
        want = tp.sum(tp.tanh(x * w))
    wx, ww = tape.gradient(want, [x, w])
    assert _same(y, want) and _same(gx, wx) and _same(gw, ww)


def test_dropout_stream_equals_eager_under_the_same_seed():
    layer = tp.layers.Dropout(0.5)
    f = tp.function(lambda x: layer(x, training=True))
    x = tp.ones((4, 6))
    tp.random.set_seed(7)
    eager = [layer(x, training=True) for _ in range(3)]
    tp.random.set_seed(7)
    compiled = [f(x) for _ in range(3)]
    assert all(_same(a, b) for a, b in zip(eager, compiled))
    assert not _same(compiled[0], compiled[1])  # a fresh mask on every call


# --- methods, nesting, introspection ------------------------------------------------------------------------
def test_decorated_method_and_nested_functions():
    class Scaler:
        def __init__(self, k):
            self.k = k

        @tp.function
        def __call__(self, x):
            return inner(x) * self.k

    @tp.function
    def inner(x):
        return x + 1.0

    a, b = Scaler(2.0), Scaler(3.0)
    assert _same(a(tp.constant(1.0)), 4.0) and _same(b(tp.constant(1.0)), 6.0)
    assert _same(a(tp.constant(2.0)), 6.0)
    assert inner.tracing_count == 0  # inlined into the outer trace


def test_plan_summary_lists_the_steps():
    f = tp.function(lambda x: tp.exp(x) * 2.0 + 1.0)
    f(tp.ones((3,)))
    text = f.plan_summary()
    assert "3 steps" in text and "exp" in text and "multiply" in text


# --- tp.cond and tp.while_loop ------------------------------------------------------------------------------
def test_cond_picks_the_branch_on_every_call_and_traces_both_once():
    traced = []

    def positive(x):
        traced.append("true")
        return x * 2.0

    def negative(x):
        traced.append("false")
        return -x

    f = tp.function(lambda x: tp.cond(tp.reduce_all(x > 0), lambda: positive(x), lambda: negative(x)))
    assert _same(f(tp.constant([1.0, 2.0])), [2.0, 4.0])
    assert _same(f(tp.constant([-1.0, 2.0])), [1.0, -2.0])
    assert sorted(traced) == ["false", "true"] and f.tracing_count == 1


def test_cond_and_while_loop_run_eagerly_outside_functions():
    x = tp.Variable(3.0)
    with tp.GradientTape() as tape:
        y = tp.cond(x > 0, lambda: x * x, lambda: -x)
    assert _same(y, 9.0) and _same(tape.gradient(y, x), 6.0)
    i, v = tp.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, v * 2.0), (0, tp.constant(1.0)))
    assert _same(i, 4) and _same(v, 16.0)


def test_while_loop_iterations_follow_the_values_on_every_call():
    @tp.function
    def halvings(x):
        n, _ = tp.while_loop(lambda n, v: v > 1.0, lambda n, v: (n + 1, v / 2.0), (tp.constant(0), x))
        return n

    assert [int(halvings(tp.constant(v))) for v in (0.5, 3.0, 100.0)] == [0, 2, 7]
    assert halvings.tracing_count == 1


def test_cond_branches_must_agree():
    f = tp.function(lambda x: tp.cond(tp.sum(x) > 0, lambda: x, lambda: tp.sum(x)))
    with pytest.raises(ValueError, match="true_fn and false_fn must return"):
        f(tp.ones((2,)))


def test_graph_draws_the_plan(tmp_path):
    w = tp.Variable(np.ones((3, 2), "float32"), name="w")

    @tp.function
    def f(x):
        with tp.GradientTape() as tape:
            y = tp.sum(tp.tanh(x @ w))
        return y, tape.gradient(y, w)

    f(tp.ones((4, 3)))
    fig = f.graph(save=tmp_path / "plan.png")
    assert fig.graph.ops[:3] == ["matmul", "tanh", "sum"] and (tmp_path / "plan.png").exists()
    assert [n.label for n in tp.plot.tape(f).graph.nodes if n.kind == "source"] == ["input 0", "w"]


def test_memory_plan_writes_in_place_and_reuses_buffers_without_changing_results():
    rng = np.random.default_rng(0)
    w = tp.Variable(rng.standard_normal((64, 64)).astype("float32"))

    def f(x):
        with tp.GradientTape() as tape:
            tape.watch(x)
            h = tp.exp(x * 0.5 + 1.0) - 2.0  # a chain the plan runs in one array
            r = tp.reshape(h, (64 * 64,))  # a view of h: h must outlive it
            t = tp.transpose(h) * 3.0
            y = tp.sum(tp.tanh(r) * 2.0) + tp.sum(t * w)
        return y, h, tape.gradient(y, [x, w])

    compiled = tp.function(f)
    xs = [tp.constant(rng.standard_normal((64, 64)).astype("float32")) for _ in range(3)]
    kept = [compiled(x) for x in xs]  # results of earlier calls must survive later calls
    for x, got in zip(xs, kept):
        want = f(x)
        assert _same(want[0], got[0]) and _same(want[1], got[1])
        assert all(_same(a, b) for a, b in zip(want[2], got[2]))
    summary = compiled.plan_summary()
    assert "(in place)" in summary and "(buffer)" in summary, summary


def test_noise_layers_draw_like_eager_and_numpy_augmentation_refuses_to_trace():
    noise = tp.layers.GaussianNoise(0.5)
    f = tp.function(lambda x: noise(x, training=True))
    x = tp.ones((3, 4))
    tp.random.set_seed(2)
    eager = [noise(x, training=True) for _ in range(2)]
    tp.random.set_seed(2)
    assert all(_same(a, f(x)) for a in eager)
    flip = tp.layers.RandomFlip()
    g = tp.function(lambda x: flip(x, training=True))
    with pytest.raises(tp.TracingError, match="RandomFlip draws its random transforms in NumPy"):
        g(tp.ones((2, 4, 4, 1)))


def test_input_signature_on_a_method_ignores_the_instance():
    class Doubler:
        @tp.function(input_signature=[tp.TensorSpec((None,), "float32")])
        def __call__(self, x):
            return x * 2.0

    assert _same(Doubler()(tp.ones((3,))), [2.0, 2.0, 2.0])


def test_sliced_variable_assignment_runs_on_every_call():
    v = tp.Variable(np.zeros((2, 3), "float32"))

    @tp.function
    def bump(x):
        v[0, 1:].assign_add(x)
        return v[0]

    bump(tp.ones((2,)))
    out = bump(tp.constant([2.0, 3.0]))
    assert _same(out, [0.0, 3.0, 4.0]) and _same(v.numpy()[1], [0.0, 0.0, 0.0])


def test_fori_loop_eagerly_and_traced_with_a_tensor_bound():
    assert _same(tp.fori_loop(0, 3, lambda i, v: v + tp.cast(i, "float32"), tp.constant(0.0)), 3.0)
    f = tp.function(lambda n, x: tp.ops.fori_loop(0, n, lambda i, v: v * x, tp.ones_like(x)))
    assert _same(f(tp.constant(3), tp.constant(2.0)), 8.0)
    assert _same(f(tp.constant(5), tp.constant(2.0)), 32.0)
    assert f.tracing_count == 1


def test_index_arrays_of_a_backend_chosen_after_import_are_inputs_of_the_plan():
    # Regression: tracing bound NumPy's array type at import, so on a backend chosen later (the strict test
    # backend, CuPy) an Embedding's index array was not seen as the input it is: the plan baked the first
    # call's indices in (and folded the gradient into a constant).
    before = tp.get_backend()
    tp.set_backend("strict")
    try:
        layer = tp.layers.Embedding(7, 3)
        layer(tp.constant(np.zeros((2, 5), np.int64)))

        def step(x):
            with tp.GradientTape() as tape:
                value = tp.sum(layer(x) * tp.constant(np.arange(15.0).reshape(1, 5, 3)))
            return tape.gradient(value, layer.embeddings)

        compiled = tp.function(step)
        for seed in (2, 3):
            x = tp.constant(np.random.default_rng(seed).integers(0, 7, (2, 5)))
            assert np.array_equal(step(x).numpy(), compiled(x).numpy())
        assert compiled.tracing_count == 1
    finally:
        tp.set_backend(before)


def test_reduce_retracing_relaxes_the_dimensions_that_changed_and_traces_once_for_them():
    traces = []

    @tp.function(reduce_retracing=True)
    def f(x, y):
        traces.append(x.shape)
        return tp.reduce_sum(x * 2.0 + 1.0, axis=0) * y

    y = tp.ones((3,))
    for n in (2, 5, 7, 1, 5):
        x = tp.constant(np.arange(3.0 * n, dtype=np.float32).reshape(n, 3))
        assert _same(f(x, y), (x.numpy() * 2 + 1).sum(0))
    assert f.tracing_count == 2  # the first shape, then (None, 3) once
    f(tp.ones((2, 4)), tp.ones((4,)))  # another trailing size: a new signature, relaxed against (None, 3)
    f(tp.ones((9, 4)), tp.ones((4,)))
    assert f.tracing_count == 3
    f(tp.ones((2, 3), dtype="float64"), tp.ones((3,), dtype="float64"))  # a dtype is never relaxed
    assert f.tracing_count == 4 and len(traces) == 4


def test_reduce_retracing_keeps_one_plan_per_shape_when_python_read_a_size():
    @tp.function(reduce_retracing=True)
    def f(x):
        return tp.reshape(x, (x.shape[0] * 3,))  # the size is a Python number fixed in each trace

    for n in (2, 4, 6):
        assert _same(f(tp.ones((n, 3))), np.ones(3 * n))
    assert f.tracing_count == 3


def test_reduce_retracing_training_step_equals_eager_over_batch_sizes():
    def make():
        tp.random.set_seed(1)
        model = tp.Sequential([tp.Input(shape=(4,)), tp.layers.Dense(8, activation="relu"),
                               tp.layers.Dense(3)])
        optimizer = tp.optimizers.Adam(0.01)
        # the loss object's mean is one fused op that divides by the batch size it is given; tp.reduce_mean's
        # gradient would fix 1/n in each trace (one plan per batch size)
        loss_fn = tp.losses.SparseCategoricalCrossentropy(from_logits=True)

        def step(x, y):  # Keras 3's spelling: optimizer.apply(grads, variables)
            with tp.GradientTape() as tape:
                loss = loss_fn(y, model(x))
            optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
            return loss

        return model, step

    eager_model, eager = make()
    model, step = make()
    compiled = tp.function(step, reduce_retracing=True)
    rng = np.random.default_rng(0)
    for n in (8, 16, 5, 8, 3):
        x, y = rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)
        assert _same(eager(x, y), compiled(x, y))
    assert compiled.tracing_count == 2
    assert all(_same(a, b) for a, b in zip(eager_model.get_weights(), model.get_weights()))


def test_plan_profile_times_every_step_and_runs_its_updates():
    w = tp.Variable([1.0, 2.0])

    @tp.function(reduce_retracing=True)
    def step(x):
        w.assign_sub(tp.reduce_sum(x, axis=0) * 0.5)
        return tp.tanh(x * w)

    step(tp.ones((2, 2)))
    step(tp.ones((3, 2)))  # relaxed to (None, 2)
    table = step.plan_profile(tp.ones((4, 2)), repeat=5)  # a shape served by the relaxed plan
    lines = table.splitlines()
    assert lines[0].startswith("Profile of step: ") and "median of 5" in lines[0]
    steps = [line.split()[1] for line in step.plan_summary().splitlines()[2:]]
    assert [line.split()[1] for line in lines[1:]] == steps
    assert step.tracing_count == 2
    assert _same(w, [1.0 - 0.5 * (2 + 3 + 5 * 4), 2.0 - 0.5 * (2 + 3 + 5 * 4)])  # 5 profiled runs updated w


def test_plan_profile_of_a_decorated_method_runs_for_its_instance():
    class Counter:
        def __init__(self):
            self.total = tp.Variable(0.0)

        @tp.function
        def add(self, x):
            self.total.assign_add(tp.reduce_sum(x))
            return self.total * 1.0

    counter = Counter()
    assert "assign_add" in counter.add.plan_profile(tp.ones((2,)), repeat=3)
    assert _same(counter.total, 8.0)  # the first call (it traces), then the 3 profiled runs
