/*
 * dnspcap._kernel: the Python entry points of capture reading, with their argument checks:
 *
 *   walk()        walk capture records into rows (reading/walk.c, reading/dns.c)
 *   dns_rows()    the DNS columns of messages the exact path found (reading/dns.c)
 *   qnames()      the text of question names
 *   merge_rows()  put appended rows in their place, in place (reading/rows.c)
 *
 * texts(), decode() and address_texts() are in reading/entries_text.c.
 */
#include "args.h"

/* ---- walk() and dns_rows() ------------------------------------------------------------ */

/* The exception for an E_ error of the kernels; returns NULL */
static PyObject *kernel_error(int err)
{
    if (err == E_ZERO_DIVISION)
        PyErr_SetString(PyExc_ZeroDivisionError, "if_tsdiv: integer division by zero");
    else if (err == E_NO_MEMORY)
        PyErr_NoMemory();
    else
        PyErr_SetString(PyExc_ValueError, "an interning table is full (bad count or ids)");
    return NULL;
}

static int too_short(const char *name, int64_t have, int64_t need)
{
    PyErr_Format(PyExc_ValueError, "%s: %lld entries, at least %lld needed", name,
                 (long long)have, (long long)need);
    return -1;
}

/* An interning table (entries, counter) at views v[k], v[k + 1]. */
static int check_table(const Py_buffer *v, const Arg *spec, int k)
{
    int64_t size = length(&v[k]);
    if (size < 1 || (size & (size - 1)) != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %lld entries, not a power of two", spec[k].name,
                     (long long)size);
        return -1;
    }
    if (length(&v[k + 1]) < 1)
        return too_short(spec[k + 1].name, length(&v[k + 1]), 1);
    return 0;
}

/* The DNS columns and the key table, the same run of arguments in walk() and dns_rows(). */
#define DNS_ARG_SPECS                                                                          \
    {"d_flags", A_U16, 1, 0, RW}, {"d_qd", A_U16, 1, 0, RW}, {"d_an", A_U16, 1, 0, RW},        \
        {"d_ns", A_U16, 1, 0, RW}, {"d_ar", A_U16, 1, 0, RW}, {"d_rcode", A_U16, 1, 0, RW},    \
        {"d_edns", A_U16, 1, 0, RW}, {"d_edns_na", A_BOOL8, 1, 0, RW},                        \
        {"d_edns_do", A_BOOL8, 1, 0, RW}, {"d_min_ttl", A_U32, 1, 0, RW},                     \
        {"d_min_ttl_na", A_BOOL8, 1, 0, RW}, {"d_qtype", A_I64, 1, 0, RW},                    \
        {"d_qclass", A_I64, 1, 0, RW}, {"d_key", A_I64, 2, N_KEYS, RW},                       \
        {"d_off", A_I64, 1, 0, RW}, {"keys", A_U64, 2, 4, RW}, {"kcount", A_I64, 1, 0, RW},   \
        {"new_key_row", A_I64, 1, 0, RW}, {"new_key_kind", A_I64, 1, 0, RW}
enum {
    D_FLAGS, D_QD, D_AN, D_NS, D_AR, D_RCODE, D_EDNS, D_EDNS_NA, D_EDNS_DO, D_MIN_TTL,
    D_MIN_TTL_NA, D_QTYPE, D_QCLASS, D_KEY, D_OFF, D_KEYS, D_KCOUNT,
    D_NEW_KEY_ROW, D_NEW_KEY_KIND, D_END
};

/* Lengths of the DNS run starting at views v (spec: its Arg specs), for `rows` rows. */
static int check_dns(const Py_buffer *v, const Arg *spec, int64_t rows)
{
    for (int k = D_FLAGS; k <= D_OFF; k++)
        if (length(&v[k]) < rows)
            return too_short(spec[k].name, length(&v[k]), rows);
    for (int k = D_NEW_KEY_ROW; k <= D_NEW_KEY_KIND; k++)
        if (length(&v[k]) < KEYS_PER_ROW * rows)
            return too_short(spec[k].name, length(&v[k]), KEYS_PER_ROW * rows);
    return check_table(v, spec, D_KEYS);
}

