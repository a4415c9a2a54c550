"""dnspcap watch: a capture streamed through the watch says what analyze says of it.

Every sample is fed to the engine a few messages at a time (the way a slow pipe hands
them over), stepped after each piece; the findings it announces must be those analyze
finds in the whole file (the same codes: none missed, none invented by a partial view).
The command line is then run on standard input, on a file that grows while it is
watched, and on bad input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import dnspcap
from dnspcap.watch import live
from dnspcap.watch.engine import Engine, Event

from .synthetic import make_capture

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(
    p for p in (ROOT / "samples").rglob("*") if p.suffix in (".pcap", ".pcapng") and p.is_file()
)
DNSPCAP = [sys.executable, "-m", "dnspcap.cli"]


def stream(
    path: Path, piece: int, every: int | None = None, spill: Path | None = None
) -> tuple[Engine, list[Event], int]:
    """The engine's lines for the capture fed ``piece`` messages at a time (a step after
    each; ``every``: its parts merged that many at a time; ``spill``: the folder they are
    kept in); the most messages it held at once."""
    m = dnspcap.read_messages(path)
    engine = Engine(spill=spill)
    engine.merge_every = every or engine.merge_every
    events: list[Event] = []
    most = 0
    for i in range(0, len(m), piece):
        part = m.iloc[i : i + piece]
        part.attrs = m.attrs
        engine.feed(part)
        events += engine.step()
        most = max(most, engine.held)
    events += engine.step(end=True)
    return engine, events, most


def test_every_sample_is_here() -> None:
    assert len(SAMPLES) >= 50  # crafted, lab and the lab's vantage points


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(ROOT / "samples")))
def test_watch_announces_what_analyze_finds(path: Path) -> None:
    found = {f.code for f in dnspcap.analyze(path).findings}
    engine, events, _ = stream(path, piece=7)
    assert {e.code for e in events} == found
    assert engine.held == 0  # the end made everything final


def test_memory_follows_the_traffic_not_the_length(tmp_path: Path) -> None:
    """A busy node's traffic over 200 s: the watch lets go of what is final, and still
    announces what analyze finds."""
    path = tmp_path / "long.pcap"
    make_capture(path, 20_000, 3, pps=100)
    found = {f.code for f in dnspcap.analyze(path).findings}
    engine, events, most = stream(path, piece=500)
    assert engine.seq > 19_000
    assert most < engine.seq / 4  # about 73 s of 200 held at most
    assert {e.code for e in events} == found
    assert "DNS001" in found  # the race is among them


def test_a_race_is_announced_before_its_lookup_is_final() -> None:
    path = ROOT / "samples/crafted/conntrack-race-glibc.pcap"
    m = dnspcap.read_messages(path)
    engine = Engine()
    for i in range(len(m)):
        part = m.iloc[i : i + 1]
        part.attrs = m.attrs
        engine.feed(part)
        got = [e for e in engine.step() if e.code == "DNS001"]
        if got:
            break
    else:
        pytest.fail("the race was not announced before the end")
    # the first packet a second after its evidence confirms it (this capture's next one
    # is 4 s later), long before its lookup is final (12 s after its last query)
    assert engine.now - got[0].time >= 1e9
    assert engine.now < m["ts"].max().value
    assert engine.lookups_done == 0
    assert "lost one query" in got[0].summary and "frame.number" in got[0].display_filter


def run(*args: str, stdin: object = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DNSPCAP, *args], stdin=stdin, capture_output=True, text=True, timeout=timeout,
        cwd=ROOT, check=False,
    )  # fmt: skip


def findings_of(report: dict[str, object]) -> list[tuple[object, ...]]:
    return [
        (f["code"], f["summary"], f["occurrences"], f["seen"], f["first"], f["last"])  # type: ignore[index]
        for f in report["findings"]  # type: ignore[attr-defined]
    ]


def test_stdin_stream_report_equals_analyze(tmp_path: Path) -> None:
    path = ROOT / "samples/crafted/incident-mixed.pcap"
    out = tmp_path / "watch.json"
    with open(path, "rb") as f:
        done = run("watch", "-", "-o", str(out), stdin=f)
    assert done.returncode == 1, done.stderr  # errors found, --fail-on error
    lines = done.stdout.splitlines()
    assert {line.split()[1] for line in lines} == {"DNS001", "DNS002", "DNS003", "DNS004", "DNS005"}
    batch = run("analyze", str(path), "--format", "json")
    assert findings_of(json.loads(out.read_text())) == findings_of(json.loads(batch.stdout))


def test_file_report_is_analyze_report(tmp_path: Path) -> None:
    path = ROOT / "samples/crafted/upstream-trouble.pcap"
    out = tmp_path / "watch.json"
    done = run("watch", str(path), "--no-follow", "-o", str(out), "--fail-on", "critical")
    batch = run("analyze", str(path), "--format", "json", "--fail-on", "critical")
    assert out.read_text() == batch.stdout
    assert done.returncode == batch.returncode == 1  # DNS007 is critical
    assert "DNS007 critical" in done.stdout


def test_a_growing_file_is_followed(tmp_path: Path) -> None:
    """The file is written in two parts, the first cut inside a record: the watch waits
    for the rest and announces what the whole capture shows."""
    data = (ROOT / "samples/crafted/conntrack-race-glibc.pcap").read_bytes()
    path = tmp_path / "growing.pcap"
    path.write_bytes(data[: len(data) // 2 + 5])

    def write_rest() -> None:
        time.sleep(1.5)
        with open(path, "ab") as f:
            f.write(data[len(data) // 2 + 5 :])

    writer = threading.Thread(target=write_rest)
    writer.start()
    done = run("watch", str(path), "--duration", "4", "--no-report")
    writer.join()
    codes = {line.split()[1] for line in done.stdout.splitlines()}
    assert codes == {"DNS001", "DNS004"}, done.stdout + done.stderr
    assert done.returncode == 1
    assert "Traceback" not in done.stderr


def split_pcap(data: bytes, at: int) -> tuple[bytes, bytes]:
    """A classic pcap as two files: its first ``at`` records, and the rest."""
    head, pos, n = data[:24], 24, 0
    little = data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    while n < at:
        pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "little" if little else "big")
        n += 1
    return data[:pos], head + data[pos:]


def test_the_next_file_of_a_rotated_set_is_followed(tmp_path: Path) -> None:
    """tcpdump -C: the watch follows pod.pcap, then pod.pcap1 once it appears; the
    report is that of the two files as one recording."""
    sample = ROOT / "samples/crafted/incident-mixed.pcap"
    first, second = split_pcap(sample.read_bytes(), 40)
    (tmp_path / "pod.pcap").write_bytes(first)
    out = tmp_path / "report.json"

    def rotate() -> None:
        time.sleep(1.5)
        (tmp_path / "pod.pcap1").write_bytes(second)

    writer = threading.Thread(target=rotate)
    writer.start()
    done = run("watch", str(tmp_path / "pod.pcap"), "--duration", "5", "-o", str(out))
    writer.join()
    codes = {line.split()[1] for line in done.stdout.splitlines()}
    assert codes == {f.code for f in dnspcap.analyze(sample).findings}, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert [f["code"] for f in report["findings"]] == [
        f.code for f in dnspcap.analyze(sample).findings
    ]


def test_not_a_capture_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not a pcap\n" * 10)
    with open(bad, "rb") as f:
        done = run("watch", "-", stdin=f)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not a pcap or pcapng file" in done.stderr
    done = run("watch", str(tmp_path / "missing.pcap"))
    assert done.returncode == 2 and "missing.pcap" in done.stderr


def test_usage_errors() -> None:
    assert run("watch").returncode == 2
    both = run("watch", "-", "-i", "eth0")
    assert both.returncode == 2 and "not both" in both.stderr
    assert "--netns needs -i" in run("watch", "-", "--netns", "1").stderr


def test_live_capture_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live.shutil, "which", lambda name: None)
    with pytest.raises(live.LiveError, match="needs tcpdump or dumpcap"):
        live.command("eth0", None, [53])
    monkeypatch.setattr(live.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(live.os, "geteuid", lambda: 1000)
    with pytest.raises(live.LiveError, match="needs root"):
        live.command("eth0", "1234", [53])
    monkeypatch.setattr(live.os, "geteuid", lambda: 0)
    with pytest.raises(live.LiveError, match="no such process"):
        live.command("eth0", "999999999", [53])
    with pytest.raises(live.LiveError, match="no such network namespace"):
        live.command("eth0", "no-such-ns", [53])
    cmd = live.command("eth0", str(os.getpid()), [53, 5300])
    assert cmd[:4] == ["/usr/bin/nsenter", "-t", str(os.getpid()), "-n"]
    assert "port 53 or port 5300" in cmd[-1]


@pytest.mark.skipif(os.geteuid() != 0, reason="a live capture needs root")
def test_a_missing_interface_is_one_line() -> None:
    done = run("watch", "-i", "no-such-if0", "--duration", "5")
    assert done.returncode == 2
    assert "no-such-if0" in done.stderr and "Traceback" not in done.stderr
