"""Helpers for plot tests: every picture is saved and checked to hold a real drawing."""

import os

import numpy as np
import pytest


def need_matplotlib():
    """Skip (with the reason) where matplotlib is not installed; under CI its absence is a failure."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("tapeflow.plot needs matplotlib (the `plot` extra)",
                    allow_module_level=True)


@pytest.fixture
def saved(tmp_path):
    """``saved(fig, name)`` saves ``fig`` as PNG and returns the pixels, after checking they are not blank."""

    def check(fig, name="figure.png"):
        import matplotlib.image

        from tapeflow.plot import save

        path = save(fig, tmp_path / name)
        pixels = matplotlib.image.imread(path)[..., :3]
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        non_white = np.mean(np.any(pixels < 0.95, axis=-1))
        assert non_white > 0.02, f"{name}: only {non_white:.1%} of the image is drawn"
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # more than a few flat colors
        return pixels

    return check
