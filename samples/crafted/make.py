"""Make the crafted samples in this folder with scapy (run: python samples/crafted/make.py).

Crafted, not captured: these follow the wire patterns measured in
../shared/REFERENCE.md §2 (glibc sends A and AAAA from one socket ~60 µs apart
with independent IDs; the ndots:5 search list turns `api.example.com` into four
A+AAAA steps, three NXDOMAIN) until the lab (samples/lab) records real ones.
Deterministic: fixed IDs, ports and times, so the files are byte-identical on
every run.
"""

from __future__ import annotations

from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

HERE = Path(__file__).parent
POD, VIP = "10.244.1.17", "10.96.0.10"
POD_MAC, GW_MAC = "0a:58:0a:f4:01:11", "0a:58:0a:f4:01:01"
SEARCH = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")
T0 = 1_764_000_000.0  # 2025-11-24 16:00:00 UTC


def _udp(t: float, sport: int, dns: DNS, reply: bool = False):  # type: ignore[no-untyped-def]
    if reply:
        p = Ether(src=GW_MAC, dst=POD_MAC) / IP(src=VIP, dst=POD) / UDP(sport=53, dport=sport)
    else:
        p = Ether(src=POD_MAC, dst=GW_MAC) / IP(src=POD, dst=VIP) / UDP(sport=sport, dport=53)
    pkt = p / dns
    pkt.time = t
    return pkt


def lookup_with_search_list() -> list:  # type: ignore[type-arg]
    """glibc resolving api.example.com under ndots:5: 3 NXDOMAIN steps, then the answer."""
    pkts = []
    t = T0
    ids = iter([0x1A2B, 0x3C4D, 0x5E6F, 0x7081, 0x92A3, 0xB4C5, 0xD6E7, 0xF809])
    names = [f"api.example.com.{s}" for s in SEARCH] + ["api.example.com"]
    for step, name in enumerate(names):
        sport = 40001 + step  # each search step opens a new socket
        qa, qaaaa = next(ids), next(ids)
        pkts.append(_udp(t, sport, DNS(id=qa, rd=1, qd=DNSQR(qname=name, qtype="A"))))
        pkts.append(_udp(t + 60e-6, sport, DNS(id=qaaaa, rd=1, qd=DNSQR(qname=name, qtype="AAAA"))))
        last = step == len(names) - 1
        for k, (qid, qtype) in enumerate(((qa, "A"), (qaaaa, "AAAA"))):
            rt = t + 0.0009 + k * 0.00012
            if not last:
                soa = DNSRR(rrname="cluster.local", type="SOA", ttl=30, rdata=b"\x00" * 22)
                dns = DNS(
                    id=qid,
                    qr=1,
                    rd=1,
                    ra=1,
                    aa=1,
                    rcode=3,
                    qd=DNSQR(qname=name, qtype=qtype),
                    ns=soa,
                )
            elif qtype == "A":
                ans = DNSRR(rrname=name, type="A", ttl=300, rdata="93.184.215.14")
                dns = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=ans)
            else:
                ans = DNSRR(rrname=name, type="AAAA", ttl=300, rdata="2606:2800:21f:cb07::14")
                dns = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=ans)
            pkts.append(_udp(rt, sport, dns, reply=True))
        t += 0.002
    return pkts


