#!/usr/bin/env python3
"""Write a large, reproducible synthetic DNS capture of a busy Kubernetes cluster.

The capture is what a node hosting CoreDNS sees: a few thousand pods (each with
its own resolver: glibc, musl, Go or a DNSSEC/cookie-aware tool) asking the
kube-dns Service VIP ``10.96.0.10`` (or, after DNAT, the CoreDNS pods
``10.244.0.2`` / ``10.244.1.3``; IPv6 pods ask ``fd00:10:96::a``) about a few
hundred names. It contains what the analyzer has to cope with on a real node:

* same-socket A+AAAA pairs ~60 us apart (glibc: independent random IDs; musl:
  IDs from the clock, 0x140-0x187 apart) and Go's one-socket-per-query pairs;
* ndots:5 search-list chains (NXDOMAIN for ``name.<ns>.svc.cluster.local``,
  ``name.svc.cluster.local``, ``name.cluster.local``, then ``name``), every step
  from a new source port;
* answers with name compression, CNAME chains, several A/AAAA records, TTLs
  counting down like a cache's, SOA in the authority section of NXDOMAIN/NODATA;
* about 1% unanswered queries (resent after 5 s by glibc, 2.5 s by musl, on a
  new socket with a new ID by Go), and lost replies recovered by the same
  retransmissions;
* about 10% IPv6, EDNS OPT (1232 / 4096, DO bit, COOKIE) in a fraction of
  messages, and TC=1 replies followed by the same query over TCP (handshake,
  length-prefixed query and response, FIN).

Everything is built from byte templates with ``struct`` (no scapy), so the
writer manages a few hundred thousand packets per second. The same seed gives a
byte-identical file. :func:`make_capture` returns the ground truth (how many
packets, DNS messages, queries, responses, ... were written) so a benchmark can
check a reader found every message.

Profiles (``--profile``, ``PROFILES``): ``default`` is the traffic above; ``many-clients``
the same kinds of lookup from 21,000 pods, about 10,000 distinct names in 2M packets,
and one response in ten with an answer set no earlier message had; ``hostile`` the
default traffic as 40% of the packets, the rest malformed messages and scans aimed at
port 53 (``hostile.py``); ``busy-pod`` the default traffic from one pod, as a capture in
its network namespace sees a busy one (its lookups cannot be cut in parts of clients).

Usage::

    python benchmarks/make_capture.py --packets 2000000 --seed 1 -o benchmarks/data/dns-2m.pcap
    python benchmarks/make_capture.py --profile hostile --packets 300000 -o /tmp/hostile.pcap
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import ipaddress
import json
import random
import struct
import sys
import time
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostile import Hostile  # this script's folder is on sys.path

# --------------------------------------------------------------------------- constants

START_TS = 1_710_234_000  # 2024-03-12 09:00:00 UTC, fixed so files are reproducible
DEFAULT_PPS = 20_000  # mean packet rate of the synthetic traffic
DEFAULT_CLIENTS = 3_000

# DNS numbers (RFC 1035, 3596, 2782, 6891, 7873).
A, NS, CNAME, SOA, PTR, AAAA, SRV, OPT = 1, 2, 5, 6, 12, 28, 33, 41
NOERROR, NXDOMAIN = 0, 3
EDNS_COOKIE = 10

# Resolver timings (see ../shared/REFERENCE.md, section 2).
RETRY_GAP_GLIBC_US = 5_000_000  # glibc RES_TIMEOUT: pair resent after 5 s
RETRY_GAP_MUSL_US = 2_500_000  # musl: timeout / attempts = 5 s / 2
RETRY_GAP_GO_US = 5_000_000  # Go: per-attempt timeout, new socket and new ID
MUSL_ID_GAP = (0x140, 0x187)  # measured gap between the two IDs of a musl pair

# Per search-list step (per socket) probabilities.
P_UNANSWERED = 0.005  # nothing ever comes back (all attempts unanswered)
P_LOST_REPLY = 0.006  # one reply of the step is lost, the retransmission is answered
P_EXTERNAL_MISS = 0.08  # CoreDNS cache miss: forwarded upstream, milliseconds

# Kinds of packet (for the ground truth), the low two bits of a packet's tag.
K_OTHER, K_QUERY, K_RESPONSE = 0, 1, 2
# Info bits of a DNS message, shifted left by two in a packet's tag.
I_V6, I_EDNS, I_TC, I_NX, I_RETX, I_TCP = 4, 8, 16, 32, 64, 128
I_FRESH = 256  # a response whose answer set no earlier message had
# Tags from HOSTILE_TAG on are hostile.py's kinds of packet (HOSTILE_TAG + kind).
HOSTILE_TAG = 512

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 1)  # LINKTYPE_ETHERNET
_REC = struct.Struct("<IIII")  # pcap record header: seconds, microseconds, caplen, len
# IPv4 header from the total length on (after 45 00) + UDP header; addresses as one 8s field.
_V4UDP = struct.Struct("!HHHHH8sHHHH")
# IPv6 header from the payload length on (after version/class/flow) + UDP header.
_V6UDP = struct.Struct("!HBB32sHHHH")
_V4 = struct.Struct("!HHHHH8s")  # the same without UDP, for TCP segments
_V6 = struct.Struct("!HBB32s")
_TCP = struct.Struct("!HHIIHHHH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")

# Profiles of the pods' resolvers and how common they are.
GLIBC, MUSL, GO, TOOL = 0, 1, 2, 3
PROFILE_WEIGHTS = ((GLIBC, 0.50), (MUSL, 0.20), (GO, 0.20), (TOOL, 0.10))


@dataclass(frozen=True, slots=True)
class Zone:
    """How many names of each kind the cluster and the outside world have."""

    namespaces: int = 20
    services: int = 15  # per namespace: svc-0 .. svc-14
    headless: int = 2  # per namespace: db-0, db-1 (three pod IPs each)
    api: int = 80  # api-N.example.com
    www: int = 40  # www-N.example.org (CNAME chains into a CDN)
    missing: int = 30  # missing-N.example.com (NXDOMAIN everywhere)
    big: int = 8  # big-N.example.com (30-51 A records: TC=1 without EDNS)


ZONE = Zone()


@dataclass(frozen=True, slots=True)
class Profile:
    """The traffic of a capture (``--profile``)."""

    clients: int
    zone: Zone = ZONE
    skew: float = 2.5  # name popularity: name n of N drawn as N * random() ** skew
    fresh_answers: float = 0.0  # share of responses whose answer set is new to the capture
    hostile: float = 0.0  # share of packets that are malformed messages and scans (hostile.py)


PROFILES = {
    # a busy node: 3,000 pods asking a few hundred names, every answer repeated
    "default": Profile(DEFAULT_CLIENTS),
    # a big cluster: 21,000 pods, ~10,000 distinct names at 2M packets, and one response in
    # ten with an answer set not seen before (rotating CDN and cloud load-balancer addresses)
    "many-clients": Profile(
        21_000,
        Zone(namespaces=16, headless=3),
        fresh_answers=0.10,
    ),
    # port 53 under attack: the default traffic with malformed messages and scans
    "hostile": Profile(DEFAULT_CLIENTS, hostile=0.60),
    # a pod's own capture: one busy client (a gateway, an app without a DNS cache) asking
    # all of the default traffic's lookups, the same names again and again
    "busy-pod": Profile(1),
}


# --------------------------------------------------------------------------- DNS wire format

Rdata = bytes | str | tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record. ``phase`` >= 0 makes the TTL count down like a cache's."""

    owner: str
    rtype: int
    ttl: int
    rdata: Rdata
    phase: int = -1


