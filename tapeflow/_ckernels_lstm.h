/* One LSTM timestep's element-wise math, forward and backward, for one element type.
 *
 * Included several times by _ckernels.c, with T (float or double), TANH (the element type's tanh), SFX (a
 * name suffix) and ATTR (function attributes: the instruction set to compile for) defined.
 * Layouts (all C-contiguous, time-major), n = units:
 *   z     (batch, 4n)         h_prev @ recurrent_kernel, gate order i, f, g, o
 *   zx    (steps, batch, 4n)  the input projections
 *   out   (steps, batch, 6n)  per step: h, c, i, f, g, o (the gates after their activations)
 *   h0/c0 (batch, n); mask (steps, batch) or NULL, 1 = real step, 0 = carry the state over
 *   g     (steps, batch, 6n)  the upstream gradient of out (only its h and c blocks are read)
 *   dhmm  (batch, n)          dz[t + 1] @ recurrent_kernel.T (zeros at the last step)
 *   dc    (batch, n)          the cell-state gradient, updated in place
 *   keep  (batch, n)          (masked only) the part of dh a masked step passes straight through
 *   rmask (batch, n) or NULL  the recurrent-dropout mask the forward applied to h before the product
 *   dz    (steps, batch, 4n)  the gradient of the gates' pre-activations, written for step t
 *   tc    (4n)                scratch
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

static void CAT(lstm_forward_, SFX)(const T *restrict z, const T *restrict zx, T *restrict out,
                                    const T *restrict h0, const T *restrict c0, const T *restrict mask,
                                    Py_ssize_t t, Py_ssize_t batch, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1) ATTR;

static void CAT(lstm_forward_, SFX)(const T *restrict z, const T *restrict zx, T *restrict out,
                                    const T *restrict h0, const T *restrict c0, const T *restrict mask,
                                    Py_ssize_t t, Py_ssize_t batch, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1)
{
    const Py_ssize_t four = 4 * n, six = 6 * n;
    for (Py_ssize_t b = r0; b < r1; b++) {
        const T *zb = z + b * four;
        const T *xb = zx + (t * batch + b) * four;
        T *ob = out + (t * batch + b) * six;
        T *gates = ob + 2 * n;
        const T *cp = t ? out + ((t - 1) * batch + b) * six + n : c0 + b * n;
        const T *hp = t ? out + ((t - 1) * batch + b) * six : h0 + b * n;
        /* i, f: sigmoid(a) = tanh(a / 2) / 2 + 1/2 (never overflows); g: tanh; o: sigmoid */
        for (Py_ssize_t k = 0; k < 2 * n; k++)
            gates[k] = (T)0.5 * TANH((T)0.5 * (zb[k] + xb[k])) + (T)0.5;
        for (Py_ssize_t k = 2 * n; k < 3 * n; k++)
            gates[k] = TANH(zb[k] + xb[k]);
        for (Py_ssize_t k = 3 * n; k < four; k++)
            gates[k] = (T)0.5 * TANH((T)0.5 * (zb[k] + xb[k])) + (T)0.5;
        T *h = ob, *c = ob + n;
        const T *gi = gates, *gf = gates + n, *gg = gates + 2 * n, *go = gates + 3 * n;
        for (Py_ssize_t j = 0; j < n; j++)
            c[j] = gf[j] * cp[j] + gi[j] * gg[j];
        for (Py_ssize_t j = 0; j < n; j++)
            h[j] = go[j] * TANH(c[j]);
        if (mask) {  /* a masked step keeps the previous state: new = old + m * (new - old) */
            const T m = mask[t * batch + b];
            for (Py_ssize_t j = 0; j < n; j++) {
                c[j] = cp[j] + m * (c[j] - cp[j]);
                h[j] = hp[j] + m * (h[j] - hp[j]);
            }
        }
    }
}

static void CAT(lstm_backward_, SFX)(const T *restrict g, const T *restrict out, const T *restrict c0,
                                     const T *restrict mask, const T *restrict rmask,
                                     const T *restrict dhmm, T *restrict dc, T *restrict keep,
                                     T *restrict dz, T *restrict tc,
                                     Py_ssize_t t, Py_ssize_t batch, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1) ATTR;

static void CAT(lstm_backward_, SFX)(const T *restrict g, const T *restrict out, const T *restrict c0,
                                     const T *restrict mask, const T *restrict rmask,
                                     const T *restrict dhmm, T *restrict dc, T *restrict keep,
                                     T *restrict dz, T *restrict tc,
                                     Py_ssize_t t, Py_ssize_t batch, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1)
{
    const Py_ssize_t four = 4 * n, six = 6 * n;
    for (Py_ssize_t b = r0; b < r1; b++) {
        const T *ob = out + (t * batch + b) * six;
        const T *gb = g + (t * batch + b) * six;
        const T *cp = t ? out + ((t - 1) * batch + b) * six + n : c0 + b * n;
        const T *c = ob + n, *gi = ob + 2 * n, *gf = ob + 3 * n, *gg = ob + 4 * n, *go = ob + 5 * n;
        const T *mm = dhmm + b * n;
        const T *rm = rmask ? rmask + b * n : NULL;
        T *dcb = dc + b * n, *kb = keep ? keep + b * n : NULL;
        T *d = dz + (t * batch + b) * four;
        /* separate simple loops, no pointer tests inside: they vectorize without masked loads */
        T *dh = tc + n, *dcv = tc + 2 * n, *kc = tc + 3 * n;
        for (Py_ssize_t j = 0; j < n; j++)
            tc[j] = TANH(c[j]);
        if (rm)
            for (Py_ssize_t j = 0; j < n; j++)
                dh[j] = mm[j] * rm[j] + gb[j];
        else
            for (Py_ssize_t j = 0; j < n; j++)
                dh[j] = mm[j] + gb[j];
        for (Py_ssize_t j = 0; j < n; j++)
            dcv[j] = dcb[j] + gb[n + j];
        if (kb) { /* a masked step passes (1 - m) of both gradients straight through */
            const T m = mask[t * batch + b];
            for (Py_ssize_t j = 0; j < n; j++) {
                const T dhj = dh[j] + kb[j];
                kb[j] = (1 - m) * dhj;
                kc[j] = (1 - m) * dcv[j];
                dh[j] = m * dhj;
                dcv[j] *= m;
            }
        }
        for (Py_ssize_t j = 0; j < n; j++) {
            const T i = gi[j], f = gf[j], gv = gg[j], o = go[j], a = tc[j], dhj = dh[j];
            const T dcj = dcv[j] + dhj * o * (1 - a * a);
            d[j] = dcj * gv * i * (1 - i);
            d[n + j] = dcj * cp[j] * f * (1 - f);
            d[2 * n + j] = dcj * i * (1 - gv * gv);
            d[3 * n + j] = dhj * a * o * (1 - o);
            dcb[j] = dcj * f;
        }
        if (kb)
            for (Py_ssize_t j = 0; j < n; j++)
                dcb[j] += kc[j];
    }
}

static void CAT(tanh_, SFX)(const T *restrict x, T *restrict out, Py_ssize_t size) ATTR;

static void CAT(tanh_, SFX)(const T *restrict x, T *restrict out, Py_ssize_t size)
{
    for (Py_ssize_t i = 0; i < size; i++)
        out[i] = TANH(x[i]);
}

#undef CAT
#undef CAT_
