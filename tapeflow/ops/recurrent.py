"""Recurrent cell math over whole sequences (LSTM, GRU, simple RNN) with hand-written backward through time.

Each op runs the recurrence for every timestep in one call: the input projection ``x @ kernel + bias`` of
all timesteps is one matrix product done *outside* the op (by the layer, with ordinary tapeflow ops), so
each step does only the recurrent product ``h @ recurrent_kernel`` (all gates fused into one product) and a
handful of in-place element-wise updates. Backward through time is one loop of the same size; everything
that does not depend on the recursion (gate derivatives, the recurrent-kernel gradient) is computed for all
timesteps at once.

Layout: time-major. ``zx`` is ``(timesteps, batch, gates * units)``; the output packs every state and gate a
step produced, ``(timesteps, batch, k * units)``, and the public functions slice what callers want from it
(so the saved output doubles as the record backward needs). Optional static arrays: ``mask`` ``(timesteps,
batch, 1)`` (1 = real step, 0 = skip: the state carries over) and ``recurrent_mask`` ``(batch, units)``
(recurrent dropout, applied to the state entering the recurrent product). Over zero timesteps the public
functions return an empty sequence and the initial states (as Keras), before either path below runs.

The LSTM's and GRU's per-step gate math (forward: the gate activations and the state updates; backward: the
gate derivatives) runs in one call per step of the optional C extension ``tapeflow._ckernels`` when it
is built (see :mod:`tapeflow.ops._native` for how it is found and switched off) and the activations are tanh
and sigmoid, in float32 or float64; otherwise in the NumPy code below, which gives the same results up to
float rounding. The matrix products are NumPy's (BLAS) either way.

The backward pass is NumPy (and C) code, not tapeflow ops, so these gradients are first-order only: asking an
enclosing tape for a second derivative through them raises ``NotImplementedError`` rather than returning a
wrong value."""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow._tape import OUTSIDE, _state
from tapeflow._tensor import Tensor
from tapeflow.ops import _native, _reuse
from tapeflow.ops import fusable as F
from tapeflow.ops._blas import gemm_address, single_thread
from tapeflow.ops._registry import Op

xp = B.xp


def _refuse_higher_order(name, *tensors):
    recording = _state.recording
    if not recording:
        return
    for t in tensors:
        node = getattr(t, "_node", None)
        if node is not None and node is not OUTSIDE and any(r in node.tapes for r in recording):
            raise NotImplementedError(
                f"{name}: second-order gradients through the fused recurrent op are not supported (its "
                f"backward through time is NumPy code). Use a per-step cell with tapeflow ops for that."
            )


# --- LSTM ---------------------------------------------------------------------------------------------------
def _step_kernels(activation, recurrent_activation, *arrays):
    """The per-step LSTM/GRU kernels for tanh/sigmoid: the C extension's on NumPy arrays, the fused CUDA
    kernels (``tapeflow/_cuda.py``, same signatures) on CuPy's; None otherwise (the NumPy loops below)."""
    if activation is not F.TANH or recurrent_activation is not F.SIGMOID:
        return None
    return _native.usable(*arrays) or B.fused()


