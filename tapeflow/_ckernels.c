/* tapeflow._ckernels: optional C kernels for the recurrent ops (tapeflow/ops/recurrent.py) and for the window
 * ops of convolution and pooling (tapeflow/ops/conv.py, tapeflow/ops/pooling.py).
 *
 * One call does a whole LSTM or GRU timestep's gate math (forward: the gate activations and the state
 * updates, masking; backward: the gate derivatives and the state gradients), in plain C loops over
 * C-contiguous float32 or float64 buffers. The matrix products stay in NumPy (BLAS). When this module is
 * missing (no C compiler at install time), tapeflow runs the same math with NumPy calls.
 *
 * float64 uses the C library's tanh. float32 uses tanh_f below: tanh(|x|) = -expm1(-2|x|) / (2 + expm1(-2|x|)),
 * with expm1 from the usual reduction y = k ln2 + r, |r| <= ln2 / 2, and a degree-7 Taylor polynomial in r
 * (truncation < 1e-8 relative), so it is branch-free and the compiler vectorizes the loops. Its results differ
 * from NumPy's float32 tanh by a few units in the last place.
 *
 * adam() is the Adam optimizer's update in one pass over the weight, its gradient and both moments; bias_act()
 * and act_grad() are a dense layer's bias + activation and its gradient with the bias gradient, one pass each
 * (_ckernels_dense.h).
 *
 * The window kernels (_ckernels_conv.h: im2col, col2im, max and average pooling forward and backward) split
 * the batch across POSIX threads, with the GIL released for the whole call; the caller says how many threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#define CKERNELS_VERSION 6

#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict
#endif

/* x86-64 with GCC >= 12: the float32 kernels are also compiled for AVX2+FMA (x86-64-v3) and AVX-512
 * (x86-64-v4, 512-bit vectors: 1.7x faster than 256-bit ones on the machine measured), picked at import */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__)
#define DISPATCH 1
#else
#define DISPATCH 0
#endif

static inline float tanh_f(float x)
{
    float ax = fabsf(x);
    ax = ax > 9.0f ? 9.0f : ax; /* tanh(9) rounds to 1 in float32; NaN passes through */
    const float y = -2.0f * ax;
    /* k = round(y / ln2) by the 1.5 * 2^23 trick (exact for |y / ln2| < 2^22); big's low bits hold k */
    const float big = y * 1.44269504088896341f + 12582912.0f;
    const float kf = big - 12582912.0f;
    float r = y - kf * 0.693145751953125f; /* ln2 split in two for an exact first product */
    r = r - kf * 1.42860682030941723212e-6f;
    const float p = r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                    r * (1.0f / 720 + r * (1.0f / 5040)))))));
    uint32_t bits;
    memcpy(&bits, &big, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;          /* 2^k, k in [-26, 0] */
    float s;
    memcpy(&s, &bits, sizeof s);
    const float em1 = s * p + (s - 1.0f);              /* expm1(y) */
    return copysignf(-em1 / (2.0f + em1), x);
}

/* the geometry of a 2-D window op (see _ckernels_conv.h) */
typedef struct {
    Py_ssize_t n, h, w, c;   /* input */
    Py_ssize_t oh, ow;       /* output positions */
    Py_ssize_t kh, kw, sh, sw, dh, dw, ph, pw;  /* window, strides, dilation, padding before */
} Geometry;


#define T float
#define TANH tanh_f
#define SQRT sqrtf
#define SFX f32
#define ATTR
#include "_ckernels_lstm.h"
#include "_ckernels_gru.h"
#include "_ckernels_dense.h"
#include "_ckernels_conv.h"
#undef SFX
#undef ATTR
#if DISPATCH
#define SFX f32_v3
#define ATTR __attribute__((target("arch=x86-64-v3")))
#include "_ckernels_lstm.h"
#include "_ckernels_gru.h"
#include "_ckernels_dense.h"
#include "_ckernels_conv.h"
#undef SFX
#undef ATTR
#define SFX f32_v4
#define ATTR __attribute__((target("arch=x86-64-v4,prefer-vector-width=512")))
#include "_ckernels_lstm.h"
#include "_ckernels_gru.h"
#include "_ckernels_dense.h"
#include "_ckernels_conv.h"
#undef SFX
#undef ATTR
#endif
#undef T
#undef TANH
#undef SQRT

#define T double
#define TANH tanh
#define SQRT sqrt
#define SFX f64
#define ATTR
#include "_ckernels_lstm.h"
#include "_ckernels_gru.h"
#include "_ckernels_dense.h"
#include "_ckernels_conv.h"
#undef T
#undef TANH
#undef SQRT
#undef SFX
#undef ATTR


/* the float32 kernels of one instruction set */
typedef struct {
    void (*lstm_forward)(const float *, const float *, float *, const float *, const float *, const float *,
                         Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t);
    void (*lstm_backward)(const float *, const float *, const float *, const float *, const float *,
                          const float *, float *, float *, float *, float *, Py_ssize_t, Py_ssize_t,
                          Py_ssize_t, Py_ssize_t, Py_ssize_t);
    void (*gru_forward)(const float *, const float *, const float *, float *, const float *, const float *,
                        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t);
    void (*gru_backward)(const float *, const float *, const float *, const float *, const float *,
                         const float *, float *, float *, float *, float *, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, Py_ssize_t, Py_ssize_t);
    void (*tanh)(const float *, float *, Py_ssize_t);
    void (*bias_act)(float *, const float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, int);
    void (*act_grad)(const float *, const float *, float *, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, int);
    void (*adam)(float *, const float *, float *, float *, Py_ssize_t, float, float, float, float);
    void (*im2col)(const Geometry *, const float *, float *, float, Py_ssize_t, Py_ssize_t);
    void (*col2im)(const Geometry *, const float *, float *, Py_ssize_t, Py_ssize_t);
    void (*max_pool)(const Geometry *, const float *, float *, Py_ssize_t, Py_ssize_t);
    void (*max_pool_grad)(const Geometry *, const float *, const float *, const float *, float *, float *,
                          Py_ssize_t, Py_ssize_t);
    void (*avg_pool)(const Geometry *, const float *, float *, Py_ssize_t, Py_ssize_t);
    void (*avg_pool_grad)(const Geometry *, const float *, float *, Py_ssize_t, Py_ssize_t);
    const char *isa;
} Kernels;

#define KERNELS(sfx, name) {lstm_forward_##sfx, lstm_backward_##sfx, gru_forward_##sfx, gru_backward_##sfx, \
                            tanh_##sfx, bias_act_##sfx, act_grad_##sfx, adam_##sfx, im2col_##sfx, col2im_##sfx, \
                            max_pool_##sfx, max_pool_grad_##sfx, avg_pool_##sfx, avg_pool_grad_##sfx, name}
