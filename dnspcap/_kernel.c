/*
 * dnspcap._kernel: the compiled fast path (see dnspcap/fast.py and dnspcap/fastdns.py for
 * the design; the constants below must match the ones there).
 *
 * walk() walks classic-pcap records or pcapng enhanced packet blocks in a buffer, decodes
 * the link layer, IPv4/IPv6, UDP and the structure of each DNS message, and writes one row
 * per DNS message into caller-owned arrays; what it does not handle completely goes back to
 * Python as a "slow" record. rehash() grows an interning table. assign_transactions()
 * numbers transactions for dnspcap.pairing.
 *
 * The input is hostile: every read of the capture buffer is bounds-checked by hand, and the
 * arrays Python passes are checked (element type, dimensions, contiguity, lengths) before
 * the loop starts, so that no index computed inside can leave them. All arithmetic that may
 * wrap (timestamps, hashes) is done on uint64_t, as numpy's int64/uint64 did.
 *
 * Only the CPython API is used (arrays arrive through the buffer protocol); no numpy headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* ---- constants: keep in step with fast.py / fastdns.py -------------------------------- */

enum { NEED_MORE = 0, BLOCK = 1, FULL = 2, CORRUPT = 3 };
enum { C_PACKETS = 0, C_NOT_IP = 1, C_NOT_DNS = 2, C_MDNS_SKIP = 3, C_LLMNR_SKIP = 4 };
#define N_COUNTERS 5
enum { K_QNAME = 1, K_ANSWERS = 2, K_OPTIONS = 3, K_BODY = 4 };
enum {
    P_NONE = 0, P_DNS = 1, P_MDNS = 2, P_LLMNR = 3, P_MDNS_SKIP = 4, P_LLMNR_SKIP = 5,
    P_TUNNEL = 6
};
#define MAX_RECORD ((int64_t)1 << 26)

#define MAX_RECORDS 64
#define MAX_JUMPS 64
enum {
    I_FLAGS = 0, I_QD = 1, I_AN = 2, I_NS = 3, I_AR = 4, I_QTYPE = 5, I_QCLASS = 6,
    I_EDNS = 7, I_OPTTTL = 8, I_MINTTL = 9, I_WALK = 10, I_STRICT = 11, I_HAS_ANS = 12,
    I_HAS_OPTS = 13, I_QNAME_START = 14, I_QNAME_END = 15
};
#define INFO_SIZE 16
enum { H_BODY = 0, H_QNAME = 2, H_ANS = 4, H_OPTS = 6 };
#define HASH_SIZE 8
#define N_KEYS 4 /* m_key columns: qname, answers, options, whole body */

#define FNV_OFFSET UINT64_C(0xCBF29CE484222325)
#define FNV_PRIME UINT64_C(0x100000001B3)
#define MIX_OFFSET UINT64_C(0x9E3779B97F4A7C15)
#define MIX_PRIME UINT64_C(0xFF51AFD7ED558CCD)
#define INTERN_M1 UINT64_C(0x9E3779B97F4A7C15)
#define INTERN_M2 UINT64_C(0xC2B2AE3D27D4EB4F)

/* ---- byte helpers (callers guarantee i + width <= the end they checked) --------------- */

static inline int64_t be16(const uint8_t *b, int64_t i)
{
    return ((int64_t)b[i] << 8) | (int64_t)b[i + 1];
}

static inline int64_t u32(const uint8_t *b, int64_t i, int big)
{
    if (big)
        return ((int64_t)b[i] << 24) | ((int64_t)b[i + 1] << 16) | ((int64_t)b[i + 2] << 8) |
               (int64_t)b[i + 3];
    return ((int64_t)b[i + 3] << 24) | ((int64_t)b[i + 2] << 16) | ((int64_t)b[i + 1] << 8) |
           (int64_t)b[i];
}