def _sequence_args(dtype, batch):
    """The trailing ``(gemm, ilp64, threads)`` of the C whole-sequence kernels, or None when the BLAS's gemm
    cannot be called from C (then the per-step kernels run, with the products in NumPy)."""
    gemm = gemm_address(xp.dtype(dtype).char)
    if gemm is None:
        return None
    # each thread runs every timestep of its share of the batch (rows never interact): no hand-off per step
    return (*gemm, max(1, min(_native.CORES, batch // _ROWS_PER_THREAD)))


_ROWS_PER_THREAD = 16  # fewer rows make each thread's products too small to pay for the thread


def _rmask(recurrent_mask, batch, n, dtype):
    if recurrent_mask is None:
        return None
    return xp.ascontiguousarray(xp.broadcast_to(recurrent_mask, (batch, n)), dtype=dtype)


def _c_mask(mask, steps, batch, dtype):
    if mask is None:
        return None
    return xp.ascontiguousarray(xp.broadcast_to(mask, (steps, batch, 1)), dtype=dtype)


def _lstm(zx, h0, c0, u, mask=None, recurrent_mask=None, activation=F.TANH, recurrent_activation=F.SIGMOID):
    k = _step_kernels(activation, recurrent_activation, zx, h0, c0, u)
    if k is not None:
        return _lstm_c(zx, h0, c0, u, mask, recurrent_mask, k)
    steps, batch, four = zx.shape
    n = four // 4
    out = xp.empty((steps, batch, 6 * n), dtype=zx.dtype)
    z = xp.empty((batch, four), dtype=zx.dtype)
    fast = activation is F.TANH and recurrent_activation is F.SIGMOID
    if fast:
        # sigmoid(a) = tanh(a / 2) / 2 + 1/2: halve the sigmoid gates' columns once, so that one tanh per step
        # serves all four gates, followed by one multiply and one add
        scale = xp.full(four, 0.5, dtype=zx.dtype)
        scale[2 * n: 3 * n] = 1.0
        shift = xp.full(four, 0.5, dtype=zx.dtype)
        shift[2 * n: 3 * n] = 0.0
        u, zx = u * scale, zx * scale
    else:
        act, ract = activation.forward_, recurrent_activation.forward_
    h, c = h0, c0
    with single_thread():  # one small product per step: the thread hand-off costs more
        for t in range(steps):
            xp.matmul(h if recurrent_mask is None else h * recurrent_mask, u, out=z)
            z += zx[t]
            o_t = out[t]
            gates = o_t[:, 2 * n:]
            if fast:  # in place on the contiguous z (faster than on the strided output), then one copy
                xp.tanh(z, out=z)
                z *= scale
                z += shift
            else:
                ract(z[:, : 2 * n])
                act(z[:, 2 * n: 3 * n])
                ract(z[:, 3 * n:])
            gates[...] = z
            c_new, h_new = o_t[:, n: 2 * n], o_t[:, :n]
            xp.multiply(z[:, n: 2 * n], c, out=c_new)  # f * c
            c_new += z[:, :n] * z[:, 2 * n: 3 * n]  # + i * g
            if fast:
                xp.tanh(c_new, out=h_new)
            else:
                h_new[...] = c_new
                act(h_new)
            h_new *= z[:, 3 * n:]
            if mask is not None:  # a masked step keeps the previous state: new = old + m * (new - old)
                m = mask[t]
                for new, old in ((c_new, c), (h_new, h)):
                    new -= old
                    new *= m
                    new += old
            h, c = h_new, c_new
    return out


def _lstm_c(zx, h0, c0, u, mask, recurrent_mask, k):
    """:func:`_lstm` with one C call per step for the gate math (tanh/sigmoid only)."""
    steps, batch, four = zx.shape
    n = four // 4
    dtype = zx.dtype
    zx, h0, c0 = (xp.ascontiguousarray(a) for a in (zx, h0, c0))
    mask = _c_mask(mask, steps, batch, dtype)
    out = _reuse.empty("lstm", (steps, batch, 6 * n), dtype, like=zx)
    whole = _sequence_args(dtype, batch) if k is _native.ckernels else None  # (C only: calls BLAS from C)
    if whole is not None:
        with single_thread():  # the kernel's threads call gemm: one BLAS thread each
            _native.ckernels.lstm_sequence(zx, h0, c0, xp.ascontiguousarray(u), mask,
                                           _rmask(recurrent_mask, batch, n, dtype), out, *whole)
        return out
    z = xp.empty((batch, four), dtype=dtype)
    forward = k.lstm_forward
    h = h0
    with single_thread():  # one small product per step: the thread hand-off costs more
        for t in range(steps):
            xp.matmul(h if recurrent_mask is None else h * recurrent_mask, u, out=z)
            forward(z, zx, out, h0, c0, mask, t)
            h = out[t, :, :n]
    return out


def _lstm_vjp_c(gv, ov, c0, uv, mask, recurrent_mask, k):
    """The loop of :func:`_lstm_vjp` with one C call per step: returns ``(dz, dh, dc)``."""
    steps, batch, six = ov.shape
    n = six // 6
    dtype = ov.dtype
    gv, c0 = xp.ascontiguousarray(gv, dtype=dtype), xp.ascontiguousarray(c0, dtype=dtype)
    mask = _c_mask(mask, steps, batch, dtype)
    rmask = _rmask(recurrent_mask, batch, n, dtype)
    dz = _reuse.empty("lstm.dz", (steps, batch, 4 * n), dtype, like=ov)
    whole = _sequence_args(dtype, batch) if k is _native.ckernels else None  # (C only: calls BLAS from C)
    if whole is not None:  # the kernel clears the state gradients itself, row slice by row slice
        dhmm, dc = xp.empty((batch, n), dtype=dtype), xp.empty((batch, n), dtype=dtype)
        keep = None if mask is None else xp.empty((batch, n), dtype=dtype)
        with single_thread():
            _native.ckernels.lstm_sequence_grad(gv, ov, c0, xp.ascontiguousarray(uv, dtype=dtype), mask,
                                                rmask, dz, dhmm, dc, keep, *whole)
    else:
        ut = xp.ascontiguousarray(uv.T)
        dhmm = xp.zeros((batch, n), dtype=dtype)
        dc = xp.zeros((batch, n), dtype=dtype)
        keep = None if mask is None else xp.zeros((batch, n), dtype=dtype)
        backward = k.lstm_backward
        with single_thread():  # one small product per step: the thread hand-off costs more
            for t in range(steps - 1, -1, -1):
                backward(gv, ov, c0, mask, rmask, dhmm, dc, keep, dz, t)
                xp.matmul(dz[t], ut, out=dhmm)
    dh = dhmm if rmask is None else dhmm * rmask
    if keep is not None:
        dh += keep
    return dz, dh, dc


def _lstm_vjp(g, out, zx, h0, c0, u, mask=None, recurrent_mask=None, activation=F.TANH,
              recurrent_activation=F.SIGMOID):
    _refuse_higher_order("lstm", g, zx, h0, c0, u)
    gv, ov, c0v, uv = g._value, out._value, c0._value, u._value
    k = _step_kernels(activation, recurrent_activation, gv, ov, c0v, uv)
    if k is not None:
        dz, dh, dc = _lstm_vjp_c(gv, ov, c0v, uv, mask, recurrent_mask, k)
    else:
        dz, dh, dc = _lstm_bptt(gv, ov, c0v, uv, mask, recurrent_mask, activation, recurrent_activation)
    n = ov.shape[2] // 6
    h_prev = xp.concatenate([h0._value[None], ov[:-1, :, :n]], axis=0)
    hr = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    # one thread for this bigger product too: on a busy machine two threads measured slower in the median
    # (they wait for a free core) though faster on an idle one (bench/lstm.py, default threads)
    with single_thread():
        du = hr.reshape(-1, n).T @ dz.reshape(-1, 4 * n)
    return Tensor(dz), Tensor(dh), Tensor(dc), Tensor(du)


def _lstm_bptt(gv, ov, c0v, uv, mask, recurrent_mask, activation, recurrent_activation):
    """Backward through time in NumPy: returns ``(dz, dh, dc)``."""
    act, dact, drac = activation.forward_, activation.derivative, recurrent_activation.derivative
    steps, batch, six = ov.shape
    n = six // 6
    cs = ov[..., n: 2 * n]
    gi, gf, gg, go = (ov[..., k * n: (k + 1) * n] for k in range(2, 6))
    c_prev = xp.concatenate([c0v[None], cs[:-1]], axis=0)
    ac = act(cs.copy())
    # per-step factors, for all steps at once: dz = dc * [g, c_prev, i] * act', dz_o = dh * ac * act'
    fc = xp.empty((steps, batch, 3, n), dtype=ov.dtype)
    xp.multiply(gg, drac(gi), out=fc[:, :, 0])
    xp.multiply(c_prev, drac(gf), out=fc[:, :, 1])
    xp.multiply(gi, dact(gg), out=fc[:, :, 2])
    fo = ac * drac(go)
    fh = go * dact(ac)  # dc += dh * o * act'(c)
    dz = xp.empty((steps, batch, 4 * n), dtype=ov.dtype)
    dz3 = dz.reshape(steps, batch, 4, n)
    ut = uv.T
    gh, gc = gv[..., :n], gv[..., n: 2 * n]
    dh = xp.zeros((batch, n), dtype=ov.dtype)
    dc = xp.zeros((batch, n), dtype=ov.dtype)
    with single_thread():  # one small product per step: the thread hand-off costs more
        for t in range(steps - 1, -1, -1):
            dh += gh[t]
            dc += gc[t]
            if mask is not None:
                m = mask[t]
                keep_h, keep_c = (1 - m) * dh, (1 - m) * dc
                dh *= m
                dc *= m
            dc += dh * fh[t]
            xp.multiply(dc[:, None, :], fc[t], out=dz3[t, :, :3])
            xp.multiply(dh, fo[t], out=dz3[t, :, 3])
            dc *= gf[t]
            dh = dz[t] @ ut
            if recurrent_mask is not None:
                dh *= recurrent_mask
            if mask is not None:
                dh += keep_h
                dc += keep_c
    return dz, dh, dc


lstm_op = Op("lstm", _lstm, vjp=_lstm_vjp, save_output=True)


def lstm(zx, h0, c0, recurrent_kernel, mask=None, recurrent_mask=None, activation="tanh",
         recurrent_activation="sigmoid"):
    """The LSTM recurrence over a whole sequence (Keras's gate order i, f, c, o).

    Args:
        zx: ``(timesteps, batch, 4 * units)``, the input projection ``x @ kernel + bias`` of every step.
        h0, c0: ``(batch, units)`` initial states.
        recurrent_kernel: ``(units, 4 * units)``.
        mask: optional array ``(timesteps, batch, 1)``, 1 for real steps; a masked step carries the state
            over.
        recurrent_mask: optional array ``(batch, units)`` multiplying the state before the recurrent product.
        activation, recurrent_activation: "linear", "relu", "sigmoid" or "tanh", or the function itself (see
            :mod:`tapeflow.ops.fusable`).

    Returns:
        ``(h_seq, h_last, c_last)``: ``(timesteps, batch, units)`` and two ``(batch, units)``.

    Example:
        >>> import tapeflow as tp
        >>> zx, h0 = tp.zeros((5, 2, 12)), tp.zeros((2, 3))
        >>> h, h_last, c_last = tp.ops.recurrent.lstm(zx, h0, h0, tp.zeros((3, 12)))
        >>> h.shape, h_last.shape
        ((5, 2, 3), (2, 3))
    """
    _check(zx, h0, recurrent_kernel, 4, "lstm", c0)
    if zx.shape[0] == 0:
        return (_no_steps(h0), *_initial(h0, c0))
    packed = lstm_op(zx, h0, c0, recurrent_kernel, mask=mask, recurrent_mask=recurrent_mask,
                     activation=F.resolve(activation, "lstm"),
                     recurrent_activation=F.resolve(recurrent_activation, "lstm"))
    n = recurrent_kernel.shape[0]
    return packed[:, :, :n], packed[-1, :, :n], packed[-1, :, n: 2 * n]


# --- GRU (reset_after=True, Keras's default and cuDNN's form) -----------------------------------------------
def _gru(zx, h0, u, b, mask=None, recurrent_mask=None, activation=F.TANH, recurrent_activation=F.SIGMOID):
    k = _step_kernels(activation, recurrent_activation, zx, h0, u, b)
    if k is not None:
        return _gru_c(zx, h0, u, b, mask, recurrent_mask, k)
    act, ract = activation.forward_, recurrent_activation.forward_
    steps, batch, three = zx.shape
    n = three // 3
    out = xp.empty((steps, batch, 5 * n), dtype=zx.dtype)  # h, z, r, hh, rec_h
    rec = xp.empty((batch, three), dtype=zx.dtype)
    h = h0
    with single_thread():  # one small product per step: the thread hand-off costs more
        for t in range(steps):
            hr = h if recurrent_mask is None else h * recurrent_mask
            xp.matmul(hr, u, out=rec)
            rec += b
            o_t = out[t]
            zr = o_t[:, n: 3 * n]
            xp.add(zx[t, :, : 2 * n], rec[:, : 2 * n], out=zr)
            ract(zr)
            o_t[:, 4 * n:] = rec[:, 2 * n:]
            hh = o_t[:, 3 * n: 4 * n]
            xp.multiply(o_t[:, 2 * n: 3 * n], rec[:, 2 * n:], out=hh)
            hh += zx[t, :, 2 * n:]
            act(hh)
            zt = o_t[:, n: 2 * n]
            h_new = zt * (h - hh)  # z * h + (1 - z) * hh
            h_new += hh
            if mask is not None:
                m = mask[t]
                h_new = m * h_new + (1 - m) * h
            o_t[:, :n] = h_new
            h = o_t[:, :n]
    return out


def _gru_c(zx, h0, u, b, mask, recurrent_mask, k):
    """:func:`_gru` with one C call per step for the gate math (tanh/sigmoid only)."""
    steps, batch, three = zx.shape
    n = three // 3
    dtype = zx.dtype
    zx, h0, b = (xp.ascontiguousarray(a) for a in (zx, h0, b))
    mask = _c_mask(mask, steps, batch, dtype)
    out = _reuse.empty("gru", (steps, batch, 5 * n), dtype, like=zx)  # h, z, r, hh, rec_h
    whole = _sequence_args(dtype, batch) if k is _native.ckernels else None  # (C only: calls BLAS from C)
    if whole is not None:
        with single_thread():  # the kernel's threads call gemm: one BLAS thread each
            _native.ckernels.gru_sequence(zx, h0, xp.ascontiguousarray(u), b, mask,
                                          _rmask(recurrent_mask, batch, n, dtype), out, *whole)
        return out
    rec = xp.empty((batch, three), dtype=dtype)
    forward = k.gru_forward
    h = h0
    with single_thread():  # one small product per step: the thread hand-off costs more
        for t in range(steps):
            xp.matmul(h if recurrent_mask is None else h * recurrent_mask, u, out=rec)
            forward(rec, b, zx, out, h0, mask, t)
            h = out[t, :, :n]
    return out


def _gru_bptt_c(gv, ov, h0, uv, mask, recurrent_mask, k):
    """The loop of :func:`_gru_vjp` with one C call per step: returns ``(dzx, drec, dh)``."""
    steps, batch, five = ov.shape
    n = five // 5
    dtype = ov.dtype
    gv, h0 = xp.ascontiguousarray(gv, dtype=dtype), xp.ascontiguousarray(h0, dtype=dtype)
    mask = _c_mask(mask, steps, batch, dtype)
    rmask = _rmask(recurrent_mask, batch, n, dtype)
    dzx = _reuse.empty("gru.dzx", (steps, batch, 3 * n), dtype, like=ov)
    drec = _reuse.empty("gru.drec", (steps, batch, 3 * n), dtype, like=ov)
    whole = _sequence_args(dtype, batch) if k is _native.ckernels else None  # (C only: calls BLAS from C)
    if whole is not None:  # the kernel clears the state gradients itself, row slice by row slice
        dhmm, carry = xp.empty((batch, n), dtype=dtype), xp.empty((batch, n), dtype=dtype)
        with single_thread():
            _native.ckernels.gru_sequence_grad(gv, ov, h0, xp.ascontiguousarray(uv, dtype=dtype), mask, rmask,
                                               dzx, drec, dhmm, carry, *whole)
    else:
        ut = xp.ascontiguousarray(uv.T)
        dhmm = xp.zeros((batch, n), dtype=dtype)
        carry = xp.zeros((batch, n), dtype=dtype)
        backward = k.gru_backward
        with single_thread():  # one small product per step: the thread hand-off costs more
            for t in range(steps - 1, -1, -1):
                backward(gv, ov, h0, mask, rmask, dhmm, carry, dzx, drec, t)
                xp.matmul(drec[t], ut, out=dhmm)
    dh = carry + (dhmm if rmask is None else dhmm * rmask)
    return dzx, drec, dh


def _gru_vjp(g, out, zx, h0, u, b, mask=None, recurrent_mask=None, activation=F.TANH,
             recurrent_activation=F.SIGMOID):
    _refuse_higher_order("gru", g, zx, h0, u, b)
    gv, ov, h0v, uv = g._value, out._value, h0._value, u._value
    k = _step_kernels(activation, recurrent_activation, gv, ov, h0v, uv)
    if k is not None:
        dzx, drec, dh = _gru_bptt_c(gv, ov, h0v, uv, mask, recurrent_mask, k)
    else:
        dzx, drec, dh = _gru_bptt(gv, ov, h0v, uv, mask, recurrent_mask, activation, recurrent_activation)
    n = ov.shape[2] // 5
    h_prev = xp.concatenate([h0v[None], ov[:-1, :, :n]], axis=0)
    hr = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    flat = drec.reshape(-1, 3 * n)
    with single_thread():  # as in _lstm_vjp
        du = hr.reshape(-1, n).T @ flat
    return Tensor(dzx), Tensor(dh), Tensor(du), Tensor(flat.sum(axis=0))


def _gru_bptt(gv, ov, h0v, uv, mask, recurrent_mask, activation, recurrent_activation):
    """Backward through time in NumPy: returns ``(dzx, drec, dh)``."""
    dact, drac = activation.derivative, recurrent_activation.derivative
    steps, batch, five = ov.shape
    n = five // 5
    hs, zs, rs, hh, rech = (ov[..., k * n: (k + 1) * n] for k in range(5))
    h_prev = xp.concatenate([h0v[None], hs[:-1]], axis=0)
    f_z = (h_prev - hh) * drac(zs)  # dz_pre = dh * f_z
    f_a = (1 - zs) * dact(hh)  # da = dh * f_a
    f_r = rech * drac(rs)  # dr_pre = da * f_r
    dzx = xp.empty((steps, batch, 3 * n), dtype=ov.dtype)
    drec = xp.empty((steps, batch, 3 * n), dtype=ov.dtype)
    ut = uv.T
    gh = gv[..., :n]
    dh = xp.zeros((batch, n), dtype=ov.dtype)
    with single_thread():  # one small product per step: the thread hand-off costs more
        for t in range(steps - 1, -1, -1):
            dh += gh[t]
            if mask is not None:
                m = mask[t]
                keep = (1 - m) * dh
                dh *= m
            d = dzx[t]
            xp.multiply(dh, f_z[t], out=d[:, :n])
            da = d[:, 2 * n:]
            xp.multiply(dh, f_a[t], out=da)
            xp.multiply(da, f_r[t], out=d[:, n: 2 * n])
            dr = drec[t]
            dr[:, : 2 * n] = d[:, : 2 * n]
            xp.multiply(da, rs[t], out=dr[:, 2 * n:])
            dh_prev = dr @ ut
            if recurrent_mask is not None:
                dh_prev *= recurrent_mask
            dh *= zs[t]
            dh += dh_prev
            if mask is not None:
                dh += keep
    return dzx, drec, dh


gru_op = Op("gru", _gru, vjp=_gru_vjp, save_output=True)


def gru(zx, h0, recurrent_kernel, recurrent_bias, mask=None, recurrent_mask=None, activation="tanh",
        recurrent_activation="sigmoid"):
    """The GRU recurrence over a whole sequence (Keras's gate order z, r, h; ``reset_after=True``).

    ``z = σ(x_z + h W_z + b_z)``, ``r = σ(x_r + h W_r + b_r)``, ``hh = tanh(x_h + r * (h W_h + b_h))``,
    ``h' = z * h + (1 - z) * hh``, where ``x_*`` come from ``zx`` and ``W``/``b`` are the recurrent kernel and
    bias.

    Args:
        zx: ``(timesteps, batch, 3 * units)`` input projections (input bias included).
        h0: ``(batch, units)``.
        recurrent_kernel: ``(units, 3 * units)``; recurrent_bias: ``(3 * units,)``.
        mask, recurrent_mask, activation, recurrent_activation: as for :func:`lstm`.

    Returns:
        ``(h_seq, h_last)``.

    Example:
        >>> import tapeflow as tp
        >>> h, h_last = tp.ops.recurrent.gru(tp.zeros((4, 2, 9)), tp.zeros((2, 3)), tp.zeros((3, 9)),
        ...                                  tp.zeros((9,)))
        >>> h.shape
        (4, 2, 3)
    """
    _check(zx, h0, recurrent_kernel, 3, "gru")
    if zx.shape[0] == 0:
        return (_no_steps(h0), *_initial(h0))
    packed = gru_op(zx, h0, recurrent_kernel, recurrent_bias, mask=mask, recurrent_mask=recurrent_mask,
                    activation=F.resolve(activation, "gru"),
                    recurrent_activation=F.resolve(recurrent_activation, "gru"))
    n = recurrent_kernel.shape[0]
    return packed[:, :, :n], packed[-1, :, :n]


# --- simple RNN ---------------------------------------------------------------------------------------------
def _rnn(zx, h0, u, mask=None, recurrent_mask=None, activation=F.TANH):
    act = activation.forward_
    out = xp.empty(zx.shape, dtype=zx.dtype)
    h = h0
    with single_thread():  # one small product per step: the thread hand-off costs more
        for t in range(zx.shape[0]):
            hr = h if recurrent_mask is None else h * recurrent_mask
            a = xp.matmul(hr, u, out=out[t])
            a += zx[t]
            act(a)
            if mask is not None:
                m = mask[t]
                a *= m
                a += (1 - m) * h
            h = a
    return out


def _rnn_vjp(g, out, zx, h0, u, mask=None, recurrent_mask=None, activation=F.TANH):
    _refuse_higher_order("simple_rnn", g, zx, h0, u)
    dact = activation.derivative
    gv, hs, uv = g._value, out._value, u._value
    steps, batch, n = hs.shape
    h_prev = xp.concatenate([h0._value[None], hs[:-1]], axis=0)
    deriv = dact(hs)
    da = xp.empty_like(hs)
    ut = uv.T
    dh = xp.zeros((batch, n), dtype=hs.dtype)
    with single_thread():  # one small product per step: the thread hand-off costs more
        for t in range(steps - 1, -1, -1):
            dh += gv[t]
            if mask is not None:
                m = mask[t]
                keep = (1 - m) * dh
                dh *= m
            xp.multiply(dh, deriv[t], out=da[t])
            dh = da[t] @ ut
            if recurrent_mask is not None:
                dh *= recurrent_mask
            if mask is not None:
                dh += keep
    hr = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    du = hr.reshape(-1, n).T @ da.reshape(-1, n)
    return Tensor(da), Tensor(dh), Tensor(du)


simple_rnn_op = Op("simple_rnn", _rnn, vjp=_rnn_vjp, save_output=True)


def simple_rnn(zx, h0, recurrent_kernel, mask=None, recurrent_mask=None, activation="tanh"):
    """The simple RNN recurrence ``h' = activation(zx_t + h @ recurrent_kernel)`` over a whole sequence.

    Returns:
        ``(h_seq, h_last)``.

    Example:
        >>> import tapeflow as tp
        >>> h, h_last = tp.ops.recurrent.simple_rnn(tp.zeros((4, 2, 3)), tp.zeros((2, 3)), tp.zeros((3, 3)))
        >>> h_last.shape
        (2, 3)
    """
    _check(zx, h0, recurrent_kernel, 1, "simple_rnn")
    if zx.shape[0] == 0:
        return (_no_steps(h0), *_initial(h0))
    seq = simple_rnn_op(zx, h0, recurrent_kernel, mask=mask, recurrent_mask=recurrent_mask,
                        activation=F.resolve(activation, "simple_rnn"))
    return seq, seq[-1]


# --- helpers ------------------------------------------------------------------------------------------------
def _no_steps(h0):
    """The sequence of a recurrence over zero timesteps: empty, ``(0, batch, units)`` (as Keras)."""
    return Tensor(xp.zeros((0, *h0.shape), dtype=h0.dtype))


def _initial(*states):
    """The final states of a recurrence over zero timesteps: the initial ones, still connected to them."""
    from tapeflow.ops import identity

    return tuple(identity(s) for s in states)


def _check(zx, h0, u, gates, op, c0=None):
    from tapeflow.errors import ShapeError

    zs, hs, us = tuple(zx.shape), tuple(h0.shape), tuple(u.shape)
    ok = len(zs) == 3 and len(hs) == 2 and len(us) == 2 and us[1] == gates * us[0] and zs[2] == us[1] \
        and hs == (zs[1], us[0]) and (c0 is None or tuple(c0.shape) == hs)
    if not ok:
        extra = "" if c0 is None else f", c0.shape={tuple(c0.shape)}"
        raise ShapeError(f"{op}: need zx (timesteps, batch, {gates} * units), h0 (batch, units), "
                         f"recurrent_kernel (units, {gates} * units); got zx.shape={zs}, "
                         f"h0.shape={hs}{extra}, recurrent_kernel.shape={us}")