static Kernels f32 = KERNELS(f32, "baseline");

static void pick_kernels(void)
{
#if DISPATCH
    /* TAPEFLOW_CKERNELS_ISA=baseline or x86-64-v3 caps the choice (the tests run every variant) */
    const char *cap = getenv("TAPEFLOW_CKERNELS_ISA");
    const int max_level = !cap ? 4 : strcmp(cap, "x86-64-v3") == 0 ? 3 : strcmp(cap, "baseline") == 0 ? 0 : 4;
    __builtin_cpu_init();
    if (max_level >= 4 && __builtin_cpu_supports("x86-64-v4")) {
        Kernels v4 = KERNELS(f32_v4, "x86-64-v4");
        f32 = v4;
    } else if (max_level >= 3 && __builtin_cpu_supports("x86-64-v3")) {
        Kernels v3 = KERNELS(f32_v3, "x86-64-v3");
        f32 = v3;
    }
#endif
}

/* --- argument handling ------------------------------------------------------------------------------------- */
typedef struct {
    Py_buffer views[12];
    int count;
    char kind; /* 'f' or 'd' once the first array is seen */
} Args;

static void release(Args *a)
{
    for (int i = 0; i < a->count; i++)
        PyBuffer_Release(&a->views[i]);
    a->count = 0;
}

/* A C-contiguous float32/float64 buffer of `size` elements (or any size when size < 0); None -> NULL when
 * optional. Returns 0 on success, -1 with an exception set. */
static int get(Args *a, PyObject *obj, const char *name, int writable, int optional, Py_ssize_t size,
               void **ptr, Py_buffer **view_out)
{
    *ptr = NULL;
    if (obj == Py_None) {
        if (optional)
            return 0;
        PyErr_Format(PyExc_TypeError, "_ckernels: `%s` must be an array, not None", name);
        return -1;
    }
    Py_buffer *v = &a->views[a->count];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, v, flags) < 0)
        return -1;
    a->count++;
    const char *fmt = v->format ? v->format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@')
        fmt++;
    char kind = (fmt[0] == 'f' || fmt[0] == 'd') && fmt[1] == '\0' ? fmt[0] : 0;
    if (!kind || (a->kind && kind != a->kind)) {
        PyErr_Format(PyExc_TypeError, "_ckernels: `%s` must be float32 or float64 like the other arrays; "
                     "got format %s", name, fmt);
        return -1;
    }
    a->kind = kind;
    Py_ssize_t n = v->len / v->itemsize;
    if (size >= 0 && n != size) {
        PyErr_Format(PyExc_ValueError, "_ckernels: `%s` has %zd elements, expected %zd", name, n, size);
        return -1;
    }
    *ptr = v->buf;
    if (view_out)
        *view_out = v;
    return 0;
}

