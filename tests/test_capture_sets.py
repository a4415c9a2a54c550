"""One capture set, one truth: a rotated set is the capture it was cut from.

Every sample is cut into a rotated set at packet boundaries (two and three files, at
chosen and at random points) and analysed as the files tcpdump -C would have written;
messages (but for their file and frame), transactions, lookups and findings must be
those of the whole capture, and each finding's evidence must be the same packets.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dnspcap

from . import rotate
from .craft import (
    CLIENT4,
    SERVER4,
    Rec,
    block,
    dns_query,
    dns_response,
    epb,
    frame,
    idb,
    pcap,
    pcapng_options,
    shb,
    tcp4,
    udp4,
    units,
)
from .wire import Q, R, write

A1 = "93.184.215.14"

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").rglob("*.pcap"))


def _cuts(n: int, seed: str) -> list[list[int]]:
    """Where to cut a capture of n packets: the middle, next to either end, and random
    two- and three-way cuts (the same ones on every run)."""
    if n < 2:
        return []
    rng = random.Random(seed)
    out = [[n // 2], [1], [n - 1]]
    out += [[rng.randrange(1, n)] for _ in range(3)]
    if n >= 3:
        out += [sorted(rng.sample(range(1, n), 2)) for _ in range(2)]
    return out


def _global(m: pd.DataFrame, files: list[Path]) -> np.ndarray:
    """Each message's packet number in the whole capture, from its file and frame."""
    sizes = [rotate.packet_count(f) for f in files]
    offset = dict(zip((str(f) for f in files), np.cumsum([0, *sizes[:-1]]), strict=True))
    return m["frame"].to_numpy() + m["file"].astype(str).map(offset).to_numpy(np.int64)


def _evidence(f: dnspcap.Finding, files: list[Path]) -> list[int]:
    sizes = [rotate.packet_count(p) for p in files]
    offset = dict(zip((str(p) for p in files), np.cumsum([0, *sizes[:-1]]), strict=True))
    return sorted(int(offset[file]) + fr for file, fs in f.evidence_frames.items() for fr in fs)


def _same_findings(whole: dnspcap.Report, part: dnspcap.Report, files: list[Path]) -> None:
    keep = ("code", "severity", "summary", "occurrences", "seen", "lookups", "clients",
            "servers", "details")  # fmt: skip
    got = [{k: getattr(f, k) for k in keep} for f in part.findings]
    want = [{k: getattr(f, k) for k in keep} for f in whole.findings]
    assert got == want
    for f, g in zip(whole.findings, part.findings, strict=True):
        assert round(f.seconds_lost, 3) == round(g.seconds_lost, 3)
        assert _evidence(g, files) == list(f.frames), f.code


def _tables(report: dnspcap.Report) -> dict[str, pd.DataFrame]:
    drop = ["file", "vantage", "query_frames", "response_frames"]
    return {
        "transactions": report.transactions.drop(columns=[*drop, "seen_at", "lost_at"]),
        "lookups": report.lookups.drop(columns=["client"]).assign(
            client=report.lookups["client"].astype(str)
        ),
    }


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_a_sample_cut_into_a_rotated_set_gives_the_same_analysis(
    sample: Path, tmp_path: Path
) -> None:
    whole = dnspcap.analyze(sample)
    n = rotate.packet_count(sample)
    for k, cuts in enumerate(_cuts(n, sample.name)):
        files = rotate.split(sample, cuts, tmp_path / str(k), name="cap")
        part = dnspcap.analyze(files)
        vantages = part.stats["vantages"]
        assert len(vantages) == 1 and vantages[0]["how"].startswith("a rotated set"), cuts
        m, w = part.messages, whole.messages
        assert (_global(m, files) == w["frame"].to_numpy()).all(), cuts
        cols = [c for c in w.columns if c not in ("file", "vantage", "frame")]
        pd.testing.assert_frame_equal(m[cols], w[cols], check_categorical=False)
        for name, table in _tables(part).items():
            pd.testing.assert_frame_equal(
                table, _tables(whole)[name], check_categorical=False, obj=f"{name} {cuts}"
            )
        _same_findings(whole, part, files)


