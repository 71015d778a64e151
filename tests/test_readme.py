"""The README's opening example runs as written and reaches the accuracy it states."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_first_example_trains_digits_to_the_stated_accuracy():
    text = README.read_text()
    first = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    assert "model.fit(" in first
    code = first.replace("model.fit(x_train, y_train,", "model.fit(x_train, y_train, verbose=0,")
    code = code.replace("model.evaluate(x_test, y_test)",
                        "result = model.evaluate(x_test, y_test, verbose=0)")
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    loss, accuracy = namespace["result"]
    assert accuracy >= 0.95, f"README example reached {accuracy:.4f}, the README says about 0.97"
    assert namespace["history"].history["val_accuracy"][-1] > 0.9


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    lines = README.read_text().splitlines()
    assert lines[2:6] == ["```bash", lines[3], lines[4], "```"]
    assert lines[3].startswith("make demo") and lines[4].startswith("make test")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


ROOT = README.parent


def _first_screen():
    text = README.read_text()
    return text[: text.index("tapeflow is a NumPy-native")]


def test_first_screen_says_how_to_run_anything_else_install_extras_and_find_data():
    # Trip-ups 1, 2 and 7: after `make demo`, `tapeflow` was "command not found", the examples failed with
    # ModuleNotFoundError, the extras hint pointed at the package index, and TAPEFLOW_DATA_DIR was buried.
    screen = _first_screen()
    assert len(screen.splitlines()) <= 30
    for needed in (". .venv/bin/activate", ".venv/bin/python", 'pip install -e ".[plot,save]"',
                   "$TAPEFLOW_DATA_DIR", "docs/guide/index.md", "docs/guide/notebooks"):
        assert needed in screen, needed


def _text_files():
    for folder in ("tapeflow", "docs", "tests", "examples", "bench"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".txt", ".ipynb") and ".venv" not in path.parts:
                yield path
    yield README
    yield ROOT / "Makefile"


def test_no_install_hint_sends_anyone_to_the_package_index_for_tapeflow():
    # tapeflow is not on the package index: asking pip for tapeflow[plot] fails. Hints say the packages, or
    # `pip install -e ".[plot]"` from a checkout.
    bad = re.compile(r"""pip install ['"]?tapeflow\[""")
    offenders = [f"{p.relative_to(ROOT)}:{i + 1}" for p in _text_files()
                 for i, line in enumerate(p.read_text(errors="replace").splitlines()) if bad.search(line)]
    assert offenders == []


def test_every_install_hint_matches_the_extras_in_pyproject():
    import tomllib

    from tapeflow._extras import PACKAGES, install_hint

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra, packages in PACKAGES.items():
        declared = [re.split(r"[<>=!~ \[]", req)[0].lower() for req in extras[extra]]
        assert sorted(packages.split()) == sorted(declared), extra
        assert install_hint(extra).endswith(f'pip install -e ".[{extra}]")')


def _make_dry_run(target, tmp_path):
    proc = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if "pip install -q -e" in line]


def test_make_demo_installs_only_what_the_demo_needs_and_make_test_everything(tmp_path):
    # Trip-up 7: `make demo` installed every extra (a 689 MB .venv) for a demo needing NumPy and matplotlib.
    python = tmp_path / "venv" / "bin" / "python"
    assert _make_dry_run("demo", tmp_path) == [f'{python} -m pip install -q -e ".[plot]"']
    assert _make_dry_run("test", tmp_path) == [f'{python} -m pip install -q -e ".[dev,mpi]"']


BLOCK_EXTRAS = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"safetensors", "sklearn", "pandas", "onnx", "onnxruntime", "mpi4py",
                                  "pytest", "hypothesis", "IPython"}:
            raise ImportError(f"{name} is not installed (blocked by the test)")
sys.meta_path.insert(0, Block())
sys.argv = ["tapeflow", "demo", "--epochs", "1", "--quiet", "--out", sys.argv[1]]
from tapeflow.__main__ import main
sys.exit(main())
"""


def test_the_demo_runs_with_numpy_and_matplotlib_alone(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", BLOCK_EXTRAS, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Test accuracy:" in proc.stdout and (tmp_path / "history.png").exists()
