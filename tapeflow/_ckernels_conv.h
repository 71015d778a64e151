/* The window kernels of convolution and pooling (tapeflow/ops/conv.py, tapeflow/ops/pooling.py) for one
 * element type: im2col, its adjoint col2im, and max/average pooling forward and backward, each one pass over
 * the data. Included by _ckernels.c with T (the element type), SFX (the name suffix) and ATTR (function
 * attributes: the instruction set to compile for) defined.
 *
 * Layouts are channels-last and C-contiguous, 2-D (1-D callers pass a height of 1):
 *   x   (batch, H, W, C)            the input (its padding is virtual: out-of-range positions read pad_value)
 *   col (batch, OH, OW, KH*KW, C)   every window, offsets row-major (im2col's output, col2im's input)
 *   y   (batch, OH, OW, C)          a pooling output
 * Each function does samples [b0, b1) of the batch, so the caller can split a batch across threads (every
 * sample writes only its own slice of the output).
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

ATTR static void CAT(im2col_, SFX)(const Geometry *q, const T *restrict x, T *restrict col, T pad_value,
                              Py_ssize_t b0, Py_ssize_t b1)
{
    const Py_ssize_t C = q->c, row = q->w * C, window = q->kh * q->kw;
    for (Py_ssize_t b = b0; b < b1; b++) {
        const T *xb = x + b * q->h * row;
        T *dst = col + b * q->oh * q->ow * window * C;
        for (Py_ssize_t oh = 0; oh < q->oh; oh++)
            for (Py_ssize_t ow = 0; ow < q->ow; ow++)
                for (Py_ssize_t i = 0; i < q->kh; i++) {
                    const Py_ssize_t ih = oh * q->sh - q->ph + i * q->dh;
                    for (Py_ssize_t j = 0; j < q->kw; j++, dst += C) {
                        const Py_ssize_t iw = ow * q->sw - q->pw + j * q->dw;
                        if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w)
                            for (Py_ssize_t c = 0; c < C; c++)
                                dst[c] = pad_value;
                        else if (C == 1)  /* a first layer on grey images: no call per element */
                            dst[0] = xb[ih * row + iw];
                        else
                            memcpy(dst, xb + ih * row + iw * C, (size_t)C * sizeof(T));
                    }
                }
    }
}

ATTR static void CAT(col2im_, SFX)(const Geometry *q, const T *restrict col, T *restrict x, Py_ssize_t b0,
                              Py_ssize_t b1)
{
    const Py_ssize_t C = q->c, row = q->w * C, window = q->kh * q->kw;
    for (Py_ssize_t b = b0; b < b1; b++) {
        T *xb = x + b * q->h * row;
        const T *src = col + b * q->oh * q->ow * window * C;
        memset(xb, 0, (size_t)(q->h * row) * sizeof(T));
        for (Py_ssize_t oh = 0; oh < q->oh; oh++)
            for (Py_ssize_t ow = 0; ow < q->ow; ow++)
                for (Py_ssize_t i = 0; i < q->kh; i++) {
                    const Py_ssize_t ih = oh * q->sh - q->ph + i * q->dh;
                    for (Py_ssize_t j = 0; j < q->kw; j++, src += C) {
                        const Py_ssize_t iw = ow * q->sw - q->pw + j * q->dw;
                        if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w)
                            continue;  /* a padded position: its gradient goes nowhere */
                        T *restrict d = xb + ih * row + iw * C;
                        for (Py_ssize_t c = 0; c < C; c++)
                            d[c] += src[c];
                    }
                }
    }
}

/* max pooling: NaN wins (as NumPy's maximum), a window with no real element gives -inf */
ATTR static void CAT(max_pool_, SFX)(const Geometry *q, const T *restrict x, T *restrict y, Py_ssize_t b0,
                                Py_ssize_t b1)
{
    const Py_ssize_t C = q->c, row = q->w * C;
    for (Py_ssize_t b = b0; b < b1; b++) {
        const T *xb = x + b * q->h * row;
        T *yb = y + b * q->oh * q->ow * C;
        for (Py_ssize_t oh = 0; oh < q->oh; oh++)
            for (Py_ssize_t ow = 0; ow < q->ow; ow++, yb += C) {
                for (Py_ssize_t c = 0; c < C; c++)
                    yb[c] = -(T)INFINITY;
                for (Py_ssize_t i = 0; i < q->kh; i++) {
                    const Py_ssize_t ih = oh * q->sh - q->ph + i;
                    if (ih < 0 || ih >= q->h)
                        continue;
                    for (Py_ssize_t j = 0; j < q->kw; j++) {
                        const Py_ssize_t iw = ow * q->sw - q->pw + j;
                        if (iw < 0 || iw >= q->w)
                            continue;
                        const T *restrict s = xb + ih * row + iw * C;
                        for (Py_ssize_t c = 0; c < C; c++)
                            yb[c] = (s[c] > yb[c] || s[c] != s[c]) && yb[c] == yb[c] ? s[c] : yb[c];
                    }
                }
            }
    }
}

/* each window's gradient to the first (row-major) element equal to its maximum y; none when y is NaN.
 * `left` (C elements of scratch) holds what a window's gradient has not yet given away: all of g until the
 * first maximum, then 0 (branch-free, so the channel loops vectorize). */
