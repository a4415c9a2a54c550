/*
 * dnspcap._kernel, the passes of dnspcap.pairing: numbering transactions, gathering what
 * each holds, and linking each to the one before it on its socket. Every message is
 * visited in time order and found by hashing its key, instead of sorting millions of rows
 * by a packed key (what the numpy version did, and what tests/pairing_reference.py keeps).
 *
 * The caller in pairing/entries.c checks lengths, element types and every code used as an index
 * before any loop starts; these loops also check the transaction numbers they follow.
 */
#include "kernel.h"

#include <stdlib.h>
#include <sys/mman.h>

/* The fields of message `i` that key it: the socket seen from the client, the ID and the
 * question. A response's source is the server. */
typedef struct {
    int32_t file, client, server, transport, qname, qtype, qclass;
    uint16_t cport, sport, id;
} Key;

static inline __attribute__((always_inline)) Key key_of(const PairCols *c, int64_t i)
{
    Key k;
    int response = c->qr[i] != 0;
    int32_t src = c->src_lut[code_at(c->src, i) + 1], dst = c->dst_lut[code_at(c->dst, i) + 1];
    k.file = code_at(c->file, i);
    k.client = response ? dst : src;
    k.server = response ? src : dst;
    k.cport = response ? c->dport[i] : c->sport[i];
    k.sport = response ? c->sport[i] : c->dport[i];
    k.transport = code_at(c->transport, i);
    k.id = c->id[i];
    k.qname = code_at(c->qname, i);
    k.qtype = code_at(c->qtype, i);
    k.qclass = code_at(c->qclass, i);
    return k;
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v * INTERN_M1;
    h = (h << 27) | (h >> 37);
    return h * INTERN_M2 + UINT64_C(0x52DCE729);
}

static inline uint64_t finish(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xFF51AFD7ED558CCD);
    return h ^ (h >> 33);
}

/* The socket and ID: what a transaction's neighbours on one socket share. */
static inline uint64_t hash_flow(const Key *k)
{
    uint64_t h = mix(0, (uint32_t)k->file);
    h = mix(h, (uint32_t)k->client);
    h = mix(h, ((uint64_t)k->cport << 32) | k->sport);
    h = mix(h, (uint32_t)k->server);
    h = mix(h, ((uint64_t)(uint32_t)k->transport << 16) | k->id);
    return h;
}

static inline uint64_t hash_of(const Key *k, int mode)
{
    if (mode == KEY_FLOW)
        return finish(hash_flow(k));
    if (mode == KEY_FULL) {
        uint64_t h = mix(hash_flow(k), (uint32_t)k->qname);
        return finish(mix(h, ((uint64_t)(uint32_t)k->qtype << 32) | (uint32_t)k->qclass));
    }
    /* KEY_NAT: the client's socket and the question, whatever the server, in one vantage
     * point (copies at other vantage points are linked by dnspcap.pairing.sightings) */
    uint64_t h = mix(0, (uint32_t)k->file);
    h = mix(h, (uint32_t)k->client);
    h = mix(h, ((uint64_t)k->cport << 32) | ((uint64_t)(uint32_t)k->transport << 16) | k->id);
    h = mix(h, (uint32_t)k->qname);
    return finish(mix(h, (uint32_t)k->qtype));
}

static inline int same(const Key *a, const Key *b, int mode)
{
    if (mode == KEY_NAT)
        return a->file == b->file && a->client == b->client && a->cport == b->cport &&
               a->transport == b->transport && a->id == b->id && a->qname == b->qname &&
               a->qtype == b->qtype;
    int flow = a->file == b->file && a->client == b->client && a->cport == b->cport &&
               a->server == b->server && a->sport == b->sport && a->transport == b->transport &&
               a->id == b->id;
    if (mode == KEY_FLOW)
        return flow;
    return flow && a->qname == b->qname && a->qtype == b->qtype && a->qclass == b->qclass;
}

/* An open-addressing table of entries numbered 0, 1, ...: a slot holds the high half of an
 * entry's hash and its number plus one, so that most probes decide without reading the
 * entry; an entry is compared through a message row that has its key. */
typedef struct {
    uint64_t *slot;
    uint64_t mask;
    int32_t *row; /* per entry: a message with its key (rows are below 2**31) */
    int64_t n;    /* entries made */
} Index;

/* Zeroed memory for a table probed at random: on 2 MB pages where the kernel has them, as
 * with 4 kB pages nearly every probe of a table of tens of megabytes also misses the TLB. */