static int dims(Py_buffer *out, Py_ssize_t parts, Py_ssize_t t, Py_ssize_t *steps, Py_ssize_t *batch,
                Py_ssize_t *n)
{
    if (out->ndim != 3 || out->shape[2] % parts != 0) {
        PyErr_Format(PyExc_ValueError, "_ckernels: `out` must have shape (steps, batch, %zd * units)", parts);
        return -1;
    }
    *steps = out->shape[0];
    *batch = out->shape[1];
    *n = out->shape[2] / parts;
    if (t < 0 || t >= *steps) {
        PyErr_Format(PyExc_IndexError, "_ckernels: step %zd out of range for %zd steps", t, *steps);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(lstm_forward_doc,
"lstm_forward(z, zx, out, h0, c0, mask, t)\n--\n\n"
"One LSTM step: from z = h_prev @ recurrent_kernel and zx[t], write h, c and the gates i, f, g, o into out[t].");

static PyObject *lstm_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "lstm_forward takes 7 arguments");
        return NULL;
    }
    Py_ssize_t t = PyLong_AsSsize_t(args[6]);
    if (t == -1 && PyErr_Occurred())
        return NULL;
    Args a = {.count = 0, .kind = 0};
    void *out, *z, *zx, *h0, *c0, *mask;
    Py_buffer *ov;
    Py_ssize_t steps, batch, n;
    if (get(&a, args[2], "out", 1, 0, -1, &out, &ov) < 0 || dims(ov, 6, t, &steps, &batch, &n) < 0 ||
        get(&a, args[0], "z", 0, 0, batch * 4 * n, &z, NULL) < 0 ||
        get(&a, args[1], "zx", 0, 0, steps * batch * 4 * n, &zx, NULL) < 0 ||
        get(&a, args[3], "h0", 0, 0, batch * n, &h0, NULL) < 0 ||
        get(&a, args[4], "c0", 0, 0, batch * n, &c0, NULL) < 0 ||
        get(&a, args[5], "mask", 0, 1, steps * batch, &mask, NULL) < 0) {
        release(&a);
        return NULL;
    }
    if (a.kind == 'f')
        f32.lstm_forward(z, zx, out, h0, c0, mask, t, batch, n, 0, batch);
    else
        lstm_forward_f64(z, zx, out, h0, c0, mask, t, batch, n, 0, batch);
    release(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(lstm_backward_doc,
"lstm_backward(g, out, c0, mask, rmask, dhmm, dc, keep, dz, t)\n--\n\n"
"One LSTM step backward: write dz[t] and update dc (and keep when masked) in place.");

static PyObject *lstm_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "lstm_backward takes 10 arguments");
        return NULL;
    }
    Py_ssize_t t = PyLong_AsSsize_t(args[9]);
    if (t == -1 && PyErr_Occurred())
        return NULL;
    Args a = {.count = 0, .kind = 0};
    void *g, *out, *c0, *mask, *rmask, *dhmm, *dc, *keep, *dz;
    Py_buffer *ov;
    Py_ssize_t steps, batch, n;
    if (get(&a, args[1], "out", 0, 0, -1, &out, &ov) < 0 || dims(ov, 6, t, &steps, &batch, &n) < 0 ||
        get(&a, args[0], "g", 0, 0, steps * batch * 6 * n, &g, NULL) < 0 ||
        get(&a, args[2], "c0", 0, 0, batch * n, &c0, NULL) < 0 ||
        get(&a, args[3], "mask", 0, 1, steps * batch, &mask, NULL) < 0 ||
        get(&a, args[4], "rmask", 0, 1, batch * n, &rmask, NULL) < 0 ||
        get(&a, args[5], "dhmm", 0, 0, batch * n, &dhmm, NULL) < 0 ||
        get(&a, args[6], "dc", 1, 0, batch * n, &dc, NULL) < 0 ||
        get(&a, args[7], "keep", 1, 1, batch * n, &keep, NULL) < 0 ||
        get(&a, args[8], "dz", 1, 0, steps * batch * 4 * n, &dz, NULL) < 0) {
        release(&a);
        return NULL;
    }
    if (mask && !keep) {
        release(&a);
        PyErr_SetString(PyExc_ValueError, "_ckernels: a mask needs the `keep` buffer");
        return NULL;
    }
    void *tc = PyMem_Malloc((size_t)(n > 0 ? 4 * n : 1) * (a.kind == 'f' ? sizeof(float) : sizeof(double)));
    if (!tc) {
        release(&a);
        return PyErr_NoMemory();
    }
    if (a.kind == 'f')
        f32.lstm_backward(g, out, c0, mask, rmask, dhmm, dc, keep, dz, tc, t, batch, n, 0, batch);
    else
        lstm_backward_f64(g, out, c0, mask, rmask, dhmm, dc, keep, dz, tc, t, batch, n, 0, batch);
    PyMem_Free(tc);
    release(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(gru_forward_doc,
"gru_forward(rec, b, zx, out, h0, mask, t)\n--\n\n"
"One GRU step: from rec = h_prev @ recurrent_kernel, the recurrent bias b and zx[t], write h, z, r, hh and\n"
"rec_h into out[t].");

static PyObject *gru_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "gru_forward takes 7 arguments");
        return NULL;
    }
    Py_ssize_t t = PyLong_AsSsize_t(args[6]);
    if (t == -1 && PyErr_Occurred())
        return NULL;
    Args a = {.count = 0, .kind = 0};
    void *rec, *b, *zx, *out, *h0, *mask;
    Py_buffer *ov;
    Py_ssize_t steps, batch, n;
    if (get(&a, args[3], "out", 1, 0, -1, &out, &ov) < 0 || dims(ov, 5, t, &steps, &batch, &n) < 0 ||
        get(&a, args[0], "rec", 0, 0, batch * 3 * n, &rec, NULL) < 0 ||
        get(&a, args[1], "b", 0, 0, 3 * n, &b, NULL) < 0 ||
        get(&a, args[2], "zx", 0, 0, steps * batch * 3 * n, &zx, NULL) < 0 ||
        get(&a, args[4], "h0", 0, 0, batch * n, &h0, NULL) < 0 ||
        get(&a, args[5], "mask", 0, 1, steps * batch, &mask, NULL) < 0) {
        release(&a);
        return NULL;
    }
    if (a.kind == 'f')
        f32.gru_forward(rec, b, zx, out, h0, mask, t, batch, n, 0, batch);
    else
        gru_forward_f64(rec, b, zx, out, h0, mask, t, batch, n, 0, batch);
    release(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(gru_backward_doc,
"gru_backward(g, out, h0, mask, rmask, dhmm, carry, dzx, drec, t)\n--\n\n"
"One GRU step backward: write dzx[t] and drec[t], update carry in place.");

static PyObject *gru_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "gru_backward takes 10 arguments");
        return NULL;
    }
    Py_ssize_t t = PyLong_AsSsize_t(args[9]);
    if (t == -1 && PyErr_Occurred())
        return NULL;
    Args a = {.count = 0, .kind = 0};
    void *g, *out, *h0, *mask, *rmask, *dhmm, *carry, *dzx, *drec;
    Py_buffer *ov;
    Py_ssize_t steps, batch, n;
    if (get(&a, args[1], "out", 0, 0, -1, &out, &ov) < 0 || dims(ov, 5, t, &steps, &batch, &n) < 0 ||
        get(&a, args[0], "g", 0, 0, steps * batch * 5 * n, &g, NULL) < 0 ||
        get(&a, args[2], "h0", 0, 0, batch * n, &h0, NULL) < 0 ||
        get(&a, args[3], "mask", 0, 1, steps * batch, &mask, NULL) < 0 ||
        get(&a, args[4], "rmask", 0, 1, batch * n, &rmask, NULL) < 0 ||
        get(&a, args[5], "dhmm", 0, 0, batch * n, &dhmm, NULL) < 0 ||
        get(&a, args[6], "carry", 1, 0, batch * n, &carry, NULL) < 0 ||
        get(&a, args[7], "dzx", 1, 0, steps * batch * 3 * n, &dzx, NULL) < 0 ||
        get(&a, args[8], "drec", 1, 0, steps * batch * 3 * n, &drec, NULL) < 0) {
        release(&a);
        return NULL;
    }
    void *tmp = PyMem_Malloc((size_t)(n > 0 ? 2 * n : 1) * (a.kind == 'f' ? sizeof(float) : sizeof(double)));
    if (!tmp) {
        release(&a);
        return PyErr_NoMemory();
    }
    if (a.kind == 'f')
        f32.gru_backward(g, out, h0, mask, rmask, dhmm, carry, dzx, drec, tmp, t, batch, n, 0, batch);
    else
        gru_backward_f64(g, out, h0, mask, rmask, dhmm, carry, dzx, drec, tmp, t, batch, n, 0, batch);
    PyMem_Free(tmp);
    release(&a);
    Py_RETURN_NONE;
}

/* --- the window ops: one job split over the batch ----------------------------------------------------------- */
enum { IM2COL, COL2IM, MAX_POOL, MAX_POOL_GRAD, AVG_POOL, AVG_POOL_GRAD };

typedef struct {
    int op;
    char kind;
    Geometry q;
    const void *a, *b, *c;   /* inputs, per op */
    void *out;
    double pad_value;
    void *scratch;           /* max_pool_grad: q.c elements per thread */
} Job;

static void run_slice(const Job *j, int tid, Py_ssize_t b0, Py_ssize_t b1)
{
    const Geometry *q = &j->q;
    if (j->kind == 'f') {
        switch (j->op) {
        case IM2COL: f32.im2col(q, j->a, j->out, (float)j->pad_value, b0, b1); break;
        case COL2IM: f32.col2im(q, j->a, j->out, b0, b1); break;
        case MAX_POOL: f32.max_pool(q, j->a, j->out, b0, b1); break;
        case MAX_POOL_GRAD: f32.max_pool_grad(q, j->a, j->b, j->c, j->out, (float *)j->scratch + tid * q->c, b0, b1); break;
        case AVG_POOL: f32.avg_pool(q, j->a, j->out, b0, b1); break;
        case AVG_POOL_GRAD: f32.avg_pool_grad(q, j->a, j->out, b0, b1); break;
        }
    } else {
        switch (j->op) {
        case IM2COL: im2col_f64(q, j->a, j->out, j->pad_value, b0, b1); break;
        case COL2IM: col2im_f64(q, j->a, j->out, b0, b1); break;
        case MAX_POOL: max_pool_f64(q, j->a, j->out, b0, b1); break;
        case MAX_POOL_GRAD: max_pool_grad_f64(q, j->a, j->b, j->c, j->out, (double *)j->scratch + tid * q->c, b0, b1); break;
        case AVG_POOL: avg_pool_f64(q, j->a, j->out, b0, b1); break;
        case AVG_POOL_GRAD: avg_pool_grad_f64(q, j->a, j->out, b0, b1); break;
        }
    }
}

