/*
 * dnspcap._kernel, the grouping loop of dnspcap.lookups (group_lookups): which lookup each
 * query belongs to. The rules are in lookups.group()'s docstring; Python turns names
 * into numbers first, so that this loop sees only codes:
 *
 *   queries, sorted by client then time: client, the set of readings of its name (rset),
 *   question type, client port, time, flags (Q_REPLIED: answered, not truncated; Q_FOUND:
 *   that answer had records and was not NXDOMAIN);
 *   readings: rset k is r_base/r_step[rs_start[k] .. rs_start[k] + rs_len[k]), the base
 *   name (a code below nbases) and search step each reading of the name gives, the one a
 *   new lookup takes first.
 *
 * Lookups are numbered in the order they are made; first and nports get each one's first
 * query and how many ports (sockets) its queries came from. Each open one is on the list
 * of its base name (per client: lists are reset when the client changes); a lookup idle
 * for more than gap leaves its list when a query's walk of the list passes it (no rule
 * takes an idle one). Each reading's list is walked once per query, the four rules
 * looked for together: a busy client asks one name again and again, and its list holds
 * the lookups of the last gap (a single pod asking at 20k packets/s: 9 s of walks
 * over a 3M-packet capture when each rule walked the list again).
 *
 * A lookup's state lives in a slot that is used again once the lookup can no longer be
 * reached: when it leaves its list, and for all of them when the client changes. The
 * slots then number about the lookups one client has open at once, and stay in cache.
 */
#include "kernel.h"

#include <stdlib.h>

#define SMALL 4 /* ports and replied types kept inline before a lookup's set spills to the heap */

/* A small set of ints: inline while it has at most SMALL, else on the heap (cap > 0); a
 * lookup has three, and there is one lookup per few queries, so they are kept small. */
typedef struct {
    int32_t n, cap; /* cap: 0 while inline */
    union {
        int32_t inline_[SMALL];
        int32_t *heap;
    } u;
} Set;

/* first and nports go straight to the caller's arrays: a lookup is 112 bytes */
typedef struct {
    int64_t step, last, prev, next; /* prev/next: slots on the list of its base, -1 at the
                                       ends; next also links the free slots */
    Set ports, replied, asked;      /* asked/replied: the types of the current step */
    int32_t id;                     /* the lookup's number, in the order they were made */
    uint8_t found, tc;              /* tc: a truncated answer came (TCP may follow) */
} Lookup;

static inline int32_t *set_items(Set *s) { return s->cap ? s->u.heap : s->u.inline_; }

static inline int set_has(Set *s, int32_t v)
{
    const int32_t *x = set_items(s);
    for (int32_t i = 0; i < s->n; i++)
        if (x[i] == v)
            return 1;
    return 0;
}

/* add v if absent; 0 when out of memory */
static int set_add(Set *s, int32_t v)
{
    if (set_has(s, v))
        return 1;
    if (s->n == SMALL && s->cap == 0) {
        int32_t *heap = malloc(2 * SMALL * sizeof *heap);
        if (heap == NULL)
            return 0;
        memcpy(heap, s->u.inline_, sizeof s->u.inline_);
        s->u.heap = heap;
        s->cap = 2 * SMALL;
    } else if (s->cap != 0 && s->n == s->cap) {
        if (s->cap > INT32_MAX / 2)
            return 0;
        int32_t *bigger = realloc(s->u.heap, (size_t)(2 * s->cap) * sizeof *bigger);
        if (bigger == NULL)
            return 0;
        s->u.heap = bigger;
        s->cap *= 2;
    }
    set_items(s)[s->n++] = v;
    return 1;
}

static void set_free(Set *s)
{
    if (s->cap != 0)
        free(s->u.heap);
    s->cap = s->n = 0;
}

typedef struct {
    Lookup *lk;
    int64_t cap, used;     /* slots: allocated, and used since the client changed */
    int64_t free;          /* the first slot free again, -1 for none */
    int64_t *tail, *owner; /* per base: the last lookup of its list, and whose list it is */
    int64_t gap;
} State;

