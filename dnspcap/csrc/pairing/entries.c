/*
 * dnspcap._kernel: the Python entry points of dnspcap.pairing (kernels in pairing/pair.c and
 * pairing/columns.c), with their argument checks.
 */
#include "args.h"

/* ---- pair_assign(), pair_stats(), pair_links() --------------------------------------- */

/* The message columns every pairing pass starts with (see PairCols). */
#define PAIR_COLS                                                                              \
    {"qr", A_BOOL8, 1, 0, RO}, {"file", A_CODE, 1, 0, RO}, {"src", A_CODE, 1, 0, RO},          \
    {"dst", A_CODE, 1, 0, RO}, {"src_lut", A_I32, 1, 0, RO}, {"dst_lut", A_I32, 1, 0, RO},   \
    {"sport", A_U16, 1, 0, RO}, {"dport", A_U16, 1, 0, RO}, {"transport", A_CODE, 1, 0, RO}, \
    {"id", A_U16, 1, 0, RO}, {"qname", A_CODE, 1, 0, RO}, {"qtype", A_CODE, 1, 0, RO},       \
    {"qclass", A_CODE, 1, 0, RO}, {"ts", A_I64, 1, 0, RO}
#define N_PAIR_COLS 14
#define P_ (N_PAIR_COLS) /* the first argument after the columns */

static const Arg PAIR_ASSIGN_ARGS[] = {
    PAIR_COLS, {"order", A_I64, 1, 0, RO}, {"retry_ns", A_INT, 0, 0, RO},
    {"txn", A_I32, 1, 0, RW}, {"kind", A_U8, 1, 0, RW},
};
static const Arg PAIR_STATS_ARGS[] = {
    PAIR_COLS, {"order", A_I64, 1, 0, RO}, {"frame", A_I64, 1, 0, RO},
    {"txn", A_I32, 1, 0, RO}, {"first_q", A_I32, 1, 0, RW},
    {"first_r", A_I32, 1, 0, RW}, {"last_q", A_I32, 1, 0, RW}, {"last_q_any", A_I32, 1, 0, RW},
    {"attempts", A_I32, 1, 0, RW}, {"responses", A_I32, 1, 0, RW},
    {"q_frames", A_I64, 1, 0, RW}, {"r_frames", A_I64, 1, 0, RW}, {"gaps", A_F64, 1, 0, RW},
};
static const Arg PAIR_LINKS_ARGS[] = {
    PAIR_COLS, {"rep", A_I32, 1, 0, RO}, {"attempts", A_I32, 1, 0, RO},
    {"prev_flow", A_I32, 1, 0, RW}, {"prev_nat", A_I32, 1, 0, RW},
};
static const Arg PAIR_COLUMNS_ARGS[] = {
    PAIR_COLS, {"rep", A_I32, 1, 0, RO}, {"first_q", A_I32, 1, 0, RO},
    {"first_r", A_I32, 1, 0, RO}, {"last_q", A_I32, 1, 0, RO}, {"last_q_any", A_I32, 1, 0, RO},
    {"attempts", A_I32, 1, 0, RO}, {"responses", A_I32, 1, 0, RO},
    {"mismatched", A_BOOL8, 1, 0, RO}, {"end_ns", A_INT, 0, 0, RO},
    {"timeout", A_REAL, 0, 0, RO}, {"q_ts", A_I64, 1, 0, RW}, {"r_ts", A_I64, 1, 0, RW},
    {"lq_any_ts", A_I64, 1, 0, RW}, {"rtt", A_F64, 1, 0, RW}, {"rtt_last", A_F64, 1, 0, RW},
    {"status", A_CODE, 1, 0, RW}, {"client", A_CODE, 1, 0, RW}, {"server", A_CODE, 1, 0, RW},
    {"client_port", A_U16, 1, 0, RW}, {"server_port", A_U16, 1, 0, RW},
};

static Codes codes(const Py_buffer *v) { return (Codes){v->buf, (int)v->itemsize}; }

/* every code of an address column within [-1, nlut - 1): a row of its lut */
static int codes_within(Codes x, int64_t n, int64_t nlut, const char *name, const char *fname)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t k = code_at(x, i);
        if (k < -1 || k >= nlut - 1) {
            PyErr_Format(PyExc_ValueError, "%s: %s[%lld] = %d has no entry in its lut", fname,
                         name, (long long)i, (int)k);
            return -1;
        }
    }
    return 0;
}

/* PairCols from the first N_PAIR_COLS views, all of one length but the luts; and an order
 * of the rows (empty: the rows' own) whose every entry is a row. */