def truncated_then_tcp() -> list:  # type: ignore[type-arg]
    """A TC=1 answer followed by the same query over TCP (what glibc does)."""
    t = T0 + 1.0
    name = "big.example.com"
    q = DNS(id=0x4242, rd=1, qd=DNSQR(qname=name, qtype="TXT"))
    tc = DNS(id=0x4242, qr=1, tc=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="TXT"))
    pkts = [_udp(t, 41000, q), _udp(t + 0.001, 41000, tc, reply=True)]
    answer = DNS(
        id=0x4343, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="TXT"),
        an=DNSRR(rrname=name, type="TXT", ttl=60, rdata=[b"x" * 200, b"y" * 200]),
    )  # fmt: skip
    query = DNS(id=0x4343, rd=1, qd=DNSQR(qname=name, qtype="TXT"))
    c, s = 1000, 5000
    out = Ether(src=POD_MAC, dst=GW_MAC) / IP(src=POD, dst=VIP)
    back = Ether(src=GW_MAC, dst=POD_MAC) / IP(src=VIP, dst=POD)
    qb, ab = bytes(query), bytes(answer)
    seq = [
        (out / TCP(sport=41001, dport=53, flags="S", seq=c), 0.002),
        (back / TCP(sport=53, dport=41001, flags="SA", seq=s, ack=c + 1), 0.0025),
        (out / TCP(sport=41001, dport=53, flags="A", seq=c + 1, ack=s + 1), 0.003),
        (out / TCP(sport=41001, dport=53, flags="PA", seq=c + 1, ack=s + 1)
         / (len(qb).to_bytes(2, "big") + qb), 0.0031),
        # the answer arrives in two segments
        (back / TCP(sport=53, dport=41001, flags="A", seq=s + 1, ack=c + 3 + len(qb))
         / (len(ab).to_bytes(2, "big") + ab[:150]), 0.004),
        (back / TCP(sport=53, dport=41001, flags="PA", seq=s + 153, ack=c + 3 + len(qb))
         / ab[150:], 0.0041),
    ]  # fmt: skip
    for p, dt in seq:
        p.time = t + dt
        pkts.append(p)
    return pkts


def _pair_messages(name: str, ia: int, i6: int) -> tuple[DNS, DNS, DNS, DNS]:
    """A and AAAA queries with IDs ia and i6, the A answered, the AAAA NODATA."""
    qa = DNS(id=ia, rd=1, qd=DNSQR(qname=name, qtype="A"))
    q6 = DNS(id=i6, rd=1, qd=DNSQR(qname=name, qtype="AAAA"))
    ra = DNS(id=ia, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="A"),
             an=DNSRR(rrname=name, type="A", ttl=30, rdata="10.96.12.7"))  # fmt: skip
    r6 = DNS(id=i6, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="AAAA"))
    return qa, q6, ra, r6


def _pair(t: float, sport: int, name: str, ids: tuple[int, int], lose_aaaa: bool) -> list:  # type: ignore[type-arg]
    """glibc's A+AAAA from one socket; if the AAAA is lost, both are resent in turn at +5 s."""
    qa, q6, ra, r6 = _pair_messages(name, *ids)
    pkts = [_udp(t, sport, qa), _udp(t + 60e-6, sport, q6), _udp(t + 0.0008, sport, ra, True)]
    if not lose_aaaa:
        return [*pkts, _udp(t + 0.0009, sport, r6, True)]
    # RES_TIMEOUT later, glibc resends both on the same socket, now one after the other
    return [
        *pkts,
        _udp(t + 5.0001, sport, qa), _udp(t + 5.0009, sport, ra, True),
        _udp(t + 5.0010, sport, q6), _udp(t + 5.0018, sport, r6, True),
    ]  # fmt: skip


def conntrack_race() -> list:  # type: ignore[type-arg]
    """Four glibc lookups of a Service by its FQDN; the AAAA of the 2nd and 4th is dropped."""
    name = "db.prod.svc.cluster.local."
    pkts = []
    for k in range(4):
        t = T0 + 2.0 + k * 0.5
        pkts += _pair(t, 42000 + k, name, (0x2100 + 7 * k, 0x9A00 + 13 * k), lose_aaaa=k % 2 == 1)
    return sorted(pkts, key=lambda p: float(p.time))


def healthy() -> list:  # type: ignore[type-arg]
    """Four glibc lookups by FQDN, every query answered at once: no detector may fire."""
    pkts = []
    for k in range(4):
        t = T0 + 3.0 + k * 0.25
        pkts += _pair(
            t, 43000 + k, "web.shop.svc.cluster.local.", (0x3100 + 5 * k, 0xB700 + 11 * k), False
        )
    return sorted(pkts, key=lambda p: float(p.time))