static DnsOut dns_out(Py_buffer *v)
{
#define P(k, T) ((T *)v[k].buf)
    DnsOut o = {
        .flags = P(D_FLAGS, uint16_t),
        .qd = P(D_QD, uint16_t),
        .an = P(D_AN, uint16_t),
        .ns = P(D_NS, uint16_t),
        .ar = P(D_AR, uint16_t),
        .rcode = P(D_RCODE, uint16_t),
        .edns = P(D_EDNS, uint16_t),
        .edns_na = P(D_EDNS_NA, uint8_t),
        .edns_do = P(D_EDNS_DO, uint8_t),
        .min_ttl = P(D_MIN_TTL, uint32_t),
        .min_ttl_na = P(D_MIN_TTL_NA, uint8_t),
        .qtype = P(D_QTYPE, int64_t),
        .qclass = P(D_QCLASS, int64_t),
        .key = P(D_KEY, int64_t),
        .off = P(D_OFF, int64_t),
        .keys = {P(D_KEYS, uint64_t), length(&v[D_KEYS]), P(D_KCOUNT, int64_t)},
        .new_key_row = P(D_NEW_KEY_ROW, int64_t),
        .new_key_kind = P(D_NEW_KEY_KIND, int64_t),
    };
#undef P
    return o;
}

static const Arg WALK_ARGS[] = {
    {"b", A_U8, 1, 0, RO},
    {"n", A_INT, 0, 0, RO},
    {"pos", A_INT, 0, 0, RO},
    {"frame", A_INT, 0, 0, RO},
    {"pcapng", A_FLAG, 0, 0, RO},
    {"big", A_FLAG, 0, 0, RO},
    {"rechdr", A_INT, 0, 0, RO},
    {"ts_mul", A_INT, 0, 0, RO},
    {"if_link", A_I64, 1, 0, RO},
    {"if_tsmul", A_I64, 1, 0, RO},
    {"if_tsdiv", A_I64, 1, 0, RO},
    {"if_tsoff", A_I64, 1, 0, RO},
    {"ports", A_U8, 1, 0, RO},
    /* message rows */
    {"m_frame", A_I64, 1, 0, RW},
    {"m_ts", A_I64, 1, 0, RW},
    {"m_sport", A_U16, 1, 0, RW},
    {"m_dport", A_U16, 1, 0, RW},
    {"m_ver", A_U8, 1, 0, RW},
    {"m_service", A_U8, 1, 0, RW},
    {"m_id", A_U16, 1, 0, RW},
    {"m_size", A_U32, 1, 0, RW},
    {"m_src", A_I64, 1, 0, RW},
    {"m_dst", A_I64, 1, 0, RW},
    DNS_ARG_SPECS,
    /* address table */
    {"ips", A_U64, 2, 4, RW},
    {"icount", A_I64, 1, 0, RW},
    {"new_ip_k1", A_U64, 1, 0, RW},
    {"new_ip_k2", A_U64, 1, 0, RW},
    {"new_ip_ver", A_U8, 1, 0, RW},
    /* slow records */
    {"s_frame", A_I64, 1, 0, RW},
    {"s_ts", A_I64, 1, 0, RW},
    {"s_iface", A_I64, 1, 0, RW},
    {"s_off", A_I64, 1, 0, RW},
    {"s_caplen", A_I64, 1, 0, RW},
    {"s_origlen", A_I64, 1, 0, RW},
    {"counts", A_I64, 1, 0, RW},
};
#define WALK_NARGS ((Py_ssize_t)(sizeof WALK_ARGS / sizeof WALK_ARGS[0]))

enum {
    W_B, W_N, W_POS, W_FRAME, W_PCAPNG, W_BIG, W_RECHDR, W_TSMUL, W_IF_LINK, W_IF_TSMUL,
    W_IF_TSDIV, W_IF_TSOFF, W_PORTS, W_M_FRAME, W_M_TS, W_M_SPORT, W_M_DPORT, W_M_VER,
    W_M_SERVICE, W_M_ID, W_M_SIZE, W_M_SRC, W_M_DST, W_DNS,
    W_IPS = W_DNS + D_END, W_ICOUNT, W_NEW_IP_K1, W_NEW_IP_K2,
    W_NEW_IP_VER, W_S_FRAME, W_S_TS, W_S_IFACE, W_S_OFF, W_S_CAPLEN, W_S_ORIGLEN, W_COUNTS,
    W_END
};

