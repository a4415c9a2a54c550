/*
 * dnspcap._kernel, what the lookups table says of each lookup once group_lookups has
 * numbered them (dnspcap.grouping): group_order, a counting sort of rows by group;
 * client_parts, the messages dealt into parts of their clients (dnspcap.pipeline);
 * lookup_signs, the signatures of each lookup's A/AAAA pairs; lookup_sums, its counts and
 * spans.
 */
#include "kernel.h"

void group_order(const int32_t *code, int64_t n, int64_t ngroups, int64_t *next,
                 int32_t *order)
{
    /* a counting sort: next[g] is where the next row of group g goes */
    memset(next, 0, (size_t)(ngroups + 1) * sizeof *next);
    for (int64_t i = 0; i < n; i++)
        next[code[i] + 1]++;
    for (int64_t g = 0; g < ngroups; g++)
        next[g + 1] += next[g];
    for (int64_t i = 0; i < n; i++)
        order[next[code[i]]++] = (int32_t)i;
}

int64_t client_parts(const uint8_t *qr, Codes src, Codes dst, const int16_t *src_part,
                     const int16_t *dst_part, int64_t nsrc, int64_t ndst, int64_t n, int64_t k,
                     int16_t *share, int32_t *order, int64_t *count)
{
    /* each message's part: its query's source's, its response's destination's (a missing
     * address: part 0), counted; then a counting sort of the messages by part */
    memset(count, 0, (size_t)k * sizeof *count);
    for (int64_t i = 0; i < n; i++) {
        int response = qr[i] != 0;
        int64_t c = code_at(response ? dst : src, i), of = response ? ndst : nsrc;
        if (c < -1 || c >= of)
            return i;
        int64_t j = c < 0 ? 0 : (response ? dst_part : src_part)[c];
        if (j < 0 || j >= k)
            return i;
        share[i] = (int16_t)j;
        count[j]++;
    }
    int64_t *next = count + k; /* room for k more */
    next[0] = 0;
    for (int64_t j = 1; j < k; j++)
        next[j] = next[j - 1] + count[j - 1];
    for (int64_t i = 0; i < n; i++)
        order[next[share[i]]++] = (int32_t)i;
    return -1;
}

/* |a - b| as numpy computes it on int64 (wrapping; the absolute value of INT64_MIN stays
 * negative) */
static inline int64_t wabs_diff(int64_t a, int64_t b)
{
    uint64_t d = (uint64_t)a - (uint64_t)b;
    return (int64_t)d < 0 ? (int64_t)(0 - d) : (int64_t)d;
}

/* one more, short of overflowing: a lookup's pairs grow with the square of its queries */
static inline void count(int32_t *c)
{
    if (*c < INT32_MAX)
        (*c)++;
}

void lookup_signs(const int32_t *rows, const uint8_t *fam, int64_t m, const int32_t *lookup,
                  const int32_t *name, const int64_t *q_ns, const int64_t *last_ns,
                  const int64_t *r_ns, const uint16_t *port, const uint16_t *msg_id,
                  const uint8_t *tcp, int64_t window, int64_t turn_window, int64_t musl_gap,
                  const int64_t *kind,
                  int64_t nlk, int32_t *counts)
{
    int64_t s = 0;
    while (s < m) {
        /* the run of one lookup: each of its A rows with each AAAA row of the same name */
        int64_t lk = lookup[rows[s]], e = s;
        while (e < m && lookup[rows[e]] == lk)
            e++;
        for (int64_t i = s; i < e; i++) {
            int64_t x = rows[i];
            if (fam[x] != FAM_A)
                continue;
            for (int64_t j = s; j < e; j++) {
                int64_t y = rows[j];
                if (fam[y] != FAM_AAAA || name[y] != name[x])
                    continue;
                /* asked together (one socket or two, and how their IDs relate); or the
                 * second from a new socket once the first was answered (glibc's
                 * single-request-reopen), a round trip or so later */
                int64_t first_r = q_ns[x] <= q_ns[y] ? r_ns[x] : r_ns[y];
                int64_t second_q = q_ns[x] > q_ns[y] ? q_ns[x] : q_ns[y];
                int after_answer = first_r != INT64_MIN && second_q > first_r;
                int two = port[x] != port[y];
                int64_t dq = wabs_diff(q_ns[x], q_ns[y]);
                if (tcp[x] == tcp[y] &&
                    (dq <= window || (two && after_answer && dq <= turn_window))) {
                    int64_t d = (int64_t)((uint64_t)msg_id[x] - (uint64_t)msg_id[y]) % 65536;
                    if (d < 0)
                        d += 65536;
                    int64_t gap = d < 65536 - d ? d : 65536 - d;
                    int k = two && after_answer ? LS_REOPEN
                            : two               ? LS_TWO_SOCKETS
                            : tcp[x]            ? LS_TCP_PIPELINED
                            : gap == 0          ? LS_SAME_ID
                            : gap <= musl_gap   ? LS_NEAR_ID
                                                : LS_RANDOM_ID;
                    count(&counts[kind[k] * nlk + lk]);
                }
                /* the last attempts went out in turn on one socket: the second one round
                 * trip after the first, once its answer came */
                if (port[x] == port[y] && wabs_diff(last_ns[x], last_ns[y]) <= turn_window &&
                    ((r_ns[x] != INT64_MIN && last_ns[y] > r_ns[x]) ||
                     (r_ns[y] != INT64_MIN && last_ns[x] > r_ns[y])))
                    count(&counts[kind[LS_SEQUENTIAL] * nlk + lk]);
            }
        }
        s = e;
    }
}

