/*
 * dnspcap._kernel, take_rows() and gather_ranges(): two gathers numpy does with an index
 * array and temporaries, for every stage: a column's values at some rows (pairing, the
 * lookups table, the arrays helpers), and byte ranges of strings cut one after another
 * (the names of the grouping stage). With their Python entry points and argument checks.
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
    if (size != 1 && size != 2 && size != 4 && size != 8) {
        PyErr_Format(PyExc_ValueError, "%s: itemsize %lld is not 1, 2, 4 or 8", f,
                     (long long)size);
        goto done;
    }
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
