/*
 * dnspcap._kernel, presentation forms: what dnspcap/reading/dnswire.py writes, byte for byte. A
 * growable text buffer; names (compression pointers followed, labels escaped); the RDATA of
 * each record type the decoder knows, and the RFC 3597 form of the others; IPv4 and IPv6
 * addresses as Python's ipaddress writes them; type and EDNS option mnemonics
 * (dnspcap/reading/iana.py). The tests compare every one of them with the Python original.
 *
 * Writers append to a Text without checking its room: the caller reserves enough first
 * (text_room, with the bounds below), so that the inner loops stay plain.
 */
#include "kernel.h"

#include <stdio.h>
#include <stdlib.h>

/* IPv4-mapped IPv6 addresses as ::ffff:a.b.c.d (Python 3.13+) rather than ::ffff:xxxx:xxxx;
 * set once when the module is imported, from what this Python's ipaddress does. */
int ipv6_mapped_dotted = 0;

/* ---- the text buffer ---------------------------------------------------------------- */

int text_room(Text *t, int64_t more)
{
    if (t->n + more <= t->cap)
        return 1;
    int64_t cap = t->cap > 0 ? t->cap : 256;
    while (cap < t->n + more)
        cap *= 2;
    char *p = realloc(t->p, (size_t)cap);
    if (p == NULL)
        return 0;
    t->p = p;
    t->cap = cap;
    return 1;
}

void text_free(Text *t)
{
    free(t->p);
    t->p = NULL;
    t->n = t->cap = 0;
}

static inline void put(Text *t, const char *s, int64_t n)
{
    memcpy(t->p + t->n, s, (size_t)n);
    t->n += n;
}

static inline void put_str(Text *t, const char *s) { put(t, s, (int64_t)strlen(s)); }

static inline void put_char(Text *t, char c) { t->p[t->n++] = c; }

static void put_u64(Text *t, uint64_t v)
{
    char digits[20];
    int k = 0;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        put_char(t, digits[--k]);
}

/* \DDD, as dnswire's escape tables write a byte */
static inline void put_ddd(Text *t, uint8_t x)
{
    char e[4] = {'\\', (char)('0' + x / 100), (char)('0' + x / 10 % 10), (char)('0' + x % 10)};
    put(t, e, 4);
}

/* ---- mnemonics ------------------------------------------------------------------------ */

static const char *const TYPE_NAMES[265] = {
    [1] = "A", [2] = "NS", [3] = "MD", [4] = "MF", [5] = "CNAME", [6] = "SOA", [7] = "MB",
    [8] = "MG", [9] = "MR", [10] = "NULL", [11] = "WKS", [12] = "PTR", [13] = "HINFO",
    [14] = "MINFO", [15] = "MX", [16] = "TXT", [17] = "RP", [18] = "AFSDB", [19] = "X25",
    [20] = "ISDN", [21] = "RT", [22] = "NSAP", [23] = "NSAP-PTR", [24] = "SIG", [25] = "KEY",
    [26] = "PX", [27] = "GPOS", [28] = "AAAA", [29] = "LOC", [30] = "NXT", [31] = "EID",
    [32] = "NIMLOC", [33] = "SRV", [34] = "ATMA", [35] = "NAPTR", [36] = "KX", [37] = "CERT",
    [38] = "A6", [39] = "DNAME", [40] = "SINK", [41] = "OPT", [42] = "APL", [43] = "DS",
    [44] = "SSHFP", [45] = "IPSECKEY", [46] = "RRSIG", [47] = "NSEC", [48] = "DNSKEY",
    [49] = "DHCID", [50] = "NSEC3", [51] = "NSEC3PARAM", [52] = "TLSA", [53] = "SMIMEA",
    [55] = "HIP", [56] = "NINFO", [57] = "RKEY", [58] = "TALINK", [59] = "CDS",
    [60] = "CDNSKEY", [61] = "OPENPGPKEY", [62] = "CSYNC", [63] = "ZONEMD", [64] = "SVCB",
    [65] = "HTTPS", [66] = "DSYNC", [67] = "HHIT", [68] = "BRID", [99] = "SPF", [100] = "UINFO",
    [101] = "UID", [102] = "GID", [103] = "UNSPEC", [104] = "NID", [105] = "L32", [106] = "L64",
    [107] = "LP", [108] = "EUI48", [109] = "EUI64", [128] = "NXNAME", [249] = "TKEY",
    [250] = "TSIG", [251] = "IXFR", [252] = "AXFR", [253] = "MAILB", [254] = "MAILA",
    [255] = "ANY", [256] = "URI", [257] = "CAA", [258] = "AVC", [259] = "DOA",
    [260] = "AMTRELAY", [261] = "RESINFO", [262] = "WALLET", [263] = "CLA", [264] = "IPN",
};

