"""The compiled fast path: one pass over a buffer of capture records into column arrays.

`walk` is a numba kernel. It walks classic-pcap records or pcapng enhanced
packet blocks, decodes the link layer, IPv4/IPv6, UDP and the structure of the
DNS message (header, questions, every resource record's fixed part), and
writes one row per DNS message. Anything it does not handle completely is
handed back as a *slow* record for the exact pure-Python path
(:mod:`dnspcap.netstack`): IP fragments, TCP, IPv6 extension headers, tunnels,
snaplen-truncated packets, rarer link types, pcapng blocks other than EPB.

DNS fields are not decoded here. Each message gets a 128-bit hash of its
bytes after the ID with every resource record's TTL zeroed; identical hashes
are decoded once in Python (:func:`dnspcap.dnswire.decode_message`), because a
busy capture repeats the same few thousand questions and answers millions of
times. The ID and the minimum answer TTL, which differ per message, come from
here. A message whose structure does not walk cleanly is hashed unmasked, so
its one decode is exact for every copy.

Every read is bounds-checked by hand: numba does not check array indices.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import fastdns as fd

# walk() stops with one of these
NEED_MORE = 0  # the next record is not entirely in the buffer
BLOCK = 1  # a pcapng section or interface block: Python parses it, then calls again
FULL = 2  # the output arrays are full
CORRUPT = 3  # a record length that cannot be right: the pure-Python walker takes over

# row counters, in the order of COUNTERS
COUNTERS = ("packets", "not_ip", "not_dns", "mdns_skipped", "llmnr_skipped")
C_PACKETS, C_NOT_IP, C_NOT_DNS, C_MDNS_SKIP, C_LLMNR_SKIP = range(5)

# kinds of interned keys (the third key word; bodies add 8 when their structure walked)
K_QNAME, K_ANSWERS, K_OPTIONS, K_BODY = 1, 2, 3, 4

# ports[] values
P_NONE, P_DNS, P_MDNS, P_LLMNR, P_MDNS_SKIP, P_LLMNR_SKIP, P_TUNNEL = 0, 1, 2, 3, 4, 5, 6

MAX_RECORD = 1 << 26


@njit(cache=True, inline="always")
def _u16(b, i, big):  # type: ignore[no-untyped-def]
    if big:
        return (np.int64(b[i]) << 8) | np.int64(b[i + 1])
    return (np.int64(b[i + 1]) << 8) | np.int64(b[i])


@njit(cache=True, inline="always")
def _u32(b, i, big):  # type: ignore[no-untyped-def]
    if big:
        return (
            (np.int64(b[i]) << 24)
            | (np.int64(b[i + 1]) << 16)
            | (np.int64(b[i + 2]) << 8)
            | np.int64(b[i + 3])
        )
    return (
        (np.int64(b[i + 3]) << 24)
        | (np.int64(b[i + 2]) << 16)
        | (np.int64(b[i + 1]) << 8)
        | np.int64(b[i])
    )


@njit(cache=True, inline="always")
def _be16(b, i):  # type: ignore[no-untyped-def]
    return (np.int64(b[i]) << 8) | np.int64(b[i + 1])


@njit(cache=True)
def intern(k1, k2, k3, keys1, keys2, keys3, ids, counter):  # type: ignore[no-untyped-def]
    """Id of key (k1, k2, k3) in an open-addressing table, adding it when new.

    Returns the id, negated minus one when the key is new (so Python learns what to
    decode). The caller keeps the table at most half full.
    """
    mask = ids.shape[0] - 1
    h = k1 ^ (k2 * np.uint64(0x9E3779B97F4A7C15)) ^ (k3 * np.uint64(0xC2B2AE3D27D4EB4F))
    i = np.int64((h ^ (h >> np.uint64(31))) & np.uint64(mask))
    while True:
        e = ids[i]
        if e < 0:
            e = counter[0]
            counter[0] += 1
            ids[i] = e
            keys1[i] = k1
            keys2[i] = k2
            keys3[i] = k3
            return -e - 1
        if keys1[i] == k1 and keys2[i] == k2 and keys3[i] == k3:
            return e
        i = (i + 1) & mask


@njit(cache=True)
def rehash(keys1, keys2, keys3, ids, new1, new2, new3, newids):  # type: ignore[no-untyped-def]
    """Move every entry of a table into a bigger, empty one (ids unchanged)."""
    mask = newids.shape[0] - 1
    for j in range(ids.shape[0]):
        e = ids[j]
        if e < 0:
            continue
        k1, k2, k3 = keys1[j], keys2[j], keys3[j]
        h = k1 ^ (k2 * np.uint64(0x9E3779B97F4A7C15)) ^ (k3 * np.uint64(0xC2B2AE3D27D4EB4F))
        i = np.int64((h ^ (h >> np.uint64(31))) & np.uint64(mask))
        while newids[i] >= 0:
            i = (i + 1) & mask
        newids[i] = e
        new1[i] = k1
        new2[i] = k2
        new3[i] = k3


@njit(cache=True, inline="always")
def _address(b, off, width):  # type: ignore[no-untyped-def]
    """An address as two big-endian 64-bit halves (IPv4 in the top of the first)."""
    hi = np.uint64(0)
    lo = np.uint64(0)
    for j in range(width):
        v = np.uint64(b[off + j])
        if j < 8:
            hi |= v << np.uint64(56 - 8 * j)
        else:
            lo |= v << np.uint64(120 - 8 * j)
    return hi, lo


@njit(cache=True)
def _tcp_wanted(b, tcp, end, ports, counts):  # type: ignore[no-untyped-def]
    """True when a TCP segment must go to the exact path (DNS ports or a short header)."""
    if tcp + 20 > end:
        return True
    if ports[_be16(b, tcp)] == P_NONE and ports[_be16(b, tcp + 2)] == P_NONE:
        counts[C_NOT_DNS] += 1
        return False
    return True


@njit(cache=True)
def walk(  # type: ignore[no-untyped-def]
    b,
    n,
    pos,
    frame,
    pcapng,
    big,
    rechdr,
    ts_mul,
    if_link,
    if_tsmul,
    if_tsdiv,
    if_tsoff,
    ports,
    # message rows
    m_frame,
    m_ts,
    m_src,
    m_dst,
    m_sport,
    m_dport,
    m_ver,
    m_service,
    m_id,
    m_size,
    m_info,
    m_key,
    m_off,
    # interning tables: addresses, and the keyed parts of messages; first sightings
    kt1,
    kt2,
    kt3,
    ktid,
    kcount,
    new_key_row,
    new_key_kind,
    it1,
    it2,
    it3,
    itid,
    icount,
    new_ip_k1,
    new_ip_k2,
    new_ip_ver,
    # slow records
    s_frame,
    s_ts,
    s_iface,
    s_off,
    s_caplen,
    s_origlen,
    counts,
):
    nm = 0
    nslow = 0
    cap_m = m_frame.shape[0]
    cap_s = s_frame.shape[0]
    ttlpos = np.empty(fd.MAX_RECORDS + 1, np.int64)
    hashes = np.empty(fd.HASH_SIZE, np.uint64)
    nkey = 0
    nip = 0
    status = NEED_MORE
    while True:
        if nm + 2 > cap_m or nslow + 1 > cap_s:
            status = FULL
            break
        # keep the interning tables at most half full: Python grows them and calls again
        if 2 * (kcount[0] + 3) > ktid.shape[0] or 2 * (icount[0] + 2) > itid.shape[0]:
            status = FULL
            break
        # ---- container ------------------------------------------------------------------
        iface = 0
        if pcapng:
            if pos + 12 > n:
                status = NEED_MORE
                break
            btype = _u32(b, pos, big)
            blen = _u32(b, pos + 4, big)
            if btype == 0x0A0D0D0A or btype == 1:
                # the whole block must be in the buffer before Python parses it
                if btype == 0x0A0D0D0A:
                    blen = _u32(b, pos + 4, b[pos + 8] == 0x1A)
                if blen < 12 or blen > MAX_RECORD or blen % 4 != 0:
                    status = CORRUPT
                    break
                if pos + blen > n:
                    status = NEED_MORE
                    break
                status = BLOCK
                break
            if blen < 12 or blen > MAX_RECORD or blen % 4 != 0:
                status = CORRUPT
                break
            if pos + blen > n:
                status = NEED_MORE
                break
            if btype != 6:
                if btype == 2 or btype == 3:  # OPB, SPB: rare, exact path
                    frame += 1
                    counts[C_PACKETS] += 1
                    s_frame[nslow] = frame
                    s_ts[nslow] = -1
                    s_iface[nslow] = -1
                    s_off[nslow] = pos
                    s_caplen[nslow] = blen
                    s_origlen[nslow] = btype
                    nslow += 1
                pos += blen
                continue
            if blen < 32:
                status = CORRUPT
                break
            iface = _u32(b, pos + 8, big)
            units = (_u32(b, pos + 12, big) << 32) | _u32(b, pos + 16, big)
            caplen = _u32(b, pos + 20, big)
            origlen = _u32(b, pos + 24, big)
            data = pos + 28
            frame += 1
            counts[C_PACKETS] += 1
            if iface >= if_link.shape[0] or caplen + 32 > blen or if_tsmul[iface] == 0:
                # unknown interface, cut-short block or an odd timestamp unit
                s_frame[nslow] = frame
                s_ts[nslow] = -1
                s_iface[nslow] = -1
                s_off[nslow] = pos
                s_caplen[nslow] = blen
                s_origlen[nslow] = 6
                nslow += 1
                pos += blen
                continue
            ts = units * if_tsmul[iface] // if_tsdiv[iface] + if_tsoff[iface]
            pos += blen
        else:
            if pos + rechdr > n:
                status = NEED_MORE
                break
            caplen = _u32(b, pos + 8, big)
            if caplen > MAX_RECORD:
                status = CORRUPT
                break
            if pos + rechdr + caplen > n:
                status = NEED_MORE
                break
            ts = _u32(b, pos, big) * 1_000_000_000 + _u32(b, pos + 4, big) * ts_mul
            origlen = _u32(b, pos + 12, big)
            data = pos + rechdr
            frame += 1
            counts[C_PACKETS] += 1
            pos += rechdr + caplen
        end = data + caplen
        # ---- link layer -------------------------------------------------------------------
        link = if_link[iface]
        slow = caplen < origlen
        ip = -1
        if not slow:
            if link == 1:
                if caplen >= 14:
                    et = _be16(b, data + 12)
                    off = data + 14
                    while (et == 0x8100 or et == 0x88A8 or et == 0x9100 or et == 0x9200) and (
                        off + 4 <= end
                    ):
                        et = _be16(b, off + 2)
                        off += 4
                    if et == 0x0800 or et == 0x86DD:
                        ip = off
                    elif et < 0x0600 or et == 0x8864 or et == 0x8847 or et == 0x8848:
                        slow = True
                    else:
                        counts[C_NOT_IP] += 1
                else:
                    counts[C_NOT_IP] += 1
            elif link == 101 or link == 12 or link == 14 or link == 228 or link == 229:
                ip = data
            elif link == 113 or link == 276:
                hl = 16 if link == 113 else 20
                if caplen >= hl:
                    et = _be16(b, data + (14 if link == 113 else 0))
                    if et == 0x0800 or et == 0x86DD:
                        ip = data + hl
                    else:
                        slow = True  # VLAN, PPPoE, ... inside cooked captures: rare
                else:
                    counts[C_NOT_IP] += 1
            else:
                slow = True
        if ip >= 0 and not slow:
            if ip >= end:
                counts[C_NOT_IP] += 1
                ip = -1
        # ---- IP ----------------------------------------------------------------------------
        udp = -1
        uend = -1
        ver = 0
        srcoff = 0
        srclen = 0
        if ip >= 0 and not slow:
            v = b[ip] >> 4
            if v == 4:
                ver = 4
                ihl = (b[ip] & 0x0F) * 4
                if ip + 20 > end or ihl < 20 or ip + ihl > end:
                    slow = True
                else:
                    total = _be16(b, ip + 2)
                    fr = _be16(b, ip + 6)
                    proto = b[ip + 9]
                    if total < ihl or ip + total > end or (fr & 0x3FFF) != 0:
                        slow = True
                    elif proto == 17:
                        udp = ip + ihl
                        uend = ip + total
                        srcoff = ip + 12
                        srclen = 4
                    elif proto == 6:
                        slow = _tcp_wanted(b, ip + ihl, ip + total, ports, counts)
                    elif proto == 4 or proto == 41 or proto == 47:
                        slow = True
                    else:
                        counts[C_NOT_DNS] += 1
            elif v == 6:
                ver = 6
                if ip + 40 > end:
                    slow = True
                else:
                    plen = _be16(b, ip + 4)
                    nh = b[ip + 6]
                    if plen == 0 or ip + 40 + plen > end:
                        slow = True
                    elif nh == 17:
                        udp = ip + 40
                        uend = ip + 40 + plen
                        srcoff = ip + 8
                        srclen = 16
                    elif nh == 6:
                        slow = _tcp_wanted(b, ip + 40, ip + 40 + plen, ports, counts)
                    elif nh == 59 or nh == 58:  # no next header, ICMPv6
                        counts[C_NOT_DNS] += 1
                    else:
                        slow = True  # TCP, extension headers, tunnels
            else:
                counts[C_NOT_IP] += 1
        # ---- UDP / DNS -----------------------------------------------------------------------
        if udp >= 0 and not slow:
            if udp + 8 > uend:
                slow = True
            else:
                sp = _be16(b, udp)
                dp = _be16(b, udp + 2)
                ulen = _be16(b, udp + 4)
                if ulen < 8 or udp + ulen > uend:
                    slow = True
                else:
                    a = ports[sp]
                    c = ports[dp]
                    svc = P_NONE
                    if a == P_DNS or c == P_DNS:
                        svc = P_DNS
                    elif a == P_MDNS or c == P_MDNS or a == P_MDNS_SKIP or c == P_MDNS_SKIP:
                        svc = P_MDNS if (a == P_MDNS or c == P_MDNS) else P_MDNS_SKIP
                    elif a == P_LLMNR or c == P_LLMNR or a == P_LLMNR_SKIP or c == P_LLMNR_SKIP:
                        svc = P_LLMNR if (a == P_LLMNR or c == P_LLMNR) else P_LLMNR_SKIP
                    elif c == P_TUNNEL:
                        slow = True
                    if slow:
                        pass
                    elif svc == P_NONE:
                        counts[C_NOT_DNS] += 1
                    elif svc == P_MDNS_SKIP:
                        counts[C_MDNS_SKIP] += 1
                    elif svc == P_LLMNR_SKIP:
                        counts[C_LLMNR_SKIP] += 1
                    else:
                        ps = udp + 8
                        pe = udp + ulen
                        m_frame[nm] = frame
                        m_ts[nm] = ts
                        h, lo = _address(b, srcoff, srclen)
                        e = intern(h, lo, np.uint64(ver), it1, it2, it3, itid, icount)
                        if e < 0:
                            e = -e - 1
                            new_ip_k1[nip] = h
                            new_ip_k2[nip] = lo
                            new_ip_ver[nip] = ver
                            nip += 1
                        m_src[nm] = e
                        h, lo = _address(b, srcoff + srclen, srclen)
                        e = intern(h, lo, np.uint64(ver), it1, it2, it3, itid, icount)
                        if e < 0:
                            e = -e - 1
                            new_ip_k1[nip] = h
                            new_ip_k2[nip] = lo
                            new_ip_ver[nip] = ver
                            nip += 1
                        m_dst[nm] = e
                        m_sport[nm] = sp
                        m_dport[nm] = dp
                        m_ver[nm] = ver
                        m_service[nm] = svc - 1
                        m_id[nm] = _be16(b, ps) if pe - ps >= 2 else 0
                        m_size[nm] = pe - ps
                        m_off[nm] = ps
                        info = m_info[nm]
                        fd.dns(b, ps, pe, ttlpos, info, hashes)
                        for j in range(4):
                            m_key[nm, j] = -1
                        parts = 3 if info[fd.I_STRICT] else 1
                        for j in range(parts):
                            if info[fd.I_STRICT]:
                                kind = K_QNAME + j
                                slot = (fd.H_QNAME, fd.H_ANS, fd.H_OPTS)[j]
                                if (j == 1 and info[fd.I_HAS_ANS] == 0) or (
                                    j == 2 and info[fd.I_HAS_OPTS] == 0
                                ):
                                    continue
                            else:
                                kind = K_BODY + 8 * info[fd.I_WALK]
                                slot = fd.H_BODY
                            e = intern(
                                hashes[slot], hashes[slot + 1], np.uint64(kind),
                                kt1, kt2, kt3, ktid, kcount,
                            )  # fmt: skip
                            if e < 0:
                                e = -e - 1
                                new_key_row[nkey] = nm
                                new_key_kind[nkey] = kind
                                nkey += 1
                            m_key[nm, (kind & 7) - 1] = e
                        nm += 1
        if slow:
            s_frame[nslow] = frame
            s_ts[nslow] = ts
            s_iface[nslow] = iface
            s_off[nslow] = data
            s_caplen[nslow] = caplen
            s_origlen[nslow] = origlen
            nslow += 1
    return status, pos, frame, nm, nslow, nkey, nip