void lookup_sums(const int32_t *lookup, const int32_t *name, const int64_t *q_ns,
                 const int64_t *last_ns, const int64_t *r_ns, const uint8_t *states,
                 const int32_t *attempts, int64_t n, int64_t any_name, const int32_t *order,
                 int64_t nlk, int64_t *tmp, int64_t *out)
{
    /* straight into the rows of out (a sum per row, a lookup per column): the queries come
     * by client then time, and the lookups are numbered so that each one's queries are
     * near one another and they come nearly in turn, so each row is written almost in
     * order */
    int64_t *row[LK_N];
    for (int x = 0; x < LK_N; x++)
        row[x] = out + x * nlk;
    for (int64_t k = 0; k < nlk; k++) {
        row[LK_FIRST][k] = row[LK_LAST][k] = -1;
        row[LK_FINAL_START][k] = INT64_MAX;
        row[LK_END][k] = row[LK_LAST_SENT][k] = INT64_MIN;
        row[LK_SEEN][k] = row[LK_QUERIES][k] = row[LK_SEARCH][k] = 0;
        row[LK_RETRANSMISSIONS][k] = row[LK_SIZE][k] = 0;
    }
    /* first: where each lookup starts; last: its last query, whose name is the final one */
    for (int64_t q = 0; q < n; q++) {
        int64_t lk = lookup[q];
        if (row[LK_FIRST][lk] < 0)
            row[LK_FIRST][lk] = q;
        row[LK_LAST][lk] = q;
    }
    for (int64_t q = 0; q < n; q++) {
        int64_t lk = lookup[q], a = attempts[q], more = wsub(a, 1);
        int is_final = name[q] == name[row[LK_LAST][lk]];
        row[LK_SEEN][lk] |= is_final ? states[q] : (states[q] & any_name);
        if (is_final && q_ns[q] < row[LK_FINAL_START][lk])
            row[LK_FINAL_START][lk] = q_ns[q];
        /* the last message: the response, or for an unanswered query its last attempt */
        int64_t e = r_ns[q] == INT64_MIN ? q_ns[q] : r_ns[q];
        if (last_ns[q] > e)
            e = last_ns[q];
        if (e > row[LK_END][lk])
            row[LK_END][lk] = e;
        if (last_ns[q] > row[LK_LAST_SENT][lk])
            row[LK_LAST_SENT][lk] = last_ns[q];
        row[LK_QUERIES][lk] = wadd(row[LK_QUERIES][lk], a);
        if (!is_final)
            row[LK_SEARCH][lk] = wadd(row[LK_SEARCH][lk], a);
        row[LK_RETRANSMISSIONS][lk] = wadd(row[LK_RETRANSMISSIONS][lk], more > 0 ? more : 0);
        row[LK_SIZE][lk]++;
    }
    /* each row in the order given, through tmp */
    for (int x = 0; x < LK_N; x++) {
        for (int64_t k = 0; k < nlk; k++)
            tmp[k] = row[x][order[k]];
        memcpy(row[x], tmp, (size_t)nlk * sizeof *tmp);
    }
}