static const char *const OPTION_NAMES[20] = {
    [1] = "LLQ", [2] = "UL", [3] = "NSID", [5] = "DAU", [6] = "DHU", [7] = "N3U", [8] = "ECS",
    [9] = "EXPIRE", [10] = "COOKIE", [11] = "KEEPALIVE", [12] = "PADDING", [13] = "CHAIN",
    [14] = "KEY-TAG", [15] = "EDE", [16] = "CLIENT-TAG", [17] = "SERVER-TAG",
    [18] = "REPORT-CHANNEL", [19] = "ZONEVERSION",
};

void put_type_name(Text *t, int64_t rtype)
{
    const char *name = rtype >= 0 && rtype < 265 ? TYPE_NAMES[rtype]
                       : rtype == 32768          ? "TA"
                       : rtype == 32769          ? "DLV"
                                                 : NULL;
    if (name != NULL) {
        put_str(t, name);
    } else {
        put_str(t, "TYPE");
        put_u64(t, (uint64_t)rtype);
    }
}

void put_option_name(Text *t, int64_t code)
{
    if (code >= 0 && code < 20 && OPTION_NAMES[code] != NULL) {
        put_str(t, OPTION_NAMES[code]);
    } else {
        put_str(t, "OPT");
        put_u64(t, (uint64_t)code);
    }
}

/* ---- addresses ------------------------------------------------------------------------ */

int64_t ipv4_text(const uint8_t *a, char *out)
{
    Text t = {out, 0, 16};
    for (int k = 0; k < 4; k++) {
        if (k)
            put_char(&t, '.');
        put_u64(&t, a[k]);
    }
    return t.n;
}

/* RFC 5952 as ipaddress._compress_hextets: the longest run of two or more zero groups (the
 * first of equal ones) becomes "::"; groups in lower-case hex without leading zeros. */
int64_t ipv6_text(const uint8_t *a, char *out)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (ipv6_mapped_dotted && memcmp(a, mapped, 12) == 0) {
        memcpy(out, "::ffff:", 7);
        return 7 + ipv4_text(a + 12, out + 7);
    }
    int64_t g[8];
    int best = -1, best_len = 0, run = 0;
    for (int k = 0; k < 8; k++) {
        g[k] = ((int64_t)a[2 * k] << 8) | a[2 * k + 1];
        run = g[k] == 0 ? run + 1 : 0;
        if (run > best_len) {
            best_len = run;
            best = k - run + 1;
        }
    }
    if (best_len < 2) {
        best = -1;
        best_len = 0;
    }
    static const char hex[] = "0123456789abcdef";
    int64_t n = 0;
    for (int k = 0; k < 8; k++) {
        if (k == best) {
            out[n++] = ':';
            out[n++] = ':';
            k += best_len - 1;
            continue;
        }
        if (k > 0 && k != best + best_len)
            out[n++] = ':';
        int shift = g[k] >= 0x1000 ? 12 : g[k] >= 0x100 ? 8 : g[k] >= 0x10 ? 4 : 0;
        for (; shift >= 0; shift -= 4)
            out[n++] = hex[(g[k] >> shift) & 0xF];
    }
    return n;
}

/* ---- names ---------------------------------------------------------------------------- */

static const char *const NAME_PHRASES[] = {
    [NAME_RESERVED_40] = "reserved label type 0x40",
    [NAME_RESERVED_80] = "reserved label type 0x80",
    [NAME_TOO_LONG] = "name longer than 255 octets",
    [NAME_PTR_OOB] = "name pointer out of bounds",
    [NAME_PTR_LOOP] = "name pointer loop",
    [NAME_PTR_MANY] = "more than 126 name pointers",
};

const char *name_phrase(int err, int jumps)
{
    if (err == NAME_PAST_END) /* before any jump the bound was the record's end */
        return jumps ? "name runs past the end of the message" : "name runs past the record";
    return NAME_PHRASES[err];
}

