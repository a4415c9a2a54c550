/*
 * dnspcap._kernel, the record walker (fast.walk): classic-pcap records or pcapng enhanced
 * packet blocks, the link layer, IPv4/IPv6 and UDP; one row per DNS message (its DNS
 * columns by dns_row() in reading/dns.c). What it does not handle completely goes back to Python
 * as a "slow" record for the exact path.
 */
#include "kernel.h"

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
/* True when a TCP segment must go to the exact path (DNS ports or a short header): then the
 * walker hands it over taken apart (see TCP_SEGMENT). */
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

static inline uint64_t be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return v;
#else
    return __builtin_bswap64(v);
#endif
}

/* An address as two big-endian 64-bit halves (IPv4 in the top of the first). */
static inline void address(const uint8_t *b, int64_t off, int64_t width, uint64_t *hi,
                           uint64_t *lo)
{
    if (width == 16) {
        *hi = be64(b + off);
        *lo = be64(b + off + 8);
    } else {
        *hi = (uint64_t)u32(b, off, 1) << 32;
        *lo = 0;
    }
}

/* The interned id of the address (hi, lo); a first sighting is reported to Python in
   new_ip_*. Returns 0 when the table is full. */
static int address_id(Walk *w, uint64_t hi, uint64_t lo, int64_t ver, int64_t *nip, int64_t *id)
{
    int64_t e;
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

/* One packet record's place in the buffer. */
typedef struct {
    int64_t iface, caplen, origlen, data, ts;
} Record;

/* next_record() returns a walk status (NEED_MORE, BLOCK, CORRUPT), or one of these. */
enum { GOT_RECORD = 16, SKIPPED = 17 };

/* The pcapng block at *pos: an enhanced packet block fills r; other blocks are skipped or
 * handed to the exact path (statistics, obsolete and simple packet blocks). */
static inline int next_block(Walk *w, int64_t *pos, int64_t *frame, int64_t *nslow, Record *r)
{
    const uint8_t *b = w->b;
    const int64_t p = *pos;
    if (p + 12 > w->n)
        return NEED_MORE;
    int64_t btype = u32(b, p, w->big);
    int64_t blen = u32(b, p + 4, w->big);
    if (btype == 0x0A0D0D0A || btype == 1) {
        /* the whole block must be in the buffer before Python parses it */
        if (btype == 0x0A0D0D0A) /* its own byte order: the magic must be exact */
            blen = u32(b, p + 4, u32(b, p + 8, 1) == 0x1A2B3C4D);
        /* a section header holds at least its magic, version and section length */
        if (blen < (btype == 1 ? 12 : 28) || blen > MAX_RECORD || blen % 4 != 0)
            return CORRUPT;
        return p + blen > w->n ? NEED_MORE : BLOCK;
    }
    if (blen < 12 || blen > MAX_RECORD || blen % 4 != 0)
        return CORRUPT;
    if (p + blen > w->n)
        return NEED_MORE;
    if (btype != 6) {
        if (btype == 5) { /* interface statistics: the exact path reads its end time */
            slow_record(w, nslow, wadd(*frame, 1), -1, -1, p, blen, btype);
        } else if (btype == 2 || btype == 3) { /* OPB, SPB: rare, exact path */
            /* the exact path counts a packet only if its fixed fields are there */
            if (blen >= (btype == 2 ? 32 : 16)) {
                *frame = wadd(*frame, 1);
                inc(&w->counts[C_PACKETS]);
                slow_record(w, nslow, *frame, -1, -1, p, blen, btype);
            } else {
                slow_record(w, nslow, wadd(*frame, 1), -1, -1, p, blen, btype);
            }
        }
        *pos = p + blen;
        return SKIPPED;
    }
    if (blen < 32)
        return CORRUPT;
    int64_t iface = u32(b, p + 8, w->big);
    int64_t units = (int64_t)(((uint64_t)u32(b, p + 12, w->big) << 32) |
                              (uint64_t)u32(b, p + 16, w->big));
    r->iface = iface;
    r->caplen = u32(b, p + 20, w->big);
    r->origlen = u32(b, p + 24, w->big);
    r->data = p + 28;
    *frame = wadd(*frame, 1);
    inc(&w->counts[C_PACKETS]);
    *pos = p + blen;
    int64_t scaled = 0;
    int bad_ts = iface >= w->n_if || units < 0 ||
                 (iface < w->n_if &&
                  (w->if_tsmul[iface] == 0 || w->if_tsdiv[iface] == 0 ||
                   __builtin_mul_overflow(units, w->if_tsmul[iface], &scaled) ||
                   __builtin_add_overflow(floordiv(scaled, w->if_tsdiv[iface]),
                                          w->if_tsoff[iface], &r->ts) ||
                   r->ts == INT64_MIN));
    if (bad_ts || r->caplen + 32 > blen) {
        /* unknown interface, cut-short block, an odd timestamp unit, or a time that does
           not fit in 64-bit nanoseconds: the exact path says which */
        slow_record(w, nslow, *frame, -1, -1, p, blen, 6);
        return SKIPPED;
    }
    return GOT_RECORD;
}

/* The classic-pcap record at *pos. */
static inline int next_pcap_record(Walk *w, int64_t *pos, int64_t *frame, Record *r)
{
    const uint8_t *b = w->b;
    const int64_t p = *pos;
    if (p + w->rechdr > w->n)
        return NEED_MORE;
    int64_t caplen = u32(b, p + 8, w->big);
    if (caplen > MAX_RECORD)
        return CORRUPT;
    if (p + w->rechdr + caplen > w->n)
        return NEED_MORE;
    r->iface = 0;
    r->caplen = caplen;
    r->ts = wadd(wmul(u32(b, p, w->big), 1000000000), wmul(u32(b, p + 4, w->big), w->ts_mul));
    r->origlen = u32(b, p + 12, w->big);
    r->data = p + w->rechdr;
    *frame = wadd(*frame, 1);
    inc(&w->counts[C_PACKETS]);
    *pos = p + w->rechdr + caplen;
    return GOT_RECORD;
}

/* Where the IP header starts in the record, or -1 (not IP: counted); *slow when the exact
 * path must take the record (LLC, PPPoE, MPLS, other link types). */
static inline int64_t ip_start(Walk *w, const Record *r, int *slow)
{
    const uint8_t *b = w->b;
    const int64_t link = w->if_link[r->iface];
    const int64_t data = r->data, caplen = r->caplen, end = r->data + r->caplen;
    int64_t ip = -1;
    if (link == 1) {
        if (caplen < 14) {
            inc(&w->counts[C_NOT_IP]);
            return -1;
        }
        int64_t et = be16(b, data + 12);
        int64_t off = data + 14;
        while ((et == 0x8100 || et == 0x88A8 || et == 0x9100 || et == 0x9200) && off + 4 <= end) {
            et = be16(b, off + 2);
            off += 4;
        }
        if (et == 0x0800 || et == 0x86DD) {
            ip = off;
        } else if (et < 0x0600 || et == 0x8864 || et == 0x8847 || et == 0x8848 || et == 0x88E7) {
            *slow = 1; /* LLC, PPPoE, MPLS, 802.1ah (PBB): the exact path */
            return -1;
        } else {
            inc(&w->counts[C_NOT_IP]);
            return -1;
        }
    } else if (link == 101 || link == 12 || link == 14 || link == 228 || link == 229) {
        ip = data;
    } else if (link == 113 || link == 276) {
        int64_t hl = link == 113 ? 16 : 20;
        if (caplen < hl) {
            inc(&w->counts[C_NOT_IP]);
            return -1;
        }
        int64_t et = be16(b, data + (link == 113 ? 14 : 0));
        if (et != 0x0800 && et != 0x86DD) {
            *slow = 1; /* VLAN, PPPoE, ... inside cooked captures: rare */
            return -1;
        }
        ip = data + hl;
    } else {
        *slow = 1;
        return -1;
    }
    if (ip >= end) {
        inc(&w->counts[C_NOT_IP]);
        return -1;
    }
    return ip;
}

/* The transport inside one IP packet: a UDP datagram or a TCP segment for DNS, and where
 * the source address is. */
typedef struct {
    int64_t ver, udp, uend, tcp, tend, srcoff, srclen;
} Transport;

static inline void ip_transport(Walk *w, int64_t ip, int64_t end, int *slow, Transport *t)
{
    const uint8_t *b = w->b;
    int64_t v = b[ip] >> 4;
    if (v == 4) {
        t->ver = 4;
        int64_t ihl = (int64_t)(b[ip] & 0x0F) * 4;
        if (ip + 20 > end || ihl < 20 || ip + ihl > end) {
            *slow = 1;
            return;
        }
        int64_t total = be16(b, ip + 2);
        int64_t fr = be16(b, ip + 6);
        int64_t proto = b[ip + 9];
        if (total < ihl || ip + total > end || (fr & 0x3FFF) != 0) {
            *slow = 1;
        } else if (proto == 17) {
            t->udp = ip + ihl;
            t->uend = ip + total;
            t->srcoff = ip + 12;
            t->srclen = 4;
        } else if (proto == 6) {
            if (tcp_wanted(w, ip + ihl, ip + total)) {
                t->tcp = ip + ihl;
                t->tend = ip + total;
                t->srcoff = ip + 12;
            }
        } else if (proto == 4 || proto == 41 || proto == 47) {
            *slow = 1;
        } else if (proto == 1 && ip + ihl < ip + total && b[ip + ihl] == 3) {
            *slow = 1; /* ICMP destination unreachable: may quote a DNS query */
        } else {
            inc(&w->counts[C_NOT_DNS]);
        }
    } else if (v == 6) {
        t->ver = 6;
        if (ip + 40 > end) {
            *slow = 1;
            return;
        }
        int64_t plen = be16(b, ip + 4);
        int64_t nh = b[ip + 6];
        if (plen == 0 || ip + 40 + plen > end) {
            *slow = 1;
        } else if (nh == 17) {
            t->udp = ip + 40;
            t->uend = ip + 40 + plen;
            t->srcoff = ip + 8;
            t->srclen = 16;
        } else if (nh == 6) {
            if (tcp_wanted(w, ip + 40, ip + 40 + plen)) {
                t->tcp = ip + 40;
                t->tend = ip + 40 + plen;
                t->srcoff = ip + 8;
            }
        } else if (nh == 58 && b[ip + 40] == 1) {
            *slow = 1; /* ICMPv6 destination unreachable: may quote a DNS query */
        } else if (nh == 59 || nh == 58) { /* no next header, other ICMPv6 */
            inc(&w->counts[C_NOT_DNS]);
        } else {
            *slow = 1; /* extension headers, tunnels */
        }
    } else {
        inc(&w->counts[C_NOT_IP]);
    }
}

/* Which service a UDP port pair carries: P_DNS, P_MDNS, P_LLMNR, their _SKIP forms, or
 * P_NONE; -1 for a tunnel the exact path opens (GTP-U: 2152 both ways). */
static inline int udp_service(const Walk *w, int64_t sp, int64_t dp)
{
    int a = w->ports[sp];
    int c = w->ports[dp];
    if (a == P_DNS || c == P_DNS)
        return P_DNS;
    if (a == P_MDNS || c == P_MDNS || a == P_MDNS_SKIP || c == P_MDNS_SKIP)
        return (a == P_MDNS || c == P_MDNS) ? P_MDNS : P_MDNS_SKIP;
    if (a == P_LLMNR || c == P_LLMNR || a == P_LLMNR_SKIP || c == P_LLMNR_SKIP)
        return (a == P_LLMNR || c == P_LLMNR) ? P_LLMNR : P_LLMNR_SKIP;
    if (a == P_TUNNEL || c == P_TUNNEL)
        return -1;
    return P_NONE;
}

/* The walk's output cursors. */
typedef struct {
    int64_t nm, nslow, nkey, nip;
    int64_t ttlpos[TTLPOS_SIZE];
} Cursor;

/* A UDP datagram: one DNS row, a counted skip, or *slow. Returns an E_ code. */
static inline int udp_message(Walk *w, Cursor *c, int64_t frame, int64_t ts, const Transport *t,
                              int *slow)
{
    const uint8_t *b = w->b;
    const int64_t udp = t->udp;
    if (udp + 8 > t->uend) {
        *slow = 1;
        return E_OK;
    }
    int64_t sp = be16(b, udp);
    int64_t dp = be16(b, udp + 2);
    int64_t ulen = be16(b, udp + 4);
    if (ulen < 8 || udp + ulen > t->uend) {
        *slow = 1;
        return E_OK;
    }
    int svc = udp_service(w, sp, dp);
    if (svc < 0) {
        *slow = 1;
        return E_OK;
    }
    if (svc == P_NONE) {
        inc(&w->counts[C_NOT_DNS]);
        return E_OK;
    }
    if (svc == P_MDNS_SKIP || svc == P_LLMNR_SKIP) {
        inc(&w->counts[svc == P_MDNS_SKIP ? C_MDNS_SKIP : C_LLMNR_SKIP]);
        return E_OK;
    }
    const int64_t ps = udp + 8, pe = udp + ulen, nm = c->nm, ver = t->ver;
    uint64_t src[2], dst[2];
    address(b, t->srcoff, t->srclen, &src[0], &src[1]);
    address(b, t->srcoff + t->srclen, t->srclen, &dst[0], &dst[1]);
    intern_prefetch(&w->ips, src[0], src[1], (uint64_t)ver);
    intern_prefetch(&w->ips, dst[0], dst[1], (uint64_t)ver);
    w->m_frame[nm] = frame;
    w->m_ts[nm] = ts;
    w->m_sport[nm] = (uint16_t)sp;
    w->m_dport[nm] = (uint16_t)dp;
    w->m_ver[nm] = (uint8_t)ver;
    w->m_service[nm] = (uint8_t)(svc - 1);
    w->m_id[nm] = (uint16_t)(pe - ps >= 2 ? be16(b, ps) : 0);
    w->m_size[nm] = (uint32_t)(pe - ps);
    int err = dns_row(&w->dns, b, ps, pe, nm, &c->nkey, c->ttlpos);
    if (err)
        return err;
    /* after the DNS work, by which time the slots have come in */
    if (!address_id(w, src[0], src[1], ver, &c->nip, &w->m_src[nm]) ||
        !address_id(w, dst[0], dst[1], ver, &c->nip, &w->m_dst[nm]))
        return E_TABLE_FULL;
    c->nm = nm + 1;
    return E_OK;
}

int run_walk(Walk *w, int64_t *pos_io, int64_t *frame_io, int64_t *res)
{
    int64_t pos = *pos_io, frame = *frame_io;
    Cursor c; /* ttlpos is scratch: dns_row() writes before it reads */
    c.nm = c.nslow = c.nkey = c.nip = 0;
    int64_t status = NEED_MORE;
    int err = E_OK;
    for (;;) {
        if (c.nm + 2 > w->cap_m || c.nslow + 1 > w->cap_s) {
            status = FULL;
            break;
        }
        /* keep the interning tables at most half full: Python grows them and calls again */
        if (wmul(2, wadd(w->dns.keys.counter[0], KEYS_PER_ROW)) > w->dns.keys.size ||
            wmul(2, wadd(w->ips.counter[0], 2)) > w->ips.size) {
            status = FULL;
            break;
        }
        Record r;
        int got = w->pcapng ? next_block(w, &pos, &frame, &c.nslow, &r)
                            : next_pcap_record(w, &pos, &frame, &r);
        if (got == SKIPPED)
            continue;
        if (got != GOT_RECORD) {
            status = got;
            break;
        }
        /* as FileState.saw: time 0 is "no time" (an SPB has none) */
        if (r.ts != 0 && r.ts < w->counts[C_FIRST_TS])
            w->counts[C_FIRST_TS] = r.ts;
        if (r.ts != 0 && r.ts > w->counts[C_LAST_TS])
            w->counts[C_LAST_TS] = r.ts;
        int slow = r.caplen < r.origlen;
        Transport t = {0, -1, -1, -1, -1, 0, 0};
        if (!slow) {
            int64_t ip = ip_start(w, &r, &slow);
            if (ip >= 0)
                ip_transport(w, ip, r.data + r.caplen, &slow, &t);
        }
        if (t.udp >= 0 && !slow) {
            err = udp_message(w, &c, frame, r.ts, &t, &slow);
            if (err)
                break;
        }
        if (slow)
            slow_record(w, &c.nslow, frame, r.ts, r.iface, r.data, r.caplen, r.origlen);
        else if (t.tcp >= 0) /* plain IP, nothing cut: the segment and where the addresses are */
            slow_record(w, &c.nslow, frame, r.ts, TCP_SEGMENT - (t.ver == 6), t.tcp,
                        t.tend - t.tcp, t.srcoff);
    }
    res[0] = status;
    res[1] = pos;
    res[2] = frame;
    res[3] = c.nm;
    res[4] = c.nslow;
    res[5] = c.nkey;
    res[6] = c.nip;
    return err;
}
