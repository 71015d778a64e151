"""The core's imports point one way: tensor <- tape <- ops <- autodiff <- everything else.

Every import statement of a core module counts, the ones inside functions too (a lazy import back up is still
a dependency on a higher room). Read from the source with ``ast``, so nothing is imported to check it.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "tapeflow"

# each core room and the tapeflow modules it may import (besides the leaf modules below, which import no room)
LEAVES = {"tapeflow._backend", "tapeflow.dtypes", "tapeflow.errors", "tapeflow._env", "tapeflow._nest",
          "tapeflow._trace", "tapeflow._ckernels",  # (_ckernels: the compiled extension)
          "tapeflow._printing", "tapeflow._extras"}  # how tensors print; install hints for the extras
ROOMS = [
    ("tensor", ["tapeflow/_tensor.py"], set()),
    ("tape", ["tapeflow/_tape.py"], {"tensor"}),
    ("ops", sorted(str(p.relative_to(ROOT.parent)) for p in (ROOT / "ops").glob("*.py")), {"tensor", "tape"}),
    # tapeflow.explain reads a tape; GradientTape.graph draws with the drawer tapeflow/__init__.py registers
    # (tapeflow.plot's), so autodiff imports nothing above the core
    ("autodiff", ["tapeflow/autodiff.py", "tapeflow/explain.py"], {"tensor", "tape", "ops"}),
]


def _room_of(module):
    if module in LEAVES:
        return "leaf"
    if module == "tapeflow._tensor":
        return "tensor"
    if module == "tapeflow._tape":
        return "tape"
    if module == "tapeflow.ops" or module.startswith("tapeflow.ops."):
        return "ops"
    if module in ("tapeflow.autodiff", "tapeflow.explain"):
        return "autodiff"
    return module  # a room above the core


def _imports(path):
    tree = ast.parse((ROOT.parent / path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tapeflow":  # from tapeflow import _tape, ops, ...
                for alias in node.names:
                    yield f"tapeflow.{alias.name}", node.lineno
            else:
                yield node.module, node.lineno


@pytest.mark.parametrize("room, files, allowed", ROOMS, ids=[r[0] for r in ROOMS])
def test_core_imports_point_one_way(room, files, allowed):
    bad = []
    for path in files:
        for module, line in _imports(path):
            if not module.startswith("tapeflow"):
                continue
            target = _room_of(module)
            if target not in {"leaf", room} | allowed:
                bad.append(f"{path}:{line} imports {module}")
    assert not bad, f"the {room} room imports a room above it:\n" + "\n".join(bad)


def test_the_leaves_import_no_room():
    for module in LEAVES - {"tapeflow._ckernels"}:
        path = module.replace(".", "/") + ".py"
        for imported, line in _imports(path):
            if imported.startswith("tapeflow"):
                assert imported in LEAVES, f"{path}:{line} imports {imported}"


def test_importing_the_models_does_not_import_saving():
    import subprocess
    import sys

    code = ("import sys, tapeflow.models, tapeflow.layers, tapeflow.optimizers; "
            "print(sorted(m for m in sys.modules if m.startswith('tapeflow.saving')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
