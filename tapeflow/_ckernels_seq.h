/* Whole-sequence LSTM and GRU recurrences, forward and backward through time, for the batch rows [r0, r1) of
 * one thread. Batch rows never interact, so each thread runs every timestep of its own rows: the recurrent
 * matrix product (a BLAS gemm through the pointer NumPy's BLAS gave Python) and the step kernels of
 * _ckernels_lstm.h / _ckernels_gru.h, with no synchronisation between threads and no allocation per step.
 * Included by _ckernels.c with T, SFX, GEMM (the gemm wrapper of T), and LSTM_FWD, LSTM_BWD, GRU_FWD, GRU_BWD
 * (the step kernels of T) defined. Layouts are those of the step kernels; the scratch of Seq is full-batch.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* the state entering step t's recurrent product, rows r0.. of it (recurrent dropout applied into hr) */
static const T *CAT(state_in_, SFX)(const Seq *q, Py_ssize_t t, Py_ssize_t width, Py_ssize_t r0, Py_ssize_t r1,
                                    Py_ssize_t *ld)
{
    const Py_ssize_t n = q->n;
    const T *hp = t ? (const T *)q->out + ((t - 1) * q->batch + r0) * width : (const T *)q->h0 + r0 * n;
    *ld = t ? width : n;
    if (!q->rmask)
        return hp;
    const T *rm = (const T *)q->rmask;
    T *hr = q->hr;
    for (Py_ssize_t b = r0; b < r1; b++)
        for (Py_ssize_t j = 0; j < n; j++)
            hr[b * n + j] = hp[(b - r0) * *ld + j] * rm[b * n + j];
    *ld = n;
    return hr + r0 * n;
}

static void CAT(lstm_rows_, SFX)(const void *ctx, int tid, Py_ssize_t r0, Py_ssize_t r1)
{
    const Seq *q = ctx;
    const Py_ssize_t n = q->n, B = q->batch, four = 4 * n;
    Py_ssize_t ld;
    if (!q->backward) {
        T *z = q->work;
        for (Py_ssize_t t = 0; t < q->steps; t++) {
            const T *hp = CAT(state_in_, SFX)(q, t, 6 * n, r0, r1, &ld);
            GEMM(&q->gemm, 0, r1 - r0, four, n, hp, ld, q->u, four, z + r0 * four, four);
            LSTM_FWD(z, q->zx, q->out, q->h0, q->c0, q->mask, t, B, n, r0, r1);
        }
        return;
    }
    T *dhmm = q->dhmm, *dc = q->carry, *keep = q->keep, *dz = q->dx;
    memset(dhmm + r0 * n, 0, (size_t)((r1 - r0) * n) * sizeof(T));
    memset(dc + r0 * n, 0, (size_t)((r1 - r0) * n) * sizeof(T));
    if (keep)
        memset(keep + r0 * n, 0, (size_t)((r1 - r0) * n) * sizeof(T));
    T *tc = (T *)q->work + (Py_ssize_t)tid * four;
    for (Py_ssize_t t = q->steps - 1; t >= 0; t--) {
        LSTM_BWD(q->g, q->out, q->c0, q->mask, q->rmask, dhmm, dc, keep, dz, tc, t, B, n, r0, r1);
        GEMM(&q->gemm, 1, r1 - r0, n, four, dz + (t * B + r0) * four, four, q->u, four, dhmm + r0 * n, n);
    }
}

static void CAT(gru_rows_, SFX)(const void *ctx, int tid, Py_ssize_t r0, Py_ssize_t r1)
{
    const Seq *q = ctx;
    const Py_ssize_t n = q->n, B = q->batch, three = 3 * n;
    Py_ssize_t ld;
    if (!q->backward) {
        T *rec = q->work;
        for (Py_ssize_t t = 0; t < q->steps; t++) {
            const T *hp = CAT(state_in_, SFX)(q, t, 5 * n, r0, r1, &ld);
            GEMM(&q->gemm, 0, r1 - r0, three, n, hp, ld, q->u, three, rec + r0 * three, three);
            GRU_FWD(rec, q->b, q->zx, q->out, q->h0, q->mask, t, B, n, r0, r1);
        }
        return;
    }
    T *dhmm = q->dhmm, *carry = q->carry, *dzx = q->dx, *drec = q->drec;
    memset(dhmm + r0 * n, 0, (size_t)((r1 - r0) * n) * sizeof(T));
    memset(carry + r0 * n, 0, (size_t)((r1 - r0) * n) * sizeof(T));
    T *tmp = (T *)q->work + (Py_ssize_t)tid * 2 * n;
    for (Py_ssize_t t = q->steps - 1; t >= 0; t--) {
        GRU_BWD(q->g, q->out, q->h0, q->mask, q->rmask, dhmm, carry, dzx, drec, tmp, t, B, n, r0, r1);
        GEMM(&q->gemm, 1, r1 - r0, n, three, drec + (t * B + r0) * three, three, q->u, three, dhmm + r0 * n, n);
    }
}

#undef CAT
#undef CAT_