/* --- a batch split across POSIX threads ---------------------------------------------------------------------- */
typedef void (*RowsFn)(const void *ctx, int tid, Py_ssize_t b0, Py_ssize_t b1);

typedef struct {
    RowsFn fn;
    const void *ctx;
    int tid;
    Py_ssize_t b0, b1;
} Slice;

#ifndef _WIN32
static void *slice_thread(void *arg)
{
    const Slice *s = arg;
    s->fn(s->ctx, s->tid, s->b0, s->b1);
    return NULL;
}
#endif

#define MAX_THREADS 64

/* fn(ctx, tid, b0, b1) over rows [0, n) in `threads` near-equal slices, the first on the calling thread (which
 * must not hold the GIL: the slices run at once). A thread that cannot be started has its slice done here. */
static void parallel(RowsFn fn, const void *ctx, Py_ssize_t n, int threads)
{
#ifdef _WIN32
    threads = 1;
#endif
    if (threads > n)
        threads = (int)n;
    if (threads <= 1) {
        fn(ctx, 0, 0, n);
        return;
    }
#ifndef _WIN32
    Slice slices[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int i = 0; i < threads; i++) {
        slices[i] = (Slice){fn, ctx, i, n * i / threads, n * (i + 1) / threads};
        if (i > 0)
            started[i] = pthread_create(&ids[i], NULL, slice_thread, &slices[i]) == 0;
    }
    fn(ctx, 0, slices[0].b0, slices[0].b1);
    for (int i = 1; i < threads; i++) {
        if (started[i])
            pthread_join(ids[i], NULL);
        else
            fn(ctx, i, slices[i].b0, slices[i].b1);
    }
#endif
}

static void job_rows(const void *ctx, int tid, Py_ssize_t b0, Py_ssize_t b1)
{
    run_slice(ctx, tid, b0, b1);
}

/* Parse (window, strides, dilation, pads-before, threads) from args[first:first + 9]. */
static int window_args(PyObject *const *args, Py_ssize_t first, Geometry *q, int *threads)
{
    Py_ssize_t v[9];
    for (int i = 0; i < 9; i++) {
        v[i] = PyLong_AsSsize_t(args[first + i]);
        if (v[i] == -1 && PyErr_Occurred())
            return -1;
    }
    q->kh = v[0], q->kw = v[1], q->sh = v[2], q->sw = v[3], q->dh = v[4], q->dw = v[5], q->ph = v[6],
    q->pw = v[7];
    if (q->kh < 1 || q->kw < 1 || q->sh < 1 || q->sw < 1 || q->dh < 1 || q->dw < 1 || q->ph < 0 || q->pw < 0) {
        PyErr_SetString(PyExc_ValueError, "_ckernels: window, strides and dilation must be >= 1, pads >= 0");
        return -1;
    }
    *threads = v[8] < 1 ? 1 : v[8] > MAX_THREADS ? MAX_THREADS : (int)v[8];
    return 0;
}

/* the image (batch, H, W, C) and the per-position array (batch, OH, OW, [window,] C) must agree */
static int image_shapes(Geometry *q, Py_buffer *img, Py_buffer *pos, int with_window, const char *op)
{
    const int pos_ndim = with_window ? 5 : 4;
    if (img->ndim != 4 || pos->ndim != pos_ndim || img->shape[0] != pos->shape[0] ||
        img->shape[3] != pos->shape[pos_ndim - 1] ||
        (with_window && pos->shape[3] != q->kh * q->kw)) {
        PyErr_Format(PyExc_ValueError, "_ckernels.%s: shapes do not fit (batch, H, W, C) and (batch, OH, OW, %sC)",
                     op, with_window ? "KH*KW, " : "");
        return -1;
    }
    q->n = img->shape[0], q->h = img->shape[1], q->w = img->shape[2], q->c = img->shape[3];
    q->oh = pos->shape[1], q->ow = pos->shape[2];  /* every access is bounds-checked against H, W */
    return 0;
}

static PyObject *window_op(int op, PyObject *const *args, Py_ssize_t nargs)
{
    /* arrays first, then 9 ints (and pad_value for im2col) */
    static const int n_arrays[] = {2, 2, 2, 4, 2, 2};
    static const char *names[] = {"im2col", "col2im", "max_pool", "max_pool_grad", "avg_pool", "avg_pool_grad"};
    const int k = n_arrays[op], extra = op == IM2COL;
    if (nargs != k + 9 + extra) {
        PyErr_Format(PyExc_TypeError, "_ckernels.%s takes %d arguments", names[op], k + 9 + extra);
        return NULL;
    }
    Job j = {.op = op};
    int threads;
    if (window_args(args, k, &j.q, &threads) < 0)
        return NULL;
    if (extra) {
        j.pad_value = PyFloat_AsDouble(args[k + 9]);
        if (j.pad_value == -1.0 && PyErr_Occurred())
            return NULL;
    }
    Args a = {.count = 0, .kind = 0};
    void *p[4];
    Py_buffer *v[4];
    for (int i = 0; i < k; i++)
        if (get(&a, args[i], i == k - 1 ? "out" : "x", i == k - 1, 0, -1, &p[i], &v[i]) < 0) {
            release(&a);
            return NULL;
        }
    int bad;
    switch (op) {
    case IM2COL: bad = image_shapes(&j.q, v[0], v[1], 1, names[op]); break;
    case COL2IM: bad = image_shapes(&j.q, v[1], v[0], 1, names[op]); break;
    case MAX_POOL: case AVG_POOL: bad = image_shapes(&j.q, v[0], v[1], 0, names[op]); break;
    case AVG_POOL_GRAD: bad = image_shapes(&j.q, v[1], v[0], 0, names[op]); break;
    default:  /* max_pool_grad(x, y, g, dx) */
        bad = image_shapes(&j.q, v[0], v[1], 0, names[op]);
        if (!bad && (v[2]->len != v[1]->len || v[3]->len != v[0]->len)) {
            PyErr_SetString(PyExc_ValueError, "_ckernels.max_pool_grad: g must match y and dx must match x");
            bad = -1;
        }
    }
    if (bad) {
        release(&a);
        return NULL;
    }
    j.kind = a.kind;
    j.a = p[0], j.b = k > 2 ? p[1] : NULL, j.c = k > 3 ? p[2] : NULL, j.out = p[k - 1];
    if (op == MAX_POOL_GRAD) {
        j.scratch = PyMem_Malloc((size_t)(threads * (j.q.c > 0 ? j.q.c : 1)) * sizeof(double));
        if (!j.scratch) {
            release(&a);
            return PyErr_NoMemory();
        }
    }
    Py_BEGIN_ALLOW_THREADS
    parallel(job_rows, &j, j.q.n, threads);
    Py_END_ALLOW_THREADS
    PyMem_Free(j.scratch);
    release(&a);
    Py_RETURN_NONE;
}

