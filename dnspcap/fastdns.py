"""The compiled DNS part of the fast path: validate a message and key its parts.

For each message :func:`dns` fills a small record (``info``) of numeric fields
(header, counts, question type and class, EDNS, minimum answer TTL) and
128-bit hashes that key the parts whose text Python renders once per
distinct value: the question name, the answer section, the EDNS option list.

``info[I_STRICT]`` is 1 only when the exact decoder (:mod:`dnspcap.dnswire`)
is certain to decode the message without any error. The checks here are
therefore the decoder's checks made *stricter* where mirroring them exactly
would cost more than it saves: one question, an uncompressed question name,
compression pointers only backwards and at most 64 per name. A message that
fails them is not wrong, only handed to the exact decoder whole (keyed by a
hash of its bytes after the ID, TTLs zeroed when the structure walks).

Every index is checked by hand: numba does not check array bounds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_RECORDS = 64  # more than this: exact decoder (and its bounded but slower walk)
MAX_JUMPS = 64  # the decoder allows 126; fewer here only sends more to the decoder

# info[] slots
I_FLAGS, I_QD, I_AN, I_NS, I_AR, I_QTYPE, I_QCLASS = 0, 1, 2, 3, 4, 5, 6
I_EDNS, I_OPTTTL, I_MINTTL, I_WALK, I_STRICT, I_HAS_ANS, I_HAS_OPTS = 7, 8, 9, 10, 11, 12, 13
I_QNAME_START, I_QNAME_END = 14, 15
INFO_SIZE = 16

# hashes[] slots: (h1, h2) pairs
H_BODY, H_QNAME, H_ANS, H_OPTS = 0, 2, 4, 6
HASH_SIZE = 8

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
MIX_OFFSET = np.uint64(0x9E3779B97F4A7C15)
MIX_PRIME = np.uint64(0xFF51AFD7ED558CCD)
NAME_TYPES = (2, 5, 12, 39)  # NS, CNAME, PTR, DNAME: RDATA is one name


@njit(cache=True, inline="always")
def _be16(b, i):  # type: ignore[no-untyped-def]
    return (np.int64(b[i]) << 8) | np.int64(b[i + 1])


@njit(cache=True, inline="always")
def _mix(h, slot, v):  # type: ignore[no-untyped-def]
    x = np.uint64(v)
    h[slot] = (h[slot] ^ x) * FNV_PRIME
    y = (h[slot + 1] + x + np.uint64(0x9F)) * MIX_PRIME
    h[slot + 1] = y ^ (y >> np.uint64(29))


@njit(cache=True, inline="always")
def _seed(h, slot, v):  # type: ignore[no-untyped-def]
    h[slot] = FNV_OFFSET ^ np.uint64(v)
    h[slot + 1] = MIX_OFFSET ^ np.uint64(v)


@njit(cache=True)
def _mix_range(h, slot, b, start, stop):  # type: ignore[no-untyped-def]
    for p in range(start, stop):
        _mix(h, slot, b[p])


@njit(cache=True)
def _skip_name(b, pos, end):  # type: ignore[no-untyped-def]
    """Offset after the name at pos, or -1. Pointers end a name; targets are not followed."""
    for _ in range(128):
        if pos >= end:
            return -1
        c = np.int64(b[pos])
        if c == 0:
            return pos + 1
        if c >= 0xC0:
            return pos + 2 if pos + 2 <= end else -1
        if c >= 0x40:
            return -1
        pos += 1 + c
    return -1


@njit(cache=True)
def _name(b, msg, pos, limit, end):  # type: ignore[no-untyped-def]
    """Strictly check the name at pos; return (offset after it or -1, used a pointer).

    Mirrors dnswire._read_name: bytes before the first pointer stay below ``limit``,
    after it below the message end; at most 255 octets. Stricter: a pointer must point
    backwards (so no loop is possible) and a name may take at most MAX_JUMPS of them.
    """
    bound = limit
    octets = np.int64(1)
    after = -1
    jumps = 0
    while True:
        if pos >= bound:
            return -1, jumps > 0
        c = np.int64(b[pos])
        if c == 0:
            break
        if c < 0x40:
            stop = pos + 1 + c
            if stop > bound:
                return -1, jumps > 0
            octets += 1 + c
            if octets > 255:
                return -1, jumps > 0
            pos = stop
        elif c >= 0xC0:
            if pos + 2 > bound:
                return -1, jumps > 0
            if after < 0:
                after = pos + 2
            target = msg + (((c & 0x3F) << 8) | np.int64(b[pos + 1]))
            if target >= pos or jumps >= MAX_JUMPS:
                return -1, jumps > 0
            jumps += 1
            pos = target
            bound = end
        else:
            return -1, jumps > 0
    if after < 0:
        after = pos + 1
    return after, jumps > 0


@njit(cache=True)
def _rdata_ok(b, msg, rtype, rclass, start, stop, end):  # type: ignore[no-untyped-def]
    """(no content error, a name inside used a pointer) for one record's RDATA."""
    size = stop - start
    if size == 0 and (rclass == 255 or rclass == 254):
        return True, False
    if rtype == 1:
        return size == 4, False
    if rtype == 28:
        return size == 16, False
    if rtype == 2 or rtype == 5 or rtype == 12 or rtype == 39:
        p, ptr = _name(b, msg, start, stop, end)
        return p == stop, ptr
    if rtype == 15:
        if size < 2:
            return False, False
        p, ptr = _name(b, msg, start + 2, stop, end)
        return p == stop, ptr
    if rtype == 33:
        if size < 6:
            return False, False
        p, ptr = _name(b, msg, start + 6, stop, end)
        return p == stop, ptr
    if rtype == 6:
        p, ptr = _name(b, msg, start, stop, end)
        if p < 0:
            return False, ptr
        p, ptr2 = _name(b, msg, p, stop, end)
        return p >= 0 and p + 20 == stop, ptr or ptr2
    if rtype == 16:
        if size == 0:
            return False, False
        p = start
        while p < stop:
            p += 1 + np.int64(b[p])
        return p == stop, False
    return True, False