def test_the_files_of_a_rotated_set_may_come_in_any_order(tmp_path: Path) -> None:
    sample = ROOT / "samples" / "crafted" / "conntrack-race-glibc.pcap"
    files = rotate.split(sample, [5, 12, 18], tmp_path, name="x")
    whole = dnspcap.analyze(sample)
    shuffled = dnspcap.analyze(list(reversed(files)))
    assert [f.summary for f in shuffled.findings] == [f.summary for f in whole.findings]
    # read in time order (x.pcap0 first), as the files were written
    assert shuffled.stats["files"] == [str(f) for f in files]


def test_a_tcp_message_cut_across_two_files_is_reassembled(tmp_path: Path) -> None:
    # the answer of a TCP exchange in two segments, the cut between them
    q, r = dns_query("big.example.com", "TXT", id=7), dns_response("big.example.com", id=7)
    framed = struct.pack(">H", len(r)) + r
    pkts = [
        tcp4(struct.pack(">H", len(q)) + q, seq=1, sport=40000, dport=53),
        tcp4(framed[:10], seq=1, src=SERVER4, dst=CLIENT4, sport=53, dport=40000),
        tcp4(framed[10:], seq=11, src=SERVER4, dst=CLIENT4, sport=53, dport=40000),
    ]
    whole = tmp_path / "one.pcap"
    t0 = 1_764_000_000_000_000_000
    whole.write_bytes(pcap([Rec(frame(1, p), t0 + i * 1000) for i, p in enumerate(pkts)]))
    files = rotate.split(whole, [2], tmp_path / "set", name="tcp")
    m = dnspcap.read_messages(files)
    assert list(m["qr"]) == [False, True] and (m["error"] == "").all()
    assert list(m["file"].astype(str)) == [str(files[0]), str(files[1])]


def test_files_of_two_places_at_once_are_two_vantage_points(tmp_path: Path) -> None:
    # the same stem, times that overlap: not a rotated set (two pods' captures)
    one, two = "10.244.1.17", "10.244.2.9"
    a = write(
        tmp_path / "pod1.pcap",
        [Q(0.0, 40000, 1, "a.example.com", client=one),
         R(1.0, 40000, 1, "a.example.com", answer="1.2.3.4", client=one)],
    )  # fmt: skip
    b = write(
        tmp_path / "pod2.pcap",
        [Q(0.2, 40001, 2, "b.example.com", client=two),
         R(0.3, 40001, 2, "b.example.com", answer="1.2.3.5", client=two)],
    )  # fmt: skip
    m = dnspcap.read_messages([a, b])
    vantages = m.attrs["dnspcap"]["vantages"]
    assert [v["name"] for v in vantages] == ["pod1.pcap", "pod2.pcap"]
    assert "overlap" in vantages[0]["how"]
    assert set(m["vantage"].astype(str)) == {"pod1.pcap", "pod2.pcap"}
    assert list(m["ts"]) == sorted(m["ts"])  # several vantage points: merged in time order


def test_the_user_names_vantage_points(tmp_path: Path) -> None:
    sample = ROOT / "samples" / "crafted" / "healthy-glibc.pcap"
    files = rotate.split(sample, [3], tmp_path, name="a")
    names = ("first.pcap", "second.pcap")
    renamed = [f.rename(tmp_path / n) for f, n in zip(files, names, strict=True)]
    guessed = dnspcap.read_messages(renamed)  # names that do not say: two vantage points
    assert len(guessed.attrs["dnspcap"]["vantages"]) == 2
    named = dnspcap.read_messages(renamed, vantages={"pod": ["*.pcap"]})
    (v,) = named.attrs["dnspcap"]["vantages"]
    assert v["name"] == "pod" and v["how"].startswith("named by the user")
    assert dnspcap.analyze(renamed, vantages={"pod": ["*.pcap"]}).findings == []


def test_pcapng_interface_statistics_say_when_the_capture_ended(tmp_path: Path) -> None:
    t0 = 1_764_000_000_000_000_000
    q = frame(1, udp4(dns_query("a.example.com", id=9), sport=40000, dport=53))
    end = units(t0 + 3_000_000_000)  # the capture ran 3 s past the query
    isb_body = struct.pack("<III", 0, end >> 32, end & 0xFFFFFFFF) + pcapng_options(
        [(3, struct.pack("<II", end >> 32, end & 0xFFFFFFFF))]
    )
    path = tmp_path / "c.pcapng"
    path.write_bytes(shb() + idb(1) + epb(0, units(t0), q) + block(5, isb_body))
    for engine in ("auto", "python"):
        m = dnspcap.read_messages(path, engine=engine)  # type: ignore[arg-type]
        assert m.attrs["dnspcap"]["capture_end"] == {"c": t0 + 3_000_000_000}
    # 3 s is within a resolver timeout: pending; a later end: it timed out
    assert list(dnspcap.pair(m)["status"]) == ["pending"]
    later = dnspcap.pair(m, capture_end=pd.Timestamp(t0 + 6_000_000_000, tz="UTC"))
    assert list(later["status"]) == ["unanswered"]