#define WINDOW_OP(name, OP, sig, text)                                                                    \
    PyDoc_STRVAR(name##_doc, #name sig "\n--\n\n" text);                                                  \
    static PyObject *name##_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)                   \
    {                                                                                                     \
        return window_op(OP, args, nargs);                                                                \
    }

#define GEOM "kh, kw, sh, sw, dh, dw, ph, pw, threads"
WINDOW_OP(im2col, IM2COL, "(x, col, " GEOM ", pad_value)",
          "Write every window of x (batch, H, W, C) into col (batch, OH, OW, kh*kw, C).")
WINDOW_OP(col2im, COL2IM, "(col, x, " GEOM ")", "x = the sum of every window of col back at its place (im2col's adjoint).")
WINDOW_OP(max_pool, MAX_POOL, "(x, y, " GEOM ")", "y = the maximum of each window of x (NaN wins).")
WINDOW_OP(max_pool_grad, MAX_POOL_GRAD, "(x, y, g, dx, " GEOM ")",
          "dx = each window's gradient g at the first element of x equal to its maximum y.")
WINDOW_OP(avg_pool, AVG_POOL, "(x, y, " GEOM ")", "y = the mean of the real (unpadded) elements of each window.")
WINDOW_OP(avg_pool_grad, AVG_POOL_GRAD, "(g, dx, " GEOM ")", "dx = avg_pool's adjoint applied to g.")

/* --- whole sequences: the recurrence of each thread's batch rows, with BLAS called from C -------------------- */
/* cblas_?gemm through a pointer found by Python (ops/_blas.py) in the BLAS NumPy loaded: 64-bit integers for an
 * ILP64 build (OpenBLAS's ..64_ symbols), C ints otherwise. Row-major; the first operand is never transposed. */
typedef struct {
    void *fn;
    int ilp64;
} Gemm;

typedef void (*sgemm64_t)(int, int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                          int64_t, float, float *, int64_t);
typedef void (*sgemm32_t)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                          float *, int);
typedef void (*dgemm64_t)(int, int, int, int64_t, int64_t, int64_t, double, const double *, int64_t,
                          const double *, int64_t, double, double *, int64_t);
typedef void (*dgemm32_t)(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                          double *, int);
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

/* c (m, n) = a (m, k) @ (trans_b ? b (n, k)^T : b (k, n)) */
static void gemm_f32(const Gemm *g, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *a,
                     Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc)
{
    const int tb = trans_b ? TRANS : NO_TRANS;
    if (g->ilp64)
        ((sgemm64_t)g->fn)(ROW_MAJOR, NO_TRANS, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    else
        ((sgemm32_t)g->fn)(ROW_MAJOR, NO_TRANS, tb, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, 0.0f,
                           c, (int)ldc);
}

static void gemm_f64(const Gemm *g, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double *a,
                     Py_ssize_t lda, const double *b, Py_ssize_t ldb, double *c, Py_ssize_t ldc)
{
    const int tb = trans_b ? TRANS : NO_TRANS;
    if (g->ilp64)
        ((dgemm64_t)g->fn)(ROW_MAJOR, NO_TRANS, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
    else
        ((dgemm32_t)g->fn)(ROW_MAJOR, NO_TRANS, tb, (int)m, (int)n, (int)k, 1.0, a, (int)lda, b, (int)ldb, 0.0, c,
                           (int)ldc);
}

typedef struct {
    int backward;
    Py_ssize_t steps, batch, n;
    const void *zx, *h0, *c0, *u, *b, *mask, *rmask, *g;
    void *out;
    void *dx, *drec, *dhmm, *carry, *keep;  /* backward: dz or dzx, GRU's drec, dhmm, dc or carry, LSTM's keep */
    void *work, *hr;                         /* scratch: z or rec (forward), per-thread vectors (backward) */
    Gemm gemm;
} Seq;

#define T float
#define SFX f32
#define GEMM gemm_f32
#define LSTM_FWD f32.lstm_forward
#define LSTM_BWD f32.lstm_backward
#define GRU_FWD f32.gru_forward
#define GRU_BWD f32.gru_backward
#include "_ckernels_seq.h"
#undef T
#undef SFX
#undef GEMM
#undef LSTM_FWD
#undef LSTM_BWD
#undef GRU_FWD
#undef GRU_BWD
#define T double
#define SFX f64
#define GEMM gemm_f64
#define LSTM_FWD lstm_forward_f64
#define LSTM_BWD lstm_backward_f64
#define GRU_FWD gru_forward_f64
#define GRU_BWD gru_backward_f64
#include "_ckernels_seq.h"
#undef T
#undef SFX
#undef GEMM
#undef LSTM_FWD
#undef LSTM_BWD
#undef GRU_FWD
#undef GRU_BWD

/* the trailing (gemm address, ilp64, threads) of every sequence function */
static int seq_tail(PyObject *const *args, Gemm *g, int *threads)
{
    g->fn = PyLong_AsVoidPtr(args[0]);
    if (!g->fn) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "_ckernels: the gemm address is NULL");
        return -1;
    }
    g->ilp64 = PyObject_IsTrue(args[1]);
    long th = PyLong_AsLong(args[2]);
    if ((th == -1 && PyErr_Occurred()) || g->ilp64 < 0)
        return -1;
    *threads = th < 1 ? 1 : th > MAX_THREADS ? MAX_THREADS : (int)th;
    return 0;
}

/* run one thread per slice of the batch without the GIL, with `per_thread` elements of scratch each (backward)
 * or `work` elements in all (forward), plus hr (batch, n) under recurrent dropout */
