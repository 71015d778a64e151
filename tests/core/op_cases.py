"""One test case per registered op: inputs, the NumPy reference, and whether to gradient-check it.

HOW OTHER ENGINEERS ADD CASES. ``tests/core/test_ops.py`` runs every case from this file *and* from every
module matching ``tests/**/op_cases*.py`` (for example ``tests/conv/op_cases_conv.py``): each such module
defines a list ``CASES`` of :class:`OpCase` (``from tests.core.op_cases import OpCase``; any object with the
same attributes works too). For each case the runner checks

* values and dtype against ``ref`` on float32 and float64 inputs (``ref=None`` skips only this part; say why
  in ``note``),
* the float64 gradient (random-direction check, after asserting each gradient's shape equals its input's),
* that the backward pass is itself differentiable (``second_order=True``, the default when ``grad`` is set).

A meta-test fails when an op in ``tapeflow.ops._registry.REGISTRY`` has no case in any of these files, so
every new op needs at least one case. Keep inputs away from kinks (``abs`` at 0, ``relu`` at 0, ties in
``max``) where finite differences are meaningless, and test those points separately.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import tapeflow as tp
from tapeflow.ops import elementwise as ew
from tapeflow.ops.indexing import scatter_add_op
from tapeflow.ops.linalg_ops import einsum_op


@dataclass
class OpCase:
    """A test case for the op registered as ``op``.

    Attributes:
        op: the registry name (``tapeflow.ops._registry.REGISTRY`` key).
        fn: tapeflow function of the input tensors that exercises the op.
        ref: NumPy function of the same input arrays giving the expected value and dtype (None: no value
        check).
        inputs: ``inputs(rng) -> list of arrays``; float arrays are cast to float32/float64 by the runner,
            integer and bool arrays are passed unchanged (and never differentiated).
        grad: gradient-check the float inputs (False for ops without a gradient).
        second_order: also check that the gradient is differentiable.
        name: distinguishes several cases of one op.
        rtol: value tolerance for float32.
    """

    op: str
    fn: Callable
    ref: Callable | None
    inputs: Callable
    grad: bool = True
    second_order: bool = True
    name: str = ""
    rtol: float = 2e-5
    note: str = ""

    @property
    def id(self):
        return f"{self.op}-{self.name}" if self.name else self.op


def _normal(*shape):
    return lambda rng: [rng.standard_normal(shape)]


def _two(sa, sb, lo=None):
    def make(rng):
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        if lo is not None:
            a, b = np.abs(a) + lo, np.abs(b) + lo
        return [a, b]

    return make


def _away(shape, points=(0.0,), gap=0.05, scale=2.0):
    """Normal-ish values kept ``gap`` away from each kink in ``points``."""

    def make(rng):
        x = rng.uniform(-scale, scale, shape)
        for p in points:
            near = np.abs(x - p) < gap
            x[near] = p + np.where(x[near] >= p, gap, -gap) * 2
        return [x]

    return make


def _positive(*shape, lo=0.5):
    return lambda rng: [rng.uniform(lo, 2.0, shape)]


def _distinct(*shape):
    def make(rng):
        n = int(np.prod(shape))
        return [(rng.permutation(n) * 0.37 - n * 0.1).reshape(shape) + rng.uniform(0, 0.01, shape)]

    return make


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _erf(x):
    from scipy.special import erf

    return erf(x).astype(x.dtype)


def _gelu(x):
    return (0.5 * x * (1 + _erf(x / np.sqrt(2)))).astype(x.dtype)


def _gelu_tanh(x):
    c = np.sqrt(2 / np.pi)
    return (0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x**3)))).astype(x.dtype)


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _scatter_ref(g):
    out = np.zeros((4, 3), g.dtype)
    np.add.at(out, (np.array([0, 2, 0]), slice(None)), g)
    return out


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@tp.custom_gradient
def _log1pexp(x):
    e = tp.exp(x)

    def grad_fn(upstream):
        return upstream * (1 - 1 / (1 + e))

    return tp.log(1 + e), grad_fn


_IDX = np.array([0, 2, 0, 3])  # a repeated index: its gradients must accumulate
_MASK = np.array([[True, False, True], [False, False, True], [True, True, False], [False, True, True]])

CASES: list[OpCase] = [
    # --- element-wise arithmetic, with broadcasting -------------------------------------------------------
    OpCase("add", tp.add, np.add, _two((3, 1, 4), (2, 4)), name="broadcast"),
    OpCase("add", lambda x: x + 2.5, lambda x: x + 2.5, _normal(3), name="scalar"),
    OpCase("subtract", tp.subtract, np.subtract, _two((2, 3), (3,))),
    OpCase("subtract", lambda x: 1.0 - x, lambda x: 1.0 - x, _normal(2, 2), name="rsub"),
    OpCase("multiply", tp.multiply, np.multiply, _two((4, 1), (1, 5))),
    OpCase("multiply", lambda x: np.ones((2, 3)) * x, lambda x: np.ones((2, 3)) * x, _normal(3),
           name="ndarray-left"),
    OpCase("divide", tp.divide, np.divide, _two((2, 3), (3,), lo=0.5)),
    OpCase("divide", lambda x: 2.0 / x, lambda x: 2.0 / x, _positive(3), name="rdiv"),
    OpCase("negative", lambda x: -x, np.negative, _normal(2, 3)),
    OpCase("power", tp.power, np.power, _two((2, 3), (3,), lo=0.5)),
    OpCase("power", lambda x: x**3, lambda x: x**3, _normal(5), name="cube-negative-base"),
    OpCase("power", lambda x: 2.0**x, lambda x: 2.0**x, _normal(4), name="scalar-base"),
    OpCase("square", tp.square, np.square, _normal(2, 3)),
    OpCase("sqrt", tp.sqrt, np.sqrt, _positive(2, 3)),
    OpCase("exp", tp.exp, np.exp, _normal(2, 3)),
    OpCase("expm1", tp.expm1, np.expm1, _normal(2, 3)),
    OpCase("log", tp.log, np.log, _positive(2, 3)),
    OpCase("log1p", tp.log1p, np.log1p, _positive(2, 3, lo=-0.5)),
    OpCase("abs", tp.abs, np.abs, _away((2, 3))),
    OpCase("sign", tp.sign, np.sign, _away((2, 3))),
    OpCase("floor", tp.floor, np.floor, _away((2, 3), points=(-2, -1, 0, 1, 2))),
    OpCase("ceil", tp.ceil, np.ceil, _away((2, 3), points=(-2, -1, 0, 1, 2))),
    OpCase("round", tp.round, np.round, _away((2, 3), points=(-1.5, -0.5, 0.5, 1.5))),
    OpCase("sin", tp.sin, np.sin, _normal(2, 3)),
    OpCase("cos", tp.cos, np.cos, _normal(2, 3)),
    OpCase("tan", tp.tan, np.tan, lambda rng: [rng.uniform(-1, 1, (2, 3))]),
    OpCase("maximum", tp.maximum, np.maximum, _two((2, 3), (3,))),
    OpCase("minimum", tp.minimum, np.minimum, _two((2, 3), (2, 1))),
    OpCase("clip", lambda x: tp.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
           _away((3, 4), (-0.5, 0.7))),
    OpCase("clip", lambda x: tp.clip(x, min=0.1), lambda x: np.clip(x, 0.1, None), _away((5,), (0.1,)),
           name="lower-only"),
    OpCase("where", lambda c, x, y: tp.where(c, x, y), np.where,
           lambda rng: [rng.standard_normal((3, 1)) > 0, rng.standard_normal((3, 4)),
                        rng.standard_normal(4)]),
    OpCase("cast", lambda x: tp.cast(x, "float64") * 2, lambda x: x.astype(np.float64) * 2, _normal(3),
           name="to-float64"),
    OpCase("cast", lambda x: tp.cast(x, "int32"), lambda x: x.astype(np.int32), _normal(4), grad=False,
           name="to-int"),
    OpCase("identity", tp.identity, lambda x: x, _normal(2, 2)),
    # --- comparisons and logic: values only
    # ------------------------------------------------------------------
    *[OpCase(name, getattr(tp, name), getattr(np, name), _two((2, 3), (3,)), grad=False)
      for name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")],
    *[OpCase(name, getattr(tp, name), getattr(np, name),
             lambda rng: [rng.standard_normal((2, 3)) > 0, rng.standard_normal(3) > 0], grad=False)
      for name in ("logical_and", "logical_or", "logical_xor")],
    OpCase("logical_not", tp.logical_not, np.logical_not, lambda rng: [rng.standard_normal(4) > 0],
           grad=False),
    OpCase("floor_divide", lambda x, y: x // y, np.floor_divide, _two((2, 3), (3,), lo=0.5), grad=False),
    OpCase("mod", lambda x, y: x % y, np.mod, _two((2, 3), (3,), lo=0.5), grad=False),
    OpCase("isnan", tp.isnan, np.isnan, lambda rng: [np.array([1.0, np.nan, np.inf])], grad=False),
    OpCase("isfinite", tp.isfinite, np.isfinite, lambda rng: [np.array([1.0, np.nan, -np.inf])], grad=False),
    OpCase("zeros_like", tp.zeros_like, np.zeros_like, _normal(2, 3), grad=False),
    OpCase("ones_like", tp.ones_like, np.ones_like, _normal(2, 3), grad=False),
    OpCase("stop_gradient", tp.stop_gradient, lambda x: x, _normal(3), grad=False),
    # --- neural-network functions
    # ----------------------------------------------------------------------------
    OpCase("relu", tp.relu, lambda x: np.maximum(x, 0), _away((3, 4))),
    OpCase("sigmoid", tp.sigmoid, _sigmoid, lambda rng: [rng.standard_normal((3, 4)) * 4]),
    OpCase("tanh", tp.tanh, np.tanh, _normal(3, 4)),
    OpCase("softmax", tp.softmax, _softmax, _normal(3, 4)),
    OpCase("softmax", lambda x: tp.softmax(x, axis=0), lambda x: _softmax(x, 0), _normal(3, 4), name="axis0"),
    OpCase("log_softmax", tp.log_softmax, lambda x: np.log(_softmax(x)), _normal(3, 4)),
    OpCase("softplus", tp.softplus, lambda x: np.logaddexp(x, 0), lambda rng: [rng.standard_normal(6) * 5]),
    OpCase("elu", tp.elu, _elu, _away((3, 4))),
    OpCase("selu", tp.selu, lambda x: (SELU_SCALE * _elu(x, SELU_ALPHA)).astype(x.dtype), _away((3, 4))),
    OpCase("gelu", tp.gelu, _gelu, _normal(3, 4)),
    OpCase("gelu", lambda x: tp.gelu(x, approximate=True), _gelu_tanh, _normal(3, 4), name="tanh"),
    OpCase("leaky_relu", tp.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), _away((3, 4))),
    OpCase("silu", tp.silu, lambda x: x * _sigmoid(x), _normal(3, 4)),
    OpCase("erf", tp.erf, _erf, _normal(3, 4)),
    # --- reductions
    # -------------------------------------------------------------------------------------------
    OpCase("sum", tp.sum, np.sum, _normal(2, 3)),
    OpCase("sum", lambda x: tp.sum(x, axis=(0, 2), keepdims=True), lambda x: np.sum(x, (0, 2), keepdims=True),
           _normal(2, 3, 4), name="axes-keepdims"),
    OpCase("sum", lambda x: tp.sum(x, axis=-1), lambda x: np.sum(x, -1), _normal(2, 3), name="neg-axis"),
    OpCase("mean", lambda x: tp.mean(x, axis=1), lambda x: np.mean(x, 1), _normal(2, 3, 4)),
    OpCase("mean", tp.mean, np.mean, _normal(2, 3), name="all"),
    OpCase("max", lambda x: tp.max(x, axis=0), lambda x: np.max(x, 0), _distinct(3, 4)),
    OpCase("max", tp.max, np.max, _distinct(3, 4), name="all"),
    OpCase("min", lambda x: tp.min(x, axis=-1, keepdims=True), lambda x: np.min(x, -1, keepdims=True),
           _distinct(3, 4)),
    OpCase("prod", lambda x: tp.prod(x, axis=1), lambda x: np.prod(x, 1), _normal(3, 4)),
    OpCase("prod", tp.prod, np.prod, lambda rng: [np.array([[1.5, 0.0, -2.0], [0.7, 1.2, 0.0]])],
           name="zeros"),
    OpCase("prod", lambda x: tp.prod(x, axis=(0, 2)), lambda x: np.prod(x, (0, 2)), _normal(2, 3, 2),
           name="axes"),
    OpCase("cumsum", lambda x: tp.cumsum(x, axis=1), lambda x: np.cumsum(x, 1), _normal(3, 4)),
    OpCase("cumprod", lambda x: tp.cumprod(x, axis=0), lambda x: np.cumprod(x, 0), _positive(3, 4)),
    OpCase("logsumexp", lambda x: tp.logsumexp(x, axis=1), lambda x: _logsumexp(x, 1), _normal(3, 4)),
    OpCase("logsumexp", tp.logsumexp, _logsumexp, _normal(3, 4), name="all"),
    OpCase("argmax", lambda x: tp.argmax(x, axis=1), lambda x: np.argmax(x, 1), _distinct(3, 4), grad=False),
    OpCase("argmin", tp.argmin, np.argmin, _distinct(3, 4), grad=False),
    OpCase("any", lambda x: tp.reduce_any(x > 1, axis=0), lambda x: np.any(x > 1, 0), _normal(3, 4),
           grad=False),
    OpCase("all", lambda x: tp.reduce_all(x > -1), lambda x: np.all(x > -1), _normal(3, 4), grad=False),
    # --- shape ----------------------------------------------------------------------------------------------
    OpCase("reshape", lambda x: tp.reshape(x, (4, -1)), lambda x: x.reshape(4, -1), _normal(2, 3, 2)),
    OpCase("reshape", lambda x: tp.reshape(x, (3, None), order="F"), lambda x: x.reshape((3, -1), order="F"),
           _normal(2, 3, 2), name="F"),
    OpCase("reshape", lambda x: tp.expand_dims(tp.squeeze(x), 0), lambda x: x.squeeze()[None],
           _normal(1, 3, 1),
           name="squeeze-expand"),
    OpCase("transpose", lambda x: tp.transpose(x, (2, 0, 1)), lambda x: x.transpose(2, 0, 1),
           _normal(2, 3, 4)),
    OpCase("transpose", lambda x: x.T, lambda x: x.T, _normal(2, 3), name="T"),
    OpCase("broadcast_to", lambda x: tp.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)),
           _normal(3, 1)),
    OpCase("concatenate", lambda a, b, c: tp.concatenate([a, b, c], axis=1), lambda a, b, c: np.concatenate(
        [a, b, c], 1), lambda rng: [rng.standard_normal((2, 1)), rng.standard_normal((2, 3)),
                                    rng.standard_normal((2, 2))]),
    OpCase("stack", lambda a, b: tp.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], -1),
           _two((2, 3), (2, 3))),
    OpCase("tile", lambda x: tp.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), _normal(2, 3)),
    OpCase("repeat", lambda x: tp.repeat(x, 3, axis=1), lambda x: np.repeat(x, 3, 1), _normal(2, 3)),
    OpCase("repeat", lambda x: tp.repeat(x, 2), lambda x: np.repeat(x, 2), _normal(2, 3), name="flat"),
    OpCase("pad", lambda x: tp.pad(x, [[1, 0], [2, 3]]), lambda x: np.pad(x, [[1, 0], [2, 3]]),
           _normal(2, 3)),
    OpCase("flip", lambda x: tp.flip(x, axis=1), lambda x: np.flip(x, 1), _normal(2, 3)),
    OpCase("flip", tp.flip, np.flip, _normal(2, 3), name="all"),
    # --- indexing
    # -----------------------------------------------------------------------------------------------
    OpCase("getitem", lambda x: x[1, ::-2], lambda x: x[1, ::-2], _normal(3, 5), name="int-negstep"),
    OpCase("getitem", lambda x: x[-1, ..., None, 1:3], lambda x: x[-1, ..., None, 1:3], _normal(2, 3, 4),
           name="ellipsis-newaxis"),
    OpCase("getitem", lambda x: x[_IDX], lambda x: x[_IDX], _normal(4, 3), name="repeated-ints"),
    OpCase("getitem", lambda x: x[_MASK], lambda x: x[_MASK], _normal(4, 3), name="bool-mask"),
    OpCase("getitem", lambda x: x[:, [2, 2, 0]][[1, 0]], lambda x: x[:, [2, 2, 0]][[1, 0]], _normal(4, 3),
           name="chained-arrays"),
    OpCase("getitem", lambda x: tp.gather(x, [1, 1, 0], axis=1), lambda x: np.take(x, [1, 1, 0], 1),
           _normal(2, 3), name="gather"),
    OpCase("scatter_add", lambda g: scatter_add_op(g, key=(np.array([0, 2, 0]), slice(None)), shape=(4, 3)),
           _scatter_ref, _normal(3, 3)),
    # --- linear algebra
    # -----------------------------------------------------------------------------------------
    OpCase("matmul", tp.matmul, np.matmul, _two((2, 3), (3, 4))),
    OpCase("matmul", lambda a, b: a @ b, np.matmul, _two((2, 1, 3, 4), (5, 4, 2)), name="batch-broadcast"),
    OpCase("matmul", tp.matmul, np.matmul, _two((3,), (2, 3, 4)), name="vec-left"),
    OpCase("matmul", tp.matmul, np.matmul, _two((2, 3, 4), (4,)), name="vec-right"),
    OpCase("matmul", tp.matmul, np.matmul, _two((4,), (4,)), name="vec-vec"),
    OpCase("matmul", tp.dot, np.dot, _two((2, 3), (3,)), name="dot"),
    OpCase("matmul", tp.outer, np.outer, _two((3,), (4,)), name="outer"),
    OpCase("einsum", lambda a, b: tp.einsum("ij,jk->ik", a, b), lambda a, b: np.einsum("ij,jk->ik", a, b),
           _two((2, 3), (3, 4))),
    OpCase("einsum", lambda a, b: tp.einsum("...ij,...jk", a, b), lambda a, b: np.einsum("...ij,...jk", a, b),
           _two((5, 2, 3), (3, 4)), name="ellipsis-implicit"),
    OpCase("einsum", lambda a: tp.einsum("ijk->j", a), lambda a: np.einsum("ijk->j", a), _normal(2, 3, 4),
           name="reduce"),
    OpCase("einsum", lambda a, b: tp.einsum("ij,kl->ijkl", a, b), lambda a, b: np.einsum("ij,kl->ijkl", a, b),
           _two((2, 3), (2, 2)), name="outer"),
    OpCase("einsum", lambda a, b: tp.einsum("ij,ij->", a, b), lambda a, b: np.einsum("ij,ij->", a, b),
           _two((2, 3), (2, 3)), name="full-contract"),
    OpCase("einsum", lambda a, b: tp.einsum("bi,bi->b", a, b), lambda a, b: np.einsum("bi,bi->b", a, b),
           _two((4, 3), (4, 3)), name="batched-dot"),
    OpCase("einsum", lambda a, b: tp.tensordot(a, b, axes=([0, 2], [2, 0])),
           lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])), _two((2, 3, 4),
           (4, 5, 2)), name="tensordot"),
    OpCase("einsum", lambda a: tp.einsum("ii->i", a), lambda a: np.einsum("ii->i", a), _normal(3, 3),
           name="diagonal"),
    OpCase("einsum", lambda a: tp.einsum("ii", a), lambda a: np.einsum("ii", a), _normal(3, 3), name="trace"),
    # --- custom gradients
    # -------------------------------------------------------------------------------------
    OpCase("custom_gradient", _log1pexp, lambda x: np.log1p(np.exp(x)), _normal(3, 2), second_order=True),
]

# Ops reached only through other names are covered above: `dot`/`outer` are matmul, `tensordot` is einsum,
# `expand_dims`/`squeeze`/`flatten` are reshape, `gather`/`take` are getitem.
del ew, einsum_op