static void unlink_lookup(State *st, int64_t base, int64_t i)
{
    Lookup *l = &st->lk[i];
    if (l->prev >= 0)
        st->lk[l->prev].next = l->next;
    if (l->next >= 0)
        st->lk[l->next].prev = l->prev;
    else
        st->tail[base] = l->prev;
    set_free(&l->ports);
    set_free(&l->replied);
    set_free(&l->asked);
    l->prev = -1;
    l->next = st->free; /* nothing reaches it any more: its slot is free */
    st->free = i;
}

/* A new client: none of the lookups so far can be reached again (their lists are reset
 * as the new client reaches them), so every slot is free. */
static void free_all(State *st)
{
    for (int64_t i = 0; i < st->used; i++) {
        set_free(&st->lk[i].ports);
        set_free(&st->lk[i].replied);
        set_free(&st->lk[i].asked);
    }
    st->used = 0;
    st->free = -1;
}

/* A slot for a new lookup: a free one, else the next one; -1 when out of memory. */
static int64_t new_slot(State *st)
{
    int64_t i = st->free;
    if (i >= 0) {
        st->free = st->lk[i].next;
        return i;
    }
    if (st->used == st->cap) {
        Lookup *bigger = realloc(st->lk, (size_t)(2 * st->cap) * sizeof *bigger);
        if (bigger == NULL)
            return -1;
        st->lk = bigger;
        st->cap *= 2;
    }
    return st->used++;
}

/* some type asked at the lookup's step has no answer yet */
static int incomplete(Lookup *l)
{
    const int32_t *x = set_items(&l->asked);
    for (int32_t i = 0; i < l->asked.n; i++)
        if (!set_has(&l->replied, x[i]))
            return 1;
    return 0;
}

/* the list of base for this client: a client's first query of base starts it again */
static void own_list(State *st, int64_t base, int64_t client)
{
    if (st->owner[base] != client) {
        st->owner[base] = client;
        st->tail[base] = -1;
    }
}

/* The lookups a query may join among those on one list (one reading of its name), from
 * the newest: the first that each rule takes (-1 for none). A lookup idle for more than
 * gap leaves the list as the walk passes it (no rule takes it: it would have left before
 * this query). The walk stops at the first the socket rule takes, which comes first. */
typedef struct {
    int64_t socket, tcp, waiting, round;
} Takers;

static Takers walk_list(State *st, int64_t base, int64_t step, uint16_t port, int32_t qtype,
                        int64_t ts, int tcp, int64_t new_round)
{
    Takers t = {-1, -1, -1, -1};
    int64_t i = st->tail[base];
    while (i >= 0) {
        Lookup *l = &st->lk[i];
        int64_t prev = l->prev;
        if ((int64_t)((uint64_t)ts - (uint64_t)l->last) > st->gap) {
            unlink_lookup(st, base, i);
            i = prev;
            continue;
        }
        if (step >= l->step && set_has(&l->ports, port)) {
            t.socket = i;
            break;
        }
        /* over TCP: the lookup whose answer came truncated (glibc asks both types again) */
        if (t.tcp < 0 && tcp && step == l->step && l->tc)
            t.tcp = i;
        if (t.waiting < 0 && ((step > l->step && !l->found) ||
                              (step == l->step && !set_has(&l->replied, qtype))))
            t.waiting = i;
        /* a whole timeout later, one still waiting for another type: glibc asks both
         * types again from new sockets when one of them timed out */
        if (t.round < 0 && step == l->step && incomplete(l) &&
            (int64_t)((uint64_t)ts - (uint64_t)l->last) >= new_round)
            t.round = i;
        i = prev;
    }
    return t;
}

#define MAX_WALKED 64 /* readings whose takers are kept on the stack; more are walked again */

