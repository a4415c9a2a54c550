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
from dnspcap.findings import REGISTRY, Finding, catalogue, detect

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
    assert "api.example.com (1x)" in f.remediation


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
    # AAAA first twice, once with a collision: serious, because musl matches on ID alone
    assert (found["DNS003"].occurrences, found["DNS003"].severity) == (2, "error")
    lk = dnspcap.lookups(dnspcap.pair(dnspcap.read_messages(SAMPLES / "musl-id-collision.pcap")))
    assert set(lk["resolver"]) == {"musl"}