@dataclass(frozen=True, slots=True)
class Edns:
    size: int
    do: bool = False
    cookie: bool = False


@dataclass(frozen=True, slots=True)
class Template:
    """A DNS message with the places patched per packet."""

    data: bytes
    ttls: tuple[tuple[int, int, int], ...]  # (offset, original TTL, phase) of counting TTLs
    cookie: int  # offset of the 8-byte client cookie, -1 if none
    server_cookie: int  # offset of the 16-byte server cookie, -1 if none
    info: int  # I_* bits
    rcode: int
    tail: bytes = b""  # data[2:], what follows the ID when nothing else changes
    static: bool = False  # only the ID changes from packet to packet
    addr: int = -1  # offset of the first A/AAAA address in the answer section, -1 if none


class _Wire:
    """A DNS message under construction, with RFC 1035 name compression."""

    __slots__ = ("addr", "buf", "offsets", "ttls")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.offsets: dict[str, int] = {}
        self.ttls: list[tuple[int, int, int]] = []
        self.addr = -1  # where the first address record's rdata went

    def name(self, name: str, compress: bool = True) -> None:
        name = name.rstrip(".")
        key = name.lower()
        pos = 0  # where the current suffix starts in `key`
        for label in name.split(".") if name else ():
            if compress:
                suffix = key[pos:]
                ptr = self.offsets.get(suffix)
                if ptr is not None:
                    self.buf += _U16.pack(0xC000 | ptr)
                    return
                if len(self.buf) < 0x4000:
                    self.offsets[suffix] = len(self.buf)
            raw = label.encode("ascii")
            self.buf.append(len(raw))
            self.buf += raw
            pos += len(label) + 1
        self.buf.append(0)

    def record(self, rec: Record) -> None:
        self.name(rec.owner)
        self.buf += struct.pack("!HH", rec.rtype, 1)
        if rec.phase >= 0:
            self.ttls.append((len(self.buf), rec.ttl, rec.phase))
        self.buf += _U32.pack(rec.ttl)
        len_at = len(self.buf)
        self.buf += b"\0\0"
        rdata = rec.rdata
        if rec.rtype in (A, AAAA):
            assert isinstance(rdata, bytes)
            if self.addr < 0:
                self.addr = len(self.buf)
            self.buf += rdata
        elif rec.rtype in (CNAME, PTR, NS):
            assert isinstance(rdata, str)
            self.name(rdata)
        elif rec.rtype == SOA:
            assert isinstance(rdata, tuple)
            mname, rname, *numbers = rdata
            self.name(mname)
            self.name(rname)
            self.buf += struct.pack("!IIIII", *numbers)
        elif rec.rtype == SRV:
            assert isinstance(rdata, tuple)
            prio, weight, port, target = rdata
            self.buf += struct.pack("!HHH", prio, weight, port)
            self.name(target, compress=False)  # RFC 2782: the target is not compressed
        else:  # pragma: no cover - the zone only holds the types above
            raise ValueError(rec.rtype)
        _U16.pack_into(self.buf, len_at, len(self.buf) - len_at - 2)


def build_message(
    *,
    flags: int,
    qname: str,
    qtype: int,
    answers: Sequence[Record] = (),
    authority: Sequence[Record] = (),
    additional: Sequence[Record] = (),
    edns: Edns | None = None,
    response: bool = False,
) -> Template:
    """A DNS message (ID 0, patched per packet) and where its variable parts are."""
    w = _Wire()
    arcount = len(additional) + (edns is not None)
    w.buf += struct.pack("!HHHHHH", 0, flags, 1, len(answers), len(authority), arcount)
    w.name(qname)
    w.buf += struct.pack("!HH", qtype, 1)
    for rec in answers:
        w.record(rec)
    addr = w.addr
    for rec in (*authority, *additional):
        w.record(rec)
    cookie = server_cookie = -1
    info = 0
    if edns is not None:
        info |= I_EDNS
        options = b""
        if edns.cookie:
            clen = 24 if response else 8  # client cookie (8) [+ server cookie (16)]
            options = struct.pack("!HH", EDNS_COOKIE, clen) + bytes(clen)
        w.buf += b"\0" + struct.pack(
            "!HHIH", OPT, edns.size, 0x8000 if edns.do else 0, len(options)
        )
        if edns.cookie:
            cookie = len(w.buf) + 4
            if response:
                server_cookie = cookie + 8
        w.buf += options
    rcode = flags & 0xF
    if rcode == NXDOMAIN:
        info |= I_NX
    if flags & 0x0200:
        info |= I_TC
    data = bytes(w.buf)
    static = not w.ttls and cookie < 0
    return Template(data, tuple(w.ttls), cookie, server_cookie, info, rcode, data[2:], static, addr)


# --------------------------------------------------------------------------- the zone


def _ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def _ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def _phase(name: str, rtype: int) -> int:
    """Where in its TTL a cached record is at START_TS (crc32: stable across runs)."""
    return zlib.crc32(f"{name}/{rtype}".encode())


CLUSTER_SOA = Record(
    "cluster.local",
    SOA,
    30,
    ("ns.dns.cluster.local", "hostmaster.cluster.local", 1_710_230_000, 7200, 1800, 86400, 30),
)


def _example_soa(zone: str) -> Record:
    return Record(
        zone,
        SOA,
        300,
        (f"ns1.{zone}", f"hostmaster.{zone}", 2_024_031_201, 7200, 900, 1_209_600, 300),
        _phase(zone, SOA),
    )


@dataclass(frozen=True, slots=True)
class Answer:
    rcode: int
    aa: bool
    answers: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()


def _int_suffix(label: str, prefix: str, limit: int) -> int:
    """N for a label ``prefix-N`` with N < limit, else -1."""
    if not label.startswith(prefix + "-"):
        return -1
    tail = label[len(prefix) + 1 :]
    if not tail.isdigit() or (len(tail) > 1 and tail[0] == "0"):
        return -1
    n = int(tail)
    return n if n < limit else -1


