/*
 * dnspcap._kernel, take_rows() and gather_ranges(): two gathers numpy does with an index
 * array and temporaries, for every stage: a column's values at some rows (pairing, the
 * lookups table, the arrays helpers), and byte ranges of strings cut one after another
 * (the names of the grouping stage); scatter_rows(): a column dealt into its parts' columns
 * in one pass (the split of the messages into parts). With their Python entry points and
 * argument checks.
 */
#include "args.h"

/* out[k] = values[rows[k]], or fill where rows[k] is -1, for items of 1, 2, 4 or 8 bytes:
 * a column of the messages at each transaction's row, without numpy's index conversion
 * and mask temporaries. */
#define TAKE(T)                                                                                \
    do {                                                                                       \
        const T *v = values;                                                                   \
        T *o = out, f = (T)fill;                                                               \
        for (int64_t k = 0; k < n; k++)                                                        \
            o[k] = rows[k] >= 0 ? v[rows[k]] : f;                                              \
    } while (0)

void take_rows(const void *values, int64_t itemsize, const int32_t *rows, int64_t n,
               int64_t fill, void *out)
{
    switch (itemsize) {
    case 1:
        TAKE(uint8_t);
        break;
    case 2:
        TAKE(uint16_t);
        break;
    case 4:
        TAKE(uint32_t);
        break;
    default:
        TAKE(uint64_t);
    }
}

/* out gets, one after another, the n byte ranges data[start[k] : start[k] + length[k]]:
 * the pieces of strings dnspcap.grouping.names cuts (numpy needed an int64 index per byte). */
void gather_ranges(const uint8_t *data, const int64_t *start, const int64_t *length, int64_t n,
                   uint8_t *out)
{
    for (int64_t k = 0; k < n; k++) {
        memcpy(out, data + start[k], (size_t)length[k]);
        out += length[k];
    }
}

/* -1 with ValueError set unless items are of 1, 2, 4 or 8 bytes */
static int check_itemsize(const char *f, int64_t size)
{
    if (size == 1 || size == 2 || size == 4 || size == 8)
        return 0;
    PyErr_Format(PyExc_ValueError, "%s: itemsize %lld is not 1, 2, 4 or 8", f, (long long)size);
    return -1;
}

static const Arg TAKE_ROWS_ARGS[] = {
    {"values", A_U8, 1, 0, RO}, {"itemsize", A_INT, 0, 0, RO}, {"rows", A_I32, 1, 0, RO},
    {"fill", A_INT, 0, 0, RO},  {"out", A_U8, 1, 0, RW},
};

