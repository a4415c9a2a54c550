/*
 * dnspcap._kernel: the Python entry points of dnspcap.lookups and dnspcap.grouping.table
 * (kernels in grouping/lookups.c), with their argument checks.
 */
#include "args.h"

/* ---- group_lookups() ------------------------------------------------------------------ */

/* per query: int32 codes (a million queries: half the memory of int64), the port as the
 * transactions table keeps it */
static const Arg GROUP_ARGS[] = {
    {"client", A_I32, 1, 0, RO}, {"rset", A_I32, 1, 0, RO},     {"qtype", A_I32, 1, 0, RO},
    {"port", A_U16, 1, 0, RO},   {"ts", A_I64, 1, 0, RO},       {"flags", A_U8, 1, 0, RO},
    {"rs_start", A_I64, 1, 0, RO}, {"rs_len", A_I64, 1, 0, RO}, {"r_base", A_I64, 1, 0, RO},
    {"r_step", A_I64, 1, 0, RO}, {"nbases", A_INT, 0, 0, RO},   {"gap", A_INT, 0, 0, RO},
    {"new_round", A_INT, 0, 0, RO},
};
#define GROUP_NARGS 13

/* Row numbers are int32 (the kernels' outputs index up to a million rows): more than
 * that many rows is an error, raised before any work. */
static int too_many_rows(const char *fname, int64_t n)
{
    if (n <= INT32_MAX)
        return 0;
    PyErr_Format(PyExc_ValueError, "%s: %lld rows, more than 2^31 - 1", fname, (long long)n);
    return -1;
}

/* A new int32 numpy array of the first n values of x. */
static PyObject *made_array(PyObject *numpy, const int32_t *x, int64_t n)
{
    Py_buffer view;
    static const Arg arg = {"made", A_I32, 1, 0, RW};
    PyObject *a = PyObject_CallMethod(numpy, "empty", "(Ls)", (long long)n, "int32");
    if (a == NULL)
        return NULL;
    if (get_array(a, &arg, &view) < 0) {
        Py_DECREF(a);
        return NULL;
    }
    if (n > 0)
        memcpy(view.buf, x, (size_t)n * sizeof *x);
    PyBuffer_Release(&view);
    return a;
}

PyObject *kernel_group_lookups(PyObject *Py_UNUSED(self), PyObject *const *args,
                                      Py_ssize_t nargs)
{
    Py_buffer v[GROUP_NARGS];
    int64_t sc[GROUP_NARGS];
    PyObject *numpy = NULL, *out = NULL, *firsts = NULL, *ports = NULL;
    int32_t *first = NULL, *nports = NULL;
    Py_buffer ov;
    ov.obj = NULL;
    if (parse_args("group_lookups", args, nargs, GROUP_ARGS, GROUP_NARGS, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[0]), m = length(&v[6]), nr = length(&v[8]), nbases = sc[10];
    for (int k = 1; k <= 5; k++)
        if (length(&v[k]) != n) {
            PyErr_Format(PyExc_ValueError, "group_lookups: %s has %lld entries, client %lld",
                         GROUP_ARGS[k].name, (long long)length(&v[k]), (long long)n);
            goto fail;
        }
    if (length(&v[7]) != m || length(&v[9]) != nr || nbases < 0 || sc[11] < 0 || sc[12] < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "group_lookups: rs_start/rs_len or r_base/r_step differ in length, or "
                        "nbases, gap or new_round is negative");
        goto fail;
    }
    const char *f = "group_lookups";
    if (too_many_rows(f, n) < 0 || all_within(&v[0], 0, INT64_MAX, "client", f) < 0 ||
        all_within(&v[1], 0, m, "rset", f) < 0 ||
        all_within(&v[2], 0, INT32_MAX, "qtype", f) < 0 ||
        all_within(&v[6], 0, nr, "rs_start", f) < 0 ||
        all_within(&v[7], 1, nr + 1, "rs_len", f) < 0 ||
        all_within(&v[8], 0, nbases, "r_base", f) < 0)
        goto fail;
    const int64_t *rs_start = v[6].buf, *rs_len = v[7].buf;
    for (int64_t k = 0; k < m; k++)
        if (rs_len[k] > nr - rs_start[k]) {
            PyErr_Format(PyExc_ValueError, "group_lookups: readings %lld run past r_base",
                         (long long)k);
            goto fail;
        }
    numpy = PyImport_ImportModule("numpy");
    if (numpy == NULL)
        goto fail;
    out = PyObject_CallMethod(numpy, "empty", "(Ls)", (long long)n, "int32");
    first = PyMem_Malloc((size_t)(n + 1) * sizeof *first);
    nports = PyMem_Malloc((size_t)(n + 1) * sizeof *nports);
    if (first == NULL || nports == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    if (out == NULL)
        goto fail;
    static const Arg out_arg = {"lookup_of", A_I32, 1, 0, RW};
    if (get_array(out, &out_arg, &ov) < 0) {
        ov.obj = NULL;
        goto fail;
    }
    int64_t made;
    Py_BEGIN_ALLOW_THREADS
    made = group_lookups(v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf, v[5].buf, n,
                         rs_start, rs_len, v[8].buf, v[9].buf, nbases, sc[11], sc[12], ov.buf,
                         first, nports);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&ov);
    ov.obj = NULL;
    if (made < 0) {
        PyErr_NoMemory();
        goto fail;
    }
    firsts = made_array(numpy, first, made);
    ports = firsts == NULL ? NULL : made_array(numpy, nports, made);
    if (ports == NULL)
        goto fail;
    PyMem_Free(first);
    PyMem_Free(nports);
    Py_DECREF(numpy);
    release_all(v, GROUP_NARGS);
    return Py_BuildValue("(NNN)", out, firsts, ports);
fail:
    if (ov.obj != NULL)
        PyBuffer_Release(&ov);
    PyMem_Free(first);
    PyMem_Free(nports);
    Py_XDECREF(out);
    Py_XDECREF(firsts);
    Py_XDECREF(ports);
    Py_XDECREF(numpy);
    release_all(v, GROUP_NARGS);
    return NULL;
}

