"""Op cases for convolution, pooling, up-sampling and the fused recurrent ops (collected by
tests/core/test_ops.py).

Every reference below is a plain loop over output positions or timesteps — deliberately naive and
independent of the strided-window implementation it checks. Convolution cases run through
:func:`tapeflow.ops.conv.conv` (which is ``extract_patches`` + matmul + ``fold_patches`` in its gradient)
over 1-D/2-D/3-D, strides, "valid"/"same"/"causal" padding, dilation, groups and both channel orders."""

from __future__ import annotations

import math

import numpy as np

from tapeflow.ops import conv as C
from tapeflow.ops import pooling as P
from tapeflow.ops import recurrent as R
from tests.core.op_cases import OpCase


# --- naive references ---------------------------------------------------------------------------------------
def keras_pads(length, k, s, d, padding):
    """Keras's padding, written out independently of the library."""
    span = d * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    out = -(-length // s)
    total = max((out - 1) * s + span - length, 0)
    return total // 2, total - total // 2


def np_conv(x, k, strides=1, padding="valid", dilation=1, groups=1, channels_first=False):
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    nd = x.ndim - 2
    ks = k.shape[:nd]
    st = (strides,) * nd if isinstance(strides, int) else strides
    dl = (dilation,) * nd if isinstance(dilation, int) else dilation
    pads = [keras_pads(x.shape[1 + i], ks[i], st[i], dl[i], padding) for i in range(nd)]
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out = [(xp.shape[1 + i] - dl[i] * (ks[i] - 1) - 1) // st[i] + 1 for i in range(nd)]
    n, c, f = x.shape[0], x.shape[-1], k.shape[-1]
    cg, fg = c // groups, f // groups
    y = np.zeros((n, *out, f), dtype=x.dtype)
    kg = k.reshape(*ks, cg, groups, fg)
    for pos in np.ndindex(*out):
        sl = tuple(slice(p * s, p * s + d * (kk - 1) + 1, d) for p, s, d, kk in zip(pos, st, dl, ks))
        win = xp[(slice(None), *sl)].reshape(n, *ks, groups, cg)  # (n, *k, groups, cg)
        letters = "ijk"[:nd]
        y[(slice(None), *pos)] = np.einsum(f"n{letters}gc,{letters}cgf->ngf", win, kg).reshape(n, f)
    return np.moveaxis(y, -1, 1) if channels_first else y


def np_conv_transpose(x, k, strides, padding, output_padding=None):
    """Scatter each input pixel's kernel-weighted contribution into a full output, then crop like Keras."""
    nd = x.ndim - 2
    ks = k.shape[:nd]
    st = (strides,) * nd if isinstance(strides, int) else strides
    n, f = x.shape[0], k.shape[-2]
    full = [(x.shape[1 + i] - 1) * st[i] + ks[i] for i in range(nd)]
    buf = np.zeros((n, *[max(L, L + 4) for L in full], f), dtype=x.dtype)
    for pos in np.ndindex(*x.shape[1:-1]):
        contrib = np.einsum("nc,...fc->n...f", x[(slice(None), *pos)], k)
        buf[(slice(None), *(slice(p * s, p * s + kk) for p, s, kk in zip(pos, st, ks)))] += contrib
    sl = []
    for i in range(nd):
        L = x.shape[1 + i]
        if output_padding is None:
            out = L * st[i] + max(ks[i] - st[i], 0) if padding == "valid" else L * st[i]
            lo = keras_pads(out, ks[i], st[i], 1, padding)[0]
        else:
            pad = 0 if padding == "valid" else ks[i] // 2
            out = (L - 1) * st[i] + ks[i] - 2 * pad + output_padding
            lo = keras_pads(out, ks[i], st[i], 1, padding)[0]  # TensorFlow places it as conv's adjoint
        sl.append(slice(lo, lo + out))
    return buf[(slice(None), *sl)]


def np_windows(x, size, strides, pads, fill):
    nd = x.ndim - 2
    xp = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    out = [(xp.shape[1 + i] - size[i]) // strides[i] + 1 for i in range(nd)]
    res = np.empty((x.shape[0], *out, math.prod(size), x.shape[-1]), dtype=x.dtype)
    for pos in np.ndindex(*out):
        sl = tuple(slice(p * s, p * s + k) for p, s, k in zip(pos, strides, size))
        res[(slice(None), *pos)] = xp[(slice(None), *sl)].reshape(x.shape[0], -1, x.shape[-1])
    return res


def np_pool(x, size, strides, padding, kind):
    nd = x.ndim - 2
    pads = [keras_pads(x.shape[1 + i], size[i], strides[i], 1, padding) for i in range(nd)]
    if kind == "max":
        return np_windows(x, size, strides, pads, -np.inf).max(axis=-2)
    total = np_windows(x, size, strides, pads, 0.0).sum(axis=-2)
    count = np_windows(np.ones_like(x), size, strides, pads, 0.0).sum(axis=-2)
    return (total / count).astype(x.dtype)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def np_lstm(zx, h, c, u):
    n = u.shape[0]
    hs = []
    for t in range(zx.shape[0]):
        z = zx[t] + h @ u
        i, f, g, o = _sig(z[:, :n]), _sig(z[:, n:2 * n]), np.tanh(z[:, 2 * n:3 * n]), _sig(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs), c


def np_gru(zx, h, u, b):
    n = u.shape[0]
    hs = []
    for t in range(zx.shape[0]):
        rec = h @ u + b
        z = _sig(zx[t][:, :n] + rec[:, :n])
        r = _sig(zx[t][:, n:2 * n] + rec[:, n:2 * n])
        hh = np.tanh(zx[t][:, 2 * n:] + r * rec[:, 2 * n:])
        h = z * h + (1 - z) * hh
        hs.append(h)
    return np.stack(hs)


def np_rnn(zx, h, u):
    hs = []
    for t in range(zx.shape[0]):
        h = np.tanh(zx[t] + h @ u)
        hs.append(h)
    return np.stack(hs)


# --- cases --------------------------------------------------------------------------------------------------
def _shapes(*shapes, scale=1.0):
    return lambda rng: [rng.standard_normal(s) * scale for s in shapes]


def _conv_case(name, xs, ks, **kw):
    cf = kw.get("data_format") == "channels_first"
    ref_kw = {"strides": kw.get("strides", 1), "padding": kw.get("padding", "valid"),
              "dilation": kw.get("dilation_rate", 1), "groups": kw.get("groups", 1), "channels_first": cf}
    return OpCase("extract_patches", lambda x, k: C.conv(x, k, **kw), lambda x, k: np_conv(x, k, **ref_kw),
                  _shapes(xs, ks), name=f"conv-{name}", rtol=1e-4)


CONV_CASES = [
    _conv_case("1d-valid", (2, 9, 3), (3, 3, 4)),
    _conv_case("1d-causal-dilated", (2, 9, 2), (3, 2, 3), padding="causal", dilation_rate=2),
    _conv_case("1d-same-stride3", (2, 10, 2), (4, 2, 3), padding="same", strides=3),
    _conv_case("2d-valid", (2, 6, 5, 3), (3, 3, 3, 4)),
    _conv_case("2d-same-stride2", (2, 7, 6, 2), (3, 2, 2, 3), padding="same", strides=2),
    _conv_case("2d-same-dilated", (1, 7, 7, 2), (3, 3, 2, 2), padding="same", dilation_rate=(2, 1)),
    _conv_case("2d-strides-2x1", (2, 6, 5, 2), (2, 3, 2, 3), strides=(2, 1)),
    _conv_case("2d-channels-first", (2, 3, 6, 5), (3, 3, 3, 2), padding="same", data_format="channels_first"),
    _conv_case("2d-groups", (2, 5, 5, 4), (3, 3, 2, 6), groups=2, padding="same"),
    _conv_case("2d-depthwise", (2, 5, 5, 3), (3, 3, 1, 6), groups=3),
    _conv_case("2d-1x1", (2, 4, 4, 3), (1, 1, 3, 5)),
    _conv_case("3d-valid", (1, 4, 5, 4, 2), (2, 3, 2, 2, 3)),
    _conv_case("3d-same-stride2-cf", (1, 2, 5, 4, 5), (3, 3, 3, 2, 2), padding="same", strides=2,
               data_format="channels_first"),
]


def _transpose_case(name, xs, ks, strides, padding, output_padding=None):
    return OpCase("fold_patches",
                  lambda x, k: C.conv_transpose(x, k, strides=strides, padding=padding,
                                                output_padding=output_padding),
                  lambda x, k: np_conv_transpose(x, k, strides, padding, output_padding),
                  _shapes(xs, ks), name=f"conv_transpose-{name}", rtol=1e-4)


TRANSPOSE_CASES = [
    _transpose_case("1d-valid-s1", (2, 5, 3), (3, 2, 3), 1, "valid"),
    _transpose_case("2d-valid-s2", (2, 4, 3, 3), (3, 3, 2, 3), 2, "valid"),
    _transpose_case("2d-same-s2", (2, 4, 3, 2), (3, 3, 2, 2), 2, "same"),
    _transpose_case("2d-same-s3-k2", (1, 3, 3, 2), (2, 2, 3, 2), 3, "same"),
    _transpose_case("2d-output-padding", (1, 3, 4, 2), (3, 3, 2, 2), 2, "same", output_padding=1),
    _transpose_case("3d-valid-s2", (1, 2, 3, 2, 2), (2, 2, 2, 2, 2), 2, "valid"),
]


def _distinct(*shape):
    """Values with no ties (max pooling is not differentiable at a tie)."""

    def make(rng):
        size = math.prod(shape)
        return [(rng.permutation(size) * 0.37 - size * 0.1).reshape(shape) + rng.uniform(0, 0.01, shape)]

    return make


def _pool_case(kind, name, xs, size, strides=None, padding="valid", data_format="channels_last"):
    nd = len(xs) - 2
    size_t = (size,) * nd if isinstance(size, int) else size
    st = size_t if strides is None else ((strides,) * nd if isinstance(strides, int) else strides)
    cf = data_format == "channels_first"
    fn = P.max_pool if kind == "max" else P.avg_pool

    def ref(x):
        x = np.moveaxis(x, 1, -1) if cf else x
        y = np_pool(x, size_t, st, padding, kind)
        return np.moveaxis(y, -1, 1) if cf else y

    return OpCase(f"{kind}_pool",
                  lambda x: fn(x, size, strides, padding, data_format), ref, _distinct(*xs),
                  name=f"{kind}_pool-{name}")


POOL_CASES = [
    _pool_case("max", "1d", (2, 7, 3), 2),
    _pool_case("max", "1d-same-overlap", (2, 7, 2), 3, 2, "same"),
    _pool_case("max", "2d", (2, 6, 6, 2), 2),
    _pool_case("max", "2d-same-odd", (2, 5, 7, 2), 2, None, "same"),
    _pool_case("max", "2d-overlap-stride1", (1, 5, 5, 2), (3, 2), 1),
    _pool_case("max", "2d-channels-first", (2, 3, 6, 4), 2, data_format="channels_first"),
    _pool_case("max", "3d", (1, 4, 4, 6, 2), (2, 2, 3)),
    _pool_case("avg", "1d-same", (2, 7, 3), 3, 2, "same"),
    _pool_case("avg", "2d", (2, 6, 6, 2), 2),
    _pool_case("avg", "2d-same-odd", (2, 5, 7, 2), 2, None, "same"),
    _pool_case("avg", "3d-same", (1, 3, 4, 5, 2), 2, 1, "same"),
    _pool_case("avg", "2d-overlap-stride1", (1, 5, 5, 2), (3, 2), 1),
]


def _np_upsample(x, size):
    for i, s in enumerate(size):
        x = np.repeat(x, s, axis=1 + i)
    return x


def _lstm_inputs(rng):
    t, b, n = 5, 3, 4
    return [rng.standard_normal((t, b, 4 * n)), rng.standard_normal((b, n)), rng.standard_normal((b, n)),
            rng.standard_normal((n, 4 * n)) * 0.5]


def _gru_inputs(rng):
    t, b, n = 5, 3, 4
    return [rng.standard_normal((t, b, 3 * n)), rng.standard_normal((b, n)),
            rng.standard_normal((n, 3 * n)) * 0.5,
            rng.standard_normal(3 * n)]


_FIRST_ORDER = "the fused recurrent backward is NumPy code: first-order only (second order raises)"

OTHER_CASES = [
    OpCase("extract_patches", lambda x: C.extract_patches(x, (2, 3), strides=(1, 2), padding="same"),
           lambda x: np_windows(x, (2, 3), (1, 2),
                                [keras_pads(5, 2, 1, 1, "same"), keras_pads(6, 3, 2, 1, "same")], 0.0),
           _shapes((2, 5, 6, 2)), name="patches-same"),
    OpCase("upsample", lambda x: C.upsample(x, (2, 3)), lambda x: _np_upsample(x, (2, 3)),
           _shapes((2, 3, 2, 2)), name="2d"),
    OpCase("upsample", lambda x: C.upsample(x, 2), lambda x: _np_upsample(x, (2,)), _shapes((2, 3, 2)),
           name="1d"),
    OpCase("lstm", lambda zx, h, c, u: R.lstm(zx, h, c, u)[0], lambda zx, h, c, u: np_lstm(zx, h, c, u)[0],
           _lstm_inputs, name="sequence", second_order=False, note=_FIRST_ORDER, rtol=1e-4),
    OpCase("lstm", lambda zx, h, c, u: R.lstm(zx, h, c, u)[2], lambda zx, h, c, u: np_lstm(zx, h, c, u)[1],
           _lstm_inputs, name="cell-state", second_order=False, note=_FIRST_ORDER, rtol=1e-4),
    OpCase("gru", lambda zx, h, u, b: R.gru(zx, h, u, b)[0], np_gru, _gru_inputs, second_order=False,
           note=_FIRST_ORDER, rtol=1e-4),
    OpCase("simple_rnn", lambda zx, h, u: R.simple_rnn(zx, h, u)[0], np_rnn,
           lambda rng: [rng.standard_normal((5, 3, 4)), rng.standard_normal((3, 4)),
                        rng.standard_normal((4, 4)) * .5],
           second_order=False, note=_FIRST_ORDER, rtol=1e-4),
]

CASES = CONV_CASES + TRANSPOSE_CASES + POOL_CASES + OTHER_CASES

__all__ = ["CASES", "np_conv", "np_conv_transpose", "np_pool", "keras_pads"]
