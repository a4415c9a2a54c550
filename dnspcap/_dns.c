/*
 * dnspcap._kernel, one DNS message (see dnspcap/fastdns.py): check it strictly enough to
 * vouch that the exact decoder would find no error, key the parts whose text Python renders
 * (question name, answer section, option list) or, failing that, the whole body, and write
 * the message's DNS columns. Also the text of a question name.
 */
#include "_kernel.h"

/* what dns() finds, per message */
enum {
    I_FLAGS = 0, I_QD = 1, I_AN = 2, I_NS = 3, I_AR = 4, I_QTYPE = 5, I_QCLASS = 6,
    I_EDNS = 7, I_OPTTTL = 8, I_MINTTL = 9, I_WALK = 10, I_STRICT = 11, I_HAS_ANS = 12,
    I_HAS_OPTS = 13, I_QNAME_START = 14, I_QNAME_END = 15
};
#define INFO_SIZE 16
/* hashes: (h1, h2) pairs */
enum { H_BODY = 0, H_QNAME = 2, H_ANS = 4, H_OPTS = 6 };
#define HASH_SIZE 8

static inline void mix(uint64_t *h, int slot, uint64_t x)
{
    h[slot] = (h[slot] ^ x) * FNV_PRIME;
    uint64_t y = (h[slot + 1] + x + UINT64_C(0x9F)) * MIX_PRIME;
    h[slot + 1] = y ^ (y >> 29);
}

static inline void seed(uint64_t *h, int slot, uint64_t v)
{
    h[slot] = FNV_OFFSET ^ v;
    h[slot + 1] = MIX_OFFSET ^ v;
}

static inline void mix_range(uint64_t *h, int slot, const uint8_t *b, int64_t start, int64_t stop)
{
    for (int64_t p = start; p < stop; p++)
        mix(h, slot, b[p]);
}

