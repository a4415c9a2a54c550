"""Client shares of crafted captures whose findings span clients (dnspcap.findings.scan):
a dead server asked by many clients, a question stormed by 130 clients (one attempt
each: DNS007's, which DNS006 leaves out), a server that answers one client and not
another, musl's parallel queries, hundreds of silent "servers", SERVFAIL and REFUSED
tied across servers, and an outage. The judged shares must equal the whole."""

from __future__ import annotations

from pathlib import Path

import pytest

import dnspcap
from dnspcap.findings import detect
from dnspcap.findings.detection import judge

from .craft import LINK_ETHERNET, MS, SEC, T0, Rec, dns_query, dns_response, frame, pcap, udp4
from .test_map_reduce import parted, same

ALIVE, DEAD, HALF = "10.0.0.53", "10.0.0.99", "10.0.0.77"
CODES = ["DNS006", "DNS007", "DNS009"]


class Capture:
    def __init__(self) -> None:
        self.recs: list[Rec] = []
        self.port = 30000

    def ask(self, t: int, src: str, dst: str, name: str, qt: str = "A", *, id: int,
            sport: int | None = None) -> int:  # fmt: skip
        if sport is None:
            sport, self.port = self.port, self.port + 1
        ip = udp4(dns_query(name, qt, id=id), src=src, dst=dst, sport=sport)
        self.recs.append(Rec(frame(LINK_ETHERNET, ip), t))
        return sport

    def answer(self, t: int, client: str, server: str, name: str, sport: int, qt: str = "A",
               *, id: int, rcode: int = 0) -> None:  # fmt: skip
        ans = [(name, qt, "1.2.3.4", 30)] if rcode == 0 and qt == "A" else []
        msg = dns_response(name, qt, ans, id=id, rcode=rcode)
        ip = udp4(msg, src=server, dst=client, sport=53, dport=sport)
        self.recs.append(Rec(frame(LINK_ETHERNET, ip), t))

    def write(self, path: Path) -> Path:
        path.write_bytes(pcap(sorted(self.recs, key=lambda r: r.ts_ns)))
        return path


def mixed(path: Path) -> Path:
    c, t = Capture(), T0
    for i in range(130):  # one question from 130 clients, to the dead server: a storm
        c.ask(t + i * 5 * MS, f"10.1.{i // 200}.{i % 200 + 1}", DEAD, "shared.example.", id=i)
    for i in range(20):  # glibc: the next nameserver after 5 s
        cl, t1 = f"10.3.0.{i + 1}", t + SEC + i * 50 * MS
        c.ask(t1, cl, DEAD, f"c{i}.example.", id=200 + i)
        sp = c.ask(t1 + 5 * SEC, cl, ALIVE, f"c{i}.example.", id=200 + i)
        c.answer(t1 + 5 * SEC + MS, cl, ALIVE, f"c{i}.example.", sp, id=200 + i)
    for i in range(5):  # musl: every nameserver at once
        cl, t1, sp = f"10.4.0.{i + 1}", t + 2 * SEC + i * 10 * MS, 41000 + i
        c.ask(t1, cl, DEAD, f"p{i}.example.", id=300 + i, sport=sp)
        c.ask(t1, cl, ALIVE, f"p{i}.example.", id=300 + i, sport=sp)
        c.answer(t1 + MS, cl, ALIVE, f"p{i}.example.", sp, id=300 + i)
    sp = c.ask(t + 3 * SEC, "10.5.0.1", HALF, "h1.example.", id=400)  # answers one client
    c.answer(t + 3 * SEC + MS, "10.5.0.1", HALF, "h1.example.", sp, id=400)
    sp = c.ask(t + 3 * SEC, "10.5.0.2", HALF, "h2.example.", id=401)  # ... not the other
    c.ask(t + 4 * SEC, "10.5.0.2", HALF, "h2.example.", id=401, sport=sp)
    for i, (server, rcode) in enumerate([(HALF, 5), (ALIVE, 2), (ALIVE, 2), (HALF, 5)]):
        cl, t1 = f"10.6.0.{i + 1}", t + 6 * SEC + i * MS  # errors tied across servers
        sp = c.ask(t1, cl, server, f"e{i % 2}.example.", id=500 + i)
        c.answer(t1 + MS, cl, server, f"e{i % 2}.example.", sp, id=500 + i, rcode=rcode)
    for i in range(300):  # a scan: silent "servers", each asked twice
        cl, to = f"10.7.{i // 100}.{i % 100 + 1}", f"10.9.{i // 250}.{i % 250 + 1}"
        sp = c.ask(t + 7 * SEC + i * MS, cl, to, f"s{i}.example.", id=600 + i)
        c.ask(t + 8 * SEC + i * MS, cl, to, f"s{i}.example.", id=600 + i, sport=sp)
    return c.write(path)


def outage(path: Path) -> Path:
    c, t = Capture(), T0
    for i in range(110):  # 110 clients ask one name: a storm, left to DNS007
        cl = f"10.1.0.{i + 1}"
        sp = c.ask(t + i * 7 * MS, cl, ALIVE, "kubernetes.default.svc.cluster.local.", id=i)
        c.ask(t + 5 * SEC + i * 7 * MS, cl, ALIVE, "kubernetes.default.svc.cluster.local.",
              id=i, sport=sp)  # fmt: skip
    for i in range(40):
        cl, to = f"10.2.0.{i + 1}", DEAD if i % 3 else ALIVE
        sp = c.ask(t + i * 3 * MS, cl, to, f"u{i}.example.", id=900 + i)
        c.ask(t + SEC + i * 3 * MS, cl, to, f"u{i}.example.", id=900 + i, sport=sp)
    return c.write(path)


@pytest.mark.parametrize(
    ("make", "fired"),
    [(mixed, {"DNS006": "dead nameserver", "DNS007": None, "DNS009": None}),
     (outage, {"DNS006": "outage"})],
)  # fmt: skip
def test_client_shares_judge_to_the_findings_that_span_clients(
    tmp_path: Path, make: object, fired: dict[str, str | None]
) -> None:
    report = dnspcap.analyze(make(tmp_path / "x.pcap"))  # type: ignore[operator]
    tx, lk = report.transactions, report.lookups
    whole = detect(tx, lk, select=CODES)
    assert {f.code: f.details.get("signature") for f in whole} == fired
    for k in (2, 3, 5, 8):
        for salt in range(3):
            same(whole, judge(parted(tx, lk, k, salt), select=CODES))
