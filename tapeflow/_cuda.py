"""Fused CUDA kernels for the CuPy backend: one launch where NumPy's formulas take several passes.

Loaded by :func:`tapeflow._backend.set_backend` only when CuPy becomes the backend (``import tapeflow`` never
imports CuPy); each kernel compiles on first use and CuPy caches it on disk. Reached through
``tapeflow._backend.fused()``, which is None on every other backend, so callers keep their NumPy formula as
the one reference and take a kernel only where one exists:

- :meth:`Kernels.uniform`: uniform ``[0, 1)`` float32 draws from a 64-bit seed (dropout masks), stateless:
  element ``i`` is a SplitMix64 hash of ``seed + i``, so a seeded run repeats and no generator state lives
  on the device.
- :meth:`Kernels.adam`: tapeflow's Adam step (scaled moments, see ``optimizers/adam.py``) in one pass over
  ``w, m, v, g`` instead of ten.
- :meth:`Kernels.activation_grad`: ``g * f'(out)`` for relu/tanh/sigmoid in one pass.
- :meth:`Kernels.erf`: CuPy's (``cupyx.scipy.special.erf``).

These kernels are tested against the NumPy formulas in ``tests/gpu`` (skipped without a CUDA device).
"""

from __future__ import annotations

import numpy as np

_UNIFORM = r"""
unsigned long long z = seed + (unsigned long long)i * 0x9E3779B97F4A7C15ULL;
z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
z ^= z >> 31;
out = (float)(z >> 40) * (1.0f / 16777216.0f);
"""

# m' = beta_1 m' + g; v' = beta_2 v' + g^2; w -= m' / (sqrt(v' * scale) + eps_k): adam.py's scaled moments
_ADAM = r"""
T m2 = beta_1 * m + g;
T v2 = beta_2 * v + g * g;
m = m2;
v = v2;
w -= m2 / (sqrt(v2 * scale) + eps_k);
"""

_ACTIVATION_GRADS = {
    "relu": "gz = out > (T)0 ? g : (T)0;",
    "tanh": "gz = g * ((T)1 - out * out);",
    "sigmoid": "gz = g * out * ((T)1 - out);",
}


class Kernels:
    """The fused kernels, compiled lazily for the CuPy module ``cupy``."""

    def __init__(self, cupy):
        self.cp = cupy
        ek = cupy.ElementwiseKernel
        self._uniform = ek("uint64 seed", "float32 out", _UNIFORM, "tapeflow_uniform")
        self._adam = ek("T g, T beta_1, T beta_2, T scale, T eps_k", "T w, T m, T v", _ADAM, "tapeflow_adam")
        self._grads = {name: ek("T g, T out", "T gz", body, f"tapeflow_{name}_grad")
                       for name, body in _ACTIVATION_GRADS.items()}

    def uniform(self, seed: int, shape):
        """Uniform ``[0, 1)`` float32 samples of ``shape`` from ``seed`` (one launch, no state)."""
        out = self.cp.empty(shape, dtype=np.float32)
        if out.size:
            self._uniform(np.uint64(seed % 2**64), out)
        return out

    def adam(self, w, m, v, g, beta_1, beta_2, scale, eps_k):
        """One Adam update of ``w``, ``m`` and ``v`` in place (one launch)."""
        t = w.dtype.type
        self._adam(g, t(beta_1), t(beta_2), t(scale), t(eps_k), w, m, v)

    def activation_grad(self, activation, g, out):
        """``g * f'(out)`` for relu/tanh/sigmoid given the activation's output ``out`` (else None)."""
        kernel = self._grads.get(activation)
        return None if kernel is None else kernel(g, out)

    def erf(self, x):
        from cupyx.scipy.special import erf

        return erf(x)
