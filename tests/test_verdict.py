"""The verdict is never OK while a lookup failed or was slow.

Every failed lookup (timed out, SERVFAIL, REFUSED, ICMP) is explained by a finding at
error level or above, every lookup that waited over a second by one at warning level or
above, on every capture the project ships and on the public corpus; where no specific
detector explains one, the catch-alls (DNS011, DNS012) do. Then the cases that used to
read as healthy: Go's resolver, a dead first nameserver in a one-lookup capture, musl
asking both nameservers at once, a total outage, a capture without DNS.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dnspcap
from dnspcap.cli.commands import main
from dnspcap.findings.detectors._util import SEVERITY_RANK, waited

from .corpus import corpus_captures
from .wire import VIP, Q, R, write

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "samples").rglob("*.pcap"))
DEAD = "169.254.20.10"
A1, A2 = "10.96.1.1", "10.96.1.2"


def check_invariant(report: dnspcap.Report) -> None:
    lk, found = report.lookups, report.findings
    if lk.empty:
        return
    failed = np.isin(lk["outcome"].astype(str).to_numpy(), ("timed_out", "failed"))
    slow = waited(report.transactions[report.transactions["copy_of"] < 0], lk) > 1.0
    for bad, level in ((failed, "error"), (slow, "warning")):
        covered = np.zeros(len(lk), bool)
        for f in found:
            if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[level]:
                covered[list(f.lookups)] = True
        missing = np.flatnonzero(bad & ~covered)
        assert not len(missing), (level, lk.iloc[missing][["name", "outcome", "duration"]])
    if failed.any() or slow.any():
        assert report.worst in ("warning", "error", "critical")


@pytest.mark.parametrize("capture", SHIPPED, ids=lambda p: p.name)
def test_no_failed_or_slow_lookup_goes_unexplained_in_a_shipped_capture(capture: Path) -> None:
    check_invariant(dnspcap.analyze(capture))


@pytest.mark.corpus
@pytest.mark.parametrize("capture", corpus_captures())
def test_no_failed_or_slow_lookup_goes_unexplained_in_the_corpus(capture: Path) -> None:
    try:
        report = dnspcap.analyze(capture)
    except dnspcap.CaptureError:
        return  # the reader's own corpus test covers the files it cannot read
    check_invariant(report)


def test_catch_alls_explain_what_the_ignored_detectors_would_have() -> None:
    race = dnspcap.analyze(
        ROOT / "samples" / "crafted" / "conntrack-race-glibc.pcap", ignore=["DNS001", "DNS004"]
    )
    (slow,) = race.findings
    assert (slow.code, slow.severity, slow.lookups_affected) == ("DNS012", "warning", 2)
    assert "2 lookups took over 1 s" in slow.summary
    check_invariant(race)
    outage = dnspcap.analyze(
        ROOT / "samples" / "lab" / "captures" / "blackhole.pcap", ignore=["DNS006", "DNS004"]
    )
    (failed,) = outage.findings
    assert (failed.code, failed.severity, failed.lookups_affected) == ("DNS011", "error", 2)
    assert "outcomes timed_out (2)" in failed.summary
    check_invariant(outage)


# --- the captures that used to say OK --------------------------------------------------


def _report(tmp_path: Path, events: list[Q | R], **kw: object) -> dnspcap.Report:
    return dnspcap.analyze(write(tmp_path / "c.pcap", events), **kw)  # type: ignore[arg-type]


def test_go_lost_aaaa_is_a_retry_from_a_new_socket_with_a_new_id(tmp_path: Path) -> None:
    # Go: A and AAAA from two sockets; the AAAA lost; asked again 5 s later from a new
    # port with a new ID, lost again; the lookup returns the A alone at 10 s
    name = "api.example.com."
    report = _report(
        tmp_path,
        [
            Q(0.0, 41000, 0x1001, name, "A"),
            Q(0.0001, 41002, 0x2002, name, "AAAA"),
            R(0.001, 41000, 0x1001, name, "A", answer="93.184.215.14"),
            Q(5.0003, 41004, 0x3003, name, "AAAA"),
            Q(12.0, 41010, 0x4004, "later.example.com.", "A"),  # the capture goes on
            R(12.001, 41010, 0x4004, "later.example.com.", "A", answer="93.184.215.15"),
        ],
    )
    found = {f.code: f for f in report.findings}
    assert "DNS001" not in found  # two sockets: no conntrack race on one 5-tuple
    retry = found["DNS004"]
    assert retry.details["how"] == {"new_socket": 1}
    assert retry.details["typical_gap_s"] == pytest.approx(5.0, abs=0.01)
    assert retry.lookups_affected == 1 and retry.severity == "warning"
    lk = report.lookups.set_index("name")
    assert lk.loc["api.example.com", "resolver"] == "go"
    assert "new socket with a new ID" in lk.loc["api.example.com", "resolver_evidence"]
    check_invariant(report)


def test_glibc_failing_over_from_a_dead_first_nameserver_in_one_lookup(tmp_path: Path) -> None:
    # timeout:2 attempts:2; A+AAAA to the dead server, both to the VIP 2 s later from a
    # new port with the same IDs: one curl in a pod (the TKE stale-nameserver incident)
    name = "db.prod.svc.cluster.local."
    report = _report(
        tmp_path,
        [
            Q(0.0, 42000, 0x3A1F, name, "A", server=DEAD),
            Q(0.00006, 42000, 0xC7E2, name, "AAAA", server=DEAD),
            Q(2.0001, 42001, 0x3A1F, name, "A"),
            Q(2.00016, 42001, 0xC7E2, name, "AAAA"),
            R(2.001, 42001, 0x3A1F, name, "A", answer=A1),
            R(2.0012, 42001, 0xC7E2, name, "AAAA"),
        ],
    )
    found = {f.code: f for f in report.findings}
    dead = found["DNS006"]
    assert (dead.severity, dead.servers) == ("error", (DEAD,))
    assert dead.details["failover_delay_s"] == pytest.approx(2.0, abs=0.01)
    assert "1 lookup waited 2.0 s for it before failing over to 10.96.0.10" in dead.summary
    assert found["DNS004"].details["how"] == {"failover": 2}
    assert report.lookups["resolver"].tolist() == ["glibc"]
    check_invariant(report)


def test_musl_asking_both_nameservers_at_once_reports_the_silent_one(tmp_path: Path) -> None:
    name = "api.example.com."
    report = _report(
        tmp_path,
        [
            Q(0.0, 43000, 0x0141, name, "A", server=DEAD),
            Q(0.00002, 43000, 0x0141, name, "A"),
            Q(0.00006, 43000, 0x0288, name, "AAAA", server=DEAD),
            Q(0.00008, 43000, 0x0288, name, "AAAA"),
            R(0.001, 43000, 0x0141, name, "A", answer=A1),
            R(0.0012, 43000, 0x0288, name, "AAAA"),
        ],
    )
    (dead,) = report.findings
    assert (dead.code, dead.severity, dead.servers) == ("DNS006", "error", (DEAD,))
    assert "2 of its questions went to another server at the same time" in dead.summary
    assert dead.seconds_lost == 0.0  # musl did not wait for it


def test_a_total_outage_is_the_headline_at_error(tmp_path: Path) -> None:
    # glibc resends at 5 s, musl at 2.5 s: their own retries prove the timeouts
    report = _report(
        tmp_path,
        [
            Q(0.0, 44000, 0xB1, "db.prod.svc.cluster.local.", "A"),
            Q(0.00006, 44000, 0xB2, "db.prod.svc.cluster.local.", "AAAA"),
            Q(0.5, 44100, 0x0300, "api.example.com.", "A", client="10.244.1.33"),
            Q(3.0, 44100, 0x0300, "api.example.com.", "A", client="10.244.1.33"),
            Q(5.0001, 44000, 0xB1, "db.prod.svc.cluster.local.", "A"),
            Q(5.0002, 44000, 0xB2, "db.prod.svc.cluster.local.", "AAAA"),
        ],
    )
    top = report.findings[0]
    assert (top.code, top.severity, top.servers) == ("DNS006", "error", (VIP,))
    assert top.details["signature"] == "outage"
    assert top.summary.startswith(
        "nothing answered: 10.96.0.10 answered none of 3 queries from 2 clients (6 sent"
    )
    assert set(report.lookups["outcome"].astype(str)) == {"timed_out"}  # not "pending"
    check_invariant(report)


def test_a_capture_of_one_direction_is_not_called_an_outage(tmp_path: Path) -> None:
    # queries only, nobody asked again: the answers came but were not captured
    report = _report(
        tmp_path,
        [Q(float(k), 45000 + k, k, f"n{k}.example.com.") for k in range(8)],
    )
    codes = [f.code for f in report.findings]
    assert "DNS006" not in codes and codes == ["DNS011"]
    assert report.findings[0].summary.endswith("does the capture see replies?")


def test_a_capture_without_dns_is_not_healthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    report = dnspcap.analyze(empty)
    assert report.no_dns and report.findings == []
    doc = json.loads(report.render("json"))
    assert doc["verdict"]["status"] == "no_dns" and doc["verdict"]["severity"] is None
    for fail_on in ("info", "critical"):
        assert main(["analyze", str(empty), "--fail-on", fail_on]) == 1
    out = capsys.readouterr().out
    assert out.startswith("VERDICT: NO DNS No DNS traffic in the capture")
    assert "the file holds no packets at all" in out
    # a capture of other traffic says what it held
    icmp = ROOT.parent / "shared" / "corpus" / "dnscap" / "icmp.pcap"
    if icmp.exists():
        text = dnspcap.analyze(icmp).render("text")
        assert "2 packets: ICMPv6 1, ICMP 1" in text


def test_a_response_stamped_before_its_query_answers_it(tmp_path: Path) -> None:
    # -i any stamps packets with per-CPU clocks: the answer 20 µs "before" its query
    report = _report(
        tmp_path,
        [
            Q(0.0, 46000, 0xC1, "a.example.com.", "A"),
            R(0.00098, 46000, 0xC1, "a.example.com.", "A", answer=A1),
            Q(0.001, 46000, 0xC2, "b.example.com.", "A"),
            R(0.00098, 46000, 0xC2, "b.example.com.", "A", answer=A2),
        ],
    )
    tx = report.transactions
    assert list(tx["status"]) == ["answered", "answered"]
    assert tx["rtt"].tolist() == pytest.approx([0.00098, 0.0])
    assert tx.attrs["dnspcap"]["skewed_responses"] == 1
    # ... but not one stamped 1 ms before: that is no clock's doing
    far = _report(tmp_path, [R(0.0, 46000, 1, "c.example.com.", answer=A1),
                             Q(0.001, 46000, 1, "c.example.com.")])  # fmt: skip
    assert sorted(far.transactions["status"].astype(str)) == ["pending", "response_without_query"]


def test_a_sample_with_every_answer_stamped_early_gives_the_same_findings(tmp_path: Path) -> None:
    sample = ROOT / "samples" / "crafted" / "incident-mixed.pcap"
    whole = dnspcap.analyze(sample)
    m = dnspcap.read_messages(sample)
    m["ts"] = m["ts"] - pd.to_timedelta(np.where(m["qr"], 20_000, 0), unit="ns")
    tx = dnspcap.pair(m)
    found = dnspcap.detect(tx, dnspcap.lookups(tx))
    assert [(f.code, f.occurrences) for f in found] == [
        (f.code, f.occurrences) for f in whole.findings
    ]


def test_an_answer_without_a_question_answers_the_one_query_waiting(tmp_path: Path) -> None:
    tx = _report(
        tmp_path,
        [
            Q(0.0, 47000, 0xD1, "x.example.com.", "SOA"),
            R(0.001, 47000, 0xD1, "x.example.com.", "SOA", rcode=4, question=False),
        ],
    ).transactions
    assert (tx["status"].tolist(), tx["rcode"].tolist()) == (["answered"], ["NOTIMP"])
    # two queries waiting on that socket and ID (a musl collision): which one it answers
    # cannot be told, so it stays on its own
    two = _report(
        tmp_path,
        [
            Q(0.0, 47000, 0xD2, "y.example.com.", "A"),
            Q(0.00006, 47000, 0xD2, "y.example.com.", "AAAA"),
            R(0.001, 47000, 0xD2, "y.example.com.", "A", rcode=1, question=False),
        ],
    ).transactions
    assert "response_without_query" in set(two["status"].astype(str))


def test_capture_end_decides_pending_or_timed_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "c.pcap", [Q(0.0, 48000, 0xE1, "z.example.com.")])
    assert dnspcap.analyze(path).transactions["status"].tolist() == ["pending"]
    t0 = dnspcap.read_messages(path)["ts"].iloc[0]
    later = dnspcap.analyze(path, capture_end=t0 + pd.Timedelta(seconds=30))
    assert later.transactions["status"].tolist() == ["unanswered"]
    assert [f.code for f in later.findings] == ["DNS011"]
    iso = (t0 + pd.Timedelta(seconds=30)).isoformat()
    assert main(["analyze", str(path), "--capture-end", iso, "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["findings"][0]["code"] == "DNS011"
    assert main(["analyze", str(path), "--capture-end", "yesterday-ish"]) == 2  # one line
    assert capsys.readouterr().err.startswith("dnspcap: error: --capture-end 'yesterday-ish'")