MUSL_POD = "10.244.2.33"


def _musl(t: float, sport: int, dns: DNS, reply: bool = False):  # type: ignore[no-untyped-def]
    pkt = _udp(t, sport, dns, reply)
    if reply:
        pkt[IP].dst = MUSL_POD
    else:
        pkt[IP].src = MUSL_POD
    pkt.time = t
    return pkt


def musl_collision() -> list:  # type: ignore[type-arg]
    """An Alpine (musl) pod: clock-derived IDs 0x147 apart, then a pair that collides.

    Lookup 1: IDs 0x4a10/0x4b57, A answered first (fine). Lookup 2: one ID 0x5c20 for
    both, the AAAA's NODATA answered first: musl takes it for the A too. Lookup 3: IDs
    0x6d01/0x6e48, the AAAA answer first (harmless without a collision).
    """
    name = "cache.shop.svc.cluster.local."
    a_rr = DNSRR(rrname=name, type="A", ttl=30, rdata="10.96.40.2")
    pkts = []
    plan = [(0x4A10, 0x4B57, False), (0x5C20, 0x5C20, True), (0x6D01, 0x6E48, True)]
    for k, (ia, i6, aaaa_first) in enumerate(plan):
        t, port = T0 + 5.0 + k * 0.4, 44000 + k
        qa = DNS(id=ia, rd=1, qd=DNSQR(qname=name, qtype="A"))
        q6 = DNS(id=i6, rd=1, qd=DNSQR(qname=name, qtype="AAAA"))
        ra = DNS(id=ia, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="A"), an=a_rr)
        r6 = DNS(id=i6, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="AAAA"))
        first, second = (r6, ra) if aaaa_first else (ra, r6)
        pkts += [
            _musl(t, port, qa), _musl(t + 60e-6, port, q6),
            _musl(t + 0.0007, port, first, True), _musl(t + 0.0009, port, second, True),
        ]  # fmt: skip
    return pkts


COREDNS = "10.244.0.5"


def _between(t: float, src: str, dst: str, sport: int, dport: int, dns: DNS):  # type: ignore[no-untyped-def]
    pkt = (
        Ether(src=POD_MAC, dst=GW_MAC) / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / dns
    )
    pkt.time = t
    return pkt