static PyObject *seq_run(Seq *q, Args *a, RowsFn f32_rows, RowsFn f64_rows, Py_ssize_t work, int threads)
{
    const size_t item = a->kind == 'f' ? sizeof(float) : sizeof(double);
    if (threads > q->batch)
        threads = (int)(q->batch > 0 ? q->batch : 1);
    if (q->backward)
        work *= threads;
    const Py_ssize_t hr = !q->backward && q->rmask ? q->batch * q->n : 0;
    q->work = PyMem_Malloc((size_t)(work + hr + 1) * item);
    if (!q->work) {
        release(a);
        return PyErr_NoMemory();
    }
    q->hr = (char *)q->work + (size_t)work * item;
    Py_BEGIN_ALLOW_THREADS
    parallel(a->kind == 'f' ? f32_rows : f64_rows, q, q->batch, threads);
    Py_END_ALLOW_THREADS
    PyMem_Free(q->work);
    release(a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(lstm_sequence_doc,
"lstm_sequence(zx, h0, c0, u, mask, rmask, out, gemm, ilp64, threads)\n--\n\n"
"The whole LSTM forward recurrence into out (steps, batch, 6 * units), the batch split over threads.");

static PyObject *lstm_sequence(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "lstm_sequence takes 10 arguments");
        return NULL;
    }
    Seq q = {.backward = 0};
    int threads;
    if (seq_tail(args + 7, &q.gemm, &threads) < 0)
        return NULL;
    Args a = {.count = 0, .kind = 0};
    void *out;
    Py_buffer *ov;
    Py_ssize_t S, B, n;
    if (get(&a, args[6], "out", 1, 0, -1, &out, &ov) < 0 || dims(ov, 6, 0, &S, &B, &n) < 0 ||
        get(&a, args[0], "zx", 0, 0, S * B * 4 * n, (void **)&q.zx, NULL) < 0 ||
        get(&a, args[1], "h0", 0, 0, B * n, (void **)&q.h0, NULL) < 0 ||
        get(&a, args[2], "c0", 0, 0, B * n, (void **)&q.c0, NULL) < 0 ||
        get(&a, args[3], "u", 0, 0, n * 4 * n, (void **)&q.u, NULL) < 0 ||
        get(&a, args[4], "mask", 0, 1, S * B, (void **)&q.mask, NULL) < 0 ||
        get(&a, args[5], "rmask", 0, 1, B * n, (void **)&q.rmask, NULL) < 0) {
        release(&a);
        return NULL;
    }
    q.out = out, q.steps = S, q.batch = B, q.n = n;
    return seq_run(&q, &a, lstm_rows_f32, lstm_rows_f64, B * 4 * n, threads);
}

PyDoc_STRVAR(lstm_sequence_grad_doc,
"lstm_sequence_grad(g, out, c0, u, mask, rmask, dz, dhmm, dc, keep, gemm, ilp64, threads)\n--\n\n"
"Backward through the whole LSTM sequence: write dz, and dhmm, dc (and keep) for the initial state.");

static PyObject *lstm_sequence_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "lstm_sequence_grad takes 13 arguments");
        return NULL;
    }
    Seq q = {.backward = 1};
    int threads;
    if (seq_tail(args + 10, &q.gemm, &threads) < 0)
        return NULL;
    Args a = {.count = 0, .kind = 0};
    void *out;
    Py_buffer *ov;
    Py_ssize_t S, B, n;
    if (get(&a, args[1], "out", 0, 0, -1, &out, &ov) < 0 || dims(ov, 6, 0, &S, &B, &n) < 0 ||
        get(&a, args[0], "g", 0, 0, S * B * 6 * n, (void **)&q.g, NULL) < 0 ||
        get(&a, args[2], "c0", 0, 0, B * n, (void **)&q.c0, NULL) < 0 ||
        get(&a, args[3], "u", 0, 0, n * 4 * n, (void **)&q.u, NULL) < 0 ||
        get(&a, args[4], "mask", 0, 1, S * B, (void **)&q.mask, NULL) < 0 ||
        get(&a, args[5], "rmask", 0, 1, B * n, (void **)&q.rmask, NULL) < 0 ||
        get(&a, args[6], "dz", 1, 0, S * B * 4 * n, &q.dx, NULL) < 0 ||
        get(&a, args[7], "dhmm", 1, 0, B * n, &q.dhmm, NULL) < 0 ||
        get(&a, args[8], "dc", 1, 0, B * n, &q.carry, NULL) < 0 ||
        get(&a, args[9], "keep", 1, 1, B * n, &q.keep, NULL) < 0) {
        release(&a);
        return NULL;
    }
    if (q.mask && !q.keep) {
        release(&a);
        PyErr_SetString(PyExc_ValueError, "_ckernels: a mask needs the `keep` buffer");
        return NULL;
    }
    q.out = out, q.steps = S, q.batch = B, q.n = n;
    return seq_run(&q, &a, lstm_rows_f32, lstm_rows_f64, 4 * n, threads);
}

PyDoc_STRVAR(gru_sequence_doc,
"gru_sequence(zx, h0, u, b, mask, rmask, out, gemm, ilp64, threads)\n--\n\n"
"The whole GRU forward recurrence into out (steps, batch, 5 * units), the batch split over threads.");

static PyObject *gru_sequence(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "gru_sequence takes 10 arguments");
        return NULL;
    }
    Seq q = {.backward = 0};
    int threads;
    if (seq_tail(args + 7, &q.gemm, &threads) < 0)
        return NULL;
    Args a = {.count = 0, .kind = 0};
    void *out;
    Py_buffer *ov;
    Py_ssize_t S, B, n;
    if (get(&a, args[6], "out", 1, 0, -1, &out, &ov) < 0 || dims(ov, 5, 0, &S, &B, &n) < 0 ||
        get(&a, args[0], "zx", 0, 0, S * B * 3 * n, (void **)&q.zx, NULL) < 0 ||
        get(&a, args[1], "h0", 0, 0, B * n, (void **)&q.h0, NULL) < 0 ||
        get(&a, args[2], "u", 0, 0, n * 3 * n, (void **)&q.u, NULL) < 0 ||
        get(&a, args[3], "b", 0, 0, 3 * n, (void **)&q.b, NULL) < 0 ||
        get(&a, args[4], "mask", 0, 1, S * B, (void **)&q.mask, NULL) < 0 ||
        get(&a, args[5], "rmask", 0, 1, B * n, (void **)&q.rmask, NULL) < 0) {
        release(&a);
        return NULL;
    }
    q.out = out, q.steps = S, q.batch = B, q.n = n;
    return seq_run(&q, &a, gru_rows_f32, gru_rows_f64, B * 3 * n, threads);
}

PyDoc_STRVAR(gru_sequence_grad_doc,
"gru_sequence_grad(g, out, h0, u, mask, rmask, dzx, drec, dhmm, carry, gemm, ilp64, threads)\n--\n\n"
"Backward through the whole GRU sequence: write dzx, drec, and dhmm, carry for the initial state.");

