"""The report at the end of a watch is made of the parts the watch let go (their scans,
merged as it went), and of the evidence frames read back: not of the capture read again.
It must be analyze's report of the capture, byte for byte, on every sample and every
public capture, however the stream was cut into steps; on a long capture the watch's
memory of its past stays small.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import dnspcap
from dnspcap.errors import DnspcapError
from dnspcap.findings.scan import Part
from dnspcap.reading.arriving import read_arriving
from dnspcap.report import Report, render
from dnspcap.report.formats import build, figure_pngs
from dnspcap.report.summary import evidence_messages
from dnspcap.watch import compact
from dnspcap.watch.engine import RECENT_BUCKET_NS, RECENT_NS, Engine
from dnspcap.watch.messages import concat
from dnspcap.watch.readback import read_back

from .corpus import corpus_captures
from .synthetic import make_capture
from .test_watch import stream

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(
    p for p in (ROOT / "samples").rglob("*") if p.suffix in (".pcap", ".pcapng") and p.is_file()
)


def watched(
    path: Path, piece: int, every: int = compact.COMPACT_PARTS, spill: Path | None = None
) -> tuple[Engine, Report]:
    """The engine fed the capture ``piece`` messages at a time (a step after each), its
    parts merged ``every`` at a time (``spill``: kept in that folder), and its report at
    the end (its evidence the messages it kept, as a watch of a stream makes it)."""
    engine, _, _ = stream(path, piece, every, spill)
    return engine, engine.report()


def read_again(path: Path) -> Callable[[dict[str, set[int]]], pd.DataFrame]:
    """The evidence read from the file again, as a watch of followed files has it."""
    return lambda frames: read_back([str(path)], frames, ports=(53,), multicast=False)


def same_report(path: Path, got: Report) -> None:
    want = dnspcap.analyze(path)
    for fmt in ("text", "json"):
        assert render(got, fmt) == render(want, fmt), fmt


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(ROOT / "samples")))
def test_the_report_of_a_watch_is_analyze_report_on_every_sample(path: Path) -> None:
    _, report = watched(path, piece=7)
    same_report(path, report)


@pytest.mark.parametrize("capture", corpus_captures())
def test_the_report_of_a_watch_is_analyze_report_on_the_corpus(capture: Path) -> None:
    try:
        m = dnspcap.read_messages(capture)
    except DnspcapError:
        pytest.skip("not a capture we read")  # test_corpus says which and why
    if not (m["service"] == "dns").any():
        pytest.skip("no DNS message")
    # parts merged two at a time: the merging is exercised on captures of a few steps
    _, report = watched(capture, piece=50, every=2)
    same_report(capture, report)


def test_a_long_watch_keeps_a_small_past(tmp_path: Path) -> None:
    """200 s of a busy node's traffic, stepped every 500 messages (40 steps): the parts
    are merged as they come, the findings are analyze's. Its clients have a lookup a
    minute each, so a few of their first search-list chains end before the watch has
    seen their search list (analyze learns it from the whole capture): a few lookups in
    a thousand are grouped differently (docs/watch.md)."""
    path = tmp_path / "long.pcap"
    make_capture(path, 20_000, 3, pps=100)
    engine, report = watched(path, piece=500, every=4)
    want = dnspcap.analyze(path)
    assert engine.steps > 35
    assert engine.steps == sum(4**level for level in engine.levels)  # a merge: 4 parts into 1
    assert len(engine.parts) <= 3 * 3  # levels 0-2 of at most 3 parts each
    assert [f.code for f in report.findings] == [f.code for f in want.findings]
    assert report.summary.transactions == want.summary.transactions
    assert report.summary.messages == want.summary.messages
    assert abs(report.summary.lookups - want.summary.lookups) <= want.summary.lookups / 500
    race = next(f for f in report.findings if f.code == "DNS001")
    assert race.summary == next(f for f in want.findings if f.code == "DNS001").summary


def test_the_lines_judge_only_the_last_minute(tmp_path: Path) -> None:
    """The parts the lines judge age out: after 200 s of traffic they hold the lookups of
    about the last minute (kept by ten seconds), not the whole watch's (a merged part
    that never aged out made a long watch's memory grow a little every step)."""
    path = tmp_path / "long.pcap"
    make_capture(path, 20_000, 3, pps=100)
    engine, _, _ = stream(path, 500)
    buckets = [b for b, _ in engine.recent]
    assert len(buckets) <= 7 and min(buckets) >= (engine.now - RECENT_NS) // RECENT_BUCKET_NS
    assert 0 < sum(p.lookups for _, p in engine.recent) < engine.lookups_done / 2