def upstream_trouble() -> list:  # type: ignore[type-arg]
    """CoreDNS (10.244.0.5) and its upstreams, seen from the node.

    10.0.0.2 answers, SERVFAILs one name four times and answers three queries after
    1.5 s; 10.0.0.3 (a retired nameserver) never answers; a forwarding loop repeats one
    HINFO probe 150 times in 30 ms; a musl pod gets a TC=1 answer and never retries
    over TCP.
    """
    pkts = []
    t = T0 + 20.0
    for k in range(30):
        name = f"svc{k % 6}.example.org"
        q = DNS(id=0x1000 + k, rd=1, qd=DNSQR(qname=name, qtype="A"))
        if k < 4:
            name = "broken.example.org"
            q = DNS(id=0x1000 + k, rd=1, qd=DNSQR(qname=name, qtype="A"))
            r = DNS(id=0x1000 + k, qr=1, rd=1, ra=1, rcode=2, qd=DNSQR(qname=name, qtype="A"))
        else:
            r = DNS(
                id=0x1000 + k,
                qr=1,
                rd=1,
                ra=1,
                qd=DNSQR(qname=name, qtype="A"),
                an=DNSRR(rrname=name, type="A", ttl=60, rdata=f"192.0.2.{k}"),
            )
        delay = 1.5 if k in (10, 20, 25) else 0.001
        pkts += [
            _between(t + k * 0.05, COREDNS, "10.0.0.2", 50000 + k, 53, q),
            _between(t + k * 0.05 + delay, "10.0.0.2", COREDNS, 53, 50000 + k, r),
        ]  # fmt: skip
    for k in range(5):
        q = DNS(id=0x2000 + k, rd=1, qd=DNSQR(qname=f"svc{k}.example.org", qtype="A"))
        pkts.append(_between(t + 0.01 + k * 0.3, COREDNS, "10.0.0.3", 51000 + k, 53, q))
    probe = "7391044622.2891766134.cluster.local"
    for k in range(150):
        q = DNS(id=0x4C4F, rd=1, qd=DNSQR(qname=probe, qtype="HINFO"))
        pkts.append(_between(t + 3.0 + k * 0.0002, COREDNS, "10.96.0.10", 52000 + k % 3, 53, q))
    big = "big.example.com"
    q = DNS(id=0x7A7A, rd=1, qd=DNSQR(qname=big, qtype="TXT"))
    r = DNS(id=0x7A7A, qr=1, tc=1, rd=1, ra=1, qd=DNSQR(qname=big, qtype="TXT"))
    pkts += [
        _between(t + 4.0, MUSL_POD, VIP, 45000, 53, q),
        _between(t + 4.001, VIP, MUSL_POD, 53, 45000, r),
    ]
    # the capture goes on long enough for a TCP retry to have been seen
    later = "svc1.example.org"
    q = DNS(id=0x3000, rd=1, qd=DNSQR(qname=later, qtype="A"))
    r = DNS(
        id=0x3000,
        qr=1,
        rd=1,
        ra=1,
        qd=DNSQR(qname=later, qtype="A"),
        an=DNSRR(rrname=later, type="A", ttl=60, rdata="192.0.2.99"),
    )
    pkts += [
        _between(t + 12.0, COREDNS, "10.0.0.2", 53000, 53, q),
        _between(t + 12.001, "10.0.0.2", COREDNS, 53, 53000, r),
    ]
    return sorted(pkts, key=lambda p: float(p.time))


def _move(pkts: list, pod: str, old: str, dt: float) -> list:  # type: ignore[type-arg]
    """The same packets from another pod address, shifted in time (checksums redone)."""
    out = []
    for p in pkts:
        q = p.copy()
        if q[IP].src == old:
            q[IP].src = pod
        if q[IP].dst == old:
            q[IP].dst = pod
        del q[IP].chksum
        if q.haslayer(UDP):
            del q[UDP].chksum
        q = Ether(bytes(q))
        q.time = float(p.time) + dt
        out.append(q)
    return out


def incident() -> list:  # type: ignore[type-arg]
    """The mixed "incident" capture: five pods at once on one node.

    10.244.1.17 (glibc) loses the AAAA of 2 of its 4 lookups (conntrack race);
    10.244.2.33 (musl) has a same-ID pair answered AAAA first; 10.244.3.8 (glibc)
    resolves api.example.com through the ndots:5 search list; 10.244.4.21 and
    10.244.4.22 (glibc) are healthy.
    """
    pkts = conntrack_race()
    pkts += musl_collision()
    pkts += _move(lookup_with_search_list(), "10.244.3.8", POD, 4.0)
    pkts += _move(healthy(), "10.244.4.21", POD, 0.3)
    pkts += _move(healthy(), "10.244.4.22", POD, 1.1)
    return sorted(pkts, key=lambda p: float(p.time))


def _port_unreachable(t: float, query):  # type: ignore[no-untyped-def]
    """The ICMP port unreachable a host sends back for a query nobody listens to."""
    quoted = bytes(query[IP])
    pkt = (
        Ether(src=GW_MAC, dst=POD_MAC)
        / IP(src=query[IP].dst, dst=query[IP].src)
        / ICMP(type=3, code=3)
        / quoted
    )
    pkt.time = t
    return pkt


