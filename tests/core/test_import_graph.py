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


# --- no room writes another object's private state ----------------------------------------------------------
# The training rooms talk through documented interfaces (tp.callbacks.TrainingHooks, Callback.resume_epoch,
# Variable.assign, tp.random.use_global_generator): none assigns `obj._private`, `obj.__dict__[...]` or
# `setattr(obj, "_private", ...)` on an object other than `self`/`cls` (or one its own class just made).
PRIVATE_WRITES_CHECKED = sorted(
    str(p.relative_to(ROOT.parent))
    for pattern in ("models/*.py", "callbacks/*.py", "distributed/*.py", "saving/backup.py")
    for p in ROOT.glob(pattern)
)


def _private_writes(path, root=ROOT):
    tree = ast.parse((root.parent / path).read_text())
    bad = []

    def own(base, made):
        return isinstance(base, ast.Name) and (base.id in ("self", "cls") or base.id in made)

    def visit(node, classes, made):
        if isinstance(node, ast.ClassDef):
            classes = classes | {node.name}
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            made = set(classes)  # names bound to `cls(...)` / `OwnClass(...)` in this function
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Name) and (f.id == "cls" or f.id in classes):
                made |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                private = isinstance(sub, ast.Attribute) and sub.attr[:1] == "_" and sub.attr[:2] != "__"
                if private and not own(sub.value, made):
                    bad.append(f"{path}:{sub.lineno} assigns {ast.unparse(sub)}")
                if (isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Attribute)
                        and sub.value.attr == "__dict__" and not own(sub.value.value, made)):
                    bad.append(f"{path}:{sub.lineno} writes {ast.unparse(sub.value)}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_") and not own(node.args[0], made)):
            bad.append(f"{path}:{node.lineno} setattr({ast.unparse(node.args[0])}, {node.args[1].value!r})")
        for child in ast.iter_child_nodes(node):
            visit(child, classes, made)

    visit(tree, frozenset(), set())
    return bad


def test_the_training_rooms_write_no_other_objects_private_state():
    assert "tapeflow/saving/backup.py" in PRIVATE_WRITES_CHECKED and len(PRIVATE_WRITES_CHECKED) > 10
    bad = [b for path in PRIVATE_WRITES_CHECKED for b in _private_writes(path)]
    assert not bad, "\n".join(bad)


def test_the_private_write_check_finds_the_old_back_channels(tmp_path):
    """The check is not vacuous: the back channels issue 11 removed are each caught."""
    old = """
def restore(model, done):
    model._initial_epoch = done

class Session:
    def begin(self):
        self.model.__dict__["_reduce_gradients"] = self.reduce
        setattr(self.model, "_hook", 1)

    def epoch(self):
        _random._generator = self.shared

class Own:
    @classmethod
    def make(cls):
        new = cls()
        new._state = 1
        self_made = Own()
        self_made._state = 2
        return new
"""
    root = tmp_path / "tapeflow"
    root.mkdir()
    (root / "old.py").write_text(old)
    found = _private_writes("tapeflow/old.py", root)
    assert [line.split(" ", 1)[1] for line in found] == [
        "assigns model._initial_epoch", "writes self.model.__dict__", "setattr(self.model, '_hook')",
        "assigns _random._generator",
    ]
