"""Op cases (see tests/core/op_cases.py) for ``cond`` and ``while_loop``, the ops ``tp.cond`` and
``tp.while_loop`` register inside ``tp.function``: each case runs a traced function, so the gradient checks go
through the ops' gradient rules (and, for second order, through the rules' own ops)."""

from __future__ import annotations

import numpy as np

import tapeflow as tp
from tests.core.op_cases import OpCase


@tp.function
def _cond(x, y):
    return tp.cond(tp.sum(x) > 0, lambda: x * y + tp.sin(x), lambda: x - y * y)


@tp.function
def _while(x):
    def body(i, v):
        return i + 1, v * x + 1.0

    return tp.while_loop(lambda i, v: i < 3, body, (tp.constant(0), tp.ones_like(x)))[1]


def _while_ref(x):
    v = np.ones_like(x)
    for _ in range(3):
        v = v * x + 1.0
    return v


def _two(sign):
    def inputs(rng):
        return [sign * (np.abs(rng.standard_normal((3, 4))) + 0.1), rng.standard_normal((3, 4))]

    return inputs


CASES = [
    OpCase("cond", _cond, lambda x, y: x * y + np.sin(x), _two(1.0), name="true-branch"),
    OpCase("cond", _cond, lambda x, y: x - y * y, _two(-1.0), name="false-branch"),
    OpCase("while_loop", _while, _while_ref, lambda rng: [rng.standard_normal((2, 3))]),
]