static int pair_cols(const char *fname, Py_buffer *v, const Py_buffer *order, PairCols *c)
{
    c->n = length(&v[0]);
    for (int k = 1; k < N_PAIR_COLS; k++)
        if (k != 4 && k != 5 && length(&v[k]) != c->n) {
            PyErr_Format(PyExc_ValueError, "%s: %s has %lld entries, qr %lld", fname,
                         PAIR_ASSIGN_ARGS[k].name, (long long)length(&v[k]), (long long)c->n);
            return -1;
        }
    c->qr = v[0].buf;
    c->file = codes(&v[1]);
    c->src = codes(&v[2]);
    c->dst = codes(&v[3]);
    c->src_lut = v[4].buf;
    c->dst_lut = v[5].buf;
    c->sport = v[6].buf;
    c->dport = v[7].buf;
    c->transport = codes(&v[8]);
    c->id = v[9].buf;
    c->qname = codes(&v[10]);
    c->qtype = codes(&v[11]);
    c->qclass = codes(&v[12]);
    c->ts = v[13].buf;
    if (codes_within(c->src, c->n, length(&v[4]), "src", fname) < 0 ||
        codes_within(c->dst, c->n, length(&v[5]), "dst", fname) < 0)
        return -1;
    if (order == NULL)
        return 0;
    if (length(order) != 0 && length(order) != c->n) {
        PyErr_Format(PyExc_ValueError, "%s: order has %lld entries, not 0 or %lld", fname,
                     (long long)length(order), (long long)c->n);
        return -1;
    }
    return all_within(order, 0, c->n, "order", fname);
}

static int same_length(const char *fname, Py_buffer *v, int from, int to, int64_t n,
                       const Arg *spec)
{
    for (int k = from; k < to; k++)
        if (length(&v[k]) != n) {
            PyErr_Format(PyExc_ValueError, "%s: %s has %lld entries, expected %lld", fname,
                         spec[k].name, (long long)length(&v[k]), (long long)n);
            return -1;
        }
    return 0;
}