@njit(cache=True)
def dns(b, s, e, ttlpos, info, h):  # type: ignore[no-untyped-def]
    """Walk the message b[s:e]; fill info and the hashes. See the module docstring."""
    n = e - s
    for k in range(INFO_SIZE):
        info[k] = 0
    info[I_QTYPE] = -1
    info[I_QCLASS] = -1
    info[I_EDNS] = -1
    info[I_OPTTTL] = -1
    info[I_MINTTL] = -1
    walk = n >= 12
    strict = walk
    nttl = 0
    if walk:
        info[I_FLAGS] = _be16(b, s + 2)
        qd = _be16(b, s + 4)
        an = _be16(b, s + 6)
        ns = _be16(b, s + 8)
        ar = _be16(b, s + 10)
        info[I_QD], info[I_AN], info[I_NS], info[I_AR] = qd, an, ns, ar
        if an + ns + ar > MAX_RECORDS:
            walk = False
            strict = False
        strict = strict and qd == 1
        pos = s + 12
        for i in range(qd):
            if not walk:
                break
            if i == 0 and strict:
                p, ptr = _name(b, s, pos, e, e)
                strict = p >= 0 and not ptr
                if strict:
                    info[I_QNAME_START] = pos
                    info[I_QNAME_END] = p
            p = _skip_name(b, pos, e)
            if p < 0 or p + 4 > e:
                walk = False
                break
            if i == 0:
                info[I_QTYPE] = _be16(b, p)
                info[I_QCLASS] = _be16(b, p + 2)
            pos = p + 4
        _seed(h, H_ANS, an)
        ans_ptr = False
        ans_end = pos
        opt_seen = False
        _seed(h, H_OPTS, 0)
        for i in range(an + ns + ar):
            if not walk:
                break
            if strict:
                p, ptr = _name(b, s, pos, e, e)
                strict = p >= 0
            p = _skip_name(b, pos, e)
            if p < 0 or p + 10 > e:
                walk = False
                break
            rtype = _be16(b, p)
            rclass = _be16(b, p + 2)
            ttl = (_be16(b, p + 4) << 16) | _be16(b, p + 6)
            stop = p + 10 + _be16(b, p + 8)
            if stop > e:
                walk = False
                break
            is_opt = rtype == 41 and i >= an + ns and not opt_seen
            if rtype != 41:
                ttlpos[nttl] = p + 4
                nttl += 1
            if i < an and (info[I_MINTTL] < 0 or ttl < info[I_MINTTL]):
                info[I_MINTTL] = ttl
            if is_opt:
                opt_seen = True
                info[I_EDNS] = rclass
                info[I_OPTTTL] = ttl
                q = p + 10
                while q < stop:
                    if q + 4 > stop or q + 4 + _be16(b, q + 2) > stop:
                        strict = False
                        break
                    _mix(h, H_OPTS, _be16(b, q))
                    info[I_HAS_OPTS] = 1
                    q += 4 + _be16(b, q + 2)
            elif strict:
                good, ptr = _rdata_ok(b, s, rtype, rclass, p + 10, stop, e)
                strict = good
                if i < an:
                    ans_ptr = ans_ptr or ptr
            if i < an:
                # the text of an answer is its type and RDATA (the owner is not shown)
                _mix(h, H_ANS, rtype)
                _mix(h, H_ANS, rclass)
                _mix(h, H_ANS, stop - p - 10)
                _mix_range(h, H_ANS, b, p + 10, stop)
                ans_end = stop
            pos = stop
        if walk and strict and an > 0:
            info[I_HAS_ANS] = 1
            if ans_ptr:
                # names in RDATA point elsewhere in the message: key on all of it up to here
                _seed(h, H_ANS, 0x5EED)
                k = 0
                p = s
                while p < ans_end:
                    if k < nttl and p == ttlpos[k]:
                        for _ in range(4):
                            _mix(h, H_ANS, 0)
                        p += 4
                        k += 1
                        continue
                    if p >= s + 2:
                        _mix(h, H_ANS, b[p])
                    p += 1
    if not walk:
        strict = False
        nttl = 0
        info[I_MINTTL] = -1
    info[I_WALK] = walk
    info[I_STRICT] = strict
    if strict:
        _seed(h, H_QNAME, info[I_QNAME_END] - info[I_QNAME_START])
        _mix_range(h, H_QNAME, b, info[I_QNAME_START], info[I_QNAME_END])
        return
    # the whole body, after the ID, TTLs zeroed when the structure walked
    _seed(h, H_BODY, n)
    k = 0
    p = s + 2
    while p < e:
        if k < nttl and p == ttlpos[k]:
            for _ in range(4):
                _mix(h, H_BODY, 0)
            p += 4
            k += 1
            continue
        _mix(h, H_BODY, b[p])
        p += 1
