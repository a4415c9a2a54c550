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

int run_walk(Walk *w, int64_t *pos_io, int64_t *frame_io, int64_t *res)
{
    const uint8_t *b = w->b;
    const int64_t n = w->n;
    int64_t pos = *pos_io, frame = *frame_io;
    int64_t nm = 0, nslow = 0, nkey = 0, nip = 0;
    int64_t ttlpos[TTLPOS_SIZE];
    int64_t status = NEED_MORE;
    int err = E_OK;
    for (;;) {
        if (nm + 2 > w->cap_m || nslow + 1 > w->cap_s) {
            status = FULL;
            break;
        }
        /* keep the interning tables at most half full: Python grows them and calls again */
        if (wmul(2, wadd(w->dns.keys.counter[0], KEYS_PER_ROW)) > w->dns.keys.size ||
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
                if (btype == 5) { /* interface statistics: the exact path reads its end time */
                    slow_record(w, &nslow, wadd(frame, 1), -1, -1, pos, blen, btype);
                } else if (btype == 2 || btype == 3) { /* OPB, SPB: rare, exact path */
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
        /* as FileState.saw: time 0 is "no time" (an SPB has none) */
        if (ts != 0 && ts < w->counts[C_FIRST_TS])
            w->counts[C_FIRST_TS] = ts;
        if (ts != 0 && ts > w->counts[C_LAST_TS])
            w->counts[C_LAST_TS] = ts;
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
        int64_t udp = -1, uend = -1, ver = 0, srcoff = 0, srclen = 0, tcp = -1, tend = -1;
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
                        if (tcp_wanted(w, ip + ihl, ip + total)) {
                            tcp = ip + ihl;
                            tend = ip + total;
                            srcoff = ip + 12;
                        }
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
                        if (tcp_wanted(w, ip + 40, ip + 40 + plen)) {
                            tcp = ip + 40;
                            tend = ip + 40 + plen;
                            srcoff = ip + 8;
                        }
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
                        uint64_t src[2], dst[2];
                        address(b, srcoff, srclen, &src[0], &src[1]);
                        address(b, srcoff + srclen, srclen, &dst[0], &dst[1]);
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
                        err = dns_row(&w->dns, b, ps, pe, nm, &nkey, ttlpos);
                        if (err)
                            break;
                        /* after the DNS work, by which time the slots have come in */
                        if (!address_id(w, src[0], src[1], ver, &nip, &w->m_src[nm]) ||
                            !address_id(w, dst[0], dst[1], ver, &nip, &w->m_dst[nm])) {
                            err = E_TABLE_FULL;
                            break;
                        }
                        nm += 1;
                    }
                }
            }
        }
        if (slow)
            slow_record(w, &nslow, frame, ts, iface, data, caplen, origlen);
        else if (tcp >= 0) /* plain IP, nothing cut: the segment and where the addresses are */
            slow_record(w, &nslow, frame, ts, TCP_SEGMENT - (ver == 6), tcp, tend - tcp, srcoff);
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

