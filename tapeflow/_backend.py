"""The one place tapeflow touches an array library.

Every op calls array functions through ``xp`` (NumPy today). Plugging in a NumPy-compatible GPU library such
as
CuPy means pointing ``xp`` at it with :func:`set_backend`; the ops never import NumPy for array math
themselves.
"""

from __future__ import annotations

import numpy

xp = numpy
ndarray = numpy.ndarray


def set_backend(module) -> None:
    """Route every array call through ``module`` (a NumPy-compatible namespace such as ``cupy``)."""
    global xp, ndarray
    xp = module
    ndarray = module.ndarray


def erf(x):
    """Error function, element-wise.

    Uses SciPy's ``erf`` when SciPy is installed (exact to machine precision); otherwise the Abramowitz &
    Stegun
    7.1.26 approximation (absolute error below 1.5e-7, enough for float32), so the core needs only NumPy.
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