static void label_text(Text *t, const uint8_t *p, int64_t len)
{
    for (int64_t k = 0; k < len; k++) {
        uint8_t x = p[k];
        if (x == '.' || x == '\\') {
            put_char(t, '\\');
            put_char(t, (char)x);
        } else if (x >= 0x21 && x <= 0x7E) {
            put_char(t, (char)x);
        } else {
            put_ddd(t, x);
        }
    }
}

/* The pointer targets met in the name being read are marked with the name's stamp, so
 * that a loop is found in one look-up and the marks need no clearing between names. */
static uint32_t next_stamp(Decoder *d)
{
    if (++d->stamp == 0) {
        memset(d->seen, 0, sizeof d->seen);
        d->stamp = 1;
    }
    return d->stamp;
}

int read_name(Decoder *d, const uint8_t *m, int64_t n, int64_t pos, int64_t limit, Text *t,
              int64_t *end, int *jumps)
{
    int64_t bound = limit, octets = 1, after = -1, mark = t ? t->n : 0;
    int labels = 0, err = NAME_OK;
    uint32_t stamp = next_stamp(d);
    *jumps = 0;
    for (;;) {
        if (pos >= bound) {
            err = NAME_PAST_END;
            break;
        }
        int64_t c = m[pos];
        if ((c & 0xC0) == 0) {
            if (c == 0)
                break;
            int64_t stop = pos + 1 + c;
            if (stop > bound) {
                err = NAME_PAST_END;
                break;
            }
            octets += 1 + c;
            if (octets > 255) {
                err = NAME_TOO_LONG;
                break;
            }
            if (t) {
                if (labels)
                    put_char(t, '.');
                label_text(t, m + pos + 1, c);
            }
            labels++;
            pos = stop;
        } else if ((c & 0xC0) == 0xC0) {
            if (pos + 2 > bound) {
                err = NAME_PAST_END;
                break;
            }
            if (after < 0)
                after = pos + 2;
            int64_t target = ((c & 0x3F) << 8) | m[pos + 1];
            if (target >= n) {
                err = NAME_PTR_OOB;
                break;
            }
            if (d->seen[target] == stamp) {
                err = NAME_PTR_LOOP;
                break;
            }
            if (*jumps == MAX_POINTER_JUMPS) {
                err = NAME_PTR_MANY;
                break;
            }
            d->seen[target] = stamp;
            *jumps += 1;
            pos = target;
            bound = n;
        } else {
            err = (c & 0xC0) == 0x40 ? NAME_RESERVED_40 : NAME_RESERVED_80;
            break;
        }
    }
    if (err != NAME_OK) {
        if (t)
            t->n = mark;
        return err;
    }
    if (t && !labels)
        put_char(t, '.');
    *end = after < 0 ? pos + 1 : after;
    return NAME_OK;
}

/* ---- RDATA ---------------------------------------------------------------------------- */

static void generic(Text *t, const uint8_t *m, int64_t start, int64_t end)
{
    static const char hex[] = "0123456789abcdef";
    put_str(t, "\\# ");
    put_u64(t, (uint64_t)(end - start));
    if (start == end)
        return;
    put_char(t, ' ');
    for (int64_t k = start; k < end; k++) {
        put_char(t, hex[m[k] >> 4]);
        put_char(t, hex[m[k] & 0xF]);
    }
}

/* Where one RDATA is read: the message, the RDATA's end, and the problem found, if any
 * (dnswire._BadRdata), written into problem (PROBLEM_MAX bytes). */
typedef struct {
    Decoder *d;
    const uint8_t *m;
    int64_t n, end;
    Text *t;
    char *problem;
} Rdata;

static int bad(Rdata *r, const char *fmt, const char *tname, long long v)
{
    snprintf(r->problem, PROBLEM_MAX, fmt, tname, v);
    return 0;
}

/* A name inside RDATA at pos: 1 and *after, or 0 with the problem set */
static int rdata_name(Rdata *r, int64_t pos, const char *tname, int64_t *after)
{
    int jumps;
    int err = read_name(r->d, r->m, r->n, pos, r->end, r->t, after, &jumps);
    if (err == NAME_OK)
        return 1;
    snprintf(r->problem, PROBLEM_MAX, "%s rdata: %s", tname, name_phrase(err, jumps));
    return 0;
}

static int fixed(Rdata *r, int64_t pos, int64_t size, const char *tname)
{
    return r->end - pos >= size ? 1 : bad(r, "%s rdata is too short", tname, 0);
}