int64_t group_lookups(const int32_t *client, const int32_t *rset, const int32_t *qtype,
                      const uint16_t *port, const int64_t *ts, const uint8_t *flags, int64_t n,
                      const int64_t *rs_start, const int64_t *rs_len, const int64_t *r_base,
                      const int64_t *r_step, int64_t nbases, int64_t gap, int64_t new_round,
                      int32_t *lookup_of, int32_t *first, int32_t *nports)
{
    State st = {NULL, 1024, 0, -1, NULL, NULL, gap};
    int64_t made = 0, err = 0;
    st.lk = malloc((size_t)st.cap * sizeof *st.lk);
    st.tail = malloc((size_t)(nbases + 1) * sizeof *st.tail);
    st.owner = malloc((size_t)(nbases + 1) * sizeof *st.owner);
    if (st.lk == NULL || st.tail == NULL || st.owner == NULL) {
        err = -1;
        goto done;
    }
    for (int64_t b = 0; b < nbases; b++)
        st.owner[b] = -1;
    for (int64_t q = 0; q < n; q++) {
        if (q > 0 && client[q] != client[q - 1])
            free_all(&st);
        const int64_t *base = r_base + rs_start[rset[q]], *step = r_step + rs_start[rset[q]];
        int64_t nr = rs_len[rset[q]], cur = -1, at = 0;
        int tcp = (flags[q] & Q_TCP) != 0;
        for (int64_t r = 0; r < nr; r++)
            own_list(&st, base[r], client[q]);
        /* Each reading's list walked once: the socket first (of any reading, in order),
         * then over TCP the truncated one, then the waiting one, then a new round. */
        Takers kept[MAX_WALKED];
        for (int64_t r = 0; r < nr && cur < 0; r++) {
            Takers t = walk_list(&st, base[r], step[r], port[q], qtype[q], ts[q], tcp,
                                 new_round);
            if (t.socket >= 0) {
                cur = t.socket;
                at = step[r];
            } else if (r < MAX_WALKED) {
                kept[r] = t;
            }
        }
        for (int rule = 1; rule <= 3 && cur < 0; rule++)
            for (int64_t r = 0; r < nr && cur < 0; r++) {
                Takers t = r < MAX_WALKED ? kept[r]
                                          : walk_list(&st, base[r], step[r], port[q],
                                                      qtype[q], ts[q], tcp, new_round);
                int64_t i = rule == 1 ? t.tcp : rule == 2 ? t.waiting : t.round;
                if (i >= 0) {
                    cur = i;
                    at = step[r];
                }
            }
        if (cur < 0) { /* a new lookup, on the list of its first reading */
            cur = new_slot(&st);
            if (cur < 0) {
                err = -1;
                goto done;
            }
            at = step[0];
            Lookup *l = &st.lk[cur];
            memset(l, 0, sizeof *l);
            l->step = at;
            l->id = (int32_t)made++;
            first[l->id] = (int32_t)q;
            l->next = -1;
            l->prev = st.tail[base[0]];
            if (l->prev >= 0)
                st.lk[l->prev].next = cur;
            st.tail[base[0]] = cur;
        }
        Lookup *l = &st.lk[cur];
        if (at > l->step) {
            l->step = at;
            l->replied.n = 0;
            l->asked.n = 0;
            l->found = 0;
        }
        l->last = ts[q];
        if (!set_add(&l->ports, port[q]) || !set_add(&l->asked, qtype[q]) ||
            ((flags[q] & Q_REPLIED) && !set_add(&l->replied, qtype[q]))) {
            err = -1;
            goto done;
        }
        nports[l->id] = l->ports.n;
        l->found = l->found || (flags[q] & Q_FOUND) != 0;
        l->tc = l->tc || (flags[q] & Q_TC) != 0;
        lookup_of[q] = l->id;
    }
done:
    if (st.lk != NULL)
        free_all(&st);
    free(st.lk);
    free(st.tail);
    free(st.owner);
    return err < 0 ? -1 : made;
}

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