def test_merged_parts_keep_what_the_judges_read(tmp_path: Path) -> None:
    """Merging 4 at a time or never: the same report (the evidence tables cut to what
    a finding shows, the questions' sums added)."""
    path = tmp_path / "long.pcap"
    make_capture(path, 20_000, 4, pps=100)
    merging, merged = watched(path, piece=400, every=4)
    never, kept = watched(path, piece=400, every=10**9)
    assert len(merging.parts) < 10 < len(never.parts)
    for fmt in ("text", "json"):
        assert render(merged, fmt) == render(kept, fmt)


@pytest.mark.parametrize("limits", [None, (300, 50)], ids=["default", "small-limits"])
def test_a_watch_keeps_its_past_in_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: tuple[int, int] | None
) -> None:
    """As the command does: merged parts are kept in a folder, memory holds only the
    parts not merged yet. The report is the same as with everything in memory, and
    reading it empties the folder. With small limits, parts are spilled as soon as they
    are let go and merges stop early: still the same report."""
    path = tmp_path / "long.pcap"
    make_capture(path, 20_000, 4, pps=100)
    if limits is not None:
        monkeypatch.setattr(compact, "MERGED_LOOKUPS", limits[0])
        monkeypatch.setattr(compact, "SPILLED_LOOKUPS", limits[1])
    past = tmp_path / "past"
    past.mkdir()
    engine, _, _ = stream(path, 400, every=4, spill=past)
    in_memory = [i for i, p in enumerate(engine.parts) if isinstance(p, Part)]
    assert len(in_memory) < 4 and all(engine.levels[i] == 0 for i in in_memory)
    files = sorted(past.glob("part-*"))
    assert len(files) == len(engine.parts) - len(in_memory) > (0 if limits is None else 3)
    if limits is not None:
        assert compact.DONE in engine.levels
    report = engine.report()
    assert not list(past.iterdir())
    _, kept = watched(path, piece=400, every=4)
    for fmt in ("text", "json"):
        assert render(report, fmt) == render(kept, fmt)


def test_a_watch_keeps_the_messages_its_scans_name_not_the_stream(tmp_path: Path) -> None:
    """The report's evidence is the messages the parts' scans named, written to the
    folder step by step, not the stream read again: the same report as with the file
    read again, and the folder empty after. A step keeps the messages of the first
    few hundred transactions of each finding's table: here, where most lookups show a
    finding, two in five messages in steps of 5,000 (4.5 in 1,000 in a 2M capture's
    steps of a million, benchmarks/README.md)."""
    path = tmp_path / "long.pcap"
    make_capture(path, 20_000, 4, pps=100)
    past = tmp_path / "past"
    past.mkdir()
    engine, _, _ = stream(path, 5000, every=4, spill=past)
    kept = sorted(past.glob("shown-*"))
    rows = sum(len(pd.read_pickle(f)) for f in kept)
    assert len(kept) >= 4 and 0 < rows < engine.seq / 2
    report = engine.report()
    assert not list(past.iterdir())
    other, _, _ = stream(path, 400, every=4, spill=past)
    again = other.report(read_again(path))
    assert not list(past.iterdir())  # the messages kept are let go unread
    for fmt in ("text", "json"):
        assert render(report, fmt) == render(again, fmt)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(ROOT / "samples")))
def test_a_watch_of_files_read_again_gets_analyze_report(path: Path) -> None:
    """Followed files: the evidence and the statistics read from them again, as one
    capture set."""
    engine, _, _ = stream(path, 7)
    same_report(path, engine.report(read_again(path)))