static PyObject *gru_sequence_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "gru_sequence_grad takes 13 arguments");
        return NULL;
    }
    Seq q = {.backward = 1};
    int threads;
    if (seq_tail(args + 10, &q.gemm, &threads) < 0)
        return NULL;
    Args a = {.count = 0, .kind = 0};
    void *out;
    Py_buffer *ov;
    Py_ssize_t S, B, n;
    if (get(&a, args[1], "out", 0, 0, -1, &out, &ov) < 0 || dims(ov, 5, 0, &S, &B, &n) < 0 ||
        get(&a, args[0], "g", 0, 0, S * B * 5 * n, (void **)&q.g, NULL) < 0 ||
        get(&a, args[2], "h0", 0, 0, B * n, (void **)&q.h0, NULL) < 0 ||
        get(&a, args[3], "u", 0, 0, n * 3 * n, (void **)&q.u, NULL) < 0 ||
        get(&a, args[4], "mask", 0, 1, S * B, (void **)&q.mask, NULL) < 0 ||
        get(&a, args[5], "rmask", 0, 1, B * n, (void **)&q.rmask, NULL) < 0 ||
        get(&a, args[6], "dzx", 1, 0, S * B * 3 * n, &q.dx, NULL) < 0 ||
        get(&a, args[7], "drec", 1, 0, S * B * 3 * n, &q.drec, NULL) < 0 ||
        get(&a, args[8], "dhmm", 1, 0, B * n, &q.dhmm, NULL) < 0 ||
        get(&a, args[9], "carry", 1, 0, B * n, &q.carry, NULL) < 0) {
        release(&a);
        return NULL;
    }
    q.out = out, q.steps = S, q.batch = B, q.n = n;
    return seq_run(&q, &a, gru_rows_f32, gru_rows_f64, 2 * n, threads);
}

/* --- the dense layer's neighbours and Adam (_ckernels_dense.h), split over threads ----------------------------- */
typedef struct {
    char kind;
    int act;
    void *y, *gz, *gb, *m, *v;
    const void *b, *g, *out;
    Py_ssize_t n;
    double b1, b2, c, e;
    void *partial; /* act_grad with threads: one row of column sums per thread */
} DenseJob;

static void bias_act_rows(const void *ctx, int tid, Py_ssize_t r0, Py_ssize_t r1)
{
    const DenseJob *j = ctx;
    (void)tid;
    if (j->kind == 'f')
        f32.bias_act(j->y, j->b, r0, r1, j->n, j->act);
    else
        bias_act_f64(j->y, j->b, r0, r1, j->n, j->act);
}

static void act_grad_rows(const void *ctx, int tid, Py_ssize_t r0, Py_ssize_t r1)
{
    const DenseJob *j = ctx;
    const size_t size = j->kind == 'f' ? sizeof(float) : sizeof(double);
    void *gb = j->gb && j->partial ? (char *)j->partial + (size_t)tid * (size_t)j->n * size : j->gb;
    if (j->kind == 'f')
        f32.act_grad(j->g, j->out, j->gz, gb, r0, r1, j->n, j->act);
    else
        act_grad_f64(j->g, j->out, j->gz, gb, r0, r1, j->n, j->act);
}

static void adam_rows(const void *ctx, int tid, Py_ssize_t i0, Py_ssize_t i1)
{
    const DenseJob *j = ctx;
    (void)tid;
    if (j->kind == 'f')
        f32.adam((float *)j->y + i0, (const float *)j->g + i0, (float *)j->m + i0, (float *)j->v + i0, i1 - i0,
                 (float)j->b1, (float)j->b2, (float)j->c, (float)j->e);
    else
        adam_f64((double *)j->y + i0, (const double *)j->g + i0, (double *)j->m + i0, (double *)j->v + i0,
                 i1 - i0, j->b1, j->b2, j->c, j->e);
}

static int thread_count(PyObject *obj, int *threads)
{
    long th = PyLong_AsLong(obj);
    if (th == -1 && PyErr_Occurred())
        return -1;
    *threads = th < 1 ? 1 : th > MAX_THREADS ? MAX_THREADS : (int)th;
    return 0;
}

/* rows and n of a C-contiguous buffer read as (rows, n), n its last dimension (1 for a 0-d one) */
static Py_ssize_t last_dim(Py_buffer *v)
{
    return v->ndim ? v->shape[v->ndim - 1] : 1;
}

/* bias_act / act_grad: `want` arguments, the last two (act, threads) read into j->act and *threads */
static int act_and_threads(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, const char *name,
                           DenseJob *j, int *threads)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments", name, want);
        return -1;
    }
    j->act = PyObject_IsTrue(args[want - 2]);
    return j->act < 0 ? -1 : thread_count(args[want - 1], threads);
}

PyDoc_STRVAR(bias_act_doc,
"bias_act(y, b, act, threads)\n--\n\n"
"In place: y = act(y + b) over y's rows (b: its last dimension's length, or None); act 0 linear, 1 relu.");