PyObject *kernel_take_rows(PyObject *Py_UNUSED(self), PyObject *const *args,
                                  Py_ssize_t nargs)
{
    enum { NA = NARGS(TAKE_ROWS_ARGS) };
    const char *f = "take_rows";
    Py_buffer v[NA];
    int64_t sc[NA];
    int ok = 0;
    if (parse_args(f, args, nargs, TAKE_ROWS_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t size = sc[1], n = length(&v[2]);
    if (check_itemsize(f, size) < 0)
        goto done;
    if (length(&v[0]) % size != 0 || length(&v[4]) != n * size) {
        PyErr_Format(PyExc_ValueError, "%s: values and out must hold whole items, out %lld of them",
                     f, (long long)n);
        goto done;
    }
    if (all_within(&v[2], -1, length(&v[0]) / size, "rows", f) < 0)
        goto done;
    Py_BEGIN_ALLOW_THREADS
    take_rows(v[0].buf, size, v[2].buf, n, sc[3], v[4].buf);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    release_all(v, NA);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

static const Arg GATHER_RANGES_ARGS[] = {
    {"data", A_U8, 1, 0, RO},
    {"start", A_I64, 1, 0, RO},
    {"length", A_I64, 1, 0, RO},
    {"out", A_U8, 1, 0, RW},
};

PyObject *kernel_gather_ranges(PyObject *Py_UNUSED(self), PyObject *const *args,
                                      Py_ssize_t nargs)
{
    enum { NA = NARGS(GATHER_RANGES_ARGS) };
    const char *f = "gather_ranges";
    Py_buffer v[NA];
    int64_t sc[NA];
    int ok = 0;
    if (parse_args(f, args, nargs, GATHER_RANGES_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[1]), size = length(&v[0]), room = length(&v[3]);
    const int64_t *start = v[1].buf, *len = v[2].buf;
    if (length(&v[2]) != n) {
        PyErr_Format(PyExc_ValueError, "%s: start and length differ in length", f);
        goto done;
    }
    for (int64_t k = 0; k < n; k++) {
        if (start[k] < 0 || len[k] < 0 || start[k] > size || len[k] > size - start[k] ||
            len[k] > room) {
            PyErr_Format(PyExc_ValueError, "%s: range %lld (%lld, %lld bytes) is not within "
                         "data (%lld bytes) or does not fit in out", f, (long long)k,
                         (long long)start[k], (long long)len[k], (long long)size);
            goto done;
        }
        room -= len[k];
    }
    Py_BEGIN_ALLOW_THREADS
    gather_ranges(v[0].buf, start, len, n, v[3].buf);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    release_all(v, NA);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* Row i of values appended to out[part[i]], for items of 1, 2, 4 or 8 bytes and parts
 * numbered by codes of 1, 2 or 4 bytes: one pass over the column, where a take per part
 * reads it once for each (10M messages in 12 parts). end[j]: where out[j] ends; a row of a
 * part out of range, or past its part's end, stops the pass: its index is returned, else
 * -1. fill[j] is left where part j's next row would go. */
#define SCATTER(T, C)                                                                          \
    do {                                                                                       \
        const T *v = values;                                                                   \
        const C *p = part;                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                      \
            uint64_t j = (uint64_t)(int64_t)p[i];                                              \
            if (__builtin_expect(j >= (uint64_t)k || fill[j] == end[j], 0))                    \
                return i;                                                                      \
            *(T *)fill[j] = v[i];                                                              \
            fill[j] += sizeof(T);                                                              \
        }                                                                                      \
    } while (0)

#define SCATTER_ITEMS(C)                                                                       \
    do {                                                                                       \
        switch (itemsize) {                                                                    \
        case 1:                                                                                \
            SCATTER(uint8_t, C);                                                               \
            break;                                                                             \
        case 2:                                                                                \
            SCATTER(uint16_t, C);                                                              \
            break;                                                                             \
        case 4:                                                                                \
            SCATTER(uint32_t, C);                                                              \
            break;                                                                             \
        default:                                                                               \
            SCATTER(uint64_t, C);                                                              \
        }                                                                                      \
    } while (0)

int64_t scatter_rows(const void *values, int64_t itemsize, const void *part, int64_t partsize,
                     int64_t n, int64_t k, char **fill, char *const *end)
{
    if (partsize == 1)
        SCATTER_ITEMS(int8_t);
    else if (partsize == 2)
        SCATTER_ITEMS(int16_t);
    else
        SCATTER_ITEMS(int32_t);
    return -1;
}

/* scatter_rows(values, itemsize, part, outs): outs a sequence of k byte arrays, out j of
 * the size of part j's rows; all filled, or ValueError */
PyObject *kernel_scatter_rows(PyObject *Py_UNUSED(self), PyObject *const *args,
                              Py_ssize_t nargs)
{
    const char *f = "scatter_rows";
    static const Arg spec[] = {
        {"values", A_U8, 1, 0, RO}, {"itemsize", A_INT, 0, 0, RO}, {"part", A_CODE, 1, 0, RO}};
    static const Arg out = {"out", A_U8, 1, 0, RW};
    Py_buffer v[3], *o = NULL;
    int64_t sc[3], bad = -1;
    char **fill = NULL, **end = NULL;
    PyObject *outs = NULL, *result = NULL;
    Py_ssize_t k = 0, got = 0;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "%s() takes 4 arguments (%zd given)", f, nargs);
        return NULL;
    }
    if (parse_args(f, args, 3, spec, 3, v, sc) < 0)
        return NULL;
    int64_t size = sc[1], n = length(&v[2]);
    if (check_itemsize(f, size) < 0)
        goto done;
    if (length(&v[0]) != n * size) {
        PyErr_Format(PyExc_ValueError, "%s: values hold %lld bytes, not %lld items of %lld", f,
                     (long long)length(&v[0]), (long long)n, (long long)size);
        goto done;
    }
    outs = PySequence_Fast(args[3], "scatter_rows: outs must be a sequence of arrays");
    if (outs == NULL)
        goto done;
    k = PySequence_Fast_GET_SIZE(outs);
    o = PyMem_Calloc((size_t)k + 1, sizeof *o);
    fill = PyMem_Malloc(((size_t)k + 1) * sizeof *fill);
    end = PyMem_Malloc(((size_t)k + 1) * sizeof *end);
    if (o == NULL || fill == NULL || end == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < k; got++) {
        if (get_array(PySequence_Fast_GET_ITEM(outs, got), &out, &o[got]) < 0)
            goto done;
        if (length(&o[got]) % size != 0) {
            PyErr_Format(PyExc_ValueError, "%s: out %zd does not hold whole items", f, got);
            got++;
            goto done;
        }
        fill[got] = o[got].buf;
        end[got] = (char *)o[got].buf + length(&o[got]);
    }
    Py_BEGIN_ALLOW_THREADS
    bad = scatter_rows(v[0].buf, size, v[2].buf, v[2].itemsize, n, k, fill, end);
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "%s: row %lld's part is not within the outs, or its "
                     "out is full", f, (long long)bad);
        goto done;
    }
    for (Py_ssize_t j = 0; j < k; j++)
        if (fill[j] != end[j]) {
            PyErr_Format(PyExc_ValueError, "%s: out %zd is longer than its part's rows", f, j);
            goto done;
        }
    result = Py_NewRef(Py_None);
done:
    for (Py_ssize_t j = 0; j < got; j++)
        PyBuffer_Release(&o[j]);
    PyMem_Free(o);
    PyMem_Free(fill);
    PyMem_Free(end);
    Py_XDECREF(outs);
    release_all(v, 3);
    return result;
}
