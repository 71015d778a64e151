"""Every registered op (through the op-case table) gives, compiled by ``tp.function``, the same values and
gradients as eagerly, to the bit: traced on one draw of inputs, replayed on another."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp
from tests.core.test_ops import ALL_CASES, _case_id, _inputs


def _step(case):
    def step(*xs):
        floats = [x for x in xs if x.dtype.kind == "f"] if case.grad else []
        with tp.GradientTape() as tape:
            tape.watch(floats)
            out = case.fn(*xs)
        grads = tape.gradient(out, floats) if floats and out.dtype.kind == "f" else []
        return out, grads

    return step


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


@pytest.mark.parametrize("case", ALL_CASES, ids=_case_id)
def test_compiled_op_equals_eager_to_the_bit(case):
    eager = _step(case)
    compiled = tp.function(_step(case))
    for seed in (0, 1, 2):  # seed 0 traces; 1 and 2 replay the plan on new values
        arrays = _inputs(case, np.float64, seed=seed)
        want_out, want_grads = eager(*[tp.constant(a) for a in arrays])
        got_out, got_grads = compiled(*[tp.constant(a) for a in arrays])
        assert _same(got_out, want_out), f"{case.op}: value differs (seed {seed})"
        assert len(got_grads) == len(want_grads)
        for g, w in zip(got_grads, want_grads):
            assert (g is None) == (w is None)
            if g is not None:
                assert _same(g, w), f"{case.op}: gradient differs (seed {seed})"
    assert compiled.tracing_count == 1
