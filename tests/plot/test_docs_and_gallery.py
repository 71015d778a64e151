"""docs/plotting.md runs as written, and the gallery script draws every picture (small settings)."""

import doctest
import importlib.util
from pathlib import Path

import numpy as np

from tests.plot.conftest import need_matplotlib

need_matplotlib()

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ROOT / "docs" / "gallery"


def test_plotting_page_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(str(ROOT / "docs" / "plotting.md"), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 30 and result.failed == 0, result


def test_gallery_script_draws_every_picture(tmp_path, saved):
    spec = importlib.util.spec_from_file_location("make_gallery", GALLERY / "make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.draw(tmp_path, small=True)
    names = sorted(p.name for p in written)
    assert names == sorted(p.name for p in GALLERY.glob("*.png")), "the committed gallery is out of step"
    import matplotlib.image

    for path in written:
        pixels = matplotlib.image.imread(path)[..., :3]
        assert np.mean(np.any(pixels < 0.95, axis=-1)) > 0.02, path.name
    # every picture the docs page shows is in the gallery
    page = (ROOT / "docs" / "plotting.md").read_text()
    shown = {line.split("(gallery/")[1].split(")")[0] for line in page.splitlines() if "(gallery/" in line}
    assert shown <= set(names)
