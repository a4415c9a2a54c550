"""Wireshark's own dissection of a finding's packets (Finding.dissect, Report.dissect),
through pyshark and tshark, and the display filters a report prints, as tshark reads them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dnspcap
from dnspcap.errors import CaptureError, DnspcapError

try:
    from .corpus import on_ci
except ImportError:  # pragma: no cover - run as a top-level module
    from corpus import on_ci  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
CRAFTED = ROOT / "samples" / "crafted"
INCIDENT = CRAFTED / "incident-mixed.pcap"


@pytest.fixture(autouse=True)
def _tshark() -> None:
    """Skipped without tshark, except on CI (``CI=true``), which installs it: there a
    missing tshark fails, rather than pass having tested nothing."""
    if shutil.which("tshark") is None:
        if on_ci():
            pytest.fail("tshark is not installed; CI=true, so this is an error", pytrace=False)
        pytest.skip("tshark is not installed")


@pytest.fixture(scope="module")
def incident() -> dnspcap.Report:
    return dnspcap.analyze(INCIDENT)


@pytest.mark.parametrize("sample", ["incident-mixed", "upstream-trouble", "node-race"])
def test_every_display_filter_selects_exactly_the_evidence_in_tshark(sample: str) -> None:
    """Wireshark 4 refuses a set of space-separated numbers: the filters use commas."""
    report = dnspcap.analyze(CRAFTED / f"{sample}.pcap")
    assert report.findings
    for f in report.findings:
        for file, text in f.display_filters.items():
            out = subprocess.run(
                ["tshark", "-r", file, "-Y", text, "-T", "fields", "-e", "frame.number"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            assert [int(n) for n in out.stdout.split()] == sorted(set(f.evidence_frames[file]))


def test_a_finding_dissected_is_its_evidence_packets_as_wireshark_shows_them(
    incident: dnspcap.Report,
) -> None:
    race = incident.findings.code("DNS001")[0]
    packets = race.dissect()
    assert [p.frame for p in packets] == list(race.frames) == [5, 6, 7, 16, 17, 18, 77, 78, 81, 82]
    assert packets.filters == race.display_filters
    m = incident.messages.set_index("frame")
    for p in packets:
        assert p.file == str(INCIDENT)
        assert [layer.layer_name for layer in p.packet.layers] == ["eth", "ip", "udp", "dns"]
        assert int(p.packet.dns.id, 16) == m.loc[p.frame, "id"]
        assert p.packet.dns.qry_name == m.loc[p.frame, "qname"]
    # the whole tree, every layer, as Wireshark words it
    tree = packets[0].tree
    assert "Transaction ID: 0x2107" in tree and "Time to Live: 64" in tree
    assert "Source Port: 42001" in tree and "Type: A (Host Address) (1)" in tree
    text = str(packets)
    assert text.count(f"== {INCIDENT} frame ") == 10 and "Layer DNS" in text
    assert repr(packets) == "<dnspcap.Dissection 10 packets from 1 file>"
    html = packets._repr_html_()
    assert html.count("<details>") == 10 and "frame 5: ETH / IP / UDP / DNS" in html
    assert [p.frame for p in race.dissect(limit=3)] == [5, 6, 7]


def test_any_frames_of_a_report(incident: dnspcap.Report, tmp_path: Path) -> None:
    assert [p.frame for p in incident.dissect([82, 5])] == [5, 82]
    both = dnspcap.analyze([INCIDENT, CRAFTED / "no-endpoints.pcap"])
    with pytest.raises(ValueError, match="reads 2 files: name one"):
        both.dissect([1])
    got = both.dissect({str(CRAFTED / "no-endpoints.pcap"): [2], str(INCIDENT): [1]})
    assert [(Path(p.file).name, p.frame) for p in got] == [
        ("no-endpoints.pcap", 2), ("incident-mixed.pcap", 1)
    ]  # fmt: skip
    assert [p.frame for p in both.dissect([3], file=str(INCIDENT))] == [3]


def test_inside_a_running_event_loop_as_in_jupyter(incident: dnspcap.Report) -> None:
    """Jupyter runs an asyncio loop in the main thread; pyshark cannot run its own there."""

    async def in_a_notebook_cell() -> list[int]:
        return [p.frame for p in incident.findings.code("DNS002")[0].dissect()]

    assert asyncio.run(in_a_notebook_cell()) == list(incident.findings.code("DNS002")[0].frames)


def test_missing_pyshark_or_tshark_is_a_clear_error(
    incident: dnspcap.Report, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    race = incident.findings.code("DNS001")[0]
    with pytest.raises(DnspcapError, match="tshark_path '/nowhere/tshark': no such program"):
        race.dissect(tshark_path="/nowhere/tshark")
    monkeypatch.setenv("PATH", str(tmp_path))  # no tshark on it
    monkeypatch.chdir(tmp_path)  # nor a pyshark config.ini naming one
    with pytest.raises(DnspcapError, match=r"needs tshark, Wireshark's command line \(apt-get"):
        race.dissect()
    for name in [m for m in sys.modules if m.split(".")[0] == "pyshark"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    with pytest.raises(DnspcapError, match=r"needs pyshark: pip install 'dnspcap\[inspect\]'"):
        race.dissect()


def test_a_capture_gone_or_unreadable_names_the_file(tmp_path: Path) -> None:
    capture = tmp_path / "pod.pcap"
    capture.write_bytes(INCIDENT.read_bytes())
    race = dnspcap.analyze(capture).findings.code("DNS001")[0]
    capture.write_bytes(b"not a capture any more\n" * 4)
    unreadable = r"pod\.pcap: tshark could not read it through .*: tshark: The file"
    with pytest.raises(CaptureError, match=unreadable):
        race.dissect()
    capture.unlink()
    with pytest.raises(CaptureError, match=r"pod\.pcap: no such file"):
        race.dissect()