ATTR static void CAT(max_pool_grad_, SFX)(const Geometry *q, const T *restrict x, const T *restrict y,
                                     const T *restrict g, T *restrict dx, T *restrict left,
                                     Py_ssize_t b0, Py_ssize_t b1)
{
    const Py_ssize_t C = q->c, row = q->w * C;
    /* windows that tile the input exactly write every element of dx once: no clearing, no accumulating */
    const int tiles = q->sh == q->kh && q->sw == q->kw && !q->ph && !q->pw && q->oh * q->kh == q->h &&
                      q->ow * q->kw == q->w;
    for (Py_ssize_t b = b0; b < b1; b++) {
        const T *xb = x + b * q->h * row;
        T *dxb = dx + b * q->h * row;
        const Py_ssize_t base = b * q->oh * q->ow * C;
        if (!tiles)
            memset(dxb, 0, (size_t)(q->h * row) * sizeof(T));
        for (Py_ssize_t oh = 0; oh < q->oh; oh++)
            for (Py_ssize_t ow = 0; ow < q->ow; ow++) {
                const Py_ssize_t at = base + (oh * q->ow + ow) * C;
                const T *restrict yb = y + at;
                memcpy(left, g + at, (size_t)C * sizeof(T));
                for (Py_ssize_t i = 0; i < q->kh; i++) {
                    const Py_ssize_t ih = oh * q->sh - q->ph + i;
                    if (ih < 0 || ih >= q->h)
                        continue;
                    for (Py_ssize_t j = 0; j < q->kw; j++) {
                        const Py_ssize_t iw = ow * q->sw - q->pw + j;
                        if (iw < 0 || iw >= q->w)
                            continue;
                        const T *restrict xs = xb + ih * row + iw * C;
                        T *restrict d = dxb + ih * row + iw * C;
                        if (tiles)
                            for (Py_ssize_t c = 0; c < C; c++) {
                                const int hit = xs[c] == yb[c];
                                d[c] = hit ? left[c] : (T)0;
                                left[c] = hit ? (T)0 : left[c];
                            }
                        else
                            for (Py_ssize_t c = 0; c < C; c++) {
                                const int hit = xs[c] == yb[c];
                                d[c] += hit ? left[c] : (T)0;
                                left[c] = hit ? (T)0 : left[c];
                            }
                    }
                }
            }
    }
}

/* average pooling over the real elements of each window (padded positions are left out of the count) */
ATTR static void CAT(avg_pool_, SFX)(const Geometry *q, const T *restrict x, T *restrict y, Py_ssize_t b0,
                                Py_ssize_t b1)
{
    const Py_ssize_t C = q->c, row = q->w * C;
    for (Py_ssize_t b = b0; b < b1; b++) {
        const T *xb = x + b * q->h * row;
        T *yb = y + b * q->oh * q->ow * C;
        for (Py_ssize_t oh = 0; oh < q->oh; oh++)
            for (Py_ssize_t ow = 0; ow < q->ow; ow++, yb += C) {
                Py_ssize_t count = 0;
                for (Py_ssize_t c = 0; c < C; c++)
                    yb[c] = 0;
                for (Py_ssize_t i = 0; i < q->kh; i++) {
                    const Py_ssize_t ih = oh * q->sh - q->ph + i;
                    if (ih < 0 || ih >= q->h)
                        continue;
                    for (Py_ssize_t j = 0; j < q->kw; j++) {
                        const Py_ssize_t iw = ow * q->sw - q->pw + j;
                        if (iw < 0 || iw >= q->w)
                            continue;
                        const T *restrict s = xb + ih * row + iw * C;
                        for (Py_ssize_t c = 0; c < C; c++)
                            yb[c] += s[c];
                        count++;
                    }
                }
                const T scale = count ? (T)1 / (T)count : (T)NAN;
                for (Py_ssize_t c = 0; c < C; c++)
                    yb[c] *= scale;
            }
    }
}

ATTR static void CAT(avg_pool_grad_, SFX)(const Geometry *q, const T *restrict g, T *restrict dx, Py_ssize_t b0,
                                     Py_ssize_t b1)
{
    const Py_ssize_t C = q->c, row = q->w * C;
    for (Py_ssize_t b = b0; b < b1; b++) {
        T *dxb = dx + b * q->h * row;
        const T *gb = g + b * q->oh * q->ow * C;
        memset(dxb, 0, (size_t)(q->h * row) * sizeof(T));
        for (Py_ssize_t oh = 0; oh < q->oh; oh++)
            for (Py_ssize_t ow = 0; ow < q->ow; ow++, gb += C) {
                const Py_ssize_t i0 = oh * q->sh - q->ph, j0 = ow * q->sw - q->pw;
                const Py_ssize_t ilo = i0 < 0 ? 0 : i0, ihi = i0 + q->kh > q->h ? q->h : i0 + q->kh;
                const Py_ssize_t jlo = j0 < 0 ? 0 : j0, jhi = j0 + q->kw > q->w ? q->w : j0 + q->kw;
                const Py_ssize_t count = (ihi - ilo) * (jhi - jlo);
                if (count <= 0)
                    continue;
                const T scale = (T)1 / (T)count;
                for (Py_ssize_t ih = ilo; ih < ihi; ih++)
                    for (Py_ssize_t iw = jlo; iw < jhi; iw++) {
                        T *restrict d = dxb + ih * row + iw * C;
                        for (Py_ssize_t c = 0; c < C; c++)
                            d[c] += gb[c] * scale;
                    }
            }
    }
}

#undef CAT
#undef CAT_