def _svc_ip(i: int, j: int) -> bytes:
    return bytes((10, 96, 1 + j, 10 + i))


def _svc_ip6(i: int, j: int) -> bytes:
    return (0xFD00_0010_0096 << 80 | 0x1000 + j * 256 + i).to_bytes(16, "big")


def resolve(qname: str, qtype: int, zone: Zone = ZONE) -> Answer:
    """What CoreDNS answers for a question in this synthetic cluster."""
    labels = qname.lower().split(".")
    if qname.endswith("cluster.local"):
        return _resolve_cluster(qname, labels, qtype, zone)
    if qname.endswith(".in-addr.arpa"):
        return _resolve_ptr(qname, labels, qtype, zone)
    if len(labels) == 3 and labels[1:] == ["example", "com"]:
        return _resolve_example_com(qname, labels[0], qtype, zone)
    if len(labels) == 3 and labels[1:] == ["example", "org"]:
        n = _int_suffix(labels[0], "www", zone.www)
        if n >= 0:
            return _resolve_www(qname, n, qtype)
    return Answer(NXDOMAIN, False, authority=(_root_soa(),))


def _root_soa() -> Record:
    rdata = (
        "a.root-servers.net",
        "nstld.verisign-grs.com",
        2_024_031_200,
        1800,
        900,
        604800,
        86400,
    )
    return Record(".", SOA, 86400, rdata, _phase(".", SOA))


def _resolve_cluster(qname: str, labels: list[str], qtype: int, zone: Zone) -> Answer:
    nodata = Answer(NOERROR, True, authority=(CLUSTER_SOA,))
    nx = Answer(NXDOMAIN, True, authority=(CLUSTER_SOA,))
    ok = labels[-3:] == ["svc", "cluster", "local"]
    if ok and len(labels) == 7 and labels[:2] == ["_grpc", "_tcp"]:  # SRV of a named port
        i = _int_suffix(labels[2], "svc", zone.services)
        j = _int_suffix(labels[3], "ns", zone.namespaces)
        if i < 0 or j < 0:
            return nx
        if qtype != SRV:
            return nodata
        target = ".".join(labels[2:])
        srv = Record(qname, SRV, 30, (0, 100, 9000 + i, target))
        return Answer(NOERROR, True, (srv,), additional=(Record(target, A, 30, _svc_ip(i, j)),))
    if not ok or len(labels) != 5:
        return nx
    if labels[:2] == ["kube-dns", "kube-system"]:
        if qtype == A:
            return Answer(NOERROR, True, (Record(qname, A, 30, _ip4("10.96.0.10")),))
        if qtype == AAAA:
            return Answer(NOERROR, True, (Record(qname, AAAA, 30, _ip6("fd00:10:96::a")),))
        return nodata
    j = _int_suffix(labels[1], "ns", zone.namespaces)
    i = _int_suffix(labels[0], "svc", zone.services)
    if j >= 0 and i >= 0:
        if qtype == A:
            return Answer(NOERROR, True, (Record(qname, A, 30, _svc_ip(i, j)),))
        if qtype == AAAA and i % 3 == 0:  # dual-stack Services
            return Answer(NOERROR, True, (Record(qname, AAAA, 30, _svc_ip6(i, j)),))
        return nodata
    d = _int_suffix(labels[0], "db", zone.headless)
    if j >= 0 and d >= 0:  # headless Service: one A per ready pod
        if qtype == A:
            pods = [bytes((10, 244, 100 + j, 10 + d * 3 + k)) for k in range(3)]
            return Answer(NOERROR, True, tuple(Record(qname, A, 30, ip) for ip in pods))
        return nodata
    return nx


def _resolve_ptr(qname: str, labels: list[str], qtype: int, zone: Zone) -> Answer:
    nx = Answer(NXDOMAIN, True, authority=(CLUSTER_SOA,))
    if len(labels) != 6 or labels[2:] != ["96", "10", "in-addr", "arpa"]:
        return nx
    if labels[:2] == ["10", "0"]:
        target = "kube-dns.kube-system.svc.cluster.local"
    else:
        if not (labels[0].isdigit() and labels[1].isdigit()):
            return nx
        i, j = int(labels[0]) - 10, int(labels[1]) - 1
        if not (0 <= i < zone.services and 0 <= j < zone.namespaces):
            return nx
        target = f"svc-{i}.ns-{j}.svc.cluster.local"
    if qtype != PTR:
        return Answer(NOERROR, True, authority=(CLUSTER_SOA,))
    return Answer(NOERROR, True, (Record(qname, PTR, 30, target),))


def _resolve_example_com(qname: str, label: str, qtype: int, zone: Zone) -> Answer:
    soa = _example_soa("example.com")
    n = _int_suffix(label, "api", zone.api)
    if n >= 0:
        ttl = (60, 300, 30, 120)[n % 4]
        if qtype == A:
            ips = [bytes((203, 0, 113, (n * 3 + k) % 250 + 1)) for k in range(1 + n % 4)]
        elif qtype == AAAA and n % 2 == 0:
            ips = [(0x2001_0DB8 << 96 | n << 64 | k + 1).to_bytes(16, "big") for k in range(2)]
        else:
            return Answer(NOERROR, False, authority=(soa,))
        phase = _phase(qname, qtype)
        return Answer(NOERROR, False, tuple(Record(qname, qtype, ttl, ip, phase) for ip in ips))
    n = _int_suffix(label, "big", zone.big)
    if n >= 0:
        if qtype != A:
            return Answer(NOERROR, False, authority=(soa,))
        phase = _phase(qname, qtype)
        ips = [bytes((198, 51, 100 + k // 250, k % 250 + 1)) for k in range(30 + n * 3)]
        return Answer(NOERROR, False, tuple(Record(qname, A, 300, ip, phase) for ip in ips))
    return Answer(NXDOMAIN, False, authority=(soa,))


def _resolve_www(qname: str, n: int, qtype: int) -> Answer:
    cdn = f"{qname}.cdn.example.net"
    edge = f"e-{n % 7}.a.edge.example.net"
    chain = (
        Record(qname, CNAME, 3600, cdn, _phase(qname, CNAME)),
        Record(cdn, CNAME, 300, edge, _phase(cdn, CNAME)),
    )
    if qtype == A:
        ips = [bytes((192, 0, 2, (n % 7) * 2 + k + 1)) for k in range(2)]
    elif qtype == AAAA:
        ips = [
            (0x2001_0DB8_000E << 80 | (n % 7) << 8 | k + 1).to_bytes(16, "big") for k in range(2)
        ]
    else:
        return Answer(NOERROR, False, chain, authority=(_example_soa("example.net"),))
    phase = _phase(edge, qtype)
    return Answer(NOERROR, False, chain + tuple(Record(edge, qtype, 20, ip, phase) for ip in ips))


# --------------------------------------------------------------------------- the pods

# EDNS of each resolver profile: none (glibc, musl), Go's 1232, a DNSSEC-aware tool's
# 4096 with a COOKIE, with and without the DO bit.
EDNS_VARIANTS: tuple[Edns | None, ...] = (
    None,
    Edns(1232),
    Edns(4096, cookie=True),
    Edns(4096, do=True, cookie=True),
)


@dataclass(slots=True)
class Client:
    """One pod: its addresses, its resolver, and the pre-built link/IP header parts."""

    idx: int
    v6: bool
    ns: int  # namespace index: ns-<ns>, the first search-list suffix
    profile: int
    ekey: int  # index in EDNS_VARIANTS
    edns: Edns | None
    cookie: bytes  # EDNS client cookie (RFC 7873)
    eth_up: bytes  # Ethernet header pod -> server
    eth_down: bytes  # Ethernet header server -> pod
    pre_up: bytes  # eth_up + the constant first bytes of the IP header
    pre_down: bytes
    addrs_up: bytes  # source + destination address, pod -> server
    addrs_down: bytes
    addr_sum: int  # ones-complement sum of both addresses (pseudo-header of the checksums)
    ip_sum: int  # sum of the constant words of the IPv4 header of a UDP datagram


SERVERS4 = ((_ip4("10.96.0.10"), 0.8), (_ip4("10.244.0.2"), 0.1), (_ip4("10.244.1.3"), 0.1))
SERVER6 = _ip6("fd00:10:96::a")
GATEWAY_MAC = bytes.fromhex("0a580af40001")  # cni0 bridge, routes to the VIP


def _mac_for(ip4: bytes) -> bytes:
    return b"\x0a\x58" + ip4  # what the bridge CNI plugin gives a pod: 0a:58:<IPv4>


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, float]]) -> Any:
    x = rng.random()
    for value, weight in choices:
        x -= weight
        if x < 0:
            return value
    return choices[-1][0]


