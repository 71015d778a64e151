/* tapeflow._ckernels: optional fused element-wise kernels for the recurrent ops (tapeflow/ops/recurrent.py).
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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define CKERNELS_VERSION 2

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

#define T float
#define TANH tanh_f
#define SFX f32
#define ATTR
#include "_ckernels_lstm.h"
#include "_ckernels_gru.h"
#undef SFX
#undef ATTR
#if DISPATCH
#define SFX f32_v3
#define ATTR __attribute__((target("arch=x86-64-v3")))
#include "_ckernels_lstm.h"
#include "_ckernels_gru.h"
#undef SFX
#undef ATTR
#define SFX f32_v4
#define ATTR __attribute__((target("arch=x86-64-v4,prefer-vector-width=512")))
#include "_ckernels_lstm.h"
#include "_ckernels_gru.h"
#undef SFX
#undef ATTR
#endif
#undef T
#undef TANH

#define T double
#define TANH tanh
#define SFX f64
#define ATTR
#include "_ckernels_lstm.h"
#include "_ckernels_gru.h"
#undef T
#undef TANH
#undef SFX
#undef ATTR

/* the float32 kernels of one instruction set */
typedef struct {
    void (*lstm_forward)(const float *, const float *, float *, const float *, const float *, const float *,
                         Py_ssize_t, Py_ssize_t, Py_ssize_t);
    void (*lstm_backward)(const float *, const float *, const float *, const float *, const float *,
                          const float *, float *, float *, float *, float *, Py_ssize_t, Py_ssize_t,
                          Py_ssize_t);
    void (*gru_forward)(const float *, const float *, const float *, float *, const float *, const float *,
                        Py_ssize_t, Py_ssize_t, Py_ssize_t);
    void (*gru_backward)(const float *, const float *, const float *, const float *, const float *,
                         const float *, float *, float *, float *, float *, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t);
    void (*tanh)(const float *, float *, Py_ssize_t);
    const char *isa;
} Kernels;

#define KERNELS(sfx, name) {lstm_forward_##sfx, lstm_backward_##sfx, gru_forward_##sfx, gru_backward_##sfx, \
                            tanh_##sfx, name}
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
        f32.lstm_forward(z, zx, out, h0, c0, mask, t, batch, n);
    else
        lstm_forward_f64(z, zx, out, h0, c0, mask, t, batch, n);
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
        f32.lstm_backward(g, out, c0, mask, rmask, dhmm, dc, keep, dz, tc, t, batch, n);
    else
        lstm_backward_f64(g, out, c0, mask, rmask, dhmm, dc, keep, dz, tc, t, batch, n);
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
        f32.gru_forward(rec, b, zx, out, h0, mask, t, batch, n);
    else
        gru_forward_f64(rec, b, zx, out, h0, mask, t, batch, n);
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
        f32.gru_backward(g, out, h0, mask, rmask, dhmm, carry, dzx, drec, tmp, t, batch, n);
    else
        gru_backward_f64(g, out, h0, mask, rmask, dhmm, carry, dzx, drec, tmp, t, batch, n);
    PyMem_Free(tmp);
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
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ckernels",
    .m_doc = "Optional fused element-wise kernels for tapeflow's recurrent ops (see tapeflow/ops/recurrent.py).",
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
