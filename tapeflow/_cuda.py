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
- :meth:`Kernels.bias_activation`: a Dense layer's ``activation(x @ kernel + bias)`` after the product, in one
  pass instead of two or three.
- :meth:`Kernels.activation_grad`: ``g * f'(out)`` for relu/tanh/sigmoid in one pass.
- :meth:`Kernels.lstm_forward` / :meth:`Kernels.lstm_backward` and the GRU's: one timestep's gate math
  (forward, and backward through time) in one launch each, with the C kernels' signatures, so
  ``ops/recurrent.py`` runs the same per-step loop on either.
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


_ACTIVATIONS = {
    "linear": "y = y + b;",
    "relu": "y = max(y + b, (T)0);",
    "tanh": "y = tanh(y + b);",
    "sigmoid": "y = (T)1 / ((T)1 + exp(-(y + b)));",
}


# One LSTM step for element (b, j) of (batch, units): the C kernel's math (tapeflow/_ckernels_lstm.h), same
# layouts: z (batch, 4n) = h_prev @ U; zx, dz (steps, batch, 4n); out, g (steps, batch, 6n): h, c, i, f, g, o
_LSTM_FORWARD = r"""
const long long b = i / n, j = i % n, four = 4 * n, six = 6 * n;
const long long zi = b * four, xi = (t * batch + b) * four, oi = (t * batch + b) * six;
const long long pi = oi - batch * six;
T ig = (T)0.5 * tanh((T)0.5 * (z[zi + j] + zx[xi + j])) + (T)0.5;
T fg = (T)0.5 * tanh((T)0.5 * (z[zi + n + j] + zx[xi + n + j])) + (T)0.5;
T gg = tanh(z[zi + 2 * n + j] + zx[xi + 2 * n + j]);
T og = (T)0.5 * tanh((T)0.5 * (z[zi + 3 * n + j] + zx[xi + 3 * n + j])) + (T)0.5;
T cp = t ? out[pi + n + j] : c0[b * n + j];
T hp = t ? out[pi + j] : h0[b * n + j];
T c = fg * cp + ig * gg;
T h = og * tanh(c);
if (masked) {
    T m = mask[t * batch + b];
    c = cp + m * (c - cp);
    h = hp + m * (h - hp);
}
out[oi + j] = h; out[oi + n + j] = c;
out[oi + 2 * n + j] = ig; out[oi + 3 * n + j] = fg; out[oi + 4 * n + j] = gg; out[oi + 5 * n + j] = og;
"""

_LSTM_BACKWARD = r"""
const long long b = i / n, j = i % n, four = 4 * n, six = 6 * n, bj = b * n + j;
const long long oi = (t * batch + b) * six, pi = oi - batch * six, di = (t * batch + b) * four;
T c = out[oi + n + j], ig = out[oi + 2 * n + j], fg = out[oi + 3 * n + j];
T gv = out[oi + 4 * n + j], og = out[oi + 5 * n + j];
T cp = t ? out[pi + n + j] : c0[bj];
T a = tanh(c);
T dh = (has_rmask ? dhmm[bj] * rmask[bj] : dhmm[bj]) + g[oi + j];
T dcv = dc[bj] + g[oi + n + j];
T kc = 0;
if (masked) {
    T m = mask[t * batch + b];
    T dhj = dh + keep[bj];
    keep[bj] = (1 - m) * dhj;
    kc = (1 - m) * dcv;
    dh = m * dhj;
    dcv *= m;
}
T dcj = dcv + dh * og * (1 - a * a);
dz[di + j] = dcj * gv * ig * (1 - ig);
dz[di + n + j] = dcj * cp * fg * (1 - fg);
dz[di + 2 * n + j] = dcj * ig * (1 - gv * gv);
dz[di + 3 * n + j] = dh * a * og * (1 - og);
dc[bj] = dcj * fg + kc;
"""

