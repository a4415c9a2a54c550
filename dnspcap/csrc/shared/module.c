/*
 * dnspcap._kernel: the compiled fast path (see dnspcap/reading/engine.py for
 * the design, dnspcap/csrc/kernel.h for the files). This file holds the module, its method
 * table and the shared entry points (their arguments checked by shared/args.c):
 *
 *   count_codes(), recode()  count and map category codes (reading/rows.c)
 *   rehash()                 grow an interning table
 *
 * The others: in reading/entries.c, walk(), dns_rows(), qnames() and merge_rows(); in
 * reading/entries_text.c, texts(), decode() and address_texts(); in pairing/entries.c,
 * pair_assign(), pair_stats(), pair_links() and pair_columns() for dnspcap.pairing; in
 * shared/gathers.c, take_rows(), gather_ranges() and scatter_rows(); in shared/merge.c,
 * merge_ranks(); in shared/keys.c, first_codes() and window_pairs(); in
 * grouping/entries.c, group_lookups(), group_order(), client_parts(), lookup_signs() and
 * lookup_sums() for dnspcap.grouping and dnspcap.pipeline.
 */
#include "args.h"

/* ---- count_codes() and recode() ------------------------------------------------------ */

static const Arg COUNT_ARGS[] = {
    {"codes", A_U8, 1, 0, RO},
    {"itemsize", A_INT, 0, 0, RO},
    {"counts", A_I64, 1, 0, RW},
};

static int check_codes(const char *fname, const Py_buffer *v, int64_t itemsize)
{
    int64_t bytes = length(v);
    if ((itemsize != 1 && itemsize != 2 && itemsize != 4) || bytes % itemsize != 0 ||
        (uintptr_t)v->buf % (uintptr_t)itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s: codes of %lld bytes, itemsize %lld, misaligned or "
                     "not a whole number of items", fname, (long long)bytes, (long long)itemsize);
        return -1;
    }
    return 0;
}

static PyObject *bad_code(const char *fname, int64_t at)
{
    PyErr_Format(PyExc_ValueError, "%s: code %lld is out of range", fname, (long long)at);
    return NULL;
}

