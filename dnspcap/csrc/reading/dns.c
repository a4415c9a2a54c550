/*
 * dnspcap._kernel, one DNS message (see dnspcap/reading/engine.py): check it strictly enough to
 * vouch that the exact decoder would find no error and key the parts whose text is rendered
 * once per key (question name, answer section, option list) by their wire bytes; or, when
 * it cannot vouch, decode it with the exact decoder (reading/decode.c) and key its texts (with the
 * error) by the texts themselves. Either way it writes the message's DNS columns. Also the
 * text of a question name.
 */
#include "kernel.h"

/* what dns() finds, per message */
enum {
    I_FLAGS = 0, I_QD = 1, I_AN = 2, I_NS = 3, I_AR = 4, I_QTYPE = 5, I_QCLASS = 6,
    I_EDNS = 7, I_OPTTTL = 8, I_MINTTL = 9, I_STRICT = 10, I_HAS_ANS = 11,
    I_HAS_OPTS = 12, I_QNAME_START = 13, I_QNAME_END = 14
};
#define INFO_SIZE 15
/* ---- 128-bit keys: MurmurHash3 (x64, 128-bit) over a stream of byte ranges ------------- */

/* The stream of one key is hashed 16 bytes at a time as it comes, so a key made of several
 * ranges (the records of an answer section) costs about what one range of the same length
 * does. The bytes of tail from ntail on are kept zero, and short copies are made of
 * fixed-size moves: variable-size memcpy and memset calls cost more than the hashing. */
typedef struct {
    uint64_t h1, h2, len;
    uint8_t tail[16];
    int64_t ntail;
} Hasher;

enum { HS_QNAME = 0, HS_ANS = 1, HS_OPTS = 2 }; /* = kind - 1 */

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t fmix(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xFF51AFD7ED558CCD);
    k ^= k >> 33;
    k *= UINT64_C(0xC4CEB9FE1A85EC53);
    return k ^ (k >> 33);
}

/* d[0:n] = p[0:n] for n < 16 */
static inline void copy_small(uint8_t *d, const uint8_t *p, int64_t n)
{
    if (n & 8) {
        memcpy(d, p, 8);
        d += 8;
        p += 8;
    }
    if (n & 4) {
        memcpy(d, p, 4);
        d += 4;
        p += 4;
    }
    if (n & 2) {
        memcpy(d, p, 2);
        d += 2;
        p += 2;
    }
    if (n & 1)
        *d = *p;
}

static inline void hs_seed(Hasher *s, uint64_t seed)
{
    s->h1 = s->h2 = seed;
    s->len = 0;
    s->ntail = 0;
    memset(s->tail, 0, 16);
}

static inline void hs_block(Hasher *s, const uint8_t *p)
{
    uint64_t k1 = load64(p), k2 = load64(p + 8);
    s->h1 ^= rotl(k1 * HASH_C1, 31) * HASH_C2;
    s->h1 = (rotl(s->h1, 27) + s->h2) * 5 + 0x52DCE729;
    s->h2 ^= rotl(k2 * HASH_C2, 33) * HASH_C1;
    s->h2 = (rotl(s->h2, 31) + s->h1) * 5 + 0x38495AB5;
}

static void hs_bytes(Hasher *s, const uint8_t *p, int64_t n)
{
    s->len += (uint64_t)n;
    if (s->ntail) {
        int64_t take = 16 - s->ntail < n ? 16 - s->ntail : n;
        copy_small(s->tail + s->ntail, p, take); /* take < 16: ntail > 0 */
        s->ntail += take;
        p += take;
        n -= take;
        if (s->ntail < 16)
            return;
        hs_block(s, s->tail);
        s->ntail = 0;
        memset(s->tail, 0, 16);
    }
    for (; n >= 16; p += 16, n -= 16)
        hs_block(s, p);
    copy_small(s->tail, p, n);
    s->ntail = n;
}

