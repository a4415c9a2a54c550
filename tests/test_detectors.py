"""Each detector on the samples: fires where its signature is, silent on healthy traffic.

Expected findings are golden files beside the samples (`<capture>.expected.json`);
regenerate them after a reviewed change with DNSPCAP_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import dnspcap
from dnspcap.findings import Finding, catalogue, detect
from dnspcap.findings.registry import REGISTRY

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "crafted"
CAPTURES = sorted(SAMPLES.glob("*.pcap"))
KEPT = ("code", "name", "severity", "confidence", "summary", "clients", "servers", "occurrences",
        "seen", "lookups_affected", "seconds_lost", "frames", "display_filter")  # fmt: skip


def findings(path: Path) -> list[Finding]:
    tx = dnspcap.pair(dnspcap.read_messages(path))
    return detect(tx, dnspcap.lookups(tx))


def projection(found: list[Finding]) -> list[dict[str, Any]]:
    out = []
    for f in found:
        d = f.as_dict()
        out.append({k: d[k] for k in KEPT})
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_findings_match_golden_file(path: Path) -> None:
    golden = path.with_suffix(".expected.json")
    got = projection(findings(path))
    if os.environ.get("DNSPCAP_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(golden.read_text())


def test_healthy_traffic_triggers_nothing() -> None:
    assert findings(SAMPLES / "healthy-glibc.pcap") == []


def test_conntrack_race_sample() -> None:
    found = {f.code: f for f in findings(SAMPLES / "conntrack-race-glibc.pcap")}
    race = found["DNS001"]
    assert (race.occurrences, race.seen, race.lookups_affected) == (2, 4, 2)
    assert race.seconds_lost == pytest.approx(10.0, abs=0.01)
    assert race.clients == ("10.244.1.17",) and race.servers == ("10.96.0.10",)
    assert race.display_filter.startswith("frame.number in {")
    assert "single-request-reopen" in race.remediation
    assert found["DNS004"].details["typical_gap_s"] == pytest.approx(5.0, abs=0.01)
    assert "DNS005" not in found  # FQDNs: no search list


def test_search_list_sample() -> None:
    (f,) = findings(SAMPLES / "search-list-and-tcp-fallback.pcap")
    assert f.code == "DNS005"
    assert f.details["wasted_queries"] == 6
    assert "`api.example.com` (1x)" in f.remediation  # a name to type: a code span


def test_every_detector_is_documented_and_selectable() -> None:
    ds = catalogue()
    assert [d.code for d in ds] == sorted(REGISTRY)
    for d in ds:
        assert "**What it detects.**" in d.doc and "**Fix.**" in d.doc, d.code
    path = SAMPLES / "conntrack-race-glibc.pcap"
    tx = dnspcap.pair(dnspcap.read_messages(path))
    lk = dnspcap.lookups(tx)
    assert {f.code for f in detect(tx, lk, select=["DNS004"])} == {"DNS004"}
    assert "DNS001" not in {f.code for f in detect(tx, lk, ignore=["DNS001"])}
    with pytest.raises(ValueError, match="DNS999"):
        detect(tx, lk, select=["DNS999"])


def test_musl_collision_sample() -> None:
    found = {f.code: f for f in findings(SAMPLES / "musl-id-collision.pcap")}
    assert set(found) == {"DNS002", "DNS003"}
    collision = found["DNS002"]
    assert (collision.occurrences, collision.details["answer_order_breaks_id_matching"]) == (1, 1)
    assert collision.details["ids"] == ["0x5c20"]
    assert collision.clients == ("10.244.2.33",)
    # AAAA first twice, once with a collision: information; the harm (musl matches on ID
    # alone) is DNS002's, at error, and DNS003 points there
    assert (found["DNS003"].occurrences, found["DNS003"].severity) == (2, "info")
    assert "1 had one ID for both: see DNS002" in found["DNS003"].summary
    assert collision.severity == "error"
    lk = dnspcap.lookups(dnspcap.pair(dnspcap.read_messages(SAMPLES / "musl-id-collision.pcap")))
    assert set(lk["resolver"]) == {"musl"}


def test_upstream_trouble_sample() -> None:
    found = {f.code: f for f in findings(SAMPLES / "upstream-trouble.pcap")}
    assert set(found) == {"DNS006", "DNS007", "DNS008", "DNS009", "DNS010"}
    assert found["DNS006"].servers == ("10.0.0.3",) and found["DNS006"].occurrences == 5
    loop = found["DNS007"]
    assert (loop.severity, loop.occurrences) == ("critical", 150)
    (question,) = loop.details["questions"].values()
    assert question["span_s"] == pytest.approx(0.0298, abs=1e-4)
    assert found["DNS008"].clients == ("10.244.2.33",)
    assert found["DNS009"].details["rcodes"] == {"SERVFAIL": 4}
    slow = found["DNS010"]
    assert (slow.occurrences, slow.seen) == (3, 31)
    assert slow.details["p50_s"] == pytest.approx(0.001, abs=1e-4)
    # the loop's same-ID repeats are not resolver retransmissions
    assert "DNS004" not in found


def test_findings_sort_by_severity_and_thresholds_are_options() -> None:
    tx = dnspcap.pair(dnspcap.read_messages(SAMPLES / "upstream-trouble.pcap"))
    lk = dnspcap.lookups(tx)
    found = detect(tx, lk)
    assert [f.severity for f in found][:1] == ["critical"]
    assert not detect(tx, lk, select=["DNS007"], options={"loop_min_queries": 1000})
    assert not detect(
        tx, lk, select=["DNS010"], options={"latency_outlier_s": 2.0, "latency_p99_s": 2.0}
    )
    for d in catalogue():
        for o in d.options:
            assert o.source, (d.code, o.name)


def test_detector_catalogue_page_is_current() -> None:
    from dnspcap.findings.registry import render_catalogue

    page = Path(__file__).resolve().parent.parent / "docs" / "detectors.md"
    assert page.read_text() == render_catalogue(), "run: python scripts/make_docs.py"


def test_mixed_incident_capture_names_the_right_pods() -> None:
    path = SAMPLES / "incident-mixed.pcap"
    tx = dnspcap.pair(dnspcap.read_messages(path))
    lk = dnspcap.lookups(tx)
    resolvers = lk.groupby("client", observed=True)["resolver"].agg(set).to_dict()
    assert resolvers == {
        "10.244.1.17": {"glibc"},
        "10.244.2.33": {"musl"},
        "10.244.3.8": {"glibc"},
        "10.244.4.21": {"glibc"},
        "10.244.4.22": {"glibc"},
    }
    found = {f.code: f for f in detect(tx, lk)}
    assert set(found) == {"DNS001", "DNS002", "DNS003", "DNS004", "DNS005"}
    race = found["DNS001"]
    assert race.clients == ("10.244.1.17",)
    assert (race.occurrences, race.lookups_affected) == (2, 2)
    assert race.seconds_lost == pytest.approx(10.0, abs=0.01)
    assert found["DNS002"].clients == ("10.244.2.33",)
    assert found["DNS005"].clients == ("10.244.3.8",)
    assert found["DNS005"].details["wasted_queries"] == 6
    # the healthy pods appear in no finding
    for f in found.values():
        assert not {"10.244.4.21", "10.244.4.22"} & set(f.clients)


def test_service_without_endpoints_sample() -> None:
    path = SAMPLES / "no-endpoints.pcap"
    messages = dnspcap.read_messages(path)
    errors = messages.attrs["dnspcap"]["icmp_errors"]
    assert len(errors) == 6
    assert errors[0]["reason"] == "port unreachable" and errors[0]["quotes"] == "query"
    assert (errors[0]["client"], errors[0]["server"], errors[0]["id"]) == (
        "10.244.1.17", "10.96.0.10", 0x6101,
    )  # fmt: skip
    tx = dnspcap.pair(messages)
    assert set(tx["status"]) == {"icmp_error"}
    assert set(tx["icmp"]) == {"port unreachable from 10.96.0.10"}
    lk = dnspcap.lookups(tx)
    assert set(lk["outcome"]) == {"failed"}
    found = {f.code: f for f in detect(tx, lk)}
    assert set(found) == {"DNS006", "DNS004"}
    assert (found["DNS006"].occurrences, found["DNS006"].servers) == (4, ("10.96.0.10",))
    assert found["DNS004"].clients == ("10.244.2.33",)  # musl ignores the ICMP and retries


def test_node_capture_pins_the_race_on_this_node() -> None:
    tx = dnspcap.pair(dnspcap.read_messages(SAMPLES / "node-race.pcap"))
    # every query is seen before and after DNAT, but for the lost AAAA's first attempt:
    # only its retry made it past DNAT
    dnat_pairs = tx[tx["nat_peer"] >= 0]
    assert len(dnat_pairs) == 10 and (dnat_pairs["copy_of"] >= 0).sum() == 5
    lost = tx[(tx["qtype"] == "AAAA") & (tx["attempts"] == 2)]
    assert list(lost["server"]) == ["10.96.0.10"]
    assert list(lost["lost_at"]) == ["between node-race and node-race after DNAT"]
    after = tx.loc[int(lost["nat_peer"].iloc[0])]
    assert (after["attempts"], after["copy_of"]) == (1, lost.index[0])
    (race,) = detect(tx, dnspcap.lookups(tx), select=["DNS001"])
    assert race.details["dropped_before_dnat"] == 1
    assert race.summary.endswith("1 seen before DNAT and not after it: dropped on this node")
    # a pod-side capture cannot tell
    pod = dnspcap.pair(dnspcap.read_messages(SAMPLES / "conntrack-race-glibc.pcap"))
    (race,) = detect(pod, dnspcap.lookups(pod), select=["DNS001"])
    assert race.details["dropped_before_dnat"] == 0
