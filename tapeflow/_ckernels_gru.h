/* One GRU timestep's element-wise math (reset_after=True, gate order z, r, h), forward and backward, for one
 * element type. Included like _ckernels_lstm.h (T, TANH, SFX, ATTR defined). Layouts (C-contiguous,
 * time-major), n = units:
 *   rec   (batch, 3n)         h_prev @ recurrent_kernel (the recurrent bias not added)
 *   b     (3n)                the recurrent bias
 *   zx    (steps, batch, 3n)  the input projections
 *   out   (steps, batch, 5n)  per step: h, z, r, hh (the candidate), rec_h (the h-part of rec, bias added)
 *   h0    (batch, n); mask (steps, batch) or NULL
 *   g     (steps, batch, 5n)  the upstream gradient of out (only its h block is read)
 *   dhmm  (batch, n)          drec[t + 1] @ recurrent_kernel.T (zeros at the last step)
 *   carry (batch, n)          the rest of dh from step t + 1 (dh * z, plus what a masked step passed through)
 *   rmask (batch, n) or NULL  the recurrent-dropout mask
 *   dzx, drec (steps, batch, 3n)  the gradients of the input projection and of rec, written for step t
 *   tmp   (2n)                scratch
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

static void CAT(gru_forward_, SFX)(const T *restrict rec, const T *restrict b, const T *restrict zx,
                                   T *restrict out, const T *restrict h0, const T *restrict mask,
                                   Py_ssize_t t, Py_ssize_t batch, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1) ATTR;

static void CAT(gru_forward_, SFX)(const T *restrict rec, const T *restrict b, const T *restrict zx,
                                   T *restrict out, const T *restrict h0, const T *restrict mask,
                                   Py_ssize_t t, Py_ssize_t batch, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1)
{
    const Py_ssize_t three = 3 * n, five = 5 * n;
    for (Py_ssize_t row = r0; row < r1; row++) {
        const T *rb = rec + row * three;
        const T *xb = zx + (t * batch + row) * three;
        T *ob = out + (t * batch + row) * five;
        const T *hp = t ? out + ((t - 1) * batch + row) * five : h0 + row * n;
        T *h = ob, *zr = ob + n, *hh = ob + 3 * n, *rh = ob + 4 * n;
        for (Py_ssize_t k = 0; k < 2 * n; k++)  /* z, r: sigmoid(a) = tanh(a / 2) / 2 + 1/2 */
            zr[k] = (T)0.5 * TANH((T)0.5 * (xb[k] + (rb[k] + b[k]))) + (T)0.5;
        for (Py_ssize_t j = 0; j < n; j++)
            rh[j] = rb[2 * n + j] + b[2 * n + j];
        const T *z = zr, *r = zr + n;
        for (Py_ssize_t j = 0; j < n; j++)
            hh[j] = TANH(r[j] * rh[j] + xb[2 * n + j]);
        for (Py_ssize_t j = 0; j < n; j++)
            h[j] = z[j] * (hp[j] - hh[j]) + hh[j];  /* z * h + (1 - z) * hh */
        if (mask) {
            const T m = mask[t * batch + row];
            for (Py_ssize_t j = 0; j < n; j++)
                h[j] = m * h[j] + (1 - m) * hp[j];
        }
    }
}

static void CAT(gru_backward_, SFX)(const T *restrict g, const T *restrict out, const T *restrict h0,
                                    const T *restrict mask, const T *restrict rmask,
                                    const T *restrict dhmm, T *restrict carry, T *restrict dzx,
                                    T *restrict drec, T *restrict tmp,
                                    Py_ssize_t t, Py_ssize_t batch, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1) ATTR;

static void CAT(gru_backward_, SFX)(const T *restrict g, const T *restrict out, const T *restrict h0,
                                    const T *restrict mask, const T *restrict rmask,
                                    const T *restrict dhmm, T *restrict carry, T *restrict dzx,
                                    T *restrict drec, T *restrict tmp,
                                    Py_ssize_t t, Py_ssize_t batch, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1)
{
    const Py_ssize_t three = 3 * n, five = 5 * n;
    for (Py_ssize_t row = r0; row < r1; row++) {
        const T *ob = out + (t * batch + row) * five;
        const T *gb = g + (t * batch + row) * five;
        const T *hp = t ? out + ((t - 1) * batch + row) * five : h0 + row * n;
        const T *z = ob + n, *r = ob + 2 * n, *hh = ob + 3 * n, *rh = ob + 4 * n;
        const T *mm = dhmm + row * n;
        T *cb = carry + row * n;
        T *dx = dzx + (t * batch + row) * three, *dr = drec + (t * batch + row) * three;
        T *dh = tmp, *keep = tmp + n;
        if (rmask) {
            const T *rm = rmask + row * n;
            for (Py_ssize_t j = 0; j < n; j++)
                dh[j] = cb[j] + mm[j] * rm[j] + gb[j];
        } else {
            for (Py_ssize_t j = 0; j < n; j++)
                dh[j] = cb[j] + mm[j] + gb[j];
        }
        if (mask) {  /* a masked step passes (1 - m) of dh straight through */
            const T m = mask[t * batch + row];
            for (Py_ssize_t j = 0; j < n; j++) {
                keep[j] = (1 - m) * dh[j];
                dh[j] *= m;
            }
        }
        for (Py_ssize_t j = 0; j < n; j++) {
            const T d = dh[j], zj = z[j], rj = r[j], hj = hh[j];
            const T dz = d * (hp[j] - hj) * zj * (1 - zj);
            const T da = d * (1 - zj) * (1 - hj * hj);
            const T drr = da * rh[j] * rj * (1 - rj);
            dx[j] = dz;
            dx[n + j] = drr;
            dx[2 * n + j] = da;
            dr[j] = dz;
            dr[n + j] = drr;
            dr[2 * n + j] = da * rj;
            cb[j] = d * zj;
        }
        if (mask)
            for (Py_ssize_t j = 0; j < n; j++)
                cb[j] += keep[j];
    }
}

#undef CAT
#undef CAT_