/* ---- group_order() -------------------------------------------------------------------- */

static const Arg ORDER_ARGS[] = {
    {"codes", A_I32, 1, 0, RO},
    {"ngroups", A_INT, 0, 0, RO},
};

PyObject *kernel_group_order(PyObject *Py_UNUSED(self), PyObject *const *args,
                                    Py_ssize_t nargs)
{
    Py_buffer v[2];
    int64_t sc[2];
    PyObject *numpy = NULL, *out = NULL;
    Py_buffer ov;
    int64_t *next = NULL;
    ov.obj = NULL;
    if (parse_args("group_order", args, nargs, ORDER_ARGS, 2, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[0]), ngroups = sc[1];
    if (ngroups < 0 || ngroups >= INT64_MAX / (int64_t)sizeof *next) {
        PyErr_SetString(PyExc_ValueError, "group_order: ngroups is negative or too big");
        goto fail;
    }
    if (too_many_rows("group_order", n) < 0 ||
        all_within(&v[0], 0, ngroups, "codes", "group_order") < 0)
        goto fail;
    next = PyMem_Malloc((size_t)(ngroups + 1) * sizeof *next);
    if (next == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    numpy = PyImport_ImportModule("numpy");
    if (numpy == NULL)
        goto fail;
    out = PyObject_CallMethod(numpy, "empty", "(Ls)", (long long)n, "int32");
    if (out == NULL)
        goto fail;
    static const Arg out_arg = {"order", A_I32, 1, 0, RW};
    if (get_array(out, &out_arg, &ov) < 0) {
        ov.obj = NULL;
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    group_order(v[0].buf, n, ngroups, next, ov.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&ov);
    PyMem_Free(next);
    Py_DECREF(numpy);
    release_all(v, 2);
    return out;
fail:
    if (ov.obj != NULL)
        PyBuffer_Release(&ov);
    PyMem_Free(next);
    Py_XDECREF(out);
    Py_XDECREF(numpy);
    release_all(v, 2);
    return NULL;
}

/* ---- client_parts() ------------------------------------------------------------------- */

static const Arg PARTS_ARGS[] = {
    {"qr", A_BOOL8, 1, 0, RO},       {"src", A_CODE, 1, 0, RO},       {"dst", A_CODE, 1, 0, RO},
    {"src_part", A_U16, 1, 0, RO},   {"dst_part", A_U16, 1, 0, RO},   {"share", A_U16, 1, 0, RW},
    {"order", A_I32, 1, 0, RW},      {"count", A_I64, 1, 0, RW},
};

/* client_parts(qr, src, dst, src_part, dst_part, share, order, count): the parts as int16
 * viewed as uint16; count k long */
PyObject *kernel_client_parts(PyObject *Py_UNUSED(self), PyObject *const *args,
                              Py_ssize_t nargs)
{
    enum { NA = NARGS(PARTS_ARGS) };
    const char *f = "client_parts";
    Py_buffer v[NA];
    int64_t sc[NA], bad = -1, *count = NULL;
    int ok = 0;
    if (parse_args(f, args, nargs, PARTS_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[0]), k = length(&v[7]);
    if (length(&v[1]) != n || length(&v[2]) != n || length(&v[5]) != n || length(&v[6]) != n) {
        PyErr_Format(PyExc_ValueError, "%s: qr, src, dst, share and order differ in length", f);
        goto done;
    }
    if (too_many_rows(f, n) < 0)
        goto done;
    if (k < 1 || k > INT16_MAX) {
        PyErr_Format(PyExc_ValueError, "%s: %lld parts, not 1 to %d", f, (long long)k, INT16_MAX);
        goto done;
    }
    count = PyMem_Malloc((size_t)(2 * k) * sizeof *count);
    if (count == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Codes src = {v[1].buf, (int)v[1].itemsize}, dst = {v[2].buf, (int)v[2].itemsize};
    Py_BEGIN_ALLOW_THREADS
    bad = client_parts(v[0].buf, src, dst, v[3].buf, v[4].buf, length(&v[3]), length(&v[4]), n,
                       k, v[5].buf, v[6].buf, count);
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "%s: message %lld's address code or its part is out of "
                     "range", f, (long long)bad);
        goto done;
    }
    memcpy(v[7].buf, count, (size_t)k * sizeof *count);
    ok = 1;
done:
    PyMem_Free(count);
    release_all(v, NA);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- lookup_signs() ------------------------------------------------------------------- */

static const Arg SIGNS_ARGS[] = {
    {"rows", A_I32, 1, 0, RO},    {"fam", A_U8, 1, 0, RO},      {"lookup", A_I32, 1, 0, RO},
    {"name", A_I32, 1, 0, RO},    {"q_ns", A_I64, 1, 0, RO},    {"last_ns", A_I64, 1, 0, RO},
    {"r_ns", A_I64, 1, 0, RO},    {"port", A_U16, 1, 0, RO},    {"msg_id", A_U16, 1, 0, RO},
    {"tcp", A_BOOL8, 1, 0, RO},   {"window", A_INT, 0, 0, RO},  {"turn_window", A_INT, 0, 0, RO},
    {"musl_gap", A_INT, 0, 0, RO}, {"kind", A_I64, 1, 0, RO},   {"nlk", A_INT, 0, 0, RO},
    {"nsigns", A_INT, 0, 0, RO},
};
#define SIGNS_NARGS 16

PyObject *kernel_lookup_signs(PyObject *Py_UNUSED(self), PyObject *const *args,
                                     Py_ssize_t nargs)
{
    Py_buffer v[SIGNS_NARGS];
    int64_t sc[SIGNS_NARGS];
    PyObject *numpy = NULL, *out = NULL;
    Py_buffer ov;
    ov.obj = NULL;
    if (parse_args("lookup_signs", args, nargs, SIGNS_ARGS, SIGNS_NARGS, v, sc) < 0)
        return NULL;
    int64_t m = length(&v[0]), n = length(&v[2]), nlk = sc[14], nsigns = sc[15];
    for (int k = 1; k <= 9; k++)
        if (length(&v[k]) != n) {
            PyErr_Format(PyExc_ValueError, "lookup_signs: %s has %lld entries, lookup %lld",
                         SIGNS_ARGS[k].name, (long long)length(&v[k]), (long long)n);
            goto fail;
        }
    if (nlk < 0 || nsigns < 0 || (nlk > 0 && nsigns > INT64_MAX / 8 / nlk) ||
        length(&v[13]) != LS_N) {
        PyErr_Format(PyExc_ValueError, "lookup_signs: nlk and nsigns must be >= 0 and small "
                     "enough, kind must have %d entries", (int)LS_N);
        goto fail;
    }
    if (all_within(&v[0], 0, n, "rows", "lookup_signs") < 0 ||
        all_within(&v[2], 0, nlk, "lookup", "lookup_signs") < 0 ||
        all_within(&v[13], 0, nsigns, "kind", "lookup_signs") < 0)
        goto fail;
    numpy = PyImport_ImportModule("numpy");
    if (numpy == NULL)
        goto fail;
    out = PyObject_CallMethod(numpy, "zeros", "(Ls)", (long long)(nsigns * nlk), "int32");
    if (out == NULL)
        goto fail;
    static const Arg out_arg = {"counts", A_I32, 1, 0, RW};
    if (get_array(out, &out_arg, &ov) < 0) {
        ov.obj = NULL;
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    lookup_signs(v[0].buf, v[1].buf, m, v[2].buf, v[3].buf, v[4].buf, v[5].buf, v[6].buf,
                 v[7].buf, v[8].buf, v[9].buf, sc[10], sc[11], sc[12], v[13].buf, nlk, ov.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&ov);
    Py_DECREF(numpy);
    release_all(v, SIGNS_NARGS);
    return out;
fail:
    if (ov.obj != NULL)
        PyBuffer_Release(&ov);
    Py_XDECREF(out);
    Py_XDECREF(numpy);
    release_all(v, SIGNS_NARGS);
    return NULL;
}

/* ---- lookup_sums() -------------------------------------------------------------------- */

static const Arg SUMS_ARGS[] = {
    {"lookup", A_I32, 1, 0, RO},  {"name", A_I32, 1, 0, RO},      {"q_ns", A_I64, 1, 0, RO},
    {"last_ns", A_I64, 1, 0, RO}, {"r_ns", A_I64, 1, 0, RO},      {"states", A_U8, 1, 0, RO},
    {"attempts", A_I32, 1, 0, RO}, {"any_name", A_INT, 0, 0, RO}, {"order", A_I32, 1, 0, RO},
};
#define SUMS_NARGS 9

PyObject *kernel_lookup_sums(PyObject *Py_UNUSED(self), PyObject *const *args,
                                    Py_ssize_t nargs)
{
    Py_buffer v[SUMS_NARGS];
    int64_t sc[SUMS_NARGS];
    PyObject *numpy = NULL, *out = NULL;
    int64_t *acc = NULL;
    Py_buffer ov;
    ov.obj = NULL;
    if (parse_args("lookup_sums", args, nargs, SUMS_ARGS, SUMS_NARGS, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[0]), nlk = length(&v[8]);
    for (int k = 1; k <= 6; k++)
        if (length(&v[k]) != n) {
            PyErr_Format(PyExc_ValueError, "lookup_sums: %s has %lld entries, lookup %lld",
                         SUMS_ARGS[k].name, (long long)length(&v[k]), (long long)n);
            goto fail;
        }
    if (nlk > INT64_MAX / 8 / LK_N || sc[7] < 0 || sc[7] > 255) {
        PyErr_SetString(PyExc_ValueError, "lookup_sums: too many lookups, or any_name is not "
                                          "a byte");
        goto fail;
    }
    if (all_within(&v[0], 0, nlk, "lookup", "lookup_sums") < 0 ||
        all_within(&v[8], 0, nlk, "order", "lookup_sums") < 0)
        goto fail;
    acc = PyMem_Malloc((size_t)(nlk + 1) * sizeof *acc); /* a row of scratch */
    if (acc == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    numpy = PyImport_ImportModule("numpy");
    if (numpy == NULL)
        goto fail;
    out = PyObject_CallMethod(numpy, "empty", "(Ls)", (long long)(LK_N * nlk), "int64");
    if (out == NULL)
        goto fail;
    static const Arg out_arg = {"sums", A_I64, 1, 0, RW};
    if (get_array(out, &out_arg, &ov) < 0) {
        ov.obj = NULL;
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    lookup_sums(v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf, v[5].buf, v[6].buf, n,
                sc[7], v[8].buf, nlk, acc, ov.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&ov);
    PyMem_Free(acc);
    Py_DECREF(numpy);
    release_all(v, SUMS_NARGS);
    return out;
fail:
    if (ov.obj != NULL)
        PyBuffer_Release(&ov);
    PyMem_Free(acc);
    Py_XDECREF(out);
    Py_XDECREF(numpy);
    release_all(v, SUMS_NARGS);
    return NULL;
}
