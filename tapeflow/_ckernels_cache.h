/* A caching allocator for NumPy array data, installed while a tp.function plan runs (tapeflow/tracing.py).
 *
 * A plan allocates and frees the same arrays on every call. Freed back to glibc, blocks of a few megabytes
 * are returned to the system when the heap's top is trimmed, and the next call page-faults them in again
 * (hundreds of faults per step of a small CNN: about as much time as its arithmetic). Here a freed block of
 * at least CACHE_MIN bytes is kept in a list of blocks of its exact size, and the next request for that size
 * gets it back, so a plan's steady state allocates nothing from the system. Smaller blocks, and blocks past
 * CACHE_LIMIT bytes held in all, go to the C library as before. Values are unaffected: only where array data
 * lives changes (calloc still zeroes).
 *
 * NumPy (>= 1.22) takes the allocator as a "mem_handler" capsule through PyDataMem_SetHandler, which sets it
 * for the current context (a contextvar), and remembers in each array the handler that allocated it, so an
 * array made in a plan and freed later is freed here. The function is read from NumPy's C-API table (slot
 * 304, stable since 1.22), so this module builds without NumPy's headers.
 */
#define CACHE_MIN ((size_t)1 << 16)
#define CACHE_LIMIT ((size_t)512 << 20)
#define CACHE_SIZES 128

typedef struct {
    size_t size;
    void *head; /* freed blocks of this size, linked through their first word */
} CacheList;

static CacheList cache_lists[CACHE_SIZES];
static size_t cache_held; /* bytes in all lists */
#ifndef _WIN32
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
#define CACHE_LOCK() pthread_mutex_lock(&cache_lock)
#define CACHE_UNLOCK() pthread_mutex_unlock(&cache_lock)
#else
#define CACHE_LOCK()
#define CACHE_UNLOCK()
#endif

static CacheList *cache_list(size_t size, int create)
{
    for (int i = 0; i < CACHE_SIZES; i++) {
        if (cache_lists[i].size == size)
            return &cache_lists[i];
        if (cache_lists[i].size == 0) {
            if (!create)
                return NULL;
            cache_lists[i].size = size;
            return &cache_lists[i];
        }
    }
    return NULL;
}

static void *cache_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size >= CACHE_MIN) {
        CACHE_LOCK();
        CacheList *list = cache_list(size, 0);
        void *p = list ? list->head : NULL;
        if (p) {
            memcpy(&list->head, p, sizeof(void *));
            cache_held -= size;
        }
        CACHE_UNLOCK();
        if (p)
            return p;
    }
    return malloc(size);
}

static void *cache_calloc(void *ctx, size_t n, size_t elsize)
{
    if (elsize && n > (size_t)-1 / elsize)
        return NULL;
    if (n * elsize < CACHE_MIN)
        return calloc(n, elsize);
    void *p = cache_malloc(ctx, n * elsize);
    if (p)
        memset(p, 0, n * elsize);
    return p;
}

static void *cache_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    return realloc(p, size); /* every block is the C library's, cached or not */
}

static void cache_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    if (p && size >= CACHE_MIN) {
        CACHE_LOCK();
        CacheList *list = cache_held + size <= CACHE_LIMIT ? cache_list(size, 1) : NULL;
        if (list) {
            memcpy(p, &list->head, sizeof(void *));
            list->head = p;
            cache_held += size;
        }
        CACHE_UNLOCK();
        if (list)
            return;
    }
    free(p);
}

typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} DataAllocator; /* NumPy's PyDataMemAllocator */

typedef struct {
    char name[127];
    uint8_t version;
    DataAllocator allocator;
} DataHandler; /* NumPy's PyDataMem_Handler, version 1 */

static DataHandler cache_handler = {"tapeflow_plan_cache", 1,
                                    {NULL, cache_malloc, cache_calloc, cache_realloc, cache_free}};
static PyObject *cache_capsule;                   /* the capsule of cache_handler */
static PyObject *(*set_data_handler)(PyObject *); /* NumPy's PyDataMem_SetHandler */

static int cache_setup(void)
{
    if (set_data_handler)
        return 0;
    PyObject *m = PyImport_ImportModule("numpy._core._multiarray_umath");
    if (!m) {
        PyErr_Clear();
        m = PyImport_ImportModule("numpy.core._multiarray_umath");
    }
    if (!m)
        return -1;
    PyObject *api = PyObject_GetAttrString(m, "_ARRAY_API");
    Py_DECREF(m);
    if (!api)
        return -1;
    void **table = PyCapsule_GetPointer(api, NULL);
    Py_DECREF(api);
    if (!table)
        return -1;
    cache_capsule = PyCapsule_New(&cache_handler, "mem_handler", NULL);
    if (!cache_capsule)
        return -1;
    set_data_handler = (PyObject * (*)(PyObject *)) table[304];
    return 0;
}

PyDoc_STRVAR(set_array_handler_doc,
"set_array_handler(handler)\n--\n\n"
"Make NumPy allocate array data in the current context with ``handler`` (a 'mem_handler' capsule), or with\n"
"the caching allocator when ``handler`` is None; returns the handler it replaces. NumPy >= 1.22.");

static PyObject *set_array_handler_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "set_array_handler takes 1 argument");
        return NULL;
    }
    if (cache_setup() < 0)
        return NULL;
    PyObject *handler = args[0] == Py_None ? cache_capsule : args[0];
    if (!PyCapsule_IsValid(handler, "mem_handler")) {
        PyErr_SetString(PyExc_TypeError, "set_array_handler: expected a 'mem_handler' capsule or None");
        return NULL;
    }
    return set_data_handler(handler);
}

PyDoc_STRVAR(array_cache_clear_doc,
"array_cache_clear()\n--\n\nReturn every block the caching allocator holds to the C library; returns their bytes.");

static PyObject *array_cache_clear_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self, (void)args, (void)nargs;
    CACHE_LOCK();
    size_t released = cache_held;
    for (int i = 0; i < CACHE_SIZES; i++) {
        void *p = cache_lists[i].head;
        while (p) {
            void *next;
            memcpy(&next, p, sizeof(void *));
            free(p);
            p = next;
        }
        cache_lists[i].head = NULL;
        cache_lists[i].size = 0;
    }
    cache_held = 0;
    CACHE_UNLOCK();
    return PyLong_FromSize_t(released);
}
