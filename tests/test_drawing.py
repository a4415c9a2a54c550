"""The figures drawn in a forked child while the detectors run (dnspcap.report.drawing):
the same PNG bytes as drawn in process, and drawn in process whenever the child fails."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dnspcap
from dnspcap.report import drawing, figures
from dnspcap.report.drawing import Painter
from dnspcap.report.formats import build, figure_pngs
from dnspcap.report.plotdata import Plots

ROOT = Path(__file__).resolve().parent.parent
CRAFTED = ROOT / "samples" / "crafted"
# findings of many kinds, a healthy pod, a node's capture
SAMPLES = ["incident-mixed", "healthy-glibc", "upstream-trouble", "node-race"]


def _painted(path: Path, **kw: object) -> tuple[dnspcap.Report, Painter, list[str]]:
    painter, seen = Painter(), []

    def start(plots: Plots) -> None:
        seen.append("plots")
        painter.start(plots)

    report = dnspcap.analyze(path, plots=start, stage=seen.append, **kw)  # type: ignore[arg-type]
    return report, painter, seen


@pytest.mark.parametrize("name", SAMPLES)
def test_the_child_draws_the_same_figures_as_this_process(name: str) -> None:
    report, painter, seen = _painted(CRAFTED / f"{name}.pcap")
    assert seen.index("plots") < seen.index("detecting")  # drawn while the detectors run
    assert painter.pid  # a child was started
    doc = build(report)
    got = painter.pngs(doc)
    assert painter.answer == got  # the child's bytes, not a fallback's
    assert set(got) == {spec.key for spec in doc.figures} == set(figures.DRAWN)
    assert got == figure_pngs(doc)
    assert all(png.startswith(b"\x89PNG") for png in got.values())
    assert not painter.pid  # the child was waited for


def test_a_capture_in_parts_hands_the_whole_figures_data_once() -> None:
    whole = dnspcap.analyze(CRAFTED / "incident-mixed.pcap")
    report, painter, seen = _painted(CRAFTED / "incident-mixed.pcap", part_messages=7)
    assert seen.count("plots") == 1
    doc = build(report)
    got = painter.pngs(doc)
    assert painter.answer == got  # the child's
    assert got == figure_pngs(build(whole))


def test_a_figure_failing_in_the_child_is_drawn_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: Plots) -> None:
        raise RuntimeError("broken drawing")

    monkeypatch.setitem(figures.DRAWN, "latency", broken)  # the forked child has it too
    report, painter, _ = _painted(CRAFTED / "incident-mixed.pcap")
    monkeypatch.undo()
    doc = build(report)
    got = painter.pngs(doc)
    assert isinstance(painter.answer, dict) and "broken drawing" in str(painter.answer["latency"])
    assert got == figure_pngs(doc)


def test_a_child_that_dies_leaves_the_figures_to_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def dies(plots: Plots) -> None:
        import os

        os._exit(3)

    monkeypatch.setattr(drawing, "_child", dies)
    report, painter, _ = _painted(CRAFTED / "incident-mixed.pcap")
    doc = build(report)
    got = painter.pngs(doc)
    assert painter.answer is None
    assert got == figure_pngs(doc)


def test_a_capture_without_lookups_has_no_figures(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.utils import wrpcap

    path = tmp_path / "no-dns.pcap"
    wrpcap(str(path), [IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4000, dport=4001)])
    report, painter, _ = _painted(path)
    doc = build(report)
    assert doc.figures == []
    assert painter.pngs(doc) == {}
    assert not painter.pid


def test_a_painter_never_started_draws_here_and_closes_quietly() -> None:
    report = dnspcap.analyze(CRAFTED / "incident-mixed.pcap")
    doc = build(report)
    painter = Painter()
    assert painter.pngs(doc) == figure_pngs(doc)
    painter.close()
    _, started, _ = _painted(CRAFTED / "incident-mixed.pcap")
    started.close()  # an analysis whose report was never written: the child is ended
    assert not started.pid


def test_the_command_writes_the_childs_figures(tmp_path: Path) -> None:
    sample = CRAFTED / "incident-mixed.pcap"
    out = tmp_path / "ticket.md"
    page = tmp_path / "report.html"
    for target in (out, page):
        subprocess.run(
            [sys.executable, "-m", "dnspcap.cli", "analyze", str(sample), "-o", str(target)],
            cwd=ROOT, capture_output=True, check=False,
        )  # fmt: skip
    expected = figure_pngs(build(dnspcap.analyze(sample)))
    for key, png in expected.items():
        assert (tmp_path / f"ticket-{key}.png").read_bytes() == png
    inline = re.findall(r'src="data:image/png;base64,([^"]+)"', page.read_text())
    assert [base64.b64decode(s) for s in inline] == list(expected.values())


def test_a_watchs_report_has_the_childs_figures_of_the_whole(tmp_path: Path) -> None:
    """A watch hands its combined summary to the painter before judging and reading the
    evidence back: its figures are analyze's of the same capture."""
    sample = ROOT / "samples" / "lab" / "captures" / "incident.pcap"
    out = tmp_path / "watch.md"
    subprocess.run(
        [sys.executable, "-m", "dnspcap.cli", "watch", str(sample), "--no-follow", "-o", str(out)],
        cwd=ROOT, capture_output=True, check=False,
    )  # fmt: skip
    expected = figure_pngs(build(dnspcap.analyze(sample)))
    assert {key: (tmp_path / f"watch-{key}.png").read_bytes() for key in expected} == expected


def test_a_child_that_hangs_is_killed_and_the_figures_drawn_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def hangs(plots: Plots) -> None:
        import os
        import time

        time.sleep(600)
        os._exit(0)

    monkeypatch.setattr(drawing, "_child", hangs)
    report, painter, _ = _painted(CRAFTED / "incident-mixed.pcap")
    child = painter.pid
    assert painter._wait(timeout=0.5) is None  # killed, not waited for ten minutes
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # reaped
    doc = build(report)
    assert painter.pngs(doc) == figure_pngs(doc)


@pytest.mark.parametrize("one_at_a_time", [True, False])
def test_a_big_captures_figures_are_drawn_one_after_another(
    monkeypatch: pytest.MonkeyPatch, one_at_a_time: bool
) -> None:
    """From ONE_AT_A_TIME_FROM transactions the drawings' processes come one after
    another (a 10M capture's memory is at its peak then); the same PNG bytes."""
    report = dnspcap.analyze(CRAFTED / "incident-mixed.pcap")
    doc = build(report)
    monkeypatch.setattr(drawing, "ONE_AT_A_TIME_FROM", 0 if one_at_a_time else 10**12)
    alive, most = [0], [0]

    class Counted(drawing.Child):
        def __init__(self, work: object) -> None:
            super().__init__(work)  # type: ignore[arg-type]
            alive[0] += 1
            most[0] = max(most[0], alive[0])

        def result(self, timeout: float | None = None) -> object | None:
            alive[0] -= 1
            return super().result(timeout)

    monkeypatch.setattr(drawing, "Child", Counted)
    got = drawing._child(report.summary.plots)
    assert most[0] == (1 if one_at_a_time else len(figures.DRAWN))
    assert got == figure_pngs(doc)