static int check_end(Rdata *r, int64_t pos, const char *tname)
{
    return pos == r->end ? 1 : bad(r, "%s rdata has %lld extra bytes", tname, r->end - pos);
}

static inline int64_t be32(const uint8_t *m, int64_t i)
{
    return (be16(m, i) << 16) | be16(m, i + 2);
}

static int txt(Rdata *r, int64_t start)
{
    const uint8_t *m = r->m;
    Text *t = r->t;
    if (start == r->end)
        return bad(r, "%s rdata is empty", "TXT", 0);
    for (int64_t pos = start; pos < r->end;) {
        int64_t stop = pos + 1 + m[pos];
        if (stop > r->end)
            return bad(r, "%s rdata: character-string runs past the record", "TXT", 0);
        if (pos > start)
            put_char(t, ' ');
        put_char(t, '"');
        for (int64_t k = pos + 1; k < stop; k++) {
            uint8_t x = m[k];
            if (x == '"' || x == '\\') {
                put_char(t, '\\');
                put_char(t, (char)x);
            } else if (x >= 0x20 && x <= 0x7E) {
                put_char(t, (char)x);
            } else {
                put_ddd(t, x);
            }
        }
        put_char(t, '"');
        pos = stop;
    }
    return 1;
}

static int soa(Rdata *r, int64_t start)
{
    int64_t pos;
    if (!rdata_name(r, start, "SOA", &pos))
        return 0;
    put_char(r->t, ' ');
    if (!rdata_name(r, pos, "SOA", &pos) || !fixed(r, pos, 20, "SOA") ||
        !check_end(r, pos + 20, "SOA"))
        return 0;
    for (int k = 0; k < 5; k++) {
        put_char(r->t, ' ');
        put_u64(r->t, (uint64_t)be32(r->m, pos + 4 * k));
    }
    return 1;
}

/* The known types' forms; 1, or 0 with the problem set. Unknown types: the generic form. */
static int typed(Rdata *r, int64_t rtype, int64_t start)
{
    const uint8_t *m = r->m;
    int64_t size = r->end - start, pos;
    switch (rtype) {
    case 1:
        if (size != 4)
            return bad(r, "%s rdata is %lld bytes, expected 4", "A", size);
        r->t->n += ipv4_text(m + start, r->t->p + r->t->n);
        return 1;
    case 28:
        if (size != 16)
            return bad(r, "%s rdata is %lld bytes, expected 16", "AAAA", size);
        r->t->n += ipv6_text(m + start, r->t->p + r->t->n);
        return 1;
    case 2:
    case 5:
    case 12:
    case 39: {
        const char *tname = rtype == 2    ? "NS"
                            : rtype == 5  ? "CNAME"
                            : rtype == 12 ? "PTR"
                                          : "DNAME";
        return rdata_name(r, start, tname, &pos) && check_end(r, pos, tname);
    }
    case 15:
        if (!fixed(r, start, 2, "MX"))
            return 0;
        put_u64(r->t, (uint64_t)be16(m, start));
        put_char(r->t, ' ');
        return rdata_name(r, start + 2, "MX", &pos) && check_end(r, pos, "MX");
    case 6:
        return soa(r, start);
    case 33:
        if (!fixed(r, start, 6, "SRV"))
            return 0;
        for (int k = 0; k < 3; k++) {
            put_u64(r->t, (uint64_t)be16(m, start + 2 * k));
            put_char(r->t, ' ');
        }
        return rdata_name(r, start + 6, "SRV", &pos) && check_end(r, pos, "SRV");
    case 16:
        return txt(r, start);
    default:
        generic(r->t, m, start, r->end);
        return 1;
    }
}

int rdata_text(Decoder *d, const uint8_t *m, int64_t n, int64_t rtype, int64_t rclass,
               int64_t start, int64_t end, Text *t, char *problem)
{
    /* RFC 2136 updates and prerequisites use empty RDATA with class ANY or NONE */
    if (start == end && (rclass == 255 || rclass == 254)) {
        generic(t, m, start, end);
        return 0;
    }
    Rdata r = {d, m, n, end, t, problem};
    int64_t mark = t->n;
    if (typed(&r, rtype, start))
        return 0;
    t->n = mark; /* a malformed RDATA of a known type: what was on the wire */
    generic(t, m, start, end);
    return 1;
}
