"""Small builders of DNS conversations as pcap files, for pairing and lookup tests.

Each event is one UDP packet between a pod and a DNS server; times are seconds from
an arbitrary start. Crafted with scapy, following the resolver behaviour measured in
../shared/REFERENCE.md §2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

T0 = 1_764_000_000.0
POD = "10.244.1.17"
VIP = "10.96.0.10"


@dataclass(frozen=True)
class Q:
    """A query from the pod."""

    t: float
    port: int
    id: int
    name: str
    qtype: str = "A"
    server: str = VIP
    client: str = POD


@dataclass(frozen=True)
class R:
    """A response to the pod. `answer` is an address for A/AAAA; rcode 3 is NXDOMAIN."""

    t: float
    port: int
    id: int
    name: str
    qtype: str = "A"
    rcode: int = 0
    answer: str | None = None
    server: str = VIP
    client: str = POD
    question: bool = True  # False: no question section (FORMERR, NOTIMP often have none)


def packet(e: Q | R):  # type: ignore[no-untyped-def]
    if isinstance(e, Q):
        dns = DNS(id=e.id, rd=1, qd=DNSQR(qname=e.name, qtype=e.qtype))
        p = Ether() / IP(src=e.client, dst=e.server) / UDP(sport=e.port, dport=53) / dns
    else:
        an = [DNSRR(rrname=e.name, type=e.qtype, ttl=30, rdata=e.answer)] if e.answer else []
        qd = [DNSQR(qname=e.name, qtype=e.qtype)] if e.question else []
        dns = DNS(id=e.id, qr=1, rd=1, ra=1, rcode=e.rcode, qd=qd, an=an)
        p = Ether() / IP(src=e.server, dst=e.client) / UDP(sport=53, dport=e.port) / dns
    p.time = T0 + e.t
    return p


def write(path: Path, events: list[Q | R]) -> Path:
    wrpcap(str(path), [packet(e) for e in sorted(events, key=lambda e: e.t)])
    return path