/* Check lengths, so that no index the loop computes can leave an array. */
static int check_walk(const Py_buffer *v, const int64_t *sc)
{
#define LEN(k) length(&v[k])
#define NEED(k, m)                                                                             \
    do {                                                                                       \
        if (LEN(k) < (m))                                                                      \
            return too_short(WALK_ARGS[k].name, LEN(k), (m));                                  \
    } while (0)
    if (WALK_NARGS != W_END) {
        PyErr_SetString(PyExc_SystemError, "walk: argument table out of step");
        return -1;
    }
    if (sc[W_N] < 0 || sc[W_N] > LEN(W_B)) {
        PyErr_Format(PyExc_ValueError, "n: %lld is not within the buffer (%lld bytes)",
                     (long long)sc[W_N], (long long)LEN(W_B));
        return -1;
    }
    if (sc[W_POS] < 0 || sc[W_POS] > sc[W_N]) {
        PyErr_Format(PyExc_ValueError, "pos: %lld is not within [0, n]", (long long)sc[W_POS]);
        return -1;
    }
    if (!sc[W_PCAPNG] && (sc[W_RECHDR] < 16 || sc[W_RECHDR] > MAX_RECORD)) {
        PyErr_Format(PyExc_ValueError, "rechdr: %lld is not a record header length",
                     (long long)sc[W_RECHDR]);
        return -1;
    }
    int64_t n_if = LEN(W_IF_LINK);
    NEED(W_IF_TSMUL, n_if);
    NEED(W_IF_TSDIV, n_if);
    NEED(W_IF_TSOFF, n_if);
    if (!sc[W_PCAPNG])
        NEED(W_IF_LINK, 1); /* classic pcap: interface 0 */
    NEED(W_PORTS, 65536);
    int64_t cap = LEN(W_M_FRAME);
    for (int k = W_M_TS; k <= W_M_DST; k++)
        NEED(k, cap);
    if (check_dns(&v[W_DNS], &WALK_ARGS[W_DNS], cap) < 0)
        return -1;
    NEED(W_NEW_IP_K1, 2 * cap);
    NEED(W_NEW_IP_K2, 2 * cap);
    NEED(W_NEW_IP_VER, 2 * cap);
    if (check_table(v, WALK_ARGS, W_IPS) < 0)
        return -1;
    int64_t cap_s = LEN(W_S_FRAME);
    for (int k = W_S_TS; k <= W_S_ORIGLEN; k++)
        NEED(k, cap_s);
    NEED(W_COUNTS, N_COUNTERS);
    return 0;
#undef NEED
#undef LEN
}