static inline void hs_u16(Hasher *s, int64_t v)
{
    uint8_t two[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    hs_bytes(s, two, 2);
}

static void hs_final(Hasher *s, uint64_t *k1, uint64_t *k2)
{
    if (s->ntail) {
        if (s->ntail > 8)
            s->h2 ^= rotl(load64(s->tail + 8) * HASH_C2, 33) * HASH_C1;
        s->h1 ^= rotl(load64(s->tail) * HASH_C1, 31) * HASH_C2;
    }
    uint64_t h1 = s->h1 ^ s->len, h2 = s->h2 ^ s->len;
    h1 += h2;
    h2 += h1;
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 += h2;
    *k1 = h1;
    *k2 = h2 + h1;
}

/* bytes b[start:stop], the 4 bytes at each of the TTL positions in it read as zeros */
static void hs_zeroing(Hasher *s, const uint8_t *b, int64_t start, int64_t stop,
                       const int64_t *ttlpos, int64_t nttl)
{
    static const uint8_t zeros[4] = {0, 0, 0, 0};
    int64_t p = start;
    for (int64_t k = 0; k < nttl; k++) {
        int64_t t = ttlpos[k];
        if (t < p || t + 4 > stop)
            continue;
        hs_bytes(s, b + p, t - p);
        hs_bytes(s, zeros, 4);
        p = t + 4;
    }
    hs_bytes(s, b + p, stop - p);
}

/* Strictly check the name at pos: offset after it or -1; *ptr: it used a pointer.
 * Bytes before the first pointer stay below limit, after it below end; at most 255
 * octets; a pointer must point backwards, at most MAX_JUMPS of them. */
static int64_t name(const uint8_t *b, int64_t msg, int64_t pos, int64_t limit, int64_t end,
                    int *ptr)
{
    int64_t bound = limit;
    int64_t octets = 1;
    int64_t after = -1;
    int64_t jumps = 0;
    for (;;) {
        if (pos >= bound)
            goto fail;
        int64_t c = b[pos];
        if (c == 0)
            break;
        if (c < 0x40) {
            int64_t stop = pos + 1 + c;
            if (stop > bound)
                goto fail;
            octets += 1 + c;
            if (octets > 255)
                goto fail;
            pos = stop;
        } else if (c >= 0xC0) {
            if (pos + 2 > bound)
                goto fail;
            if (after < 0)
                after = pos + 2;
            int64_t target = msg + (((c & 0x3F) << 8) | (int64_t)b[pos + 1]);
            if (target >= pos || jumps >= MAX_JUMPS)
                goto fail;
            jumps += 1;
            pos = target;
            bound = end;
        } else {
            goto fail;
        }
    }
    *ptr = jumps > 0;
    return after < 0 ? pos + 1 : after;
fail:
    *ptr = jumps > 0;
    return -1;
}

/* No content error in one record's RDATA b[start:stop]? *ptr: a name inside used a pointer */
static int rdata_ok(const uint8_t *b, int64_t msg, int64_t rtype, int64_t rclass, int64_t start,
                    int64_t stop, int64_t end, int *ptr)
{
    int64_t size = stop - start;
    int64_t p;
    *ptr = 0;
    if (size == 0 && (rclass == 255 || rclass == 254))
        return 1;
    switch (rtype) {
    case 1:
        return size == 4;
    case 28:
        return size == 16;
    case 2:
    case 5:
    case 12:
    case 39:
        return name(b, msg, start, stop, end, ptr) == stop;
    case 15:
        if (size < 2)
            return 0;
        return name(b, msg, start + 2, stop, end, ptr) == stop;
    case 33:
        if (size < 6)
            return 0;
        return name(b, msg, start + 6, stop, end, ptr) == stop;
    case 6: {
        int ptr2;
        p = name(b, msg, start, stop, end, ptr);
        if (p < 0)
            return 0;
        p = name(b, msg, p, stop, end, &ptr2);
        *ptr = *ptr || ptr2;
        return p >= 0 && p + 20 == stop;
    }
    case 16:
        if (size == 0)
            return 0;
        p = start;
        while (p < stop)
            p += 1 + (int64_t)b[p];
        return p == stop;
    default:
        return 1;
    }
}

/* Walk the message b[s:e] strictly: fill info and feed the hashers of the keys of its qname,
 * answers and options (fastdns.py). At the first thing it cannot vouch for it stops, with
 * info[I_STRICT] = 0: the exact decoder then reads the message whole. */
static void dns(const uint8_t *b, int64_t s, int64_t e, int64_t *ttlpos, int64_t *info,
                Hasher *hs)
{
    info[I_STRICT] = 0;
    /* field by field: a loop over all of them compiles to a slow `rep stos` */
    info[I_HAS_ANS] = info[I_HAS_OPTS] = 0;
    info[I_EDNS] = -1;
    info[I_OPTTTL] = -1;
    info[I_MINTTL] = -1;
    if (e - s < 12)
        return;
    int64_t an = be16(b, s + 6), ns = be16(b, s + 8), ar = be16(b, s + 10);
    info[I_FLAGS] = be16(b, s + 2);
    info[I_QD] = be16(b, s + 4);
    info[I_AN] = an;
    info[I_NS] = ns;
    info[I_AR] = ar;
    if (an + ns + ar > MAX_RECORDS || info[I_QD] != 1)
        return;
    int ptr;
    int64_t pos = name(b, s, s + 12, e, e, &ptr);
    if (pos < 0 || ptr || pos + 4 > e)
        return;
    info[I_QNAME_START] = s + 12;
    info[I_QNAME_END] = pos;
    info[I_QTYPE] = be16(b, pos);
    info[I_QCLASS] = be16(b, pos + 2);
    pos += 4;
    hs_seed(&hs[HS_ANS], (uint64_t)an);
    hs_seed(&hs[HS_OPTS], 0);
    int ans_ptr = 0, opt_seen = 0;
    int64_t ans_end = pos, nttl = 0;
    for (int64_t i = 0; i < an + ns + ar; i++) {
        int64_t p = name(b, s, pos, e, e, &ptr);
        if (p < 0 || p + 10 > e)
            return;
        int64_t rtype = be16(b, p);
        int64_t rclass = be16(b, p + 2);
        int64_t ttl = (be16(b, p + 4) << 16) | be16(b, p + 6);
        int64_t stop = p + 10 + be16(b, p + 8);
        if (stop > e)
            return;
        if (rtype != 41)
            ttlpos[nttl++] = p + 4; /* at most MAX_RECORDS of them */
        if (i < an && (info[I_MINTTL] < 0 || ttl < info[I_MINTTL]))
            info[I_MINTTL] = ttl;
        if (rtype == 41 && i >= an + ns && !opt_seen) {
            opt_seen = 1;
            info[I_EDNS] = rclass;
            info[I_OPTTTL] = ttl;
            for (int64_t q = p + 10; q < stop; q += 4 + be16(b, q + 2)) {
                if (q + 4 > stop || q + 4 + be16(b, q + 2) > stop)
                    return;
                hs_u16(&hs[HS_OPTS], be16(b, q));
                info[I_HAS_OPTS] = 1;
            }
        } else {
            if (!rdata_ok(b, s, rtype, rclass, p + 10, stop, e, &ptr))
                return;
            ans_ptr = ans_ptr || (i < an && ptr);
        }
        if (i < an) {
            /* the text of an answer is its type and RDATA (the owner is not shown):
             * type, class, then RDLENGTH and RDATA, skipping the TTL */
            hs_bytes(&hs[HS_ANS], b + p, 4);
            hs_bytes(&hs[HS_ANS], b + p + 8, stop - p - 8);
            ans_end = stop;
        }
        pos = stop;
    }
    if (an > 0) {
        info[I_HAS_ANS] = 1;
        if (ans_ptr) {
            /* names in RDATA point elsewhere in the message: key on all of it up to here
             * (after the ID, TTLs zeroed) */
            hs_seed(&hs[HS_ANS], 0x5EED);
            hs_zeroing(&hs[HS_ANS], b, s + 2, ans_end, ttlpos, nttl);
        }
    }
    info[I_STRICT] = 1;
    hs_seed(&hs[HS_QNAME], 0);
    hs_bytes(&hs[HS_QNAME], b + info[I_QNAME_START], info[I_QNAME_END] - info[I_QNAME_START]);
}

/* Intern a key of `kind` for row; a new one is reported in new_key_*. 0: the table is full */
static int key_id(DnsOut *o, uint64_t k1, uint64_t k2, int64_t kind, int64_t row, int64_t *nkey,
                  int64_t *id)
{
    if (!intern(&o->keys, k1, k2, (uint64_t)kind, id))
        return 0;
    if (*id < 0) {
        *id = ~*id;
        o->new_key_row[*nkey] = row;
        o->new_key_kind[*nkey] = kind;
        *nkey += 1;
    }
    return 1;
}

/* A message the strict checks refused: the exact decoder's columns, its texts keyed by the
 * texts themselves (an empty text: no key). */
static int exact_row(DnsOut *o, const uint8_t *b, int64_t s, int64_t e, int64_t row,
                     int64_t *nkey)
{
    Decoder *d = o->dec;
    if (decode(d, b + s, e - s) != E_OK)
        return E_NO_MEMORY;
    int64_t flags = d->flags >= 0 ? d->flags : 0;
    int has_opt = d->opt_ttl >= 0;
    o->flags[row] = (uint16_t)flags;
    o->qd[row] = (uint16_t)d->count[0];
    o->an[row] = (uint16_t)d->count[1];
    o->ns[row] = (uint16_t)d->count[2];
    o->ar[row] = (uint16_t)d->count[3];
    o->qtype[row] = d->qtype;
    o->qclass[row] = d->qclass;
    o->rcode[row] = (uint16_t)((flags & 0xF) | (has_opt ? (d->opt_ttl >> 24) << 4 : 0));
    o->edns[row] = (uint16_t)(d->edns_size >= 0 ? d->edns_size : 0);
    o->edns_na[row] = d->edns_size < 0;
    o->edns_do[row] = has_opt && (d->opt_ttl & 0x8000) != 0;
    o->min_ttl[row] = (uint32_t)(d->min_ttl >= 0 ? d->min_ttl : 0);
    o->min_ttl_na[row] = d->min_ttl < 0;
    int64_t *key = o->key + row * N_KEYS;
    for (int j = 0; j < N_TEXTS; j++) {
        key[j] = -1;
        if (d->text[j].n == 0)
            continue;
        Hasher h;
        uint64_t k1, k2;
        hs_seed(&h, 0);
        hs_bytes(&h, (const uint8_t *)d->text[j].p, d->text[j].n);
        hs_final(&h, &k1, &k2);
        if (!key_id(o, k1, k2, (j + 1) | K_TEXT, row, nkey, &key[j]))
            return E_TABLE_FULL;
    }
    return E_OK;
}

int dns_row(DnsOut *o, const uint8_t *b, int64_t s, int64_t e, int64_t row, int64_t *nkey,
            int64_t *ttlpos)
{
    int64_t info[INFO_SIZE];
    Hasher hs[3];
    dns(b, s, e, ttlpos, info, hs);
    o->off[row] = s;
    if (!info[I_STRICT])
        return exact_row(o, b, s, e, row, nkey);
    uint64_t k[3][2];
    int want[3] = {1, (int)info[I_HAS_ANS], (int)info[I_HAS_OPTS]};
    for (int j = 0; j < 3; j++) {
        if (want[j]) {
            hs_final(&hs[j], &k[j][0], &k[j][1]);
            intern_prefetch(&o->keys, k[j][0], k[j][1], (uint64_t)(K_QNAME + j));
        }
    }
    int64_t flags = info[I_FLAGS], opt_ttl = info[I_OPTTTL];
    int has_opt = opt_ttl >= 0;
    o->flags[row] = (uint16_t)flags;
    o->qd[row] = (uint16_t)info[I_QD];
    o->an[row] = (uint16_t)info[I_AN];
    o->ns[row] = (uint16_t)info[I_NS];
    o->ar[row] = (uint16_t)info[I_AR];
    o->qtype[row] = info[I_QTYPE];
    o->qclass[row] = info[I_QCLASS];
    /* the EDNS extended rcode: the OPT TTL's top byte above the header's four bits */
    o->rcode[row] = (uint16_t)((flags & 0xF) | (has_opt ? (opt_ttl >> 24) << 4 : 0));
    o->edns[row] = (uint16_t)(info[I_EDNS] >= 0 ? info[I_EDNS] : 0);
    o->edns_na[row] = info[I_EDNS] < 0;
    o->edns_do[row] = has_opt && (opt_ttl & 0x8000) != 0;
    o->min_ttl[row] = (uint32_t)(info[I_MINTTL] >= 0 ? info[I_MINTTL] : 0);
    o->min_ttl_na[row] = info[I_MINTTL] < 0;
    int64_t *key = o->key + row * N_KEYS;
    for (int j = 0; j < N_KEYS; j++)
        key[j] = -1;
    for (int j = 0; j < 3; j++)
        if (want[j] && !key_id(o, k[j][0], k[j][1], K_QNAME + j, row, nkey, &key[j]))
            return E_TABLE_FULL;
    return E_OK;
}

int64_t name_text(const uint8_t *b, int64_t s, int64_t e, char *out)
{
    static const char digits[] = "0123456789";
    int64_t n = 0;
    int64_t p = s;
    while (p < e && b[p] != 0 && b[p] < 0x40 && p + 1 + b[p] <= e) {
        int64_t stop = p + 1 + b[p];
        if (n > 0)
            out[n++] = '.';
        for (int64_t k = p + 1; k < stop; k++) {
            uint8_t x = b[k];
            if (x == '.' || x == '\\') {
                out[n++] = '\\';
                out[n++] = (char)x;
            } else if (x >= 0x21 && x <= 0x7E) {
                out[n++] = (char)x;
            } else { /* \DDD, as dnswire._LABEL_ESCAPES */
                out[n++] = '\\';
                out[n++] = digits[x / 100];
                out[n++] = digits[(x / 10) % 10];
                out[n++] = digits[x % 10];
            }
        }
        p = stop;
    }
    if (n == 0)
        out[n++] = '.';
    return n;
}
