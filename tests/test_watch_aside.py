"""A big step's part is scanned in a forked child while the watch goes on
(dnspcap/watch/aside.py): the same lines' findings and the same report as a watch that
scans every step itself; a child that fails leaves the scan to the watch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import dnspcap
from dnspcap import forked
from dnspcap.findings.scan import Part
from dnspcap.report import render
from dnspcap.watch import aside, engine
from dnspcap.watch.engine import Engine

from .synthetic import make_capture
from .test_watch import SAMPLES, stream

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="no fork here")


@pytest.fixture
def every_step_aside(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every step but the last scanned aside; the processes the parts were made in."""
    monkeypatch.setattr(engine, "ASIDE_FROM", 0)
    made_in: list[int] = []
    part_of = engine.part_of

    def recorded(*args: Any, **kwargs: Any) -> Part:
        part = part_of(*args, **kwargs)
        part.made_in = os.getpid()  # type: ignore[attr-defined]
        return part

    monkeypatch.setattr(engine, "part_of", recorded)
    add = engine.add

    def noted(parts: list[Any], levels: list[int], part: Part, **kw: Any) -> None:
        made_in.append(part.made_in)  # type: ignore[attr-defined]
        add(parts, levels, part, **kw)

    monkeypatch.setattr(engine, "add", noted)
    return made_in


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(ROOT / "samples")))
def test_steps_scanned_aside_give_analyze_findings_and_report(
    path: Path, every_step_aside: list[int]
) -> None:
    watch, events, _ = stream(path, piece=50)
    want = dnspcap.analyze(path)
    assert {e.code for e in events} == {f.code for f in want.findings}
    report = watch.report()
    for fmt in ("text", "json"):
        assert render(report, fmt) == render(want, fmt), fmt
    assert watch.pending == []
    # every step but the last (made at once, everything final) came from a child
    assert every_step_aside[-1] == os.getpid()
    assert all(pid != os.getpid() for pid in every_step_aside[:-1])


def test_a_part_back_from_its_child_is_collected_before_the_next_step(
    tmp_path: Path, every_step_aside: list[int]
) -> None:
    """It is kept (and its lines judged) at the watch's next look, not at the end."""
    path = tmp_path / "node.pcap"
    make_capture(path, 4_000, 3, pps=100)  # 40 s of a node's traffic
    m = dnspcap.read_messages(path)
    watch = Engine()
    half = len(m) // 2
    watch.feed(m.iloc[:half])
    early = watch.step()  # scanned aside: only the race, seen on what is held
    assert {e.code for e in early} <= set(engine.EARLY)
    assert len(watch.pending) == 1
    watch.pending[0][0].result()  # back
    watch.collect()
    assert watch.pending == [] and len(watch.parts) == 1 and watch.lookups_done > 0
    watch.feed(m.iloc[half:])
    watch.step(end=True)
    assert len(every_step_aside) == 2 and every_step_aside[0] != os.getpid()


def test_a_child_that_dies_leaves_the_scan_to_the_watch(
    monkeypatch: pytest.MonkeyPatch, every_step_aside: list[int]
) -> None:
    class Dying(forked.Child):
        def __init__(self, work: Any) -> None:
            super().__init__(lambda: os._exit(3))

    monkeypatch.setattr(aside, "Child", Dying)
    path = ROOT / "samples" / "crafted" / "incident-mixed.pcap"
    watch, events, _ = stream(path, piece=50)
    want = dnspcap.analyze(path)
    assert {e.code for e in events} == {f.code for f in want.findings}
    assert render(watch.report(), "json") == render(want, "json")
    assert len(every_step_aside) > 2 and set(every_step_aside) == {os.getpid()}