PyObject *kernel_pair_assign(PyObject *Py_UNUSED(self), PyObject *const *args,
                                    Py_ssize_t nargs)
{
    enum { NA = NARGS(PAIR_ASSIGN_ARGS) };
    Py_buffer v[NA];
    int64_t sc[NA];
    PairCols c;
    if (parse_args("pair_assign", args, nargs, PAIR_ASSIGN_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t made = -1;
    if (pair_cols("pair_assign", v, &v[P_], &c) < 0 ||
        same_length("pair_assign", v, P_ + 2, P_ + 4, c.n, PAIR_ASSIGN_ARGS) < 0)
        goto done;
    if (c.n >= UINT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "pair_assign: too many messages");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    made = pair_assign(&c, v[P_].buf, length(&v[P_]), sc[P_ + 1], v[P_ + 2].buf, v[P_ + 3].buf);
    Py_END_ALLOW_THREADS
    if (made < 0)
        PyErr_NoMemory();
done:
    release_all(v, NA);
    return made < 0 ? NULL : PyLong_FromLongLong((long long)made);
}

PyObject *kernel_pair_stats(PyObject *Py_UNUSED(self), PyObject *const *args,
                                   Py_ssize_t nargs)
{
    enum { NA = NARGS(PAIR_STATS_ARGS) };
    Py_buffer v[NA];
    int64_t sc[NA];
    PairCols c;
    PairStats o;
    int rc = -4;
    if (parse_args("pair_stats", args, nargs, PAIR_STATS_ARGS, NA, v, sc) < 0)
        return NULL;
    o.n_txn = length(&v[P_ + 3]);
    if (pair_cols("pair_stats", v, &v[P_], &c) < 0 ||
        same_length("pair_stats", v, P_ + 1, P_ + 3, c.n, PAIR_STATS_ARGS) < 0 ||
        same_length("pair_stats", v, P_ + 3, P_ + 9, o.n_txn, PAIR_STATS_ARGS) < 0)
        goto done;
    o.nq = length(&v[P_ + 9]);
    o.nr = length(&v[P_ + 10]);
    if (length(&v[P_ + 11]) < o.nq) {
        PyErr_SetString(PyExc_ValueError, "pair_stats: gaps is shorter than q_frames");
        goto done;
    }
    o.first_q = v[P_ + 3].buf;
    o.first_r = v[P_ + 4].buf;
    o.last_q = v[P_ + 5].buf;
    o.last_q_any = v[P_ + 6].buf;
    o.attempts = v[P_ + 7].buf;
    o.responses = v[P_ + 8].buf;
    o.q_frames = v[P_ + 9].buf;
    o.r_frames = v[P_ + 10].buf;
    o.gaps = v[P_ + 11].buf;
    Py_BEGIN_ALLOW_THREADS
    rc = pair_stats(&c, v[P_ + 1].buf, v[P_ + 2].buf, v[P_].buf, length(&v[P_]), &o);
    Py_END_ALLOW_THREADS
    if (rc == -1)
        PyErr_NoMemory();
    else if (rc == -2)
        PyErr_SetString(PyExc_ValueError, "pair_stats: a transaction number is out of range");
    else if (rc == -3)
        PyErr_SetString(PyExc_ValueError,
                        "pair_stats: q_frames or r_frames does not fit the queries or responses");
done:
    release_all(v, NA);
    return rc == 0 ? PyLong_FromLongLong((long long)o.ngaps) : NULL;
}

PyObject *kernel_pair_links(PyObject *Py_UNUSED(self), PyObject *const *args,
                                   Py_ssize_t nargs)
{
    enum { NA = NARGS(PAIR_LINKS_ARGS) };
    Py_buffer v[NA];
    int64_t sc[NA];
    PairCols c;
    int rc = -3;
    if (parse_args("pair_links", args, nargs, PAIR_LINKS_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t m = length(&v[P_]);
    if (pair_cols("pair_links", v, NULL, &c) < 0 ||
        same_length("pair_links", v, P_, P_ + 4, m, PAIR_LINKS_ARGS) < 0)
        goto done;
    if (m >= UINT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "pair_links: too many transactions");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = pair_links(&c, v[P_].buf, v[P_ + 1].buf, m, v[P_ + 2].buf, v[P_ + 3].buf);
    Py_END_ALLOW_THREADS
    if (rc == -1)
        PyErr_NoMemory();
    else if (rc == -2)
        PyErr_SetString(PyExc_ValueError, "pair_links: a row in rep is out of range");
done:
    release_all(v, NA);
    if (rc != 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *kernel_pair_columns(PyObject *Py_UNUSED(self), PyObject *const *args,
                                     Py_ssize_t nargs)
{
    enum { NA = NARGS(PAIR_COLUMNS_ARGS), Q = P_ + 10 /* the first output */ };
    const char *f = "pair_columns";
    Py_buffer v[NA];
    int64_t sc[NA];
    PairCols c;
    int ok = 0;
    if (parse_args(f, args, nargs, PAIR_COLUMNS_ARGS, NA, v, sc) < 0)
        return NULL;
    int64_t m = length(&v[P_]);
    if (pair_cols(f, v, NULL, &c) < 0 || same_length(f, v, P_, P_ + 8, m, PAIR_COLUMNS_ARGS) < 0 ||
        same_length(f, v, Q, NA, m, PAIR_COLUMNS_ARGS) < 0)
        goto done;
    if (v[Q + 5].itemsize != 1) {
        PyErr_SetString(PyExc_TypeError, "pair_columns: status must be int8");
        goto done;
    }
    for (int k = P_; k < P_ + 5; k++)
        if (all_within(&v[k], k == P_ ? 0 : -1, c.n, PAIR_COLUMNS_ARGS[k].name, f) < 0)
            goto done;
    PairStats s = {.n_txn = m,
                   .first_q = v[P_ + 1].buf,
                   .first_r = v[P_ + 2].buf,
                   .last_q = v[P_ + 3].buf,
                   .last_q_any = v[P_ + 4].buf,
                   .attempts = v[P_ + 5].buf,
                   .responses = v[P_ + 6].buf};
    PairColumns o = {.q_ts = v[Q].buf,
                     .r_ts = v[Q + 1].buf,
                     .lq_any_ts = v[Q + 2].buf,
                     .rtt = v[Q + 3].buf,
                     .rtt_last = v[Q + 4].buf,
                     .status = v[Q + 5].buf,
                     .client = {v[Q + 6].buf, (int)v[Q + 6].itemsize},
                     .server = {v[Q + 7].buf, (int)v[Q + 7].itemsize},
                     .client_port = v[Q + 8].buf,
                     .server_port = v[Q + 9].buf};
    Py_BEGIN_ALLOW_THREADS
    pair_columns(&c, &s, v[P_].buf, v[P_ + 7].buf, sc[P_ + 8], real_arg(sc[P_ + 9]), &o);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    release_all(v, NA);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}
