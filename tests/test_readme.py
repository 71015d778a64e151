"""The README's opening example runs as written and reaches the accuracy it states."""

from __future__ import annotations

import re
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
