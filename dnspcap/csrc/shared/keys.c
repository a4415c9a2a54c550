/*
 * Integer keys (dnspcap.arrays.keys): first_codes() numbers them densely in order of first
 * appearance, as pandas.factorize does (without its object machinery: 3-8x faster on the
 * packed socket-and-name keys of a million transactions); window_pairs() lists the pairs of
 * neighbours of one key within a time window, the A/AAAA pairs of
 * dnspcap.findings.detectors._util (in one pass, not a numpy pass per distance).
 */
#include "../args.h"

/* ---- first_codes() -------------------------------------------------------------------- */

/* The open-addressing table of first_codes(): size slots (a power of two), each a key and
 * its code + 1 (0: empty), never more than half full. */
typedef struct {
    uint64_t *key;
    int32_t *id;
    int64_t size;
    int bits;
} KeyTable;

static int table_alloc(KeyTable *t, int64_t size)
{
    t->key = PyMem_RawMalloc((size_t)size * sizeof *t->key);
    t->id = PyMem_RawCalloc((size_t)size, sizeof *t->id);
    t->size = size;
    t->bits = 0;
    while (((int64_t)1 << t->bits) < size)
        t->bits++;
    return t->key != NULL && t->id != NULL ? 0 : -1;
}

static void table_free(KeyTable *t)
{
    PyMem_RawFree(t->key);
    PyMem_RawFree(t->id);
    t->key = NULL;
    t->id = NULL;
}

static inline uint64_t table_slot(const KeyTable *t, uint64_t k)
{
    return (k * 0x9E3779B97F4A7C15ULL) >> (64 - t->bits);
}

/* the table twice as big, every entry moved; -1 (the table as it was) without memory */
static int table_grow(KeyTable *t)
{
    KeyTable bigger;
    if (table_alloc(&bigger, 2 * t->size) < 0) {
        table_free(&bigger);
        return -1;
    }
    uint64_t mask = (uint64_t)bigger.size - 1;
    for (int64_t s = 0; s < t->size; s++) {
        if (t->id[s] == 0)
            continue;
        uint64_t h = table_slot(&bigger, t->key[s]);
        while (bigger.id[h] != 0)
            h = (h + 1) & mask;
        bigger.key[h] = t->key[s];
        bigger.id[h] = t->id[s];
    }
    table_free(t);
    *t = bigger;
    return 0;
}

/* code[i] = the number of distinct keys met before keys[i]'s first appearance; returns
 * how many are distinct (-1: out of memory), and with first (else NULL) where each first
 * appears. The table starts small and doubles when half full, so that a few distinct
 * keys among millions stay in the processor's cache. */
static int64_t first_codes(const int64_t *keys, int64_t n, int32_t *code, int64_t *first)
{
    KeyTable t;
    if (table_alloc(&t, 1024) < 0) {
        table_free(&t);
        return -1;
    }
    int32_t next = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = (uint64_t)keys[i], mask = (uint64_t)t.size - 1;
        uint64_t h = table_slot(&t, k);
        for (;;) {
            if (t.id[h] == 0) {
                t.key[h] = k;
                t.id[h] = ++next;
                code[i] = next - 1;
                if (first != NULL)
                    first[next - 1] = i;
                if (2 * (int64_t)next > t.size && table_grow(&t) < 0) {
                    table_free(&t);
                    return -1;
                }
                break;
            }
            if (t.key[h] == k) {
                code[i] = t.id[h] - 1;
                break;
            }
            h = (h + 1) & mask;
        }
    }
    table_free(&t);
    return next;
}

static const Arg FIRST_CODES_ARGS[] = {
    {"keys", A_I64, 1, 0, RO},
    {"codes", A_I32, 1, 0, RW},
    {"first", A_I64, 1, 0, RW},
};

PyObject *kernel_first_codes(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    enum { NA = NARGS(FIRST_CODES_ARGS) };
    const char *f = "first_codes";
    Py_buffer v[NA];
    int64_t sc[NA], distinct = -2;
    if (parse_args(f, args, nargs, FIRST_CODES_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[0]);
    if (length(&v[1]) != n || (length(&v[2]) != n && length(&v[2]) != 0)) {
        PyErr_Format(PyExc_ValueError, "%s: codes must be as long as keys, first too or empty",
                     f);
        goto done;
    }
    if (n >= INT32_MAX / 2) { /* codes are int32, and the table up to twice as big */
        PyErr_Format(PyExc_ValueError, "%s: %lld keys are too many", f, (long long)n);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    distinct = first_codes(v[0].buf, n, v[1].buf, length(&v[2]) ? v[2].buf : NULL);
    Py_END_ALLOW_THREADS
    if (distinct == -1)
        PyErr_NoMemory();
done:
    release_all(v, NA);
    return distinct < 0 ? NULL : PyLong_FromLongLong(distinct);
}

/* ---- window_pairs() ------------------------------------------------------------------- */

/* a - b as numpy computes it on int64 (wrapping), without C's undefined overflow */
static inline int64_t wrapped_diff(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

/* Rows sorted by key, then time (ts). For every row p that is_a, its partners: the rows j
 * of its key that are not is_a and within window of it (|ts[p] - ts[j]| <= window), by
 * distance |p - j| in rows, the one before p first at equal distance. Writes the first m
 * pairs (p, j) into first/second; returns how many there are. */
static int64_t window_pairs(const int64_t *key, const int64_t *ts, const uint8_t *is_a, int64_t n,
                            int64_t window, int64_t *first, int64_t *second, int64_t m)
{
    int64_t found = 0;
    for (int64_t p = 0; p < n; p++) {
        if (!is_a[p])
            continue;
        int left = 1, right = 1;
        for (int64_t d = 1; left || right; d++) {
            int64_t j = p - d;
            left = left && j >= 0 && key[j] == key[p] && wrapped_diff(ts[p], ts[j]) <= window;
            if (left && !is_a[j]) {
                if (found < m) {
                    first[found] = p;
                    second[found] = j;
                }
                found++;
            }
            j = p + d;
            right = right && j < n && key[j] == key[p] && wrapped_diff(ts[j], ts[p]) <= window;
            if (right && !is_a[j]) {
                if (found < m) {
                    first[found] = p;
                    second[found] = j;
                }
                found++;
            }
        }
    }
    return found;
}

static const Arg WINDOW_PAIRS_ARGS[] = {
    {"key", A_I64, 1, 0, RO},   {"ts", A_I64, 1, 0, RO},     {"is_a", A_BOOL8, 1, 0, RO},
    {"window", A_INT, 0, 0, RO}, {"first", A_I64, 1, 0, RW}, {"second", A_I64, 1, 0, RW},
};

PyObject *kernel_window_pairs(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    enum { NA = NARGS(WINDOW_PAIRS_ARGS) };
    const char *f = "window_pairs";
    Py_buffer v[NA];
    int64_t sc[NA], found = -1;
    if (parse_args(f, args, nargs, WINDOW_PAIRS_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[0]), m = length(&v[4]);
    if (length(&v[1]) != n || length(&v[2]) != n || length(&v[5]) != m) {
        PyErr_Format(PyExc_ValueError,
                     "%s: ts and is_a must be as long as key, second as long as first", f);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    found = window_pairs(v[0].buf, v[1].buf, v[2].buf, n, sc[3], v[4].buf, v[5].buf, m);
    Py_END_ALLOW_THREADS
done:
    release_all(v, NA);
    return found < 0 ? NULL : PyLong_FromLongLong(found);
}