PyObject *kernel_walk(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v[W_END];
    int64_t sc[W_END];
    if (parse_args("walk", args, nargs, WALK_ARGS, WALK_NARGS, v, sc) < 0)
        return NULL;
    if (check_walk(v, sc) < 0) {
        release_all(v, W_END);
        return NULL;
    }
#define P(k, T) ((T *)v[k].buf)
    Walk w = {
        .b = P(W_B, const uint8_t),
        .n = sc[W_N],
        .pcapng = (int)sc[W_PCAPNG],
        .big = (int)sc[W_BIG],
        .rechdr = sc[W_RECHDR],
        .ts_mul = sc[W_TSMUL],
        .if_link = P(W_IF_LINK, const int64_t),
        .if_tsmul = P(W_IF_TSMUL, const int64_t),
        .if_tsdiv = P(W_IF_TSDIV, const int64_t),
        .if_tsoff = P(W_IF_TSOFF, const int64_t),
        .n_if = length(&v[W_IF_LINK]),
        .ports = P(W_PORTS, const uint8_t),
        .m_frame = P(W_M_FRAME, int64_t),
        .m_ts = P(W_M_TS, int64_t),
        .m_src = P(W_M_SRC, int64_t),
        .m_dst = P(W_M_DST, int64_t),
        .m_sport = P(W_M_SPORT, uint16_t),
        .m_dport = P(W_M_DPORT, uint16_t),
        .m_ver = P(W_M_VER, uint8_t),
        .m_service = P(W_M_SERVICE, uint8_t),
        .m_id = P(W_M_ID, uint16_t),
        .m_size = P(W_M_SIZE, uint32_t),
        .cap_m = length(&v[W_M_FRAME]),
        .dns = dns_out(&v[W_DNS]),
        .ips = {P(W_IPS, uint64_t), length(&v[W_IPS]), P(W_ICOUNT, int64_t)},
        .new_ip_k1 = P(W_NEW_IP_K1, uint64_t),
        .new_ip_k2 = P(W_NEW_IP_K2, uint64_t),
        .new_ip_ver = P(W_NEW_IP_VER, uint8_t),
        .s_frame = P(W_S_FRAME, int64_t),
        .s_ts = P(W_S_TS, int64_t),
        .s_iface = P(W_S_IFACE, int64_t),
        .s_off = P(W_S_OFF, int64_t),
        .s_caplen = P(W_S_CAPLEN, int64_t),
        .s_origlen = P(W_S_ORIGLEN, int64_t),
        .cap_s = length(&v[W_S_FRAME]),
        .counts = P(W_COUNTS, int64_t),
    };
#undef P
    int64_t pos = sc[W_POS], frame = sc[W_FRAME], res[7];
    int err = E_NO_MEMORY;
    w.dns.dec = decoder_new();
    if (w.dns.dec != NULL) {
        Py_BEGIN_ALLOW_THREADS
        err = run_walk(&w, &pos, &frame, res);
        Py_END_ALLOW_THREADS
    }
    decoder_free(w.dns.dec);
    release_all(v, W_END);
    if (err != E_OK)
        return kernel_error(err);
    return Py_BuildValue("(LLLLLLL)", (long long)res[0], (long long)res[1], (long long)res[2],
                         (long long)res[3], (long long)res[4], (long long)res[5],
                         (long long)res[6]);
}

static const Arg DNS_ROWS_ARGS[] = {
    {"b", A_U8, 1, 0, RO},
    {"offsets", A_I64, 1, 0, RO},
    {"sizes", A_I64, 1, 0, RO},
    DNS_ARG_SPECS,
};
enum { R_B, R_OFFSETS, R_SIZES, R_DNS, R_END = R_DNS + D_END };

PyObject *kernel_dns_rows(PyObject *Py_UNUSED(self), PyObject *const *args,
                                 Py_ssize_t nargs)
{
    Py_buffer v[R_END];
    int64_t sc[R_END];
    if (parse_args("dns_rows", args, nargs, DNS_ROWS_ARGS, R_END, v, sc) < 0)
        return NULL;
    int64_t rows = length(&v[R_OFFSETS]), size = length(&v[R_B]);
    const int64_t *offsets = v[R_OFFSETS].buf, *sizes = v[R_SIZES].buf;
    if (length(&v[R_SIZES]) != rows) {
        PyErr_SetString(PyExc_ValueError, "dns_rows: offsets and sizes differ in length");
        goto fail;
    }
    for (int64_t i = 0; i < rows; i++) {
        if (offsets[i] < 0 || sizes[i] < 0 || offsets[i] > size || sizes[i] > size - offsets[i]) {
            PyErr_Format(PyExc_ValueError, "dns_rows: message %lld is not within b",
                         (long long)i);
            goto fail;
        }
    }
    if (check_dns(&v[R_DNS], &DNS_ROWS_ARGS[R_DNS], rows) < 0)
        goto fail;
    DnsOut o = dns_out(&v[R_DNS]);
    /* the half-full rule for all the keys these rows may add: Python reserves first */
    if (o.keys.counter[0] < 0 || o.keys.counter[0] > o.keys.size ||
        2 * (o.keys.counter[0] + KEYS_PER_ROW * rows) > o.keys.size) {
        PyErr_SetString(PyExc_ValueError, "dns_rows: the key table has too little room");
        goto fail;
    }
    const uint8_t *b = v[R_B].buf;
    int64_t nkey = 0;
    int err = E_NO_MEMORY;
    o.dec = decoder_new();
    if (o.dec != NULL) {
        err = E_OK;
        Py_BEGIN_ALLOW_THREADS
        int64_t ttlpos[TTLPOS_SIZE];
        for (int64_t i = 0; i < rows && !err; i++)
            err = dns_row(&o, b, offsets[i], offsets[i] + sizes[i], i, &nkey, ttlpos);
        Py_END_ALLOW_THREADS
    }
    decoder_free(o.dec);
    if (err) {
        kernel_error(err);
        goto fail;
    }
    release_all(v, R_END);
    return PyLong_FromLongLong((long long)nkey);
fail:
    release_all(v, R_END);
    return NULL;
}

