"""What to install for an optional feature, said the way that works.

tapeflow is installed from a checkout (it is not on the package index), so asking pip for ``tapeflow[plot]``
fails; the hint names the packages themselves, and the extra as a checkout installs it.

Example:
    >>> from tapeflow._extras import install_hint
    >>> install_hint("plot")
    'pip install matplotlib (or, in a tapeflow checkout: pip install -e ".[plot]")'
"""

from __future__ import annotations

# extra (pyproject.toml's [project.optional-dependencies]) -> the packages it installs
PACKAGES = {
    "plot": "matplotlib",
    "save": "safetensors",
    "onnx": "onnx onnxruntime",
    "sklearn": "scikit-learn",
    "images": "pillow",
    "pandas": "pandas",
    "mpi": "mpi4py mpich",
    "cuda": "cupy-cuda12x",
    "cuda13": "cupy-cuda13x",
    "keras": "h5py",
}


def install_hint(extra: str) -> str:
    """The install command for one optional extra: its packages, or the extra from a checkout."""
    return f'pip install {PACKAGES[extra]} (or, in a tapeflow checkout: pip install -e ".[{extra}]")'