def no_endpoints() -> list:  # type: ignore[type-arg]
    """The DNS Service has no endpoints: kube-proxy rejects with ICMP port unreachable.

    A glibc pod's A+AAAA both draw the error and glibc gives up at once; a musl pod
    ignores it, resends after 2.5 s, draws it again, and gives up at 5 s.
    """
    name = "db.prod.svc.cluster.local."
    t = T0 + 40.0
    pkts = []
    for k, (qtype, qid) in enumerate((("A", 0x6101), ("AAAA", 0x8E22))):
        q = _udp(t + k * 60e-6, 46000, DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype)))
        pkts += [q, _port_unreachable(t + 0.0002 + k * 60e-6, q)]
    for attempt in range(2):
        ta = t + 1.0 + 2.5 * attempt
        for k, (qtype, qid) in enumerate((("A", 0x7A10), ("AAAA", 0x7B57))):
            q = _musl(ta + k * 60e-6, 46100, DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype)))
            pkts += [q, _port_unreachable(ta + 0.0002 + k * 60e-6, q)]
    return sorted(pkts, key=lambda p: float(p.time))


ENDPOINT = "10.244.0.5"  # the CoreDNS pod behind the Service VIP


def _node_copies(t: float, sport: int, dns: DNS, seen_after_dnat: bool = True) -> list:  # type: ignore[type-arg]
    """A query as a node capture sees it: to the VIP, then (DNATed) to the endpoint."""
    pre = _between(t, POD, VIP, sport, 53, dns)
    return [pre, _between(t + 30e-6, POD, ENDPOINT, sport, 53, dns)] if seen_after_dnat else [pre]


def _node_reply(t: float, sport: int, dns: DNS) -> list:  # type: ignore[type-arg]
    """A reply from the endpoint, then (un-NATed) from the VIP."""
    return [
        _between(t, ENDPOINT, POD, 53, sport, dns),
        _between(t + 30e-6, VIP, POD, 53, sport, dns),
    ]


def node_race() -> list:  # type: ignore[type-arg]
    """A node-side capture (both sides of kube-proxy's DNAT) of a glibc pod's two lookups.

    The first lookup is healthy. In the second, the AAAA leaves the pod towards the VIP
    and is never seen after DNAT: conntrack dropped it at insertion. glibc resends both
    queries in turn 5 s later, and they pass.
    """
    name = "db.prod.svc.cluster.local."
    pkts = []
    for k, lose in enumerate((False, True)):
        t, port = T0 + 60.0 + k, 47000 + k
        qa, q6, ra, r6 = _pair_messages(name, 0x1111 + k, 0xA222 + k)
        pkts += _node_copies(t, port, qa) + _node_copies(t + 60e-6, port, q6, not lose)
        pkts += _node_reply(t + 0.0008, port, ra)
        if not lose:
            pkts += _node_reply(t + 0.0009, port, r6)
            continue
        pkts += _node_copies(t + 5.0001, port, qa) + _node_reply(t + 5.0009, port, ra)
        pkts += _node_copies(t + 5.0010, port, q6) + _node_reply(t + 5.0018, port, r6)
    return sorted(pkts, key=lambda p: float(p.time))


def main() -> None:
    wrpcap(
        str(HERE / "search-list-and-tcp-fallback.pcap"),
        lookup_with_search_list() + truncated_then_tcp(),
    )
    wrpcap(str(HERE / "conntrack-race-glibc.pcap"), conntrack_race())
    wrpcap(str(HERE / "healthy-glibc.pcap"), healthy())
    wrpcap(str(HERE / "musl-id-collision.pcap"), musl_collision())
    wrpcap(str(HERE / "upstream-trouble.pcap"), upstream_trouble())
    wrpcap(str(HERE / "incident-mixed.pcap"), incident())
    wrpcap(str(HERE / "no-endpoints.pcap"), no_endpoints())
    wrpcap(str(HERE / "node-race.pcap"), node_race())


if __name__ == "__main__":
    main()
