"""docs/function.md's examples run as written and do what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import tapeflow as tp

PAGE = Path(__file__).resolve().parents[2] / "docs" / "function.md"


def test_function_page_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own examples
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 20)).astype("float32"), rng.integers(0, 10, 16)
    losses = [float(namespace["train_step"](x, y)) for _ in range(5)]
    assert losses[-1] < losses[0] and namespace["train_step"].tracing_count == 1
    assert int(namespace["n"]) == 2 and np.array_equal(namespace["y"].numpy(), [0.75, 0.0])
    assert isinstance(namespace["y"], tp.Tensor)
