"""Build hook for the optional C kernels (``tapeflow._ckernels``); all other metadata is in pyproject.toml.

The extension is optional: when it cannot be compiled (no C compiler, say), installation still succeeds
and tapeflow runs the same math in NumPy (see ``tapeflow/ops/recurrent.py``).
"""

import sys

from setuptools import Extension, setup

_ARGS = [] if sys.platform == "win32" else ["-O3", "-std=c99", "-fno-strict-aliasing", "-fno-trapping-math"]

_DEPENDS = ["tapeflow/_ckernels_lstm.h", "tapeflow/_ckernels_gru.h"]

setup(ext_modules=[Extension("tapeflow._ckernels", ["tapeflow/_ckernels.c"], depends=_DEPENDS,
                             extra_compile_args=_ARGS, optional=True)])
