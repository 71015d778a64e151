/* The element-wise neighbours of a dense layer's matrix products and the Adam update, for one element type:
 * one pass each, written so the compiler vectorizes them (no branches on the data, -fno-math-errno).
 *
 * Included by _ckernels.c with T (float or double), SQRT (its square root), SFX (a name suffix) and ATTR
 * (function attributes: the instruction set to compile for) defined. Layouts are C-contiguous, rows x n:
 *   bias_act:   y = act(y + b)                      (y the fresh matrix product, in place; b (n) or NULL)
 *   act_grad:   gz = g * act'(out) over rows [r0, r1), and gb += the column sums of gz (gb (n) or NULL);
 *               relu's derivative from its output: 1 where out > 0
 *   adam:       m = b1 m + g; v = b2 v + g*g; w -= m / (sqrt(v c) + e)   (Adam's scaled moments, see adam.py)
 * act: 0 linear, 1 relu.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

static void CAT(bias_act_, SFX)(T *restrict y, const T *restrict b, Py_ssize_t r0, Py_ssize_t r1,
                                Py_ssize_t n, int act) ATTR;
static void CAT(bias_act_, SFX)(T *restrict y, const T *restrict b, Py_ssize_t r0, Py_ssize_t r1,
                                Py_ssize_t n, int act)
{
    for (Py_ssize_t r = r0; r < r1; r++) {
        T *restrict yr = y + r * n;
        if (b && act)
            for (Py_ssize_t j = 0; j < n; j++) {
                const T s = yr[j] + b[j];
                yr[j] = s > 0 ? s : 0;
            }
        else if (b)
            for (Py_ssize_t j = 0; j < n; j++)
                yr[j] += b[j];
        else if (act)
            for (Py_ssize_t j = 0; j < n; j++)
                yr[j] = yr[j] > 0 ? yr[j] : 0;
    }
}

static void CAT(act_grad_, SFX)(const T *restrict g, const T *restrict out, T *restrict gz, T *restrict gb,
                                Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, int act) ATTR;
static void CAT(act_grad_, SFX)(const T *restrict g, const T *restrict out, T *restrict gz, T *restrict gb,
                                Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t n, int act)
{
    for (Py_ssize_t r = r0; r < r1; r++) {
        const T *restrict gr = g + r * n, *restrict o = out + r * n;
        T *restrict zr = gz + r * n;
        if (act)
            for (Py_ssize_t j = 0; j < n; j++)
                zr[j] = o[j] > 0 ? gr[j] : 0;
        if (gb) {
            const T *restrict src = act ? zr : gr;
            for (Py_ssize_t j = 0; j < n; j++)
                gb[j] += src[j];
        }
    }
}

static void CAT(adam_, SFX)(T *restrict w, const T *restrict g, T *restrict m, T *restrict v, Py_ssize_t n,
                            T b1, T b2, T c, T e) ATTR;
static void CAT(adam_, SFX)(T *restrict w, const T *restrict g, T *restrict m, T *restrict v, Py_ssize_t n,
                            T b1, T b2, T c, T e)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        const T gi = g[i], mi = b1 * m[i] + gi, vi = b2 * v[i] + gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= mi / (SQRT(vi * c) + e);
    }
}