static void *table_memory(size_t bytes)
{
    void *p = NULL;
    size_t huge = (size_t)1 << 21;
    if (bytes < huge)
        return calloc(bytes, 1);
    bytes = (bytes + huge - 1) & ~(huge - 1);
    if (posix_memalign(&p, huge, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    memset(p, 0, bytes);
    return p;
}

/* Room for `capacity` entries, with slots for `expect` of them: the slots double when
 * half are taken. */
static int index_init(Index *x, int64_t capacity, int64_t expect)
{
    uint64_t size = 16;
    while (size < 2 * (uint64_t)expect)
        size <<= 1;
    x->mask = size - 1;
    x->n = 0;
    x->slot = table_memory(size * sizeof *x->slot);
    x->row = malloc((size_t)(capacity > 0 ? capacity : 1) * sizeof *x->row);
    return x->slot && x->row ? 0 : -1;
}

static inline uint64_t hash_of_row(const PairCols *c, int64_t row, int mode)
{
    Key k = key_of(c, row);
    return hash_of(&k, mode);
}

/* Twice the slots, every entry moved to its place among them. */
static int index_grow(Index *x, const PairCols *c, int mode)
{
    uint64_t size = 2 * (x->mask + 1);
    uint64_t *slot = table_memory(size * sizeof *slot);
    if (slot == NULL)
        return -1;
    for (int64_t e = 0; e < x->n; e++) {
        uint64_t h = hash_of_row(c, x->row[e], mode);
        uint64_t s = h & (size - 1);
        while (slot[s] != 0)
            s = (s + 1) & (size - 1);
        slot[s] = (h >> 32 << 32) | (uint64_t)(e + 1);
    }
    free(x->slot);
    x->slot = slot;
    x->mask = size - 1;
    return 0;
}

static void index_free(Index *x)
{
    free(x->slot);
    free(x->row);
}

/* The slots are visited in a random order: keys are hashed this many messages ahead and
 * their slots fetched into the cache while earlier messages are handled. */
#define AHEAD 16

typedef struct {
    Key k;
    uint64_t h;
    int64_t row;
} Pending;

static inline void pend(Pending *p, const Index *x, const PairCols *c, int64_t row, int mode)
{
    p->k = key_of(c, row);
    p->h = hash_of(&p->k, mode);
    p->row = row;
    __builtin_prefetch(&x->slot[p->h & x->mask]);
}

/* The entry with p's key, made when new (*made = 1); -1 when the slots could not grow.
 * Callers never add more entries than the capacity. */
static int64_t index_get(Index *x, const PairCols *c, const Pending *p, int mode, int *made)
{
    if (2 * (uint64_t)(x->n + 1) > x->mask + 1 && index_grow(x, c, mode) < 0)
        return -1;
    uint64_t tag = p->h >> 32 << 32;
    uint64_t s = p->h & x->mask;
    for (;;) {
        uint64_t e = x->slot[s];
        if (e == 0)
            break;
        if ((e & ~UINT64_C(0xFFFFFFFF)) == tag) {
            int64_t entry = (int64_t)(e & 0xFFFFFFFF) - 1;
            Key o = key_of(c, x->row[entry]);
            if (same(&p->k, &o, mode)) {
                *made = 0;
                return entry;
            }
        }
        s = (s + 1) & x->mask;
    }
    int64_t entry = x->n++;
    x->slot[s] = tag | (uint64_t)(entry + 1);
    x->row[entry] = (int32_t)p->row;
    *made = 1;
    return entry;
}

static inline int64_t at(const int64_t *order, int64_t norder, int64_t j)
{
    return norder ? order[j] : j;
}

int64_t pair_assign(const PairCols *c, const int64_t *order, int64_t norder, int64_t retry_ns,
                    int32_t *txn, uint8_t *kind)
{
    /* Per key (socket, ID, question), the transaction state (as tests/pairing_reference.py
     * keeps it): a query while the key's transaction is unanswered (its last attempt at
     * most retry_ns ago) is a retransmission; the first response answers it; a later one within
     * retry_ns is a duplicate; a response with no open query starts a response-only
     * transaction. Transactions are numbered in the order of their first message. */
    int64_t n = c->n;
    Index x = {0};
    int32_t *cur = malloc((size_t)(n > 0 ? n : 1) * sizeof *cur); /* per key */
    /* per key, the rows of its last query and last response (their times are in ts) */
    int32_t *last_q = malloc((size_t)(n > 0 ? n : 1) * sizeof *last_q);
    int32_t *last_r = malloc((size_t)(n > 0 ? n : 1) * sizeof *last_r);
    int64_t t = 0;
    if (index_init(&x, n, n / 2) < 0 || !cur || !last_q || !last_r) {
        t = -1;
        goto done;
    }
    Pending ahead[AHEAD];
    for (int64_t j = 0; j < n && j < AHEAD; j++)
        pend(&ahead[j], &x, c, at(order, norder, j), KEY_FULL);
    for (int64_t j = 0; j < n; j++) {
        Pending *p = &ahead[j % AHEAD];
        int64_t i = p->row;
        int fresh;
        int64_t k = index_get(&x, c, p, KEY_FULL, &fresh);
        if (k < 0) {
            t = -1;
            break;
        }
        if (j + AHEAD < n)
            pend(p, &x, c, at(order, norder, j + AHEAD), KEY_FULL);
        int64_t ts = c->ts[i];
        if (!c->qr[i]) {
            if (fresh || kind[cur[k]] != 1 || wsub(ts, c->ts[last_q[k]]) > retry_ns) {
                cur[k] = (int32_t)t;
                kind[t++] = 1; /* has a query, no response yet */
            }
            last_q[k] = (int32_t)i;
        } else {
            uint8_t s = fresh ? 0 : kind[cur[k]];
            if (s == 1) {
                kind[cur[k]] = 3; /* answered */
            } else if (s & 2 && wsub(ts, c->ts[last_r[k]]) <= retry_ns) {
                /* a duplicate response */
            } else {
                cur[k] = (int32_t)t;
                kind[t++] = 2; /* a response with no query */
            }
            last_r[k] = (int32_t)i;
        }
        txn[i] = cur[k];
    }
done:
    index_free(&x);
    free(cur);
    free(last_q);
    free(last_r);
    return t;
}

int pair_stats(const PairCols *c, const int64_t *frame, const int32_t *txn, const int64_t *order,
               int64_t norder, PairStats *o)
{
    int64_t n = c->n, m = o->n_txn;
    for (int64_t t = 0; t < m; t++) {
        o->first_q[t] = o->first_r[t] = o->last_q[t] = o->last_q_any[t] = -1;
        o->attempts[t] = o->responses[t] = 0;
    }
    for (int64_t j = 0; j < n; j++) {
        int64_t i = at(order, norder, j), t = txn[i];
        if (t < 0 || t >= m)
            return -2;
        if (!c->qr[i]) {
            o->attempts[t]++;
            if (o->first_q[t] < 0)
                o->first_q[t] = (int32_t)i;
            if (o->first_r[t] < 0)
                o->last_q[t] = (int32_t)i;
            o->last_q_any[t] = (int32_t)i;
        } else {
            o->responses[t]++;
            if (o->first_r[t] < 0)
                o->first_r[t] = (int32_t)i;
        }
    }
    /* each transaction's attempts and responses, in time order, one after another */
    int64_t *qc = malloc((size_t)(m > 0 ? m : 1) * sizeof *qc);
    int64_t *rc = malloc((size_t)(m > 0 ? m : 1) * sizeof *rc);
    if (!qc || !rc) {
        free(qc);
        free(rc);
        return -1;
    }
    int64_t nq = 0, nr = 0;
    for (int64_t t = 0; t < m; t++) {
        qc[t] = nq;
        rc[t] = nr;
        nq += o->attempts[t];
        nr += o->responses[t];
    }
    if (nq != o->nq || nr != o->nr) {
        free(qc);
        free(rc);
        return -3;
    }
    for (int64_t j = 0; j < n; j++) {
        int64_t i = at(order, norder, j), t = txn[i];
        if (!c->qr[i])
            o->q_frames[qc[t]++] = i; /* the row for now: the gaps need its time */
        else
            o->r_frames[rc[t]++] = frame[i];
    }
    int64_t g = 0, s = 0;
    for (int64_t t = 0; t < m; t++) {
        int64_t e = s + o->attempts[t];
        for (int64_t q = s + 1; q < e; q++)
            o->gaps[g++] = (double)wsub(c->ts[o->q_frames[q]], c->ts[o->q_frames[q - 1]]) / 1e9;
        for (int64_t q = s; q < e; q++)
            o->q_frames[q] = frame[o->q_frames[q]];
        s = e;
    }
    o->ngaps = g;
    free(qc);
    free(rc);
    return 0;
}

/* For each transaction taking part (all; or, for KEY_NAT, those with a query), the one
 * before it with the same key, or -1. */
/* Which transactions share their key with another one (for KEY_NAT, of those with a
 * query): cand[t] = 1 for those and for the few whose hash bits meet another key's;
 * returns how many. A bit per hash value, set when a key is first seen and in the second
 * bitmap when seen again, about 16 bits per transaction: most keys are seen once, and a key
 * seen once has no predecessor and is no one's, so only the rest go through the table. */
static int64_t shared_keys(const PairCols *c, const int32_t *rep, const int32_t *attempts,
                           int64_t m, int mode, uint8_t *cand)
{
    int bits = 6;
    while (bits < 31 && ((int64_t)1 << bits) < 16 * m)
        bits++;
    size_t words = (size_t)1 << (bits - 6);
    /* per word of 64 hash values: [0] seen once, [1] seen again (one cache line) */
    uint64_t(*seen)[2] = calloc(words, sizeof *seen);
    uint32_t *bucket = malloc((size_t)(m > 0 ? m : 1) * sizeof *bucket);
    int64_t count = -1;
    if (seen == NULL || bucket == NULL)
        goto done;
    for (int64_t t = 0; t < m; t++) { /* the hashes first: no cache misses to wait for */
        Key k = key_of(c, rep[t]);
        bucket[t] = (uint32_t)(hash_of(&k, mode) >> (64 - bits));
    }
    for (int64_t t = 0; t < m; t++) {
        if (t + AHEAD < m)
            __builtin_prefetch(seen[bucket[t + AHEAD] >> 6]);
        if (mode == KEY_NAT && attempts[t] <= 0)
            continue;
        uint32_t b = bucket[t];
        uint64_t bit = UINT64_C(1) << (b & 63), w = seen[b >> 6][0];
        seen[b >> 6][1] |= w & bit;
        seen[b >> 6][0] = w | bit;
    }
    count = 0;
    for (int64_t t = 0; t < m; t++) {
        if (t + AHEAD < m)
            __builtin_prefetch(seen[bucket[t + AHEAD] >> 6]);
        cand[t] = (mode != KEY_NAT || attempts[t] > 0) &&
                  (seen[bucket[t] >> 6][1] >> (bucket[t] & 63) & 1);
        count += cand[t];
    }
done:
    free(seen);
    free(bucket);
    return count;
}

/* For each transaction, the one before it with the same key (-1 for none), of those with
 * cand[t] (the others have none). */
static int link_by(const PairCols *c, const int32_t *rep, const uint8_t *cand, int64_t m,
                   int64_t ncand, int mode, int32_t *prev)
{
    Index x = {0};
    int32_t *last = malloc((size_t)(ncand > 0 ? ncand : 1) * sizeof *last); /* per entry */
    Pending ring[AHEAD];
    int64_t who[AHEAD];
    int64_t head = 0, tail = 0, next = 0; /* the ring holds head..tail-1 */
    int rc = 0;
    for (int64_t t = 0; t < m; t++)
        prev[t] = -1;
    if (index_init(&x, ncand, ncand) < 0 || last == NULL)
        rc = -1;
    while (rc == 0) {
        for (; tail - head < AHEAD && next < m; next++)
            if (cand[next]) {
                pend(&ring[tail % AHEAD], &x, c, rep[next], mode);
                who[tail++ % AHEAD] = next;
            }
        if (head == tail)
            break;
        int made;
        int64_t t = who[head % AHEAD];
        int64_t e = index_get(&x, c, &ring[head++ % AHEAD], mode, &made);
        if (e < 0) {
            rc = -1;
            break;
        }
        prev[t] = made ? -1 : last[e];
        last[e] = (int32_t)t;
    }
    index_free(&x);
    free(last);
    return rc;
}

int pair_links(const PairCols *c, const int32_t *rep, const int32_t *attempts, int64_t m,
               int32_t *prev_flow, int32_t *prev_nat)
{
    /* For each transaction, in order, the one before it on its socket with its ID (or -1);
     * and for one with a query, the one before it with the same client socket, ID and
     * question to any server (a copy across DNAT, or -1). */
    for (int64_t t = 0; t < m; t++)
        if (rep[t] < 0 || rep[t] >= c->n)
            return -2;
    uint8_t *cand = malloc((size_t)(m > 0 ? m : 1));
    int64_t nflow = -1, nnat = -1;
    int bad = cand == NULL ||
              (nflow = shared_keys(c, rep, attempts, m, KEY_FLOW, cand)) < 0 ||
              link_by(c, rep, cand, m, nflow, KEY_FLOW, prev_flow) < 0 ||
              (nnat = shared_keys(c, rep, attempts, m, KEY_NAT, cand)) < 0 ||
              link_by(c, rep, cand, m, nnat, KEY_NAT, prev_nat) < 0;
    free(cand);
    return bad ? -1 : 0;
}