# One GRU step (reset_after=True, gates z, r, h) for element (row, j): tapeflow/_ckernels_gru.h's math and
# layouts: rec (batch, 3n) = h_prev @ U; b (3n); zx, dzx, drec (steps, batch, 3n); out, g (steps, batch, 5n):
# h, z, r, hh (the candidate), rec_h
_GRU_FORWARD = r"""
const long long row = i / n, j = i % n, three = 3 * n, five = 5 * n;
const long long ri = row * three, xi = (t * batch + row) * three, oi = (t * batch + row) * five;
const long long pi = oi - batch * five;
T zj = (T)0.5 * tanh((T)0.5 * (zx[xi + j] + (rec[ri + j] + b[j]))) + (T)0.5;
T rj = (T)0.5 * tanh((T)0.5 * (zx[xi + n + j] + (rec[ri + n + j] + b[n + j]))) + (T)0.5;
T rh = rec[ri + 2 * n + j] + b[2 * n + j];
T hh = tanh(rj * rh + zx[xi + 2 * n + j]);
T hp = t ? out[pi + j] : h0[row * n + j];
T h = zj * (hp - hh) + hh;
if (masked) {
    T m = mask[t * batch + row];
    h = m * h + (1 - m) * hp;
}
out[oi + j] = h; out[oi + n + j] = zj; out[oi + 2 * n + j] = rj; out[oi + 3 * n + j] = hh;
out[oi + 4 * n + j] = rh;
"""

_GRU_BACKWARD = r"""
const long long row = i / n, j = i % n, three = 3 * n, five = 5 * n, rn = row * n + j;
const long long oi = (t * batch + row) * five, pi = oi - batch * five, di = (t * batch + row) * three;
T zj = out[oi + n + j], rj = out[oi + 2 * n + j], hj = out[oi + 3 * n + j], rh = out[oi + 4 * n + j];
T hp = t ? out[pi + j] : h0[rn];
T dh = carry[rn] + (has_rmask ? dhmm[rn] * rmask[rn] : dhmm[rn]) + g[oi + j];
T kept = 0;
if (masked) {
    T m = mask[t * batch + row];
    kept = (1 - m) * dh;
    dh *= m;
}
T dz = dh * (hp - hj) * zj * (1 - zj);
T da = dh * (1 - zj) * (1 - hj * hj);
T drr = da * rh * rj * (1 - rj);
dzx[di + j] = dz; dzx[di + n + j] = drr; dzx[di + 2 * n + j] = da;
drec[di + j] = dz; drec[di + n + j] = drr; drec[di + 2 * n + j] = da * rj;
carry[rn] = dh * zj + kept;
"""