/* ---- qnames() ------------------------------------------------------------------------- */

static const Arg QNAMES_ARGS[] = {
    {"b", A_U8, 1, 0, RO},
    {"starts", A_I64, 1, 0, RO},
    {"ends", A_I64, 1, 0, RO},
};

PyObject *kernel_qnames(PyObject *Py_UNUSED(self), PyObject *const *args,
                               Py_ssize_t nargs)
{
    Py_buffer v[3];
    int64_t sc[3];
    PyObject *out = NULL;
    char *text = NULL;
    if (parse_args("qnames", args, nargs, QNAMES_ARGS, 3, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[1]), size = length(&v[0]), longest = 0;
    const int64_t *starts = v[1].buf, *ends = v[2].buf;
    const uint8_t *b = v[0].buf;
    if (length(&v[2]) != n) {
        PyErr_SetString(PyExc_ValueError, "qnames: starts and ends differ in length");
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        if (starts[i] < 0 || starts[i] > ends[i] || ends[i] > size) {
            PyErr_Format(PyExc_ValueError, "qnames: name %lld is not within b", (long long)i);
            goto fail;
        }
        if (ends[i] - starts[i] > longest)
            longest = ends[i] - starts[i];
    }
    text = PyMem_Malloc((size_t)(4 * longest + 1));
    out = PyList_New((Py_ssize_t)n);
    if (text == NULL || out == NULL) {
        if (text == NULL)
            PyErr_NoMemory();
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t len = name_text(b, starts[i], ends[i], text);
        PyObject *s = PyUnicode_DecodeASCII(text, (Py_ssize_t)len, NULL);
        if (s == NULL)
            goto fail;
        PyList_SET_ITEM(out, (Py_ssize_t)i, s);
    }
    PyMem_Free(text);
    release_all(v, 3);
    return out;
fail:
    PyMem_Free(text);
    Py_XDECREF(out);
    release_all(v, 3);
    return NULL;
}

/* ---- merge_rows() --------------------------------------------------------------------- */

static const Arg MERGE_ARGS[] = {
    {"col", A_U8, 1, 0, RW},
    {"itemsize", A_INT, 0, 0, RO},
    {"start", A_INT, 0, 0, RO},
    {"nmain", A_INT, 0, 0, RO},
    {"at", A_I64, 1, 0, RO},
};

PyObject *kernel_merge_rows(PyObject *Py_UNUSED(self), PyObject *const *args,
                                   Py_ssize_t nargs)
{
    Py_buffer v[5];
    int64_t sc[5];
    uint8_t *tmp = NULL;
    if (parse_args("merge_rows", args, nargs, MERGE_ARGS, 5, v, sc) < 0)
        return NULL;
    int64_t itemsize = sc[1], start = sc[2], nmain = sc[3], k = length(&v[4]);
    const int64_t *at = v[4].buf;
    int64_t rows = length(&v[0]);
    if (itemsize < 1 || itemsize > 64 || start < 0 || nmain < 0 ||
        start > rows / itemsize || nmain > rows / itemsize - start ||
        k > rows / itemsize - start - nmain) {
        PyErr_SetString(PyExc_ValueError, "merge_rows: the rows are not within col");
        goto fail;
    }
    for (int64_t i = 0; i < k; i++) {
        if (at[i] < 0 || at[i] > nmain || (i > 0 && at[i] < at[i - 1])) {
            PyErr_SetString(PyExc_ValueError,
                            "merge_rows: at must be non-decreasing, within [0, nmain]");
            goto fail;
        }
    }
    tmp = PyMem_Malloc((size_t)(k * itemsize + 1));
    if (tmp == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    merge_appended(v[0].buf, itemsize, start, nmain, at, k, tmp);
    Py_END_ALLOW_THREADS
    PyMem_Free(tmp);
    release_all(v, 5);
    Py_RETURN_NONE;
fail:
    release_all(v, 5);
    return NULL;
}