static PyObject *kernel_count_codes(PyObject *Py_UNUSED(self), PyObject *const *args,
                                    Py_ssize_t nargs)
{
    Py_buffer v[3];
    int64_t sc[3], at = -1;
    if (parse_args("count_codes", args, nargs, COUNT_ARGS, 3, v, sc) < 0)
        return NULL;
    int64_t itemsize = sc[1];
    if (check_codes("count_codes", &v[0], itemsize) < 0) {
        release_all(v, 3);
        return NULL;
    }
    int64_t ncounts = length(&v[2]);
    int64_t *part = PyMem_Malloc((size_t)(4 * ncounts + 1) * sizeof *part);
    if (part == NULL) {
        release_all(v, 3);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    at = count_codes(v[0].buf, itemsize, length(&v[0]) / itemsize, v[2].buf, ncounts, part);
    Py_END_ALLOW_THREADS
    PyMem_Free(part);
    release_all(v, 3);
    if (at >= 0)
        return bad_code("count_codes", at);
    Py_RETURN_NONE;
}

static const Arg RECODE_ARGS[] = {
    {"codes", A_U8, 1, 0, RO}, {"itemsize", A_INT, 0, 0, RO}, {"lut", A_I64, 1, 0, RO},
    {"out", A_U8, 1, 0, RW},   {"outsize", A_INT, 0, 0, RO},
};

static PyObject *kernel_recode(PyObject *Py_UNUSED(self), PyObject *const *args,
                               Py_ssize_t nargs)
{
    Py_buffer v[5];
    int64_t sc[5], at = -1;
    if (parse_args("recode", args, nargs, RECODE_ARGS, 5, v, sc) < 0)
        return NULL;
    int64_t itemsize = sc[1], outsize = sc[4];
    if (check_codes("recode", &v[0], itemsize) < 0 ||
        check_codes("recode", &v[3], outsize) < 0) {
        release_all(v, 5);
        return NULL;
    }
    int64_t n = length(&v[0]) / itemsize;
    if (length(&v[3]) / outsize != n) {
        PyErr_SetString(PyExc_ValueError, "recode: out and codes differ in length");
        release_all(v, 5);
        return NULL;
    }
    if (outsize != itemsize && v[3].buf != v[0].buf &&
        (uint8_t *)v[3].buf < (uint8_t *)v[0].buf + length(&v[0]) &&
        (uint8_t *)v[0].buf < (uint8_t *)v[3].buf + length(&v[3])) {
        PyErr_SetString(PyExc_ValueError, "recode: out overlaps codes");
        release_all(v, 5);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    at = recode(v[0].buf, itemsize, n, v[2].buf, length(&v[2]), v[3].buf, outsize);
    Py_END_ALLOW_THREADS
    release_all(v, 5);
    if (at >= 0)
        return bad_code("recode", at);
    Py_RETURN_NONE;
}

/* ---- rehash() ------------------------------------------------------------------------- */

static const Arg REHASH_ARGS[] = {
    {"entries", A_U64, 2, 4, RO},
    {"new", A_U64, 2, 4, RW},
};

static PyObject *kernel_rehash(PyObject *Py_UNUSED(self), PyObject *const *args,
                               Py_ssize_t nargs)
{
    Py_buffer v[2];
    int64_t sc[2];
    if (parse_args("rehash", args, nargs, REHASH_ARGS, 2, v, sc) < 0)
        return NULL;
    int64_t size = length(&v[0]), newsize = length(&v[1]);
    if (newsize < 1 || (newsize & (newsize - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "rehash: new: not a power of two");
        release_all(v, 2);
        return NULL;
    }
    const uint64_t *old = v[0].buf;
    uint64_t *new = v[1].buf;
    int full = 0;
    Py_BEGIN_ALLOW_THREADS
    uint64_t mask = (uint64_t)newsize - 1;
    for (int64_t j = 0; j < size && !full; j++) {
        const uint64_t *x = old + 4 * j;
        if (x[3] == 0)
            continue;
        uint64_t i = slot_of(x[0], x[1], x[2], mask);
        int64_t probe = 0;
        while (new[4 * i + 3] != 0 && probe < newsize) {
            i = (i + 1) & mask;
            probe++;
        }
        if (probe >= newsize) {
            full = 1;
            break;
        }
        memcpy(new + 4 * i, x, 4 * sizeof *x);
    }
    Py_END_ALLOW_THREADS
    release_all(v, 2);
    if (full) {
        PyErr_SetString(PyExc_ValueError, "rehash: the new table has no free slot left");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* every value of v[k] (an int64 or int32 array) within [lo, hi) */

/* ---- module --------------------------------------------------------------------------- */

static PyMethodDef kernel_methods[] = {
    {"walk", (PyCFunction)(void (*)(void))kernel_walk, METH_FASTCALL,
     "walk(b, n, pos, frame, pcapng, big, rechdr, ts_mul, if_link, if_tsmul, if_tsdiv, "
     "if_tsoff, ports, <10 row arrays>, <15 DNS arrays>, <4 key-table arrays>, "
     "<5 address-table arrays>, <6 slow-record arrays>, counts)\n--\n\n"
     "Walk capture records in b[pos:n]; see dnspcap.reading.engine. Returns "
     "(status, pos, frame, nm, nslow, nkey, nip)."},
    {"dns_rows", (PyCFunction)(void (*)(void))kernel_dns_rows, METH_FASTCALL,
     "dns_rows(b, offsets, sizes, <15 DNS arrays>, <4 key-table arrays>)\n--\n\n"
     "The DNS columns of the messages b[offsets[i]:offsets[i] + sizes[i]], as walk() writes "
     "them; returns the number of new keys."},
    {"qnames", (PyCFunction)(void (*)(void))kernel_qnames, METH_FASTCALL,
     "qnames(b, starts, ends)\n--\n\n"
     "The text of the uncompressed names b[starts[i]:ends[i]], as dnswire.read_name "
     "renders them."},
    {"texts", (PyCFunction)(void (*)(void))kernel_texts, METH_FASTCALL,
     "texts(b, starts, ends, kinds)\n--\n\n"
     "For each message b[starts[i]:ends[i]], the text of column kinds[i] & 7 (1: question "
     "name, 2: answers, 3: EDNS options, 4: error) as dnswire.decode_message writes "
     "it."},
    {"decode", (PyCFunction)(void (*)(void))kernel_decode, METH_FASTCALL,
     "decode(payload)\n--\n\n"
     "The fields of dnswire.Decoded for one message, by the kernel's exact decoder."},
    {"address_texts", (PyCFunction)(void (*)(void))kernel_address_texts, METH_FASTCALL,
     "address_texts(addresses)\n--\n\n"
     "str(ipaddress.ip_address(a)) for each bytes object of 4 or 16 bytes in the list."},
    {"merge_rows", (PyCFunction)(void (*)(void))kernel_merge_rows, METH_FASTCALL,
     "merge_rows(col, itemsize, start, nmain, at)\n--\n\n"
     "In the column col (its bytes), move the len(at) rows that follow rows "
     "[start, start + nmain) so that row i comes just before main row at[i]."},
    {"count_codes", (PyCFunction)(void (*)(void))kernel_count_codes, METH_FASTCALL,
     "count_codes(codes, itemsize, counts)\n--\n\n"
     "counts[c] += 1 for each code c in codes (its bytes; items of 1, 2 or 4 bytes, "
     "unsigned)."},
    {"recode", (PyCFunction)(void (*)(void))kernel_recode, METH_FASTCALL,
     "recode(codes, itemsize, lut, out, outsize)\n--\n\n"
     "out[i] = lut[codes[i]] (out may be codes itself when outsize == itemsize)."},
    {"rehash", (PyCFunction)(void (*)(void))kernel_rehash, METH_FASTCALL,
     "rehash(entries, new)\n--\n\n"
     "Move every entry of an interning table into a bigger, empty one (ids unchanged)."},
    {"group_lookups", (PyCFunction)(void (*)(void))kernel_group_lookups, METH_FASTCALL,
     "group_lookups(client, rset, qtype, port, ts, flags, rs_start, rs_len, r_base, r_step, "
     "nbases, gap, new_round)\n--\n\n"
     "The lookup of each query, numbered in the order they are made, and per lookup its "
     "first query and how many ports it used; see dnspcap.grouping.join and grouping/lookups.c."},
    {"client_parts", (PyCFunction)(void (*)(void))kernel_client_parts, METH_FASTCALL,
     "client_parts(qr, src, dst, src_part, dst_part, share, order, count)\n--\n\n"
     "Each message's part by its client (a query's src, a response's dst; none: 0), the "
     "messages in order of part (order) and how many each part has (count)."},
    {"group_order", (PyCFunction)(void (*)(void))kernel_group_order, METH_FASTCALL,
     "group_order(codes, ngroups)\n--\n\n"
     "The rows of each group (code) in turn, each group's in row order: "
     "numpy.argsort(codes, kind='stable') for codes within [0, ngroups), by counting."},
    {"lookup_signs", (PyCFunction)(void (*)(void))kernel_lookup_signs, METH_FASTCALL,
     "lookup_signs(rows, aaaa, lookup, name, q_ns, last_ns, r_ns, port, msg_id, tcp, window, "
     "musl_gap, kind, nlk, nsigns)\n--\n\n"
     "How often each lookup shows each resolver sign in its A/AAAA pairs: "
     "counts[sign * nlk + lookup]; see dnspcap.grouping.table and grouping/lookups.c."},
    {"lookup_sums", (PyCFunction)(void (*)(void))kernel_lookup_sums, METH_FASTCALL,
     "lookup_sums(lookup, name, q_ns, last_ns, r_ns, states, attempts, any_name, order)\n--\n\n"
     "What each lookup's queries add up to: LK_N rows of len(order) (sums[LK_X * len(order) "
     "+ k] for lookup order[k]); see dnspcap.grouping.table and dnspcap/csrc/grouping/lookups.c."},
    {"pair_columns", (PyCFunction)(void (*)(void))kernel_pair_columns, METH_FASTCALL,
     "pair_columns(<14 message columns>, rep, first_q, first_r, last_q, last_q_any, attempts, "
     "responses, mismatched, end_ns, timeout, q_ts, r_ts, lq_any_ts, rtt, rtt_last, status, "
     "client, server, client_port, server_port)\n--\n\n"
     "The transactions table's times, round trips, status and ends (dnspcap.pairing)."},
    {"merge_ranks", (PyCFunction)(void (*)(void))kernel_merge_ranks, METH_FASTCALL,
     "merge_ranks(ts, place, rank)\n--\n\n"
     "Each key's rank among k runs' keys (ts[r][i], place[r][i]), each run in that order: "
     "rank[off_r + i], run after run. -1, or the first run found out of order (then "
     "nothing is written); see dnspcap.findings.scan."},
    {"first_codes", (PyCFunction)(void (*)(void))kernel_first_codes, METH_FASTCALL,
     "first_codes(keys, codes, first)\n--\n\n"
     "codes[i] = keys[i]'s number among the distinct keys, in order of first appearance "
     "(pandas.factorize's codes), first[c] where code c first appears (first may be empty); "
     "returns how many are distinct. See shared/keys.c."},
    {"window_pairs", (PyCFunction)(void (*)(void))kernel_window_pairs, METH_FASTCALL,
     "window_pairs(key, ts, is_a, window, first, second)\n--\n\n"
     "Rows sorted by key, then ts: the pairs of an is_a row and another of its key within "
     "window, by distance; writes the first len(first), returns how many. See shared/keys.c."},
    {"gather_ranges", (PyCFunction)(void (*)(void))kernel_gather_ranges, METH_FASTCALL,
     "gather_ranges(data, start, length, out)\n--\n\n"
     "out = the byte ranges data[start[k]:start[k] + length[k]], one after another."},
    {"scatter_rows", (PyCFunction)(void (*)(void))kernel_scatter_rows, METH_FASTCALL,
     "scatter_rows(values, itemsize, part, outs)\n--\n\n"
     "Row i of values, in items of itemsize bytes, appended to outs[part[i]]; every out "
     "exactly filled, or ValueError."},
    {"take_rows", (PyCFunction)(void (*)(void))kernel_take_rows, METH_FASTCALL,
     "take_rows(values, itemsize, rows, fill, out)\n--\n\n"
     "out = values[rows], fill where a row is -1, in items of itemsize bytes."},
    {"pair_assign", (PyCFunction)(void (*)(void))kernel_pair_assign, METH_FASTCALL,
     "pair_assign(<14 message columns>, order, retry_ns, txn, kind)\n--\n\n"
     "Number each message's transaction (in order of first message); returns how many. "
     "See dnspcap.pairing and dnspcap/csrc/pairing/pair.c."},
    {"pair_stats", (PyCFunction)(void (*)(void))kernel_pair_stats, METH_FASTCALL,
     "pair_stats(<14 message columns>, order, frame, txn, first_q, first_r, last_q, "
     "last_q_any, attempts, responses, q_frames, r_frames, gaps)\n--\n\n"
     "What each transaction holds; returns the number of gaps written."},
    {"pair_links", (PyCFunction)(void (*)(void))kernel_pair_links, METH_FASTCALL,
     "pair_links(<14 message columns>, rep, attempts, prev_flow, prev_nat)\n--\n\n"
     "Each transaction's predecessor on its socket and ID, and across DNAT."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "dnspcap._kernel",
    .m_doc = "The compiled fast path of dnspcap (see dnspcap.reading.engine).",
    .m_size = 0,
    .m_methods = kernel_methods,
};

/* The constants Python shares with these files; dnspcap.reading.engine and others check at
 * import that they agree, so the two cannot drift apart silently. */
#define CONST(name) {#name, (unsigned long long)(name), 0}
#define SIGNED(name) {#name, (unsigned long long)(name), 1}
static const struct {
    const char *name;
    unsigned long long value;
    int is_signed;
} CONSTANTS[] = {
    CONST(NEED_MORE), CONST(BLOCK), CONST(FULL), CONST(CORRUPT),
    CONST(C_PACKETS), CONST(C_NOT_IP), CONST(C_NOT_DNS), CONST(C_MDNS_SKIP),
    CONST(C_LLMNR_SKIP), CONST(C_FIRST_TS), CONST(C_LAST_TS), CONST(N_COUNTERS),
    CONST(K_QNAME), CONST(K_ANSWERS), CONST(K_OPTIONS), CONST(K_ERROR), CONST(K_TEXT),
    CONST(P_NONE), CONST(P_DNS), CONST(P_MDNS), CONST(P_LLMNR), CONST(P_MDNS_SKIP),
    CONST(P_LLMNR_SKIP), CONST(P_TUNNEL), CONST(MAX_RECORD), SIGNED(TCP_SEGMENT),
    CONST(MAX_RECORDS), CONST(MAX_JUMPS), CONST(N_KEYS), CONST(KEYS_PER_ROW),
    CONST(HASH_C1), CONST(HASH_C2), CONST(Q_REPLIED), CONST(Q_FOUND), CONST(Q_TCP), CONST(Q_TC),
    CONST(LS_REOPEN), CONST(LS_TWO_SOCKETS), CONST(LS_TCP_PIPELINED), CONST(LS_SAME_ID),
    CONST(LS_NEAR_ID), CONST(LS_RANDOM_ID), CONST(LS_SEQUENTIAL), CONST(LS_N), CONST(FAM_A),
    CONST(FAM_AAAA),
    CONST(LK_FIRST), CONST(LK_LAST), CONST(LK_SEEN), CONST(LK_FINAL_START), CONST(LK_END),
    CONST(LK_LAST_SENT), CONST(LK_QUERIES), CONST(LK_SEARCH), CONST(LK_RETRANSMISSIONS),
    CONST(LK_SIZE), CONST(LK_N),
};
#undef CONST
#undef SIGNED

PyMODINIT_FUNC PyInit__kernel(void)
{
    PyObject *m = PyModule_Create(&kernel_module);
    if (m == NULL)
        return NULL;
    if (probe_ipv6_mapped() < 0) {
        Py_DECREF(m);
        return NULL;
    }
    for (size_t k = 0; k < sizeof CONSTANTS / sizeof CONSTANTS[0]; k++) {
        PyObject *v = CONSTANTS[k].is_signed
                          ? PyLong_FromLongLong((long long)CONSTANTS[k].value)
                          : PyLong_FromUnsignedLongLong(CONSTANTS[k].value);
        if (v == NULL || PyModule_AddObject(m, CONSTANTS[k].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