NODE_SLOTS = 3_700  # pod addresses per node with ``node``: 16 nodes fill 10.244.2.1 - 10.244.238.x


def make_clients(
    rng: random.Random, count: int, namespaces: int = ZONE.namespaces, node: int | None = None
) -> list[Client]:
    """``count`` pods across the cluster (10.244.2.1 - 10.244.119.250), 10% on IPv6; with
    ``node``, the pods of that node only, from its own range of NODE_SLOTS addresses (a node's
    pod CIDR: two nodes share no pod)."""
    if node is None:
        slots = rng.sample(range(2 * 250, 120 * 250), count)
    else:
        first = 2 * 250 + (node % 16) * NODE_SLOTS
        slots = rng.sample(range(first, first + NODE_SLOTS), min(count, NODE_SLOTS))
    clients = []
    for idx, slot in enumerate(slots):
        ip4 = bytes((10, 244, slot // 250, slot % 250 + 1))
        v6 = rng.random() < 0.10
        profile = _weighted(rng, PROFILE_WEIGHTS)
        ekey = 0
        if profile == GO:
            ekey = 1
        elif profile == TOOL:
            ekey = 3 if rng.random() < 0.3 else 2
        pod_mac = _mac_for(ip4)
        if v6:
            ip = (0xFD00_0010_0244 << 80 | (slot // 250) << 64 | slot % 250 + 1).to_bytes(16, "big")
            server = SERVER6
            server_mac = GATEWAY_MAC
            eth_up = server_mac + pod_mac + b"\x86\xdd"
            eth_down = pod_mac + server_mac + b"\x86\xdd"
            # version 6, traffic class 0, a flow label per direction (Linux auto flow labels)
            flow = 0x6000_0000 | (idx * 0x9E3779B1) & 0xFFFFF
            pre_up = eth_up + _U32.pack(flow)
            pre_down = eth_down + _U32.pack(flow ^ 0x5A5A5)
        else:
            ip = ip4
            server = _weighted(rng, SERVERS4)
            server_mac = _mac_for(server) if server[:2] == b"\x0a\xf4" else GATEWAY_MAC
            eth_up = server_mac + pod_mac + b"\x08\x00"
            eth_down = pod_mac + server_mac + b"\x08\x00"
            pre_up, pre_down = eth_up + b"\x45\x00", eth_down + b"\x45\x00"
        addr_sum = int.from_bytes(ip + server, "big") % 0xFFFF
        clients.append(
            Client(
                idx=idx,
                v6=v6,
                ns=rng.randrange(namespaces),
                profile=profile,
                ekey=ekey,
                edns=EDNS_VARIANTS[ekey],
                cookie=rng.getrandbits(64).to_bytes(8, "big"),
                eth_up=eth_up,
                eth_down=eth_down,
                pre_up=pre_up,
                pre_down=pre_down,
                addrs_up=ip + server,
                addrs_down=server + ip,
                addr_sum=addr_sum,
                ip_sum=0x4500 + 0x4000 + 0x4011 + addr_sum,  # ver/IHL, DF, TTL 64/UDP
            )
        )
    return clients


# --------------------------------------------------------------------------- the generator

# One query in flight: (source port, ID, send time in us, transaction key, query, response).
_Query = tuple[int, int, int, int, Template, Template]
# What one search-list step sends, per question type: (query, response) templates.
_StepTemplates = tuple[tuple[tuple[Template, Template], ...], bool]

LOOKUP_KINDS: tuple[tuple[str, float], ...] = (
    ("svc", 0.33),  # svc-N: own namespace, answered at the first search-list step
    ("svc.ns", 0.15),  # svc-N.ns-M: one NXDOMAIN step, then the answer
    ("svc.fqdn", 0.05),  # svc-N.ns-M.svc.cluster.local: three NXDOMAIN steps
    ("svc.dot", 0.05),  # svc-N.ns-M.svc.cluster.local. : no search list
    ("db", 0.03),  # db-N: headless Service, three A records
    ("api", 0.20),  # api-N.example.com: three NXDOMAIN steps, then the answer
    ("www", 0.08),  # www-N.example.org: three NXDOMAIN steps, then a CNAME chain
    ("missing", 0.03),  # missing-N.example.com: NXDOMAIN all the way
    ("big", 0.012),  # big-N.example.com. A: TC=1 without EDNS, then TCP
    ("ptr", 0.03),  # reverse lookup of a Service IP
    ("srv", 0.028),  # _grpc._tcp.svc-N.ns-M.svc.cluster.local SRV
)
# Mean packets per lookup with the defaults above, measured; sets the lookup rate.
PACKETS_PER_LOOKUP = 8.09


class Generator:
    """Builds the traffic lookup by lookup and writes packets in timestamp order."""

    def __init__(
        self,
        seed: int,
        pps: float = DEFAULT_PPS,
        profile: Profile = PROFILES["default"],
        node: int | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.zone = profile.zone
        self.skew = profile.skew
        self.clients = make_clients(self.rng, profile.clients, profile.zone.namespaces, node)
        self.pps = pps
        self.fresh_share = profile.fresh_answers
        self.responses = self.fresh = 0  # responses emitted, and how many with a new answer set
        self.hostile_share = profile.hostile
        self.hostile: Hostile | None = None
        if profile.hostile:
            pods = [c.addrs_up[:4] for c in self.clients if not c.v6]
            servers = [ip for ip, _ in SERVERS4]
            self.hostile = Hostile(seed, self._push, pods, servers, HOSTILE_TAG)
        # (time us, sequence, Ethernet frame, tag = kind | info bits, transaction key)
        self.heap: list[tuple[int, int, bytes, int, int]] = []
        self.seq = 0
        self.txn = 0
        self.lookup = 0  # the application lookup being generated
        self.lookup_of = array("L", [0])  # transaction -> its lookup
        self.templates: dict[tuple[str, int, int, int], Template] = {}
        self.steps: dict[tuple[str, tuple[int, ...], int], _StepTemplates] = {}

    # ---- packets

    def _payload(self, tmpl: Template, qid: int, t: int, c: Client) -> bytes:
        if tmpl.static:
            return _U16.pack(qid) + tmpl.tail
        b = bytearray(tmpl.data)
        _U16.pack_into(b, 0, qid)
        sec = t // 1_000_000
        for off, ttl, phase in tmpl.ttls:
            _U32.pack_into(b, off, ttl - (sec + phase) % ttl)  # a cache counting down
        if tmpl.cookie >= 0:
            b[tmpl.cookie : tmpl.cookie + 8] = c.cookie
        if tmpl.server_cookie >= 0:  # RFC 9018 layout: version, reserved, timestamp, hash
            digest = zlib.crc32(c.cookie + _U32.pack(sec)) * 0x9E3779B1 & (1 << 64) - 1
            b[tmpl.server_cookie : tmpl.server_cookie + 16] = (
                b"\x01\0\0\0" + _U32.pack(sec) + _U64.pack(digest)
            )
        return bytes(b)

    def _emit(
        self, c: Client, up: bool, port: int, qid: int, tmpl: Template, t: int, tag: int, txn: int
    ) -> None:
        """Queue one DNS message over UDP between a pod's port and port 53."""
        payload = _U16.pack(qid) + tmpl.tail if tmpl.static else self._payload(tmpl, qid, t, c)
        if self.fresh_share and tag & 3 == K_RESPONSE:
            payload, tag = self._freshen(payload, tmpl, tag)
        ulen = 8 + len(payload)
        psum = int.from_bytes(payload, "big")
        if ulen & 1:
            psum <<= 8  # the odd last byte is the high half of a zero-padded word
        # UDP checksum: pseudo-header (addresses, protocol 17, length) + header + data;
        # the two ports are `port` and 53 either way.
        ucs = 0xFFFF - (c.addr_sum + 70 + port + 2 * ulen + psum) % 0xFFFF
        sport, dport = (port, 53) if up else (53, port)
        if c.v6:
            head = _V6UDP.pack(
                ulen, 17, 64, c.addrs_up if up else c.addrs_down, sport, dport, ulen, ucs
            )
        else:
            total = 20 + ulen
            ipid = (t ^ port * 40503) & 0xFFFF
            ipcs = 0xFFFF - (c.ip_sum + total + ipid) % 0xFFFF
            addrs = c.addrs_up if up else c.addrs_down
            head = _V4UDP.pack(total, ipid, 0x4000, 0x4011, ipcs, addrs, sport, dport, ulen, ucs)
        self.seq += 1
        frame = (c.pre_up if up else c.pre_down) + head + payload
        heapq.heappush(self.heap, (t, self.seq, frame, tag | tmpl.info | c.v6 * I_V6, txn))

    def _freshen(self, payload: bytes, tmpl: Template, tag: int) -> tuple[bytes, int]:
        """Now and then (``fresh_answers`` of all responses) a response with an answer set
        the capture has not had yet: its first address replaced by the next one of a range
        no other answer uses, as a CDN or a cloud load balancer rotates its addresses."""
        self.responses += 1
        if tmpl.addr < 0 or self.fresh >= self.fresh_share * self.responses:
            return payload, tag
        self.fresh += 1
        n, at = self.fresh, tmpl.addr
        if tmpl.data[at - 10 : at - 8] == b"\x00\x1c":  # the record's type: AAAA
            new = (0x2001_0DB8_F00D << 80 | n).to_bytes(16, "big")
        else:  # 100.64.0.0/10 (shared address space), 4M addresses
            new = (0x6440_0000 | n & 0x3F_FFFF).to_bytes(4, "big")
        return payload[:at] + new + payload[at + len(new) :], tag | I_FRESH

    def _tcp(
        self,
        c: Client,
        up: bool,
        port: int,
        seq: int,
        ack: int,
        flags: int,
        ipid: int,
        payload: bytes = b"",
        syn_opts: bool = False,
    ) -> bytes:
        """An Ethernet frame with a TCP segment between a pod's port and port 53."""
        sport, dport = (port, 53) if up else (53, port)
        opts = _U16.pack(0x0204) + _U16.pack(1440 if c.v6 else 1460) if syn_opts else b""  # MSS
        hlen = 20 + len(opts)
        win = 64240 if up else 65160
        seq, ack = seq & 0xFFFFFFFF, ack & 0xFFFFFFFF
        head = _TCP.pack(sport, dport, seq, ack, (hlen // 4) << 12 | flags, win, 0, 0) + opts
        tlen = hlen + len(payload)
        psum = int.from_bytes(payload, "big")
        if len(payload) & 1:
            psum <<= 8
        tcs = 0xFFFF - (c.addr_sum + 6 + tlen + int.from_bytes(head, "big") + psum) % 0xFFFF
        tcp = head[:16] + _U16.pack(tcs) + head[18:] + payload
        addrs = c.addrs_up if up else c.addrs_down
        if c.v6:
            return (c.pre_up if up else c.pre_down) + _V6.pack(tlen, 6, 64, addrs) + tcp
        total, ipid = 20 + tlen, ipid & 0xFFFF
        ipcs = 0xFFFF - (c.ip_sum - 0x4011 + 0x4006 + total + ipid) % 0xFFFF
        ip = _V4.pack(total, ipid, 0x4000, 0x4006, ipcs, addrs)
        return (c.pre_up if up else c.pre_down) + ip + tcp

    def _push(self, t: int, frame: bytes, tag: int = K_OTHER, txn: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, frame, tag, txn))

    # ---- templates

    def _template(self, qname: str, qtype: int, ekey: int, limit: int = -1) -> Template:
        """The query (limit -1) or CoreDNS's response (truncated to ``limit`` bytes if > 0)."""
        key = (qname, qtype, ekey, limit)
        tmpl = self.templates.get(key)
        if tmpl is not None:
            return tmpl
        edns = EDNS_VARIANTS[ekey]
        if limit < 0:
            flags = 0x0100 | (0x0020 if edns is not None and edns.cookie else 0)  # RD (+AD: dig)
            tmpl = build_message(flags=flags, qname=qname, qtype=qtype, edns=edns)
        else:
            ans = resolve(qname, qtype, self.zone)
            flags = 0x8180 | (0x0400 if ans.aa else 0) | ans.rcode  # QR RD RA [AA]
            redns = None if edns is None else Edns(1232, edns.do, edns.cookie)
            tmpl = build_message(
                flags=flags,
                qname=qname,
                qtype=qtype,
                answers=ans.answers,
                authority=ans.authority,
                additional=ans.additional,
                edns=redns,
                response=True,
            )
            if limit and len(tmpl.data) > limit:
                # Keep the answers that fit, drop the rest and set TC (as CoreDNS does).
                for keep in range(len(ans.answers) - 1, -1, -1):
                    tmpl = build_message(
                        flags=flags | 0x0200,
                        qname=qname,
                        qtype=qtype,
                        answers=ans.answers[:keep],
                        edns=redns,
                        response=True,
                    )
                    if len(tmpl.data) <= limit:
                        break
        self.templates[key] = tmpl
        return tmpl

    def _step_templates(self, qname: str, qtypes: tuple[int, ...], ekey: int) -> _StepTemplates:
        key = (qname, qtypes, ekey)
        step = self.steps.get(key)
        if step is None:
            pairs = tuple(
                (self._template(qname, qt, ekey), self._template(qname, qt, ekey, 0))
                for qt in qtypes
            )
            step = (pairs, qname.endswith(("cluster.local", ".arpa")))
            self.steps[key] = step
        return step

    # ---- DNS exchanges

    def _new_txn(self) -> int:
        self.txn += 1
        self.lookup_of.append(self.lookup)
        return self.txn

    def _port(self) -> int:
        return self.rng.randrange(32768, 61000)  # Linux ip_local_port_range

    def _latency(self, local: bool) -> int:
        """CoreDNS's answer time in microseconds."""
        rng = self.rng
        if local:  # kubernetes plugin, from memory
            return 60 + int(rng.expovariate(1 / 140))
        if rng.random() < P_EXTERNAL_MISS:  # forwarded upstream
            return 1500 + int(rng.expovariate(1 / 12_000))
        return 90 + int(rng.expovariate(1 / 220))  # cache hit

    def _step(self, c: Client, qname: str, qtypes: tuple[int, ...], t: int) -> tuple[int, int]:
        """One search-list step: the queries for one name, their answers and retries.

        Returns (time the resolver has its answers, rcode of the first); rcode -1 when
        the resolver gave up.
        """
        rng = self.rng
        profile = c.profile
        pairs, local = self._step_templates(qname, qtypes, c.ekey)
        queries: list[_Query] = []
        if profile == GO:  # one socket and one random ID per query, sent together
            for qt, rt in pairs:
                queries.append((self._port(), rng.getrandbits(16), t, self._new_txn(), qt, rt))
                t += 3 + int(rng.expovariate(1 / 15))
        else:  # one socket for the pair (glibc sendmmsg, musl two sendto), ~60 us apart
            port = self._port()
            qid = rng.getrandbits(16)
            for k, (qt, rt) in enumerate(pairs):
                if k:
                    if profile == MUSL:  # IDs from the clock
                        qid = (qid + rng.randint(*MUSL_ID_GAP)) & 0xFFFF
                    else:
                        qid = rng.getrandbits(16)
                    t += 45 + int(rng.expovariate(1 / 15))
                queries.append((port, qid, t, self._new_txn(), qt, rt))
        emit = self._emit
        for port, qid, tq, txn, qt, _ in queries:
            emit(c, True, port, qid, qt, tq, K_QUERY, txn)

        u = rng.random()
        if u < P_UNANSWERED:
            self._unanswered(c, queries)
            return (-1, -1)
        done = t
        lost = -1
        if u < P_UNANSWERED + P_LOST_REPLY and len(queries) > 1 and profile != TOOL:
            lost = rng.randrange(len(queries))
        for k, (port, qid, tq, txn, _, rt) in enumerate(queries):
            if k != lost:
                tr = tq + self._latency(local)
                emit(c, False, port, qid, rt, tr, K_RESPONSE, txn)
                done = max(done, tr)
        if lost >= 0:
            done = self._recover(c, queries, lost, local)
        return (done + 10 + int(rng.expovariate(1 / 30)), pairs[0][1].rcode)

    def _recover(self, c: Client, queries: list[_Query], lost: int, local: bool) -> int:
        """The resolver's retry after a lost reply; returns when it has all answers."""
        rng = self.rng
        emit = self._emit
        if c.profile == GLIBC:
            # Both resent on the same socket with the same IDs, now one after the other.
            t = queries[0][2] + RETRY_GAP_GLIBC_US
            for port, qid, _, txn, qt, rt in queries:
                emit(c, True, port, qid, qt, t, K_QUERY | I_RETX, txn)
                t += self._latency(local)
                emit(c, False, port, qid, rt, t, K_RESPONSE, txn)
                t += 20 + int(rng.expovariate(1 / 20))
            return t
        port, qid, t, txn, qt, rt = queries[lost]
        if c.profile == MUSL:  # only the unanswered one, same ID and port
            t += RETRY_GAP_MUSL_US
            emit(c, True, port, qid, qt, t, K_QUERY | I_RETX, txn)
        else:  # Go: a new socket and a new ID
            t += RETRY_GAP_GO_US
            port, qid = self._port(), rng.getrandbits(16)
            txn = self._new_txn()
            emit(c, True, port, qid, qt, t, K_QUERY, txn)
        t += self._latency(local)
        emit(c, False, port, qid, rt, t, K_RESPONSE, txn)
        return t

    def _unanswered(self, c: Client, queries: list[_Query]) -> None:
        """Nothing comes back: the resolver's retries, then it gives up."""
        rng = self.rng
        emit = self._emit
        if c.profile == GLIBC:  # the pair again at +5 s, same socket and IDs; fails at 10 s
            t = queries[0][2] + RETRY_GAP_GLIBC_US
            for port, qid, _, txn, qt, _ in queries:
                emit(c, True, port, qid, qt, t, K_QUERY | I_RETX, txn)
                t += 45 + int(rng.expovariate(1 / 15))
        elif c.profile == MUSL:  # each again at +2.5 s; gives up at 5 s
            for port, qid, t, txn, qt, _ in queries:
                emit(c, True, port, qid, qt, t + RETRY_GAP_MUSL_US, K_QUERY | I_RETX, txn)
        elif c.profile == GO:  # a second attempt on new sockets with new IDs
            for _, _, t, _, qt, _ in queries:
                txn = self._new_txn()
                port, qid = self._port(), rng.getrandbits(16)
                emit(c, True, port, qid, qt, t + RETRY_GAP_GO_US, K_QUERY, txn)

    def _tcp_exchange(self, c: Client, qname: str, qid: int, t: int) -> None:
        """The same query over TCP after a TC=1 reply: handshake, query, response, FIN."""
        rng = self.rng
        port = self._port()
        txn = self._new_txn()
        query_tmpl = self._template(qname, A, c.ekey)
        reply_tmpl = self._template(qname, A, c.ekey, 0)
        v6 = I_V6 if c.v6 else 0
        cseq, sseq = rng.getrandbits(32), rng.getrandbits(32)  # initial sequence numbers
        cid, sid = rng.getrandbits(16), rng.getrandbits(16)  # IPv4 IDs, +1 per segment
        syn, ack, psh, fin = 0x02, 0x10, 0x08, 0x01

        def gap(base: int, mean: int) -> int:
            return base + int(rng.expovariate(1 / mean))

        def segment(up: bool, flags: int, payload: bytes = b"", opts: bool = False) -> bytes:
            nonlocal cid, sid
            if up:
                cid += 1
                return self._tcp(c, True, port, cseq, sseq, flags, cid, payload, opts)
            sid += 1
            return self._tcp(c, False, port, sseq, cseq, flags, sid, payload, opts)

        self._push(t, self._tcp(c, True, port, cseq, 0, syn, cid, syn_opts=True))
        cseq += 1
        t += gap(40, 20)
        self._push(t, segment(False, syn | ack, opts=True))
        sseq += 1
        t += gap(30, 10)
        self._push(t, segment(True, ack))
        t += 5
        msg = _U16.pack(len(query_tmpl.data)) + self._payload(query_tmpl, qid, t, c)
        self._push(t, segment(True, psh | ack, msg), K_QUERY | query_tmpl.info | I_TCP | v6, txn)
        cseq += len(msg)
        t += self._latency(False)
        msg = _U16.pack(len(reply_tmpl.data)) + self._payload(reply_tmpl, qid, t, c)
        tag = K_RESPONSE | reply_tmpl.info | I_TCP | v6
        self._push(t, segment(False, psh | ack, msg), tag, txn)
        sseq += len(msg)
        t += gap(20, 20)
        self._push(t, segment(True, ack))
        t += gap(10, 20)
        self._push(t, segment(True, fin | ack))
        cseq += 1
        t += gap(30, 20)
        self._push(t, segment(False, fin | ack))
        sseq += 1
        t += gap(20, 10)
        self._push(t, segment(True, ack))

    # ---- lookups

    def _skewed(self, n: int) -> int:
        """0..n-1, the low numbers far more popular (a few hot names, a long tail)."""
        return int(n * self.rng.random() ** self.skew)

    def _lookup(self, t: int) -> None:
        """One application lookup by one pod, with its search-list steps."""
        rng = self.rng
        self.lookup += 1
        c = self.clients[int(len(self.clients) * rng.random() ** 1.5)]  # some pods are busier
        kind = _weighted(rng, LOOKUP_KINDS)
        qtypes: tuple[int, ...] = (A,) if c.profile == TOOL else (A, AAAA)
        zone = self.zone
        svc, ns = self._skewed(zone.services), self._skewed(zone.namespaces)
        if kind == "svc":
            name, fqdn = f"svc-{svc}", f"svc-{svc}.ns-{c.ns}.svc.cluster.local."
        elif kind in ("svc.ns", "svc.fqdn", "svc.dot"):
            fqdn = f"svc-{svc}.ns-{ns}.svc.cluster.local."
            name = {"svc.ns": f"svc-{svc}.ns-{ns}", "svc.fqdn": fqdn[:-1], "svc.dot": fqdn}[kind]
        elif kind == "db":
            name = f"db-{rng.randrange(zone.headless)}"
            fqdn = f"{name}.ns-{c.ns}.svc.cluster.local."
        elif kind == "api":
            name = f"api-{self._skewed(zone.api)}.example.com"
            fqdn = name + "."
        elif kind == "www":
            name = f"www-{self._skewed(zone.www)}.example.org"
            fqdn = name + "."
        elif kind == "missing":
            name = f"missing-{self._skewed(zone.missing)}.example.com"
            fqdn = name + "."
        elif kind == "big":
            self._big(c, f"big-{rng.randrange(zone.big)}.example.com", t)
            return
        elif kind == "ptr":
            ip = "10.0.96.10" if rng.random() < 0.2 else f"{10 + svc}.{1 + ns}.96.10"
            name = fqdn = f"{ip}.in-addr.arpa."
            qtypes = (PTR,)
        else:
            name = fqdn = f"_grpc._tcp.svc-{svc}.ns-{ns}.svc.cluster.local."
            qtypes = (SRV,)
        if c.profile == TOOL:
            name = fqdn  # tools (dig, kdig) ask exactly the name they are given
        for candidate in self._search_list(name, c.ns):
            t, rcode = self._step(c, candidate, qtypes, t)
            if rcode != NXDOMAIN:
                return

    @staticmethod
    def _search_list(name: str, ns: int) -> list[str]:
        """The names a Kubernetes pod's resolver tries, in order (ndots:5)."""
        if name.endswith("."):
            return [name[:-1]]
        search = [f"{name}.ns-{ns}.svc.cluster.local", f"{name}.svc.cluster.local"]
        search.append(f"{name}.cluster.local")
        return [name, *search] if name.count(".") >= 5 else [*search, name]

    def _big(self, c: Client, qname: str, t: int) -> None:
        """A single A query for a name with many records: TC=1 without EDNS, then TCP."""
        rng = self.rng
        port, qid = self._port(), rng.getrandbits(16)
        txn = self._new_txn()
        self._emit(c, True, port, qid, self._template(qname, A, c.ekey), t, K_QUERY, txn)
        limit = 512 if c.edns is None else c.edns.size
        reply = self._template(qname, A, c.ekey, limit)
        t += self._latency(False)
        self._emit(c, False, port, qid, reply, t, K_RESPONSE, txn)
        if reply.info & I_TC:
            self._tcp_exchange(c, qname, qid, t + 30 + int(rng.expovariate(1 / 30)))

    # ---- the file

    def write(self, path: str | Path, packets: int) -> dict[str, Any]:
        """Write exactly ``packets`` packets to ``path``; return the ground truth."""
        rng = self.rng
        share = self.hostile_share  # the rest of the packet rate is the pods' lookups
        mean_gap = 1e6 * PACKETS_PER_LOOKUP / (self.pps * (1 - share))  # us between lookups
        hostile_per_lookup = PACKETS_PER_LOOKUP * share / (1 - share)
        clock = float(START_TS * 1_000_000)
        heap = self.heap
        pop = heapq.heappop
        rec = _REC.pack
        out: list[bytes] = []
        tally = [0] * (HOSTILE_TAG + 16)  # packets per tag
        pending: dict[int, int] = {}  # transaction -> its query messages, until answered
        seen = bytearray(packets + 1024)  # transactions with a message written
        seen_lookup = bytearray(packets + 1024)  # lookups with a message written
        lookup_of = self.lookup_of
        transactions = lookups = 0
        written = 0
        first_ts = ts = 0
        with open(path, "wb") as f:
            f.write(PCAP_HEADER)
            while written < packets:
                clock += rng.expovariate(1.0) * mean_gap
                now = int(clock)
                # Everything before the next lookup starts is final: write it.
                while heap and heap[0][0] < now and written < packets:
                    ts, _, frame, tag, txn = pop(heap)
                    n = len(frame)
                    out.append(rec(ts // 1_000_000, ts % 1_000_000, n, n) + frame)
                    tally[tag] += 1
                    if tag & 3:
                        if txn >= len(seen):
                            seen.extend(bytes(len(seen)))
                        if not seen[txn]:
                            seen[txn] = 1
                            transactions += 1
                            lookup = lookup_of[txn]
                            if not seen_lookup[lookup]:
                                seen_lookup[lookup] = 1
                                lookups += 1
                    if tag & 1:
                        pending[txn] = pending.get(txn, 0) + 1
                    elif tag & 2:
                        pending.pop(txn, None)
                    if not written:
                        first_ts = ts
                    written += 1
                    if len(out) == 65536:
                        f.write(b"".join(out))
                        out.clear()
                if written < packets:
                    self._lookup(now)
                    if self.hostile is not None:
                        self.hostile.traffic(now, mean_gap, hostile_per_lookup)
            f.write(b"".join(out))
        truth = self._truth(tally, pending, written, first_ts, ts)
        truth["transactions"] = transactions
        truth["lookups"] = lookups
        if self.fresh_share:
            truth["fresh_answers"] = sum(n for tag, n in enumerate(tally) if tag & I_FRESH)
        if self.hostile is not None:
            truth.update(self.hostile.truth(tally[HOSTILE_TAG:]))
        return truth

    @staticmethod
    def _truth(
        tally: list[int], pending: dict[int, int], written: int, first_ts: int, last_ts: int
    ) -> dict[str, Any]:
        def count(kinds: tuple[int, ...], bit: int = 0) -> int:
            return sum(
                n
                for tag, n in enumerate(tally[:HOSTILE_TAG])
                if tag & 3 in kinds and tag & bit == bit
            )

        dns = (K_QUERY, K_RESPONSE)
        return {
            "packets": written,
            "dns_messages": count(dns),
            "queries": count((K_QUERY,)),
            "responses": count((K_RESPONSE,)),
            "udp_messages": count(dns) - count(dns, I_TCP),
            "tcp_messages": count(dns, I_TCP),
            "ipv6_messages": count(dns, I_V6),
            "edns_messages": count(dns, I_EDNS),
            "tc_responses": count((K_RESPONSE,), I_TC),
            "nxdomain_responses": count((K_RESPONSE,), I_NX),
            "retransmitted_queries": count((K_QUERY,), I_RETX),
            "unanswered_queries": sum(pending.values()),
            "first_ts": first_ts / 1e6,
            "last_ts": last_ts / 1e6,
            "duration_s": (last_ts - first_ts) / 1e6,
        }


def make_capture(
    path: str | Path,
    packets: int,
    seed: int,
    *,
    pps: float = DEFAULT_PPS,
    clients: int | None = None,
    profile: str = "default",
    node: int | None = None,
) -> dict[str, Any]:
    """Write a synthetic capture of exactly ``packets`` packets and return its ground truth.

    ``profile`` is a key of PROFILES; ``clients`` overrides its number of pods; ``node``
    (0-15) takes them from that node's own pod addresses (``bench_fleet.py``: the captures
    of different nodes share no pod, as in a cluster).

    Keys: ``packets``; ``dns_messages`` (= queries + responses = udp_messages +
    tcp_messages); ``queries``; ``responses``; ``udp_messages``; ``tcp_messages``;
    ``ipv6_messages``; ``edns_messages`` (with an OPT record); ``tc_responses``;
    ``nxdomain_responses``; ``retransmitted_queries`` (a query resent from the same
    socket with the same ID); ``transactions`` (distinct socket + ID + question with a
    message in the file: a query with its retransmissions and its response);
    ``lookups`` (application lookups with a message in the file: every search-list
    step, both A and AAAA, every retry, and the TCP retry after TC=1 of one
    getaddrinfo-style call);
    ``unanswered_queries`` (query messages whose socket
    and ID never see a response in the file, retransmissions included; the queries
    of the last few milliseconds are among them because the file ends);
    ``first_ts``, ``last_ts``, ``duration_s`` (capture time, seconds); ``seed``,
    ``pps``, ``clients``, ``profile``; ``file_bytes``; ``seconds`` (time taken to write).
    With fresh answers (``many-clients``): ``fresh_answers``, the responses whose answer
    set no earlier message had. With hostile traffic, the keys of hostile.Hostile.truth;
    the counts above are then those of the pods' own lookups.
    """
    started = time.perf_counter()
    chosen = PROFILES[profile]
    if clients is not None:
        chosen = dataclasses.replace(chosen, clients=clients)
    truth = Generator(seed, pps, chosen, node).write(path, packets)
    truth.update(
        seed=seed,
        pps=pps,
        clients=chosen.clients,
        profile=profile,
        file_bytes=Path(path).stat().st_size,
        seconds=round(time.perf_counter() - started, 3),
    )
    return truth


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000, help="packets to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    parser.add_argument("--pps", type=float, default=DEFAULT_PPS, help="mean packets per second")
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="default", help="the traffic (default)"
    )
    parser.add_argument("--clients", type=int, help="number of pods (default: the profile's)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="pcap file to write")
    parser.add_argument("--truth", type=Path, help="also write the ground truth as JSON here")
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    truth = make_capture(
        args.output,
        args.packets,
        args.seed,
        pps=args.pps,
        clients=args.clients,
        profile=args.profile,
    )
    if args.truth:
        args.truth.write_text(json.dumps(truth, indent=2) + "\n")
    json.dump(truth, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
