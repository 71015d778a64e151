"""The one place tapeflow touches an array library.

Every op calls array functions through ``xp`` (NumPy by default). A NumPy-compatible library such as CuPy is
chosen *before* tapeflow is imported, with the environment variable ``TAPEFLOW_BACKEND=cupy``: the ops bind
``xp`` (and its ufuncs) when they are defined, and never import NumPy for array math themselves.
"""

from __future__ import annotations

import importlib
import os

xp = importlib.import_module(os.environ.get("TAPEFLOW_BACKEND", "numpy"))
ndarray = xp.ndarray


def set_backend(module) -> None:
    """Check that ``module`` (a module or its name) is the array backend in use.

    The backend is fixed when tapeflow is imported (``TAPEFLOW_BACKEND=cupy python ...``), because every op
    binds its array functions then; switching afterwards would mix arrays of two libraries, so it raises.

    Raises:
        RuntimeError: when ``module`` is not the backend tapeflow was imported with.

    Example:
        >>> import numpy, tapeflow as tp
        >>> tp.set_backend(numpy)  # already the backend: nothing to do
    """
    name = module if isinstance(module, str) else getattr(module, "__name__", repr(module))
    if name != xp.__name__:
        raise RuntimeError(
            f"set_backend: tapeflow was imported with the {xp.__name__!r} backend; choose {name!r} before "
            f"importing tapeflow: TAPEFLOW_BACKEND={name} python ..."
        )


def erf(x):
    """Error function, element-wise.

    Uses SciPy's ``erf`` when SciPy is installed (exact to machine precision); otherwise the Abramowitz &
    Stegun 7.1.26 approximation (absolute error below 1.5e-7, enough for float32), so the core needs only
    NumPy.
    """
    global _scipy_erf
    if _scipy_erf is None:
        try:
            from scipy.special import erf as _scipy_erf
        except ImportError:  # pragma: no cover - machines without SciPy
            _scipy_erf = False
    if _scipy_erf:
        x = xp.asarray(x)
        return _scipy_erf(x).astype(x.dtype, copy=False)  # SciPy computes float16 in float64
    x = xp.asarray(x)
    a = xp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (xp.sign(x) * (1.0 - poly * xp.exp(-a * a))).astype(x.dtype, copy=False)


_scipy_erf = None