def test_a_watch_of_files_keeps_no_evidence(tmp_path: Path) -> None:
    """What the command does for followed files, whose evidence it reads again: nothing
    kept as it goes, and a report that asks for the kept evidence is refused."""
    path = ROOT / "samples" / "crafted" / "incident-mixed.pcap"
    m = dnspcap.read_messages(path)
    engine = Engine(evidence=False, spill=tmp_path)
    for i in range(0, len(m), 50):
        engine.feed(m.iloc[i : i + 50])
        engine.step()
    engine.step(end=True)
    assert engine.shown.steps == [] and not list(tmp_path.glob("shown-*"))
    with pytest.raises(ValueError, match="kept no evidence"):
        engine.report()
    same_report(path, engine.report(read_again(path)))


class Named(io.RawIOBase):
    """A capture file read as a stream of that name (as a watch reads stdin)."""

    live = False

    def __init__(self, path: Path, name: str) -> None:
        self.raw = open(path, "rb")  # noqa: SIM115 (closed with the wrapper)
        self.name = name
        self.on_idle: object = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        return self.raw.readinto(b)

    def close(self) -> None:
        self.raw.close()
        super().close()


def spool_read_again(path: Path) -> Callable[[dict[str, set[int]]], pd.DataFrame]:
    """What a stream's report read before the watch kept its evidence: the spooled
    stream read again as a stream, the messages of the evidence frames kept, the
    statistics those of the read's last chunk."""

    def evidence(frames: dict[str, set[int]]) -> pd.DataFrame:
        chunks: list[pd.DataFrame] = []
        with Named(path, "stream") as f:
            read_arriving(f, chunks.append, chunk_messages=1_000_000, every_s=3600)
        kept = [k for k in (evidence_messages(c, frames) for c in chunks) if len(k)]
        out = (concat(kept) if kept else chunks[-1].iloc[:0]).reset_index(drop=True)
        out.attrs = {"dnspcap": dict(chunks[-1].attrs["dnspcap"])}
        return out

    return evidence


def streamed(path: Path) -> Engine:
    """The engine fed as a watch of a stream feeds it: the reader's chunks of 7 messages,
    each with the statistics of the stream so far, a step after each."""
    engine = Engine()

    def fed(chunk: pd.DataFrame) -> None:
        engine.feed(chunk)
        engine.step()

    with Named(path, "stream") as f:
        read_arriving(f, fed, chunk_messages=7, every_s=3600)
    engine.step(end=True)
    return engine


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(ROOT / "samples")))
def test_a_watch_of_a_stream_counts_as_its_spool_read_again(path: Path) -> None:
    """A stream's statistics (messages, decode errors, truncated, counts, ICMP errors)
    and evidence as the watch kept them: what reading its spool again gave."""
    engine = streamed(path)
    again = streamed(path).report(spool_read_again(path))
    report = engine.report()
    assert report.stats == again.stats
    assert render(report, "json") == render(again, "json")


def run(*args: str, stdin: object = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnspcap.cli", *args], stdin=stdin, capture_output=True,
        text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["lab/captures/dns-pod-down.pcap", "crafted/incident-mixed.pcap"])
def test_a_stream_on_stdin_gets_analyze_report(name: str, tmp_path: Path) -> None:
    """The ICMP errors of a stream reach the watch as they come (the pod-down capture's
    port unreachables are its DNS006 evidence)."""
    path = ROOT / "samples" / name
    out = tmp_path / "watch.txt"
    with open(path, "rb") as f:
        done = run("watch", "-", "-o", str(out), stdin=f)
    batch = run("analyze", str(path))
    assert out.read_text() == batch.stdout
    assert done.returncode == batch.returncode, done.stderr
    exact = tmp_path / "exact.txt"
    with open(path, "rb") as f:
        run("watch", "-", "--exact", "-o", str(exact), stdin=f)
    assert exact.read_text() == batch.stdout


@pytest.mark.parametrize("name", ["lab/captures/incident", "crafted/upstream-trouble",
                                  "lab/captures/race-glibc"])  # fmt: skip
def test_the_figures_of_a_watch_are_analyze_figures_without_the_tables(name: str) -> None:
    """A watch's parts are cut in time, not by client: its timeline comes from the
    summary's row per lookup, and the capture is never analysed again for a figure."""
    path = ROOT / "samples" / f"{name}.pcap"
    _, report = watched(path, piece=7)
    assert figure_pngs(build(report)) == figure_pngs(build(dnspcap.analyze(path)))
    assert report._tables == (None, None, None)