VANTAGE = ROOT / "samples" / "lab" / "captures" / "vantage"


@pytest.mark.parametrize("resolver", ["glibc", "musl"])
def test_pod_node_and_dns_pod_captures_of_one_race_tell_one_story(resolver: str) -> None:
    # one run recorded at three places at once (samples/lab: race-*-vantage)
    files = [VANTAGE / f"race-{resolver}-{where}.pcap" for where in ("pod", "node", "dns")]
    pod = dnspcap.analyze(files[0])
    report = dnspcap.analyze(files)
    names = [f"race-{resolver}-{w}" for w in ("pod", "node", "dns")]
    assert [v["name"] for v in report.stats["vantages"]] == names
    tx = report.transactions
    info = tx.attrs["dnspcap"]
    assert info["vantage_order"] == names  # from the round trips, whatever the clocks say
    assert abs(info["clock_offsets_s"][names[1]]) < 1e-3
    # each query counted once, on the pod's sighting; the others are its copies
    counted = tx[tx["copy_of"] < 0]
    assert set(counted["vantage"].astype(str)) == {names[0]}
    assert len(counted) == len(pod.transactions)
    # the same findings as the pod alone: the race counted once, its time lost once ...
    summary = [(f.code, f.occurrences, f.seen, f.lookups_affected) for f in report.findings]
    assert summary == [(f.code, f.occurrences, f.seen, f.lookups_affected) for f in pod.findings]
    race = report.findings.code("DNS001")[0]
    assert race.seconds_lost == pytest.approx(pod.findings.code("DNS001")[0].seconds_lost)
    # ... and the drop located: seen at the node before DNAT, not after it
    assert race.details["dropped_at"] == [names[1]]
    assert race.summary.endswith(f"dropped on {names[1]}")
    lost = counted[counted["lost_at"] != ""]
    assert set(lost["lost_at"]) == {f"between {names[1]} and {names[1]} after DNAT"}
    assert all(
        s.startswith(f"{names[0]} > {names[1]} > {names[1]} after DNAT") for s in lost["seen_at"]
    )
    # the evidence shows every sighting, with a display filter per file
    assert set(race.display_filters) == {str(f) for f in files}
    assert race.display_filter == ""  # three files: no one filter fits them all
    text = report.render("text")
    assert "Wireshark display filter per file" in text and "vantage points" in text


def test_a_query_that_reached_the_dns_pod_unanswered_is_the_servers(tmp_path: Path) -> None:
    # the pod's capture and the DNS pod's: the query got there (after DNAT), twice, and
    # nothing came back; the other one was answered
    dns_pod = "10.244.0.5"
    pod = write(
        tmp_path / "pod.pcap",
        [Q(0.0, 40000, 5, "x.example.com."), Q(5.0, 40000, 5, "x.example.com."),
         Q(11, 40001, 6, "y.example.com."), R(11.001, 40001, 6, "y.example.com.", answer=A1)],
    )  # fmt: skip
    dns = write(
        tmp_path / "dns.pcap",
        [Q(0.0001, 40000, 5, "x.example.com.", server=dns_pod),
         Q(5.0001, 40000, 5, "x.example.com.", server=dns_pod),
         Q(11.0001, 40001, 6, "y.example.com.", server=dns_pod),
         R(11.0009, 40001, 6, "y.example.com.", answer=A1, server=dns_pod)],
    )  # fmt: skip
    tx = dnspcap.analyze([pod, dns]).transactions
    counted = tx[tx["copy_of"] < 0].set_index("qname")
    assert list(counted["vantage"].astype(str)) == ["pod", "pod"]
    assert counted.loc["x.example.com", "lost_at"] == "no answer came back to dns"
    assert counted.loc["y.example.com", "lost_at"] == ""
    assert set(counted["seen_at"]) == {"pod > dns"}
