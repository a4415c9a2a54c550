/*
 * Integer keys (dnspcap.arrays.keys): first_codes() numbers them densely in order of first
 * appearance, as pandas.factorize does (without its object machinery: 3-8x faster on the
 * packed socket-and-name keys of a million transactions); window_pairs() lists the pairs of
 * neighbours of one key within a time window, the A/AAAA pairs of
 * dnspcap.findings.detectors._util (in one pass, not a numpy pass per distance).
 */
#include "../args.h"

/* ---- first_codes() -------------------------------------------------------------------- */

/* code[i] = the number of distinct keys met before keys[i]'s first appearance; returns
 * how many are distinct, and with first (else NULL) where each first appears. slot_key/
 * slot_id: size entries (a power of two > n), slot_id all 0 (an empty slot; an entry
 * holds its code + 1). */
static int64_t first_codes(const int64_t *keys, int64_t n, uint64_t *slot_key, int32_t *slot_id,
                           int64_t size, int32_t *code, int64_t *first)
{
    int bits = 0;
    while (((int64_t)1 << bits) < size)
        bits++;
    uint64_t mask = (uint64_t)size - 1;
    int32_t next = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = (uint64_t)keys[i];
        uint64_t h = (k * 0x9E3779B97F4A7C15ULL) >> (64 - bits);
        for (;;) {
            if (slot_id[h] == 0) {
                slot_key[h] = k;
                slot_id[h] = ++next;
                code[i] = next - 1;
                if (first != NULL)
                    first[next - 1] = i;
                break;
            }
            if (slot_key[h] == k) {
                code[i] = slot_id[h] - 1;
                break;
            }
            h = (h + 1) & mask;
        }
    }
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
    int64_t sc[NA], distinct = -1;
    uint64_t *slot_key = NULL;
    int32_t *slot_id = NULL;
    if (parse_args(f, args, nargs, FIRST_CODES_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[0]);
    if (length(&v[1]) != n || (length(&v[2]) != n && length(&v[2]) != 0)) {
        PyErr_Format(PyExc_ValueError, "%s: codes must be as long as keys, first too or empty",
                     f);
        goto done;
    }
    if (n >= INT32_MAX / 2) { /* codes are int32, and the table twice as big */
        PyErr_Format(PyExc_ValueError, "%s: %lld keys are too many", f, (long long)n);
        goto done;
    }
    int64_t size = 16;
    while (size <= 2 * n)
        size *= 2;
    slot_key = PyMem_Malloc((size_t)size * sizeof *slot_key);
    slot_id = PyMem_Calloc((size_t)size, sizeof *slot_id);
    if (slot_key == NULL || slot_id == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    distinct = first_codes(v[0].buf, n, slot_key, slot_id, size, v[1].buf,
                           length(&v[2]) ? v[2].buf : NULL);
    Py_END_ALLOW_THREADS
done:
    PyMem_Free(slot_key);
    PyMem_Free(slot_id);
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
