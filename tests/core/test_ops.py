"""Every registered op: values and dtypes against NumPy, float64 gradient checks, and a meta-test that no op
in the registry lacks a case. Cases come from ``tests/core/op_cases.py`` and every
``tests/**/op_cases*.py``."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.ops._registry import REGISTRY
from tests.core.gradcheck import assert_gradients, assert_second_order, is_float

TESTS = Path(__file__).resolve().parents[1]


def _load_case_modules():
    modules = []
    for path in sorted(TESTS.rglob("op_cases*.py")):
        parts = path.relative_to(TESTS).with_suffix("").parts
        name = "tests." + ".".join(parts)
        if name in sys.modules:
            module = sys.modules[name]
        else:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            spec.loader.exec_module(module)
        modules.append((path, module))
    return modules


CASE_MODULES = _load_case_modules()
ALL_CASES = [case for _, module in CASE_MODULES for case in module.CASES]


def _case_id(case):
    return getattr(case, "id", None) or case.op


def _import_all_tapeflow_modules():
    """Import every tapeflow module so ops defined anywhere are in the registry (optional extras may be
    absent)."""
    for info in pkgutil.walk_packages(tp.__path__, "tapeflow."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as e:
            if e.name and e.name.split(".")[0] == "tapeflow":
                raise


def test_every_registered_op_has_a_case():
    _import_all_tapeflow_modules()
    covered = {case.op for case in ALL_CASES}
    missing = sorted(set(REGISTRY) - covered)
    assert not missing, (
        f"ops without a test case: {missing}. Add an OpCase to tests/core/op_cases.py or to a "
        f"tests/<dir>/op_cases*.py file of your own (see the docstring of tests/core/op_cases.py)."
    )


def test_every_case_names_a_registered_op():
    unknown = sorted({case.op for case in ALL_CASES} - set(REGISTRY))
    assert not unknown, f"cases for ops that are not registered: {unknown}"


def test_every_differentiable_op_has_a_gradient_case():
    diff = {name for name, op in REGISTRY.items() if op.differentiable}
    checked = {case.op for case in ALL_CASES if case.grad}
    missing = sorted(diff - checked)
    assert not missing, f"differentiable ops without a gradient check: {missing}"


def _inputs(case, dtype, seed=0):
    arrays = case.inputs(np.random.default_rng(seed))
    return [np.asarray(a, dtype) if is_float(a) else np.asarray(a) for a in arrays]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.ref is not None], ids=_case_id)
def test_values_and_dtype_match_numpy(case, dtype):
    arrays = _inputs(case, dtype)
    for a in arrays:
        a.setflags(write=False)  # an op must never write into its input
    expected = np.asarray(case.ref(*[a.copy() for a in arrays]))
    out = case.fn(*[tp.constant(a) for a in arrays])
    assert isinstance(out, tp.Tensor), f"{case.op} returned {type(out).__name__}"
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype, f"{case.op}: dtype {out.dtype} != NumPy's {expected.dtype}"
    rtol = getattr(case, "rtol", 2e-5) if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out.numpy(), expected, rtol=rtol, atol=rtol * 0.1)


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.grad], ids=_case_id)
def test_gradient_float64(case):
    assert_gradients(case.fn, _inputs(case, np.float64))


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.grad and getattr(c, "second_order", True)],
                         ids=_case_id)
def test_gradient_is_differentiable(case):
    assert_second_order(case.fn, _inputs(case, np.float64))


@pytest.mark.parametrize("case", [c for c in ALL_CASES if not c.grad and not REGISTRY[c.op].differentiable],
                         ids=_case_id)
def test_non_differentiable_ops_give_no_gradient(case):
    arrays = [tp.constant(a) for a in _inputs(case, np.float64)]
    floats = [t for t in arrays if is_float(t.numpy())]
    with tp.GradientTape() as tape:
        tape.watch(floats)
        out = case.fn(*arrays)
    if not is_float(out.numpy()):
        return  # an integer or bool result is never differentiated
    assert all(g is None for g in tape.gradient(out, floats))