static PyObject *bias_act_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    DenseJob j = {0};
    int threads;
    if (act_and_threads(args, nargs, 4, "bias_act", &j, &threads) < 0)
        return NULL;
    Args a = {.count = 0, .kind = 0};
    Py_buffer *yv;
    void *b;
    if (get(&a, args[0], "y", 1, 0, -1, &j.y, &yv) < 0 ||
        get(&a, args[1], "b", 0, 1, last_dim(yv), &b, NULL) < 0) {
        release(&a);
        return NULL;
    }
    j.b = b, j.kind = a.kind, j.n = last_dim(yv);
    const Py_ssize_t rows = j.n ? yv->len / yv->itemsize / j.n : 0;
    Py_BEGIN_ALLOW_THREADS
    parallel(bias_act_rows, &j, rows, threads);
    Py_END_ALLOW_THREADS
    release(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(act_grad_doc,
"act_grad(g, out, gz, gb, act, threads)\n--\n\n"
"gz = g * act'(out) (act 1 relu; with act 0 gz is None and g is used as it is) and, when gb is given, gb = the\n"
"sum of gz over every row (gb's length: the last dimension), in one pass split over threads.");

static PyObject *act_grad_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    DenseJob j = {0};
    int threads;
    if (act_and_threads(args, nargs, 6, "act_grad", &j, &threads) < 0)
        return NULL;
    Args a = {.count = 0, .kind = 0};
    Py_buffer *gv;
    void *g, *out;
    if (get(&a, args[0], "g", 0, 0, -1, &g, &gv) < 0 ||
        get(&a, args[1], "out", 0, 0, gv->len / gv->itemsize, &out, NULL) < 0 ||
        get(&a, args[2], "gz", 1, !j.act, gv->len / gv->itemsize, &j.gz, NULL) < 0 ||
        get(&a, args[3], "gb", 1, 1, last_dim(gv), &j.gb, NULL) < 0) {
        release(&a);
        return NULL;
    }
    j.g = g, j.out = out, j.kind = a.kind, j.n = last_dim(gv);
    const Py_ssize_t rows = j.n ? gv->len / gv->itemsize / j.n : 0;
    const size_t size = (size_t)gv->itemsize, row = (size_t)j.n * size;
    if (threads > rows)
        threads = rows < 1 ? 1 : (int)rows;
    if (j.gb && threads > 1 && !(j.partial = PyMem_Calloc((size_t)threads, row ? row : 1))) {
        release(&a);
        return PyErr_NoMemory();
    }
    if (j.gb)
        memset(j.gb, 0, row);
    Py_BEGIN_ALLOW_THREADS
    parallel(act_grad_rows, &j, rows, threads);
    Py_END_ALLOW_THREADS
    if (j.partial) {  /* the threads' column sums, added in thread order */
        for (int t = 0; t < threads; t++)
            for (Py_ssize_t k = 0; k < j.n; k++) {
                if (j.kind == 'f')
                    ((float *)j.gb)[k] += ((float *)j.partial)[t * j.n + k];
                else
                    ((double *)j.gb)[k] += ((double *)j.partial)[t * j.n + k];
            }
        PyMem_Free(j.partial);
    }
    release(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(adam_doc,
"adam(w, g, m, v, beta_1, beta_2, c, e, threads)\n--\n\n"
"In place: m = beta_1 m + g; v = beta_2 v + g*g; w -= m / (sqrt(v c) + e), in one pass, split over threads.");

static PyObject *adam_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "adam takes 9 arguments");
        return NULL;
    }
    DenseJob j = {0};
    double *scalars[4] = {&j.b1, &j.b2, &j.c, &j.e};
    for (int i = 0; i < 4; i++) {
        *scalars[i] = PyFloat_AsDouble(args[4 + i]);
        if (*scalars[i] == -1.0 && PyErr_Occurred())
            return NULL;
    }
    int threads;
    if (thread_count(args[8], &threads) < 0)
        return NULL;
    Args a = {.count = 0, .kind = 0};
    Py_buffer *wv;
    void *g;
    if (get(&a, args[0], "w", 1, 0, -1, &j.y, &wv) < 0 ||
        get(&a, args[1], "g", 0, 0, wv->len / wv->itemsize, &g, NULL) < 0 ||
        get(&a, args[2], "m", 1, 0, wv->len / wv->itemsize, &j.m, NULL) < 0 ||
        get(&a, args[3], "v", 1, 0, wv->len / wv->itemsize, &j.v, NULL) < 0) {
        release(&a);
        return NULL;
    }
    j.g = g;
    j.kind = a.kind;
    Py_BEGIN_ALLOW_THREADS
    parallel(adam_rows, &j, wv->len / wv->itemsize, threads);
    Py_END_ALLOW_THREADS
    release(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(tanh_doc, "tanh(x, out)\n--\n\nout = tanh(x) elementwise with the LSTM kernels' tanh (for tests).");

static PyObject *tanh_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "tanh takes 2 arguments");
        return NULL;
    }
    Args a = {.count = 0, .kind = 0};
    void *x, *out;
    Py_buffer *xv;
    if (get(&a, args[0], "x", 0, 0, -1, &x, &xv) < 0 ||
        get(&a, args[1], "out", 1, 0, xv->len / xv->itemsize, &out, NULL) < 0) {
        release(&a);
        return NULL;
    }
    Py_ssize_t size = xv->len / xv->itemsize;
    if (a.kind == 'f')
        f32.tanh(x, out, size);
    else
        tanh_f64(x, out, size);
    release(&a);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"lstm_forward", (PyCFunction)(void (*)(void))lstm_forward, METH_FASTCALL, lstm_forward_doc},
    {"lstm_backward", (PyCFunction)(void (*)(void))lstm_backward, METH_FASTCALL, lstm_backward_doc},
    {"gru_forward", (PyCFunction)(void (*)(void))gru_forward, METH_FASTCALL, gru_forward_doc},
    {"gru_backward", (PyCFunction)(void (*)(void))gru_backward, METH_FASTCALL, gru_backward_doc},
    {"tanh", (PyCFunction)(void (*)(void))tanh_py, METH_FASTCALL, tanh_doc},
    {"lstm_sequence", (PyCFunction)(void (*)(void))lstm_sequence, METH_FASTCALL, lstm_sequence_doc},
    {"lstm_sequence_grad", (PyCFunction)(void (*)(void))lstm_sequence_grad, METH_FASTCALL, lstm_sequence_grad_doc},
    {"gru_sequence", (PyCFunction)(void (*)(void))gru_sequence, METH_FASTCALL, gru_sequence_doc},
    {"gru_sequence_grad", (PyCFunction)(void (*)(void))gru_sequence_grad, METH_FASTCALL, gru_sequence_grad_doc},
    {"adam", (PyCFunction)(void (*)(void))adam_py, METH_FASTCALL, adam_doc},
    {"bias_act", (PyCFunction)(void (*)(void))bias_act_py, METH_FASTCALL, bias_act_doc},
    {"act_grad", (PyCFunction)(void (*)(void))act_grad_py, METH_FASTCALL, act_grad_doc},
    {"im2col", (PyCFunction)(void (*)(void))im2col_py, METH_FASTCALL, im2col_doc},
    {"col2im", (PyCFunction)(void (*)(void))col2im_py, METH_FASTCALL, col2im_doc},
    {"max_pool", (PyCFunction)(void (*)(void))max_pool_py, METH_FASTCALL, max_pool_doc},
    {"max_pool_grad", (PyCFunction)(void (*)(void))max_pool_grad_py, METH_FASTCALL, max_pool_grad_doc},
    {"avg_pool", (PyCFunction)(void (*)(void))avg_pool_py, METH_FASTCALL, avg_pool_doc},
    {"avg_pool_grad", (PyCFunction)(void (*)(void))avg_pool_grad_py, METH_FASTCALL, avg_pool_grad_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ckernels",
    .m_doc = "Optional C kernels for tapeflow's recurrent, convolution and pooling ops (see tapeflow/ops/_native.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__ckernels(void)
{
    pick_kernels();
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "VERSION", CKERNELS_VERSION) < 0 ||
              PyModule_AddStringConstant(m, "ISA", f32.isa) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