class Kernels:
    """The fused kernels, compiled lazily for the CuPy module ``cupy``."""

    def __init__(self, cupy):
        self.cp = cupy
        ek = cupy.ElementwiseKernel
        self._uniform = ek("uint64 seed", "float32 out", _UNIFORM, "tapeflow_uniform")
        self._adam = ek("T g, T beta_1, T beta_2, T scale, T eps_k", "T w, T m, T v", _ADAM, "tapeflow_adam")
        self._grads = {name: ek("T g, T out", "T gz", body, f"tapeflow_{name}_grad")
                       for name, body in _ACTIVATION_GRADS.items()}
        self._bias_act = {name: ek("T b", "T y", body, f"tapeflow_bias_{name}")
                          for name, body in _ACTIVATIONS.items()}
        self._lstm_forward = ek(
            "raw T z, raw T zx, raw T h0, raw T c0, raw T mask, int64 t, int64 batch, int64 n, bool masked",
            "raw T out", _LSTM_FORWARD, "tapeflow_lstm_forward")
        self._lstm_backward = ek(
            "raw T g, raw T out, raw T c0, raw T mask, raw T rmask, raw T dhmm, int64 t, int64 batch, "
            "int64 n, bool masked, bool has_rmask", "raw T dc, raw T keep, raw T dz", _LSTM_BACKWARD,
            "tapeflow_lstm_backward")
        self._gru_forward = ek(
            "raw T rec, raw T b, raw T zx, raw T h0, raw T mask, int64 t, int64 batch, int64 n, bool masked",
            "raw T out", _GRU_FORWARD, "tapeflow_gru_forward")
        self._gru_backward = ek(
            "raw T g, raw T out, raw T h0, raw T mask, raw T rmask, raw T dhmm, int64 t, int64 batch, "
            "int64 n, bool masked, bool has_rmask", "raw T carry, raw T dzx, raw T drec", _GRU_BACKWARD,
            "tapeflow_gru_backward")

    def uniform(self, seed: int, shape):
        """Uniform ``[0, 1)`` float32 samples of ``shape`` from ``seed`` (one launch, no state)."""
        out = self.cp.empty(shape, dtype=np.float32)
        if out.size:
            self._uniform(np.uint64(seed % 2**64), out)
        return out

    def adam(self, w, g, m, v, beta_1, beta_2, scale, eps_k, threads=None):
        """One Adam update of ``w``, ``m`` and ``v`` in place (one launch; the C kernel's ``adam``
        signature, ``threads`` unused)."""
        t = w.dtype.type
        self._adam(g, t(beta_1), t(beta_2), t(scale), t(eps_k), w, m, v)

    def activation_grad(self, activation, g, out):
        """``g * f'(out)`` for relu/tanh/sigmoid given the activation's output ``out`` (else None)."""
        kernel = self._grads.get(activation)
        return None if kernel is None else kernel(g, out)

    def bias_activation(self, y, bias, activation):
        """``y = activation(y + bias)`` in place in one launch (bias broadcast over rows), or None."""
        kernel = self._bias_act.get(activation)
        if kernel is None:
            return None
        kernel(bias, y)
        return y

    def lstm_forward(self, z, zx, out, h0, c0, mask, t):
        """One LSTM step on the device (the C kernel's ``lstm_forward`` signature)."""
        batch, n = out.shape[1], out.shape[2] // 6
        self._lstm_forward(z, zx, h0, c0, z if mask is None else mask, t, batch, n, mask is not None, out,
                           size=batch * n)

    def lstm_backward(self, g, out, c0, mask, rmask, dhmm, dc, keep, dz, t):
        """One LSTM step backward on the device (the C kernel's ``lstm_backward`` signature)."""
        batch, n = out.shape[1], out.shape[2] // 6
        unused = out  # stands in for a missing mask (never read)
        keep = self.cp.empty(1, dtype=dc.dtype) if keep is None else keep  # never written unmasked
        self._lstm_backward(g, out, c0, unused if mask is None else mask, unused if rmask is None else rmask,
                            dhmm, t, batch, n, mask is not None, rmask is not None, dc, keep, dz,
                            size=batch * n)

    def gru_forward(self, rec, b, zx, out, h0, mask, t):
        """One GRU step on the device (the C kernel's ``gru_forward`` signature)."""
        batch, n = out.shape[1], out.shape[2] // 5
        self._gru_forward(rec, b, zx, h0, rec if mask is None else mask, t, batch, n, mask is not None, out,
                          size=batch * n)

    def gru_backward(self, g, out, h0, mask, rmask, dhmm, carry, dzx, drec, t):
        """One GRU step backward on the device (the C kernel's ``gru_backward`` signature)."""
        batch, n = out.shape[1], out.shape[2] // 5
        unused = out  # stands in for a missing mask (never read)
        self._gru_backward(g, out, h0, unused if mask is None else mask, unused if rmask is None else rmask,
                           dhmm, t, batch, n, mask is not None, rmask is not None, carry, dzx, drec,
                           size=batch * n)

    def erf(self, x):
        from cupyx.scipy.special import erf

        return erf(x)
