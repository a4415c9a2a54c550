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
 * query and how many ports (sockets) its queries came from. Each is on a list of its base
 * name (per client: lists are reset when the client changes), in the order they were
 * made: the open list, or once it is settled (found, every type asked answered, no
 * truncated answer) the settled list. A lookup idle for more than gap leaves its list
 * when a walk passes it, or from the front of the settled list (no rule takes an idle
 * one). The socket rule, which comes first, is asked of each socket's own lookups
 * (sockets.h: a base and a port, the lookups that asked from it); only a query no
 * socket takes walks each reading's open list, once, for the other rules together, and
 * the settled list only when one of its lookups may take the query: is at the query's
 * step with no answer of its type (counted per base and step). A busy client asks one
 * name again and again, and most of a name's lookups of the last gap are settled: a
 * single pod asking at 20k packets/s spent 9-14 s of a 3M-packet capture walking lists
 * when they were one per base and each rule walked it again, 4.3-4.7 s with one walk,
 * 2.0 s with the settled ones apart. Counted per base only, the types sent 287k queries
 * of a 2M-packet pod down the settled list for nothing (lookups of another step lacked
 * their type): 98M entries walked, 35M counted per step. The socket rule walked both
 * lists to the socket's lookup, 52M entries for that pod; its sockets' entries took the
 * lookups of its 2M packets from 1.6-1.9 s to 1.3-1.4 s, and settling a lookup again
 * next to its old neighbour (settle()) to 1.0 s.
 *
 * A lookup's state lives in a slot that is used again once the lookup can no longer be
 * reached: when it leaves its list, and for all of them when the client changes. The
 * slots then number about the lookups one client has open at once, and stay in cache.
 */
#include "kernel.h"
#include "grouping/counts.h"
#include "grouping/sockets.h"

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