/* int64 arithmetic that wraps around like numpy's instead of being undefined */
static inline int64_t wadd(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t wmul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

static inline void inc(int64_t *p) { *p = wadd(*p, 1); }

/* Python's a // d (rounds towards minus infinity); d != 0 */
static inline int64_t floordiv(int64_t a, int64_t d)
{
    if (d == -1)
        return (int64_t)(UINT64_C(0) - (uint64_t)a);
    int64_t q = a / d;
    if (a % d != 0 && ((a < 0) != (d < 0)))
        q -= 1;
    return q;
}

/* ---- interning tables ----------------------------------------------------------------- */

typedef struct {
    uint64_t *k1, *k2, *k3;
    int64_t *ids; /* -1: empty */
    int64_t size; /* length of ids; k1..k3 are at least as long */
    int64_t *counter;
} Table;

static inline uint64_t slot_of(uint64_t k1, uint64_t k2, uint64_t k3, uint64_t mask)
{
    uint64_t h = k1 ^ (k2 * INTERN_M1) ^ (k3 * INTERN_M2);
    return (h ^ (h >> 31)) & mask;
}

/* Id of key (k1, k2, k3), adding it when new: then the id negated minus one, so the caller
 * learns what to decode. Returns 0 (and leaves *out alone) only when the table has no free
 * slot, which the caller's half-full rule excludes; the bound only keeps a bad table from
 * hanging the loop. */
static inline int intern(Table *t, uint64_t k1, uint64_t k2, uint64_t k3, int64_t *out)
{
    uint64_t mask = (uint64_t)t->size - 1;
    uint64_t i = slot_of(k1, k2, k3, mask);
    for (int64_t probe = 0; probe < t->size; probe++) {
        int64_t e = t->ids[i];
        if (e < 0) {
            e = t->counter[0];
            t->counter[0] = wadd(e, 1);
            t->ids[i] = e;
            t->k1[i] = k1;
            t->k2[i] = k2;
            t->k3[i] = k3;
            *out = ~e; /* -e - 1, without overflow */
            return 1;
        }
        if (t->k1[i] == k1 && t->k2[i] == k2 && t->k3[i] == k3) {
            *out = e;
            return 1;
        }
        i = (i + 1) & mask;
    }
    return 0;
}

/* ---- DNS: validate a message and key its parts (fastdns.py) --------------------------- */

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

/* ---- the record walker (fast.walk) ---------------------------------------------------- */

typedef struct {
    const uint8_t *b;
    int64_t n;
    int pcapng, big;
    int64_t rechdr, ts_mul;
    const int64_t *if_link, *if_tsmul, *if_tsdiv, *if_tsoff;
    int64_t n_if;
    const uint8_t *ports; /* 65536 entries */
    int64_t *m_frame, *m_ts, *m_src, *m_dst;
    uint16_t *m_sport, *m_dport;
    uint8_t *m_ver, *m_service;
    uint16_t *m_id, *m_size;
    int64_t *m_info, *m_key, *m_off;
    int64_t cap_m;
    Table keys, ips;
    int64_t *new_key_row, *new_key_kind;
    uint64_t *new_ip_k1, *new_ip_k2;
    uint8_t *new_ip_ver;
    int64_t *s_frame, *s_ts, *s_iface, *s_off, *s_caplen, *s_origlen;
    int64_t cap_s;
    int64_t *counts;
} Walk;

enum { E_OK = 0, E_ZERO_DIVISION = 1, E_TABLE_FULL = 2 };


/* True when a TCP segment must go to the exact path (DNS ports or a short header). */
static inline int tcp_wanted(const Walk *w, int64_t tcp, int64_t end)
{
    if (tcp + 20 > end)
        return 1;
    if (w->ports[be16(w->b, tcp)] == P_NONE && w->ports[be16(w->b, tcp + 2)] == P_NONE) {
        inc(&w->counts[C_NOT_DNS]);
        return 0;
    }
    return 1;
}

/* An address as two big-endian 64-bit halves (IPv4 in the top of the first). */
static inline void address(const uint8_t *b, int64_t off, int64_t width, uint64_t *hi,
                           uint64_t *lo)
{
    *hi = 0;
    *lo = 0;
    for (int64_t j = 0; j < width; j++) {
        uint64_t v = b[off + j];
        if (j < 8)
            *hi |= v << (56 - 8 * j);
        else
            *lo |= v << (120 - 8 * j);
    }
}

/* The interned id of the address at b[off:off+width]; a first sighting is reported to
   Python in new_ip_*. Returns 0 when the table is full. */
static int address_id(Walk *w, const uint8_t *b, int64_t off, int64_t width, int64_t ver,
                      int64_t *nip, int64_t *id)
{
    uint64_t hi, lo;
    int64_t e;
    address(b, off, width, &hi, &lo);
    if (!intern(&w->ips, hi, lo, (uint64_t)ver, &e))
        return 0;
    if (e < 0) {
        e = ~e;
        w->new_ip_k1[*nip] = hi;
        w->new_ip_k2[*nip] = lo;
        w->new_ip_ver[*nip] = (uint8_t)ver;
        *nip += 1;
    }
    *id = e;
    return 1;
}

static inline void slow_record(Walk *w, int64_t *nslow, int64_t frame, int64_t ts,
                               int64_t iface, int64_t off, int64_t caplen, int64_t origlen)
{
    int64_t k = *nslow;
    w->s_frame[k] = frame;
    w->s_ts[k] = ts;
    w->s_iface[k] = iface;
    w->s_off[k] = off;
    w->s_caplen[k] = caplen;
    w->s_origlen[k] = origlen;
    *nslow = k + 1;
}

static int run_walk(Walk *w, int64_t *pos_io, int64_t *frame_io, int64_t *res)
{
    const uint8_t *b = w->b;
    const int64_t n = w->n;
    int64_t pos = *pos_io, frame = *frame_io;
    int64_t nm = 0, nslow = 0, nkey = 0, nip = 0;
    int64_t ttlpos[MAX_RECORDS + 1];
    uint64_t hashes[HASH_SIZE];
    int64_t status = NEED_MORE;
    int err = E_OK;
    memset(hashes, 0, sizeof hashes);
    for (;;) {
        if (nm + 2 > w->cap_m || nslow + 1 > w->cap_s) {
            status = FULL;
            break;
        }
        /* keep the interning tables at most half full: Python grows them and calls again */
        if (wmul(2, wadd(w->keys.counter[0], 3)) > w->keys.size ||
            wmul(2, wadd(w->ips.counter[0], 2)) > w->ips.size) {
            status = FULL;
            break;
        }
        /* ---- container ---- */
        int64_t iface = 0, caplen, origlen, data, ts;
        if (w->pcapng) {
            if (pos + 12 > n) {
                status = NEED_MORE;
                break;
            }
            int64_t btype = u32(b, pos, w->big);
            int64_t blen = u32(b, pos + 4, w->big);
            if (btype == 0x0A0D0D0A || btype == 1) {
                /* the whole block must be in the buffer before Python parses it */
                if (btype == 0x0A0D0D0A) /* its own byte order: the magic must be exact */
                    blen = u32(b, pos + 4, u32(b, pos + 8, 1) == 0x1A2B3C4D);
                /* a section header holds at least its magic, version and section length */
                if (blen < (btype == 1 ? 12 : 28) || blen > MAX_RECORD || blen % 4 != 0) {
                    status = CORRUPT;
                    break;
                }
                if (pos + blen > n) {
                    status = NEED_MORE;
                    break;
                }
                status = BLOCK;
                break;
            }
            if (blen < 12 || blen > MAX_RECORD || blen % 4 != 0) {
                status = CORRUPT;
                break;
            }
            if (pos + blen > n) {
                status = NEED_MORE;
                break;
            }
            if (btype != 6) {
                if (btype == 2 || btype == 3) { /* OPB, SPB: rare, exact path */
                    /* the exact path counts a packet only if its fixed fields are there */
                    if (blen >= (btype == 2 ? 32 : 16)) {
                        frame = wadd(frame, 1);
                        inc(&w->counts[C_PACKETS]);
                        slow_record(w, &nslow, frame, -1, -1, pos, blen, btype);
                    } else {
                        slow_record(w, &nslow, wadd(frame, 1), -1, -1, pos, blen, btype);
                    }
                }
                pos += blen;
                continue;
            }
            if (blen < 32) {
                status = CORRUPT;
                break;
            }
            iface = u32(b, pos + 8, w->big);
            int64_t units = (int64_t)(((uint64_t)u32(b, pos + 12, w->big) << 32) |
                                      (uint64_t)u32(b, pos + 16, w->big));
            caplen = u32(b, pos + 20, w->big);
            origlen = u32(b, pos + 24, w->big);
            data = pos + 28;
            frame = wadd(frame, 1);
            inc(&w->counts[C_PACKETS]);
            int64_t scaled = 0;
            int bad_ts = iface >= w->n_if || units < 0 ||
                         (iface < w->n_if &&
                          (w->if_tsmul[iface] == 0 || w->if_tsdiv[iface] == 0 ||
                           __builtin_mul_overflow(units, w->if_tsmul[iface], &scaled) ||
                           __builtin_add_overflow(floordiv(scaled, w->if_tsdiv[iface]),
                                                  w->if_tsoff[iface], &ts) ||
                           ts == INT64_MIN));
            if (bad_ts || caplen + 32 > blen) {
                /* unknown interface, cut-short block, an odd timestamp unit, or a time
                   that does not fit in 64-bit nanoseconds: the exact path says which */
                slow_record(w, &nslow, frame, -1, -1, pos, blen, 6);
                pos += blen;
                continue;
            }
            pos += blen;
        } else {
            if (pos + w->rechdr > n) {
                status = NEED_MORE;
                break;
            }
            caplen = u32(b, pos + 8, w->big);
            if (caplen > MAX_RECORD) {
                status = CORRUPT;
                break;
            }
            if (pos + w->rechdr + caplen > n) {
                status = NEED_MORE;
                break;
            }
            ts = wadd(wmul(u32(b, pos, w->big), 1000000000),
                      wmul(u32(b, pos + 4, w->big), w->ts_mul));
            origlen = u32(b, pos + 12, w->big);
            data = pos + w->rechdr;
            frame = wadd(frame, 1);
            inc(&w->counts[C_PACKETS]);
            pos += w->rechdr + caplen;
        }
        const int64_t end = data + caplen; /* <= n: checked above */
        /* ---- link layer ---- */
        const int64_t link = w->if_link[iface];
        int slow = caplen < origlen;
        int64_t ip = -1;
        if (!slow) {
            if (link == 1) {
                if (caplen >= 14) {
                    int64_t et = be16(b, data + 12);
                    int64_t off = data + 14;
                    while ((et == 0x8100 || et == 0x88A8 || et == 0x9100 || et == 0x9200) &&
                           off + 4 <= end) {
                        et = be16(b, off + 2);
                        off += 4;
                    }
                    if (et == 0x0800 || et == 0x86DD)
                        ip = off;
                    else if (et < 0x0600 || et == 0x8864 || et == 0x8847 || et == 0x8848 ||
                             et == 0x88E7)
                        slow = 1; /* LLC, PPPoE, MPLS, 802.1ah (PBB): the exact path */
                    else
                        inc(&w->counts[C_NOT_IP]);
                } else {
                    inc(&w->counts[C_NOT_IP]);
                }
            } else if (link == 101 || link == 12 || link == 14 || link == 228 || link == 229) {
                ip = data;
            } else if (link == 113 || link == 276) {
                int64_t hl = link == 113 ? 16 : 20;
                if (caplen >= hl) {
                    int64_t et = be16(b, data + (link == 113 ? 14 : 0));
                    if (et == 0x0800 || et == 0x86DD)
                        ip = data + hl;
                    else
                        slow = 1; /* VLAN, PPPoE, ... inside cooked captures: rare */
                } else {
                    inc(&w->counts[C_NOT_IP]);
                }
            } else {
                slow = 1;
            }
        }
        if (ip >= 0 && !slow) {
            if (ip >= end) {
                inc(&w->counts[C_NOT_IP]);
                ip = -1;
            }
        }
        /* ---- IP ---- */
        int64_t udp = -1, uend = -1, ver = 0, srcoff = 0, srclen = 0;
        if (ip >= 0 && !slow) {
            int64_t v = b[ip] >> 4;
            if (v == 4) {
                ver = 4;
                int64_t ihl = (int64_t)(b[ip] & 0x0F) * 4;
                if (ip + 20 > end || ihl < 20 || ip + ihl > end) {
                    slow = 1;
                } else {
                    int64_t total = be16(b, ip + 2);
                    int64_t fr = be16(b, ip + 6);
                    int64_t proto = b[ip + 9];
                    if (total < ihl || ip + total > end || (fr & 0x3FFF) != 0) {
                        slow = 1;
                    } else if (proto == 17) {
                        udp = ip + ihl;
                        uend = ip + total;
                        srcoff = ip + 12;
                        srclen = 4;
                    } else if (proto == 6) {
                        slow = tcp_wanted(w, ip + ihl, ip + total);
                    } else if (proto == 4 || proto == 41 || proto == 47) {
                        slow = 1;
                    } else if (proto == 1 && ip + ihl < ip + total && b[ip + ihl] == 3) {
                        slow = 1; /* ICMP destination unreachable: may quote a DNS query */
                    } else {
                        inc(&w->counts[C_NOT_DNS]);
                    }
                }
            } else if (v == 6) {
                ver = 6;
                if (ip + 40 > end) {
                    slow = 1;
                } else {
                    int64_t plen = be16(b, ip + 4);
                    int64_t nh = b[ip + 6];
                    if (plen == 0 || ip + 40 + plen > end) {
                        slow = 1;
                    } else if (nh == 17) {
                        udp = ip + 40;
                        uend = ip + 40 + plen;
                        srcoff = ip + 8;
                        srclen = 16;
                    } else if (nh == 6) {
                        slow = tcp_wanted(w, ip + 40, ip + 40 + plen);
                    } else if (nh == 58 && plen > 0 && b[ip + 40] == 1) {
                        slow = 1; /* ICMPv6 destination unreachable: may quote a DNS query */
                    } else if (nh == 59 || nh == 58) { /* no next header, other ICMPv6 */
                        inc(&w->counts[C_NOT_DNS]);
                    } else {
                        slow = 1; /* extension headers, tunnels */
                    }
                }
            } else {
                inc(&w->counts[C_NOT_IP]);
            }
        }
        /* ---- UDP / DNS ---- */
        if (udp >= 0 && !slow) {
            if (udp + 8 > uend) {
                slow = 1;
            } else {
                int64_t sp = be16(b, udp);
                int64_t dp = be16(b, udp + 2);
                int64_t ulen = be16(b, udp + 4);
                if (ulen < 8 || udp + ulen > uend) {
                    slow = 1;
                } else {
                    int a = w->ports[sp];
                    int c = w->ports[dp];
                    int svc = P_NONE;
                    if (a == P_DNS || c == P_DNS)
                        svc = P_DNS;
                    else if (a == P_MDNS || c == P_MDNS || a == P_MDNS_SKIP || c == P_MDNS_SKIP)
                        svc = (a == P_MDNS || c == P_MDNS) ? P_MDNS : P_MDNS_SKIP;
                    else if (a == P_LLMNR || c == P_LLMNR || a == P_LLMNR_SKIP ||
                             c == P_LLMNR_SKIP)
                        svc = (a == P_LLMNR || c == P_LLMNR) ? P_LLMNR : P_LLMNR_SKIP;
                    else if (a == P_TUNNEL || c == P_TUNNEL) /* GTP-U: 2152 both ways */
                        slow = 1;
                    if (slow) {
                        /* handed back below */
                    } else if (svc == P_NONE) {
                        inc(&w->counts[C_NOT_DNS]);
                    } else if (svc == P_MDNS_SKIP) {
                        inc(&w->counts[C_MDNS_SKIP]);
                    } else if (svc == P_LLMNR_SKIP) {
                        inc(&w->counts[C_LLMNR_SKIP]);
                    } else {
                        int64_t ps = udp + 8;
                        int64_t pe = udp + ulen;
                        int64_t e;
                        w->m_frame[nm] = frame;
                        w->m_ts[nm] = ts;
                        if (!address_id(w, b, srcoff, srclen, ver, &nip, &w->m_src[nm]) ||
                            !address_id(w, b, srcoff + srclen, srclen, ver, &nip,
                                        &w->m_dst[nm])) {
                            err = E_TABLE_FULL;
                            break;
                        }
                        w->m_sport[nm] = (uint16_t)sp;
                        w->m_dport[nm] = (uint16_t)dp;
                        w->m_ver[nm] = (uint8_t)ver;
                        w->m_service[nm] = (uint8_t)(svc - 1);
                        w->m_id[nm] = (uint16_t)(pe - ps >= 2 ? be16(b, ps) : 0);
                        w->m_size[nm] = (uint16_t)(pe - ps);
                        w->m_off[nm] = ps;
                        int64_t *info = w->m_info + nm * INFO_SIZE;
                        int64_t *key = w->m_key + nm * N_KEYS;
                        dns(b, ps, pe, ttlpos, info, hashes);
                        for (int j = 0; j < N_KEYS; j++)
                            key[j] = -1;
                        int parts = info[I_STRICT] ? 3 : 1;
                        for (int j = 0; j < parts; j++) {
                            int64_t kind;
                            int slot;
                            if (info[I_STRICT]) {
                                static const int slots[3] = {H_QNAME, H_ANS, H_OPTS};
                                kind = K_QNAME + j;
                                slot = slots[j];
                                if ((j == 1 && info[I_HAS_ANS] == 0) ||
                                    (j == 2 && info[I_HAS_OPTS] == 0))
                                    continue;
                            } else {
                                kind = K_BODY + 8 * info[I_WALK];
                                slot = H_BODY;
                            }
                            if (!intern(&w->keys, hashes[slot], hashes[slot + 1],
                                        (uint64_t)kind, &e)) {
                                err = E_TABLE_FULL;
                                break;
                            }
                            if (e < 0) {
                                e = ~e;
                                w->new_key_row[nkey] = nm;
                                w->new_key_kind[nkey] = kind;
                                nkey += 1;
                            }
                            key[(kind & 7) - 1] = e;
                        }
                        if (err)
                            break;
                        nm += 1;
                    }
                }
            }
        }
        if (slow)
            slow_record(w, &nslow, frame, ts, iface, data, caplen, origlen);
    }
    res[0] = status;
    res[1] = pos;
    res[2] = frame;
    res[3] = nm;
    res[4] = nslow;
    res[5] = nkey;
    res[6] = nip;
    return err;
}

/* ---- argument checking ---------------------------------------------------------------- */

enum { A_I64, A_U64, A_U8, A_U16, A_BOOL8, A_INT, A_FLAG };

typedef struct {
    const char *name;
    int type;     /* A_INT / A_FLAG: a Python scalar; else an array of that element type */
    int ndim;     /* arrays: 1 or 2 */
    int inner;    /* ndim 2: the required length of the second axis */
    int writable; /* the kernel writes into it */
} Arg;

static int host_little(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Does a struct-module format string describe one native integer of this type? */
static int format_ok(const char *fmt, int type)
{
    if (fmt == NULL)
        return type == A_U8; /* PyBUF_FORMAT not honoured: unsigned bytes */
    if (*fmt == '@' || *fmt == '=')
        fmt++;
    else if (*fmt == '<' || *fmt == '>' || *fmt == '!') {
        int little = *fmt == '<';
        if (little != host_little())
            return 0;
        fmt++;
    }
    if (fmt[0] == '\0' || fmt[1] != '\0')
        return 0;
    switch (type) {
    case A_I64:
        return fmt[0] == 'l' || fmt[0] == 'q';
    case A_U64:
        return fmt[0] == 'L' || fmt[0] == 'Q';
    case A_U8:
        return fmt[0] == 'B';
    case A_U16:
        return fmt[0] == 'H';
    case A_BOOL8:
        return fmt[0] == '?';
    }
    return 0;
}

static Py_ssize_t item_size(int type)
{
    switch (type) {
    case A_I64:
    case A_U64:
        return 8;
    case A_U16:
        return 2;
    default:
        return 1;
    }
}

static const char *type_name(int type)
{
    switch (type) {
    case A_I64:
        return "int64";
    case A_U64:
        return "uint64";
    case A_U8:
        return "uint8";
    case A_U16:
        return "uint16";
    default:
        return "bool";
    }
}

/* Get a C-contiguous buffer of the declared element type and number of dimensions.
 * On failure sets TypeError (wrong kind of object or element type) or ValueError (shape,
 * layout, read-only) and returns -1; on success the caller must PyBuffer_Release(view). */
static int get_array(PyObject *obj, const Arg *a, Py_buffer *view)
{
    int flags = PyBUF_FORMAT | PyBUF_STRIDES | (a->writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        int type_error = PyErr_ExceptionMatches(PyExc_TypeError);
        PyErr_Clear();
        if (type_error || PyObject_CheckBuffer(obj) == 0)
            PyErr_Format(PyExc_TypeError, "%s: expected a numpy array of %s, got %.100s",
                         a->name, type_name(a->type), Py_TYPE(obj)->tp_name);
        else
            PyErr_Format(PyExc_ValueError, "%s: expected a %scontiguous array of %s", a->name,
                         a->writable ? "writable " : "", type_name(a->type));
        return -1;
    }
    if (view->itemsize != item_size(a->type) || !format_ok(view->format, a->type)) {
        PyErr_Format(PyExc_TypeError, "%s: expected an array of %s, got format '%s'", a->name,
                     type_name(a->type), view->format ? view->format : "B");
        goto fail;
    }
    if (view->ndim != a->ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimension(s), got %d", a->name,
                     a->ndim, view->ndim);
        goto fail;
    }
    if (!PyBuffer_IsContiguous(view, 'C')) {
        PyErr_Format(PyExc_ValueError, "%s: the array must be C-contiguous", a->name);
        goto fail;
    }
    if (a->ndim == 2 && view->shape[1] != a->inner) {
        PyErr_Format(PyExc_ValueError, "%s: expected shape (n, %d), got (%zd, %zd)", a->name,
                     a->inner, view->shape[0], view->shape[1]);
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

static int64_t length(const Py_buffer *v) { return v->ndim == 0 ? 1 : (int64_t)v->shape[0]; }

static int get_int(PyObject *obj, const char *name, int64_t *out)
{
    PyObject *i = PyNumber_Index(obj);
    if (i == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: expected an int, got %.100s", name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(i);
    Py_DECREF(i);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Fill views/scalars from args per spec; on failure release what was taken. */
static int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                      const Arg *spec, Py_ssize_t nspec, Py_buffer *views, int64_t *scalars)
{
    if (nargs != nspec) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", fname,
                     nspec, nargs);
        return -1;
    }
    Py_ssize_t k;
    for (k = 0; k < nspec; k++) {
        const Arg *a = &spec[k];
        views[k].obj = NULL;
        if (a->type == A_INT) {
            if (get_int(args[k], a->name, &scalars[k]) < 0)
                goto fail;
        } else if (a->type == A_FLAG) {
            int t = PyObject_IsTrue(args[k]);
            if (t < 0)
                goto fail;
            scalars[k] = t;
        } else if (get_array(args[k], a, &views[k]) < 0) {
            views[k].obj = NULL;
            goto fail;
        }
    }
    return 0;
fail:
    for (Py_ssize_t j = 0; j < k; j++)
        if (views[j].obj != NULL)
            PyBuffer_Release(&views[j]);
    return -1;
}

static void release_all(Py_buffer *views, Py_ssize_t n)
{
    for (Py_ssize_t j = 0; j < n; j++)
        if (views[j].obj != NULL)
            PyBuffer_Release(&views[j]);
}

/* ---- walk() --------------------------------------------------------------------------- */

#define RO 0
#define RW 1
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
    {"m_src", A_I64, 1, 0, RW},
    {"m_dst", A_I64, 1, 0, RW},
    {"m_sport", A_U16, 1, 0, RW},
    {"m_dport", A_U16, 1, 0, RW},
    {"m_ver", A_U8, 1, 0, RW},
    {"m_service", A_U8, 1, 0, RW},
    {"m_id", A_U16, 1, 0, RW},
    {"m_size", A_U16, 1, 0, RW},
    {"m_info", A_I64, 2, INFO_SIZE, RW},
    {"m_key", A_I64, 2, N_KEYS, RW},
    {"m_off", A_I64, 1, 0, RW},
    /* interning tables */
    {"kt1", A_U64, 1, 0, RW},
    {"kt2", A_U64, 1, 0, RW},
    {"kt3", A_U64, 1, 0, RW},
    {"ktid", A_I64, 1, 0, RW},
    {"kcount", A_I64, 1, 0, RW},
    {"new_key_row", A_I64, 1, 0, RW},
    {"new_key_kind", A_I64, 1, 0, RW},
    {"it1", A_U64, 1, 0, RW},
    {"it2", A_U64, 1, 0, RW},
    {"it3", A_U64, 1, 0, RW},
    {"itid", A_I64, 1, 0, RW},
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
    W_IF_TSDIV, W_IF_TSOFF, W_PORTS, W_M_FRAME, W_M_TS, W_M_SRC, W_M_DST, W_M_SPORT,
    W_M_DPORT, W_M_VER, W_M_SERVICE, W_M_ID, W_M_SIZE, W_M_INFO, W_M_KEY, W_M_OFF, W_KT1,
    W_KT2, W_KT3, W_KTID, W_KCOUNT, W_NEW_KEY_ROW, W_NEW_KEY_KIND, W_IT1, W_IT2, W_IT3,
    W_ITID, W_ICOUNT, W_NEW_IP_K1, W_NEW_IP_K2, W_NEW_IP_VER, W_S_FRAME, W_S_TS, W_S_IFACE,
    W_S_OFF, W_S_CAPLEN, W_S_ORIGLEN, W_COUNTS, W_END
};

static int too_short(const char *name, int64_t have, int64_t need)
{
    PyErr_Format(PyExc_ValueError, "%s: %lld entries, at least %lld needed", name,
                 (long long)have, (long long)need);
    return -1;
}

/* Check lengths, so that no index the loop computes can leave an array. */
static int check_walk(const Py_buffer *v, const int64_t *sc)
{
#define LEN(k) length(&v[k])
#define NEED(k, m)                                                                             \
    do {                                                                                       \
        if (LEN(k) < (m))                                                                      \
            return too_short(WALK_ARGS[k].name, LEN(k), (m));                                  \
    } while (0)
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
    for (int k = W_M_TS; k <= W_M_OFF; k++)
        NEED(k, cap);
    NEED(W_NEW_KEY_ROW, 3 * cap);
    NEED(W_NEW_KEY_KIND, 3 * cap);
    NEED(W_NEW_IP_K1, 2 * cap);
    NEED(W_NEW_IP_K2, 2 * cap);
    NEED(W_NEW_IP_VER, 2 * cap);
    NEED(W_KT1, LEN(W_KTID));
    NEED(W_KT2, LEN(W_KTID));
    NEED(W_KT3, LEN(W_KTID));
    NEED(W_KCOUNT, 1);
    NEED(W_IT1, LEN(W_ITID));
    NEED(W_IT2, LEN(W_ITID));
    NEED(W_IT3, LEN(W_ITID));
    NEED(W_ICOUNT, 1);
    int64_t cap_s = LEN(W_S_FRAME);
    for (int k = W_S_TS; k <= W_S_ORIGLEN; k++)
        NEED(k, cap_s);
    NEED(W_COUNTS, N_COUNTERS);
    return 0;
#undef NEED
#undef LEN
}

static PyObject *kernel_walk(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
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
        .m_size = P(W_M_SIZE, uint16_t),
        .m_info = P(W_M_INFO, int64_t),
        .m_key = P(W_M_KEY, int64_t),
        .m_off = P(W_M_OFF, int64_t),
        .cap_m = length(&v[W_M_FRAME]),
        .keys = {P(W_KT1, uint64_t), P(W_KT2, uint64_t), P(W_KT3, uint64_t), P(W_KTID, int64_t),
                 length(&v[W_KTID]), P(W_KCOUNT, int64_t)},
        .ips = {P(W_IT1, uint64_t), P(W_IT2, uint64_t), P(W_IT3, uint64_t), P(W_ITID, int64_t),
                length(&v[W_ITID]), P(W_ICOUNT, int64_t)},
        .new_key_row = P(W_NEW_KEY_ROW, int64_t),
        .new_key_kind = P(W_NEW_KEY_KIND, int64_t),
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
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = run_walk(&w, &pos, &frame, res);
    Py_END_ALLOW_THREADS
    release_all(v, W_END);
    if (err == E_ZERO_DIVISION) {
        PyErr_SetString(PyExc_ZeroDivisionError, "if_tsdiv: integer division by zero");
        return NULL;
    }
    if (err == E_TABLE_FULL) {
        PyErr_SetString(PyExc_ValueError, "an interning table is full (bad count or ids)");
        return NULL;
    }
    return Py_BuildValue("(LLLLLLL)", (long long)res[0], (long long)res[1], (long long)res[2],
                         (long long)res[3], (long long)res[4], (long long)res[5],
                         (long long)res[6]);
}

/* ---- rehash() ------------------------------------------------------------------------- */

static const Arg REHASH_ARGS[] = {
    {"keys1", A_U64, 1, 0, RO}, {"keys2", A_U64, 1, 0, RO}, {"keys3", A_U64, 1, 0, RO},
    {"ids", A_I64, 1, 0, RO},   {"new1", A_U64, 1, 0, RW},  {"new2", A_U64, 1, 0, RW},
    {"new3", A_U64, 1, 0, RW},  {"newids", A_I64, 1, 0, RW},
};

static PyObject *kernel_rehash(PyObject *Py_UNUSED(self), PyObject *const *args,
                               Py_ssize_t nargs)
{
    Py_buffer v[8];
    int64_t sc[8];
    if (parse_args("rehash", args, nargs, REHASH_ARGS, 8, v, sc) < 0)
        return NULL;
    int64_t size = length(&v[3]), newsize = length(&v[7]);
    for (int k = 0; k < 3; k++) {
        if (length(&v[k]) < size) {
            too_short(REHASH_ARGS[k].name, length(&v[k]), size);
            goto fail;
        }
        if (length(&v[4 + k]) < newsize) {
            too_short(REHASH_ARGS[4 + k].name, length(&v[4 + k]), newsize);
            goto fail;
        }
    }
    const uint64_t *k1 = v[0].buf, *k2 = v[1].buf, *k3 = v[2].buf;
    const int64_t *ids = v[3].buf;
    uint64_t *n1 = v[4].buf, *n2 = v[5].buf, *n3 = v[6].buf;
    int64_t *newids = v[7].buf;
    int full = 0;
    Py_BEGIN_ALLOW_THREADS
    uint64_t mask = (uint64_t)newsize - 1;
    for (int64_t j = 0; j < size && !full; j++) {
        int64_t e = ids[j];
        if (e < 0)
            continue;
        uint64_t a = k1[j], b = k2[j], c = k3[j];
        uint64_t i = slot_of(a, b, c, mask);
        int64_t probe = 0;
        while (newids[i] >= 0 && probe < newsize) {
            i = (i + 1) & mask;
            probe++;
        }
        if (probe >= newsize) {
            full = 1;
            break;
        }
        newids[i] = e;
        n1[i] = a;
        n2[i] = b;
        n3[i] = c;
    }
    Py_END_ALLOW_THREADS
    if (full) {
        PyErr_SetString(PyExc_ValueError, "rehash: the new table has no free slot left");
        goto fail;
    }
    release_all(v, 8);
    Py_RETURN_NONE;
fail:
    release_all(v, 8);
    return NULL;
}

/* ---- assign_transactions() ------------------------------------------------------------ */

static const Arg ASSIGN_ARGS[] = {
    {"key", A_I64, 1, 0, RO},
    {"ts", A_I64, 1, 0, RO},
    {"is_query", A_BOOL8, 1, 0, RO},
    {"retry_ns", A_INT, 0, 0, RO},
};

static PyObject *kernel_assign(PyObject *Py_UNUSED(self), PyObject *const *args,
                               Py_ssize_t nargs)
{
    Py_buffer v[4];
    int64_t sc[4];
    PyObject *numpy = NULL, *out = NULL;
    Py_buffer ov;
    if (parse_args("assign_transactions", args, nargs, ASSIGN_ARGS, 4, v, sc) < 0)
        return NULL;
    int64_t n = length(&v[0]);
    if (length(&v[1]) != n || length(&v[2]) != n) {
        PyErr_Format(PyExc_ValueError,
                     "assign_transactions: key, ts and is_query differ in length "
                     "(%lld, %lld, %lld)",
                     (long long)n, (long long)length(&v[1]), (long long)length(&v[2]));
        goto fail;
    }
    numpy = PyImport_ImportModule("numpy");
    if (numpy == NULL)
        goto fail;
    out = PyObject_CallMethod(numpy, "empty", "(Ls)", (long long)n, "int64");
    if (out == NULL)
        goto fail;
    static const Arg out_arg = {"txn", A_I64, 1, 0, RW};
    if (get_array(out, &out_arg, &ov) < 0)
        goto fail;
    const int64_t *key = v[0].buf, *ts = v[1].buf;
    const uint8_t *is_query = v[2].buf;
    int64_t *txn = ov.buf;
    int64_t retry_ns = sc[3];
    Py_BEGIN_ALLOW_THREADS
    /* Within one key: a query while the current transaction's query is still unanswered
     * (and its last attempt at most retry_ns ago) is a retransmission; the first response
     * answers the open query; a response after that, within retry_ns, is a duplicate; a
     * response with no open query starts a response-only transaction. */
    int64_t t = -1, last_q = 0, last_r = 0;
    int has_q = 0, answered = 0;
    for (int64_t i = 0; i < n; i++) {
        int fresh = i == 0 || key[i] != key[i - 1];
        if (is_query[i]) {
            if (fresh || !has_q || answered ||
                (int64_t)((uint64_t)ts[i] - (uint64_t)last_q) > retry_ns) {
                t += 1;
                has_q = 1;
                answered = 0;
            }
            last_q = ts[i];
        } else {
            if (!fresh && has_q && !answered) {
                answered = 1;
            } else if (!fresh && answered &&
                       (int64_t)((uint64_t)ts[i] - (uint64_t)last_r) <= retry_ns) {
                /* a duplicate response */
            } else {
                t += 1;
                has_q = 0;
                answered = 1;
            }
            last_r = ts[i];
        }
        txn[i] = t;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&ov);
    Py_DECREF(numpy);
    release_all(v, 4);
    return out;
fail:
    Py_XDECREF(out);
    Py_XDECREF(numpy);
    release_all(v, 4);
    return NULL;
}

/* ---- module --------------------------------------------------------------------------- */

static PyMethodDef kernel_methods[] = {
    {"walk", (PyCFunction)(void (*)(void))kernel_walk, METH_FASTCALL,
     "walk(b, n, pos, frame, pcapng, big, rechdr, ts_mul, if_link, if_tsmul, if_tsdiv, "
     "if_tsoff, ports, <13 message arrays>, <7 key-table arrays>, <8 address-table arrays>, "
     "<6 slow-record arrays>, counts)\n--\n\n"
     "Walk capture records in b[pos:n]; see dnspcap.fast. Returns "
     "(status, pos, frame, nm, nslow, nkey, nip)."},
    {"rehash", (PyCFunction)(void (*)(void))kernel_rehash, METH_FASTCALL,
     "rehash(keys1, keys2, keys3, ids, new1, new2, new3, newids)\n--\n\n"
     "Move every entry of an interning table into a bigger, empty one (ids unchanged)."},
    {"assign_transactions", (PyCFunction)(void (*)(void))kernel_assign, METH_FASTCALL,
     "assign_transactions(key, ts, is_query, retry_ns)\n--\n\n"
     "Transaction number of each message, sorted by (key, time); see dnspcap.pairing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "dnspcap._kernel",
    .m_doc = "The compiled fast path of dnspcap (see dnspcap.fast).",
    .m_size = 0,
    .m_methods = kernel_methods,
};

/* The constants Python shares with this file; dnspcap.fast and dnspcap.fastdns check at
 * import that they agree, so the two cannot drift apart silently. */
#define CONST(name) {#name, (unsigned long long)(name)}
static const struct {
    const char *name;
    unsigned long long value;
} CONSTANTS[] = {
    CONST(NEED_MORE), CONST(BLOCK), CONST(FULL), CONST(CORRUPT),
    CONST(C_PACKETS), CONST(C_NOT_IP), CONST(C_NOT_DNS), CONST(C_MDNS_SKIP),
    CONST(C_LLMNR_SKIP), CONST(N_COUNTERS),
    CONST(K_QNAME), CONST(K_ANSWERS), CONST(K_OPTIONS), CONST(K_BODY),
    CONST(P_NONE), CONST(P_DNS), CONST(P_MDNS), CONST(P_LLMNR), CONST(P_MDNS_SKIP),
    CONST(P_LLMNR_SKIP), CONST(P_TUNNEL), CONST(MAX_RECORD),
    CONST(MAX_RECORDS), CONST(MAX_JUMPS),
    CONST(I_FLAGS), CONST(I_QD), CONST(I_AN), CONST(I_NS), CONST(I_AR), CONST(I_QTYPE),
    CONST(I_QCLASS), CONST(I_EDNS), CONST(I_OPTTTL), CONST(I_MINTTL), CONST(I_WALK),
    CONST(I_STRICT), CONST(I_HAS_ANS), CONST(I_HAS_OPTS), CONST(I_QNAME_START),
    CONST(I_QNAME_END), CONST(INFO_SIZE),
    CONST(H_BODY), CONST(H_QNAME), CONST(H_ANS), CONST(H_OPTS), CONST(HASH_SIZE),
    CONST(FNV_OFFSET), CONST(FNV_PRIME), CONST(MIX_OFFSET), CONST(MIX_PRIME),
};
#undef CONST

PyMODINIT_FUNC PyInit__kernel(void)
{
    PyObject *m = PyModule_Create(&kernel_module);
    if (m == NULL)
        return NULL;
    for (size_t k = 0; k < sizeof CONSTANTS / sizeof CONSTANTS[0]; k++) {
        PyObject *v = PyLong_FromUnsignedLongLong(CONSTANTS[k].value);
        if (v == NULL || PyModule_AddObject(m, CONSTANTS[k].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