/* Offset after the name at pos, or -1. Pointers end a name; targets are not followed. */
static int64_t skip_name(const uint8_t *b, int64_t pos, int64_t end)
{
    for (int k = 0; k < 128; k++) {
        if (pos >= end)
            return -1;
        int64_t c = b[pos];
        if (c == 0)
            return pos + 1;
        if (c >= 0xC0)
            return pos + 2 <= end ? pos + 2 : -1;
        if (c >= 0x40)
            return -1;
        pos += 1 + c;
    }
    return -1;
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

/* Walk the message b[s:e]; fill info and the hashes (fastdns.dns). */
static void dns(const uint8_t *b, int64_t s, int64_t e, int64_t *ttlpos, int64_t *info,
                uint64_t *h)
{
    int64_t n = e - s;
    for (int k = 0; k < INFO_SIZE; k++)
        info[k] = 0;
    info[I_QTYPE] = -1;
    info[I_QCLASS] = -1;
    info[I_EDNS] = -1;
    info[I_OPTTTL] = -1;
    info[I_MINTTL] = -1;
    int walk = n >= 12;
    int strict = walk;
    int64_t nttl = 0;
    int ptr;
    if (walk) {
        info[I_FLAGS] = be16(b, s + 2);
        int64_t qd = be16(b, s + 4);
        int64_t an = be16(b, s + 6);
        int64_t ns = be16(b, s + 8);
        int64_t ar = be16(b, s + 10);
        info[I_QD] = qd;
        info[I_AN] = an;
        info[I_NS] = ns;
        info[I_AR] = ar;
        if (an + ns + ar > MAX_RECORDS) {
            walk = 0;
            strict = 0;
        }
        strict = strict && qd == 1;
        int64_t pos = s + 12;
        for (int64_t i = 0; i < qd; i++) {
            if (!walk)
                break;
            if (i == 0 && strict) {
                int64_t p = name(b, s, pos, e, e, &ptr);
                strict = p >= 0 && !ptr;
                if (strict) {
                    info[I_QNAME_START] = pos;
                    info[I_QNAME_END] = p;
                }
            }
            int64_t p = skip_name(b, pos, e);
            if (p < 0 || p + 4 > e) {
                walk = 0;
                break;
            }
            if (i == 0) {
                info[I_QTYPE] = be16(b, p);
                info[I_QCLASS] = be16(b, p + 2);
            }
            pos = p + 4;
        }
        seed(h, H_ANS, (uint64_t)an);
        int ans_ptr = 0;
        int64_t ans_end = pos;
        int opt_seen = 0;
        seed(h, H_OPTS, 0);
        for (int64_t i = 0; i < an + ns + ar; i++) {
            if (!walk)
                break;
            if (strict)
                strict = name(b, s, pos, e, e, &ptr) >= 0;
            int64_t p = skip_name(b, pos, e);
            if (p < 0 || p + 10 > e) {
                walk = 0;
                break;
            }
            int64_t rtype = be16(b, p);
            int64_t rclass = be16(b, p + 2);
            int64_t ttl = (be16(b, p + 4) << 16) | be16(b, p + 6);
            int64_t stop = p + 10 + be16(b, p + 8);
            if (stop > e) {
                walk = 0;
                break;
            }
            int is_opt = rtype == 41 && i >= an + ns && !opt_seen;
            if (rtype != 41)
                ttlpos[nttl++] = p + 4; /* at most MAX_RECORDS of them */
            if (i < an && (info[I_MINTTL] < 0 || ttl < info[I_MINTTL]))
                info[I_MINTTL] = ttl;
            if (is_opt) {
                opt_seen = 1;
                info[I_EDNS] = rclass;
                info[I_OPTTTL] = ttl;
                int64_t q = p + 10;
                while (q < stop) {
                    if (q + 4 > stop || q + 4 + be16(b, q + 2) > stop) {
                        strict = 0;
                        break;
                    }
                    mix(h, H_OPTS, (uint64_t)be16(b, q));
                    info[I_HAS_OPTS] = 1;
                    q += 4 + be16(b, q + 2);
                }
            } else if (strict) {
                strict = rdata_ok(b, s, rtype, rclass, p + 10, stop, e, &ptr);
                if (i < an)
                    ans_ptr = ans_ptr || ptr;
            }
            if (i < an) {
                /* the text of an answer is its type and RDATA (the owner is not shown) */
                mix(h, H_ANS, (uint64_t)rtype);
                mix(h, H_ANS, (uint64_t)rclass);
                mix(h, H_ANS, (uint64_t)(stop - p - 10));
                mix_range(h, H_ANS, b, p + 10, stop);
                ans_end = stop;
            }
            pos = stop;
        }
        if (walk && strict && an > 0) {
            info[I_HAS_ANS] = 1;
            if (ans_ptr) {
                /* names in RDATA point elsewhere in the message: key on all of it up to here */
                seed(h, H_ANS, 0x5EED);
                int64_t k = 0;
                int64_t p = s;
                while (p < ans_end) {
                    if (k < nttl && p == ttlpos[k]) {
                        for (int z = 0; z < 4; z++)
                            mix(h, H_ANS, 0);
                        p += 4;
                        k += 1;
                        continue;
                    }
                    if (p >= s + 2)
                        mix(h, H_ANS, b[p]);
                    p += 1;
                }
            }
        }
    }
    if (!walk) {
        strict = 0;
        nttl = 0;
        info[I_MINTTL] = -1;
    }
    info[I_WALK] = walk;
    info[I_STRICT] = strict;
    if (strict) {
        seed(h, H_QNAME, (uint64_t)(info[I_QNAME_END] - info[I_QNAME_START]));
        mix_range(h, H_QNAME, b, info[I_QNAME_START], info[I_QNAME_END]);
        return;
    }
    /* the whole body, after the ID, TTLs zeroed when the structure walked */
    seed(h, H_BODY, (uint64_t)n);
    int64_t k = 0;
    int64_t p = s + 2;
    while (p < e) {
        if (k < nttl && p == ttlpos[k]) {
            for (int z = 0; z < 4; z++)
                mix(h, H_BODY, 0);
            p += 4;
            k += 1;
            continue;
        }
        mix(h, H_BODY, b[p]);
        p += 1;
    }
}


int dns_row(DnsOut *o, const uint8_t *b, int64_t s, int64_t e, int64_t row, int64_t *nkey,
            int64_t *ttlpos)
{
    int64_t info[INFO_SIZE];
    uint64_t h[HASH_SIZE];
    memset(h, 0, sizeof h);
    dns(b, s, e, ttlpos, info, h);
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
    o->off[row] = s;
    int64_t *key = o->key + row * N_KEYS;
    for (int j = 0; j < N_KEYS; j++)
        key[j] = -1;
    int strict = info[I_STRICT] != 0;
    for (int j = 0; j < (strict ? 3 : 1); j++) {
        static const int slots[3] = {H_QNAME, H_ANS, H_OPTS};
        int64_t kind, id;
        int slot;
        if (strict) {
            if ((j == 1 && !info[I_HAS_ANS]) || (j == 2 && !info[I_HAS_OPTS]))
                continue;
            kind = K_QNAME + j;
            slot = slots[j];
        } else {
            kind = K_BODY + 8 * info[I_WALK];
            slot = H_BODY;
        }
        if (!intern(&o->keys, h[slot], h[slot + 1], (uint64_t)kind, &id))
            return E_TABLE_FULL;
        if (id < 0) {
            id = ~id;
            o->new_key_row[*nkey] = row;
            o->new_key_kind[*nkey] = kind;
            *nkey += 1;
        }
        key[(kind & 7) - 1] = id;
    }
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