/* first and nports go straight to the caller's arrays */
typedef struct {
    int64_t step, last, prev, next; /* prev/next: slots on its list, -1 at the ends; next
                                       also links the free slots */
    int64_t base;                   /* whose list it is on: its first query's first reading */
    int64_t hint;                   /* unsettled: its older neighbour on the settled list */
    Set ports, replied, asked;      /* asked/replied: the types of the current step */
    int32_t id;                     /* the lookup's number, in the order they were made */
    uint8_t found, tc;              /* tc: a truncated answer came (TCP may follow) */
    uint8_t settled;                /* on the settled list of its base (see settled()) */
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

/* Keys of the settled counts: a base and a port; a base, a step and a type (ALL: any).
 * Steps past 4095 or type codes past 2^20 - 2 would share keys: more walks, not wrong
 * ones (a key's counts would add two groups' up, its ALL count the same two). */
#define PORT_KEY(b, p) (((b) << 16) | (int64_t)(p))
#define TYPE_KEY(b, s, t) \
    (((b) << 32) | ((int64_t)((s) & 0xfff) << 20) | (int64_t)((uint32_t)(t) & 0xfffff))
#define ALL_TYPES 0xfffff

typedef struct {
    Lookup *lk;
    int64_t cap, used; /* slots: allocated, and used since the client changed */
    int64_t free;      /* the first slot free again, -1 for none */
    /* per base: the last lookup of its open list, the first and last of its settled list,
     * and whose lists they are */
    int64_t *tail, *shead, *stail, *owner;
    /* of the settled lookups: per base and step, how many there are and their replied
     * types */
    Counts types;
    Sockets sockets; /* per base and port, the lookups of this client that asked from it */
    int64_t gap;
} State;

static inline int idle(const State *st, const Lookup *l, int64_t ts)
{
    return (int64_t)((uint64_t)ts - (uint64_t)l->last) > st->gap;
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

/* Settled: found, every type asked answered, no truncated answer. No rule but the socket
 * one and a type it has no answer for (at its step) takes a query into it, and those are
 * counted per base (Counts), so a query walks the settled list only when it might. */
static int settled(Lookup *l) { return l->found && !l->tc && !incomplete(l); }

static int count_settled(State *st, Lookup *l, int32_t d)
{
    int64_t b = l->base;
    const int32_t *t = set_items(&l->replied);
    for (int32_t k = 0; k < l->replied.n; k++)
        if (!counts_add(&st->types, TYPE_KEY(b, l->step, t[k]), d))
            return 0;
    return counts_add(&st->types, TYPE_KEY(b, l->step, ALL_TYPES), d);
}

/* off the list it is on */
static void list_remove(State *st, int64_t i)
{
    Lookup *l = &st->lk[i];
    int64_t b = l->base;
    if (l->prev >= 0)
        st->lk[l->prev].next = l->next;
    else if (l->settled)
        st->shead[b] = l->next;
    if (l->next >= 0)
        st->lk[l->next].prev = l->prev;
    else if (l->settled)
        st->stail[b] = l->prev;
    else
        st->tail[b] = l->prev;
}

/* onto a list (its last: *tail, its first: *head or NULL), in the order of the lookups'
 * numbers, which is the order they were made: each list is in that order. The place is
 * looked for onwards from `from` (a lookup on the list, older), else from the end whose
 * number is nearer: a lookup settling after a timeout is nearer the front of the settled
 * list, one answered at once nearer its end. */
static void list_insert(State *st, int64_t i, int64_t *tail, int64_t *head, int64_t from)
{
    Lookup *l = &st->lk[i];
    int64_t after = *tail, before = -1;
    if (from >= 0) {
        after = from;
        before = st->lk[from].next;
        while (before >= 0 && st->lk[before].id < l->id) {
            after = before;
            before = st->lk[before].next;
        }
    } else if (head != NULL && *head >= 0 && after >= 0 &&
               l->id - st->lk[*head].id < st->lk[after].id - l->id) {
        after = -1;
        before = *head;
        while (before >= 0 && st->lk[before].id < l->id) {
            after = before;
            before = st->lk[before].next;
        }
    }
    while (after >= 0 && st->lk[after].id > l->id) {
        before = after;
        after = st->lk[after].prev;
    }
    l->prev = after;
    l->next = before;
    if (after >= 0)
        st->lk[after].next = i;
    else if (head != NULL)
        *head = i;
    if (before >= 0)
        st->lk[before].prev = i;
    else
        *tail = i;
}

/* Onto the settled list. A lookup that settles again (a busy pod's: answered, asked
 * another type from its socket, answered again) goes after its older neighbour of then
 * when that is still on the list: the walk from the nearer end passed 16M lookups for
 * the 400k settlings of a 2M-packet pod. */
static int settle(State *st, int64_t i)
{
    Lookup *l = &st->lk[i];
    int64_t h = l->hint;
    int near = h >= 0 && h < st->used && st->lk[h].settled && st->lk[h].base == l->base &&
               st->lk[h].id < l->id;
    list_remove(st, i);
    l->settled = 1;
    list_insert(st, i, &st->stail[l->base], &st->shead[l->base], near ? h : -1);
    return count_settled(st, l, +1);
}

static void unsettle(State *st, int64_t i)
{
    Lookup *l = &st->lk[i];
    count_settled(st, l, -1); /* decrements find their keys */
    l->hint = l->prev;
    list_remove(st, i);
    l->settled = 0;
    list_insert(st, i, &st->tail[l->base], NULL, -1);
}

/* a lookup nothing reaches any more: off its list, its slot free */
static void drop(State *st, int64_t i)
{
    Lookup *l = &st->lk[i];
    if (l->settled)
        count_settled(st, l, -1);
    list_remove(st, i);
    l->settled = 0;
    set_free(&l->ports);
    set_free(&l->replied);
    set_free(&l->asked);
    l->id = -1; /* its sockets' entries are dead */
    l->prev = -1;
    l->next = st->free;
    st->free = i;
}

/* A new client: none of the lookups so far can be reached again (their lists are reset
 * as the new client reaches them), so every slot is free. */
static void free_all(State *st)
{
    for (int64_t i = 0; i < st->used; i++) {
        Lookup *l = &st->lk[i];
        if (l->settled)
            count_settled(st, l, -1);
        l->settled = 0;
        set_free(&l->ports);
        set_free(&l->replied);
        set_free(&l->asked);
    }
    st->used = 0;
    st->free = -1;
    sockets_reset(&st->sockets);
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

/* the lists of base for this client: a client's first query of base starts them again;
 * the idle lookups at the front of the settled list go (the others as a walk passes) */
static void own_list(State *st, int64_t base, int64_t client, int64_t ts)
{
    if (st->owner[base] != client) {
        st->owner[base] = client;
        st->tail[base] = st->shead[base] = st->stail[base] = -1;
    }
    while (st->shead[base] >= 0 && idle(st, &st->lk[st->shead[base]], ts))
        drop(st, st->shead[base]);
}

/* The lookups a query may join among those of one base (one reading of its name): the
 * first, from the newest, that each rule takes (-1 for none). The socket rule, which
 * comes first, is asked of the sockets' entries (socket_taker); the others walk the
 * lists. A lookup idle for more than gap leaves its list as a walk passes it (no rule
 * takes it: it would have left before this query). The settled list is walked only when
 * the counts say one of its lookups lacks an answer of the query's type at its step. */
typedef struct {
    int64_t tcp, waiting, round;
} Takers;

static inline int64_t newer(const State *st, int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : st->lk[a].id > st->lk[b].id ? a : b;
}

/* The socket rule: of the lookups of base that the query's socket (base, port) asked,
 * the newest at the query's step or before it (-1 for none). Entries of lookups gone
 * go; an idle lookup met leaves its list, as a walk would drop it. */
static int64_t socket_taker(State *st, int64_t base, int64_t step, uint16_t port, int64_t ts)
{
    int64_t key = PORT_KEY(base, port), best = -1, prev = -1;
    int64_t e = sockets_first(&st->sockets, key);
    while (e >= 0) {
        const SocketEntry *x = &st->sockets.e[e];
        Lookup *l = &st->lk[x->slot];
        if (x->slot >= st->used || l->id != x->id || idle(st, l, ts)) {
            if (x->slot < st->used && l->id == x->id)
                drop(st, x->slot);
            e = sockets_unlink(&st->sockets, key, prev, e);
            continue;
        }
        if (step >= l->step && (best < 0 || l->id > st->lk[best].id))
            best = x->slot;
        prev = e;
        e = x->next;
    }
    return best;
}

/* From lookup i towards the oldest, the first that each rule but the socket one takes.
 * The walk stops at the waiting rule's (over TCP: once the truncated rule's is found too,
 * unless enough_waiting): a later rule matters only where no reading has one. On the
 * settled list only the waiting rule can take a query: its lookups are found, answered
 * and not truncated. */
static Takers walk_from(State *st, int64_t i, int64_t step, int32_t qtype, int64_t ts, int tcp,
                        int64_t new_round, int enough_waiting)
{
    Takers t = {-1, -1, -1};
    while (i >= 0) {
        Lookup *l = &st->lk[i];
        int64_t prev = l->prev;
        if (idle(st, l, ts)) {
            drop(st, i);
            i = prev;
            continue;
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
        if (t.waiting >= 0 && (enough_waiting || !tcp || t.tcp >= 0))
            break;
        i = prev;
    }
    return t;
}

static Takers walk_list(State *st, int64_t base, int64_t step, int32_t qtype, int64_t ts,
                        int tcp, int64_t new_round)
{
    Takers t = walk_from(st, st->tail[base], step, qtype, ts, tcp, new_round, 0);
    /* the waiting rule takes a settled lookup only at the query's step */
    int by_type = counts_get(&st->types, TYPE_KEY(base, step, ALL_TYPES)) >
                  counts_get(&st->types, TYPE_KEY(base, step, qtype));
    if (by_type) {
        Takers s = walk_from(st, st->stail[base], step, qtype, ts, tcp, new_round, 1);
        t.waiting = newer(st, t.waiting, s.waiting);
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
    State st = {.lk = NULL, .cap = 1024, .free = -1, .gap = gap, .sockets = {.efree = -1}};
    int64_t made = 0, err = 0, nb = nbases + 1;
    st.lk = malloc((size_t)st.cap * sizeof *st.lk);
    st.tail = malloc((size_t)nb * sizeof *st.tail);
    st.shead = malloc((size_t)nb * sizeof *st.shead);
    st.stail = malloc((size_t)nb * sizeof *st.stail);
    st.owner = malloc((size_t)nb * sizeof *st.owner);
    if (st.lk == NULL || st.tail == NULL || st.shead == NULL || st.stail == NULL ||
        st.owner == NULL) {
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
            own_list(&st, base[r], client[q], ts[q]);
        /* The socket first (of any reading, in order); then, each reading's lists walked
         * once, over TCP the truncated one, then the waiting one, then a new round. */
        for (int64_t r = 0; r < nr && cur < 0; r++)
            if ((cur = socket_taker(&st, base[r], step[r], port[q], ts[q])) >= 0)
                at = step[r];
        Takers kept[MAX_WALKED];
        for (int64_t r = 0; r < nr && r < MAX_WALKED && cur < 0; r++)
            kept[r] = walk_list(&st, base[r], step[r], qtype[q], ts[q], tcp, new_round);
        for (int rule = 1; rule <= 3 && cur < 0; rule++)
            for (int64_t r = 0; r < nr && cur < 0; r++) {
                Takers t = r < MAX_WALKED ? kept[r]
                                          : walk_list(&st, base[r], step[r], qtype[q], ts[q],
                                                      tcp, new_round);
                int64_t i = rule == 1 ? t.tcp : rule == 2 ? t.waiting : t.round;
                if (i >= 0) {
                    cur = i;
                    at = step[r];
                }
            }
        if (cur < 0) { /* a new lookup, on the open list of its first reading */
            cur = new_slot(&st);
            if (cur < 0) {
                err = -1;
                goto done;
            }
            at = step[0];
            Lookup *l = &st.lk[cur];
            memset(l, 0, sizeof *l);
            l->hint = -1;
            l->step = at;
            l->base = base[0];
            l->id = (int32_t)made++;
            first[l->id] = (int32_t)q;
            l->next = -1;
            l->prev = st.tail[base[0]];
            if (l->prev >= 0)
                st.lk[l->prev].next = cur;
            st.tail[base[0]] = cur;
        } else if (st.lk[cur].settled) {
            unsettle(&st, cur); /* its counts go before its sets change */
        }
        Lookup *l = &st.lk[cur];
        if (at > l->step) {
            l->step = at;
            l->replied.n = 0;
            l->asked.n = 0;
            l->found = 0;
        }
        l->last = ts[q];
        int new_port = !set_has(&l->ports, port[q]);
        if (!set_add(&l->ports, port[q]) || !set_add(&l->asked, qtype[q]) ||
            ((flags[q] & Q_REPLIED) && !set_add(&l->replied, qtype[q])) ||
            (new_port && !sockets_add(&st.sockets, PORT_KEY(l->base, port[q]), cur, l->id))) {
            err = -1;
            goto done;
        }
        nports[l->id] = l->ports.n;
        l->found = l->found || (flags[q] & Q_FOUND) != 0;
        l->tc = l->tc || (flags[q] & Q_TC) != 0;
        lookup_of[q] = l->id;
        if (settled(l) && !settle(&st, cur)) {
            err = -1;
            goto done;
        }
    }
done:
    if (st.lk != NULL)
        free_all(&st);
    free(st.lk);
    free(st.tail);
    free(st.shead);
    free(st.stail);
    free(st.owner);
    counts_free(&st.types);
    sockets_free(&st.sockets);
    return err < 0 ? -1 : made;
}
