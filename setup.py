"""Build hook for the optional C kernels (``tapeflow._ckernels``); all other metadata is in pyproject.toml.

The extension is optional: when it cannot be compiled (no C compiler, say), installation still succeeds
and tapeflow runs the same math in NumPy (see ``tapeflow/ops/_native.py``).
"""

import sys

from setuptools import Extension, setup

_POSIX = sys.platform != "win32"
# POSIX threads split a batch in the window kernels (-pthread); Windows builds run them on one thread
_ARGS = ["-O3", "-std=c99", "-fno-strict-aliasing", "-fno-trapping-math", "-fno-math-errno", "-pthread"] if _POSIX else []
_LINK = ["-pthread"] if _POSIX else []

_DEPENDS = ["tapeflow/_ckernels_lstm.h", "tapeflow/_ckernels_gru.h", "tapeflow/_ckernels_conv.h",
            "tapeflow/_ckernels_seq.h", "tapeflow/_ckernels_dense.h"]

setup(ext_modules=[Extension("tapeflow._ckernels", ["tapeflow/_ckernels.c"], depends=_DEPENDS,
                             extra_compile_args=_ARGS, extra_link_args=_LINK, optional=True)])
