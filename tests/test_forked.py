"""Work in a forked child (dnspcap.forked) and a capture's parts analysed side by side
(dnspcap.pipeline.side): the children's answers are the parts' own, a child that fails
leaves its part to this process, and the report is the one a single process writes."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import dnspcap
from dnspcap.forked import DONE, Child, Failed, processors
from dnspcap.pipeline import PARALLEL_FROM, PART_MESSAGES, parts_of
from dnspcap.pipeline.side import side_by_side
from dnspcap.report.formats import build, figure_pngs
from dnspcap.report.plotdata import Plots

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
# samples whose clients fall into several parts of 7 messages (the test checks they do)
SPLIT = ["lab/captures/incident", "lab/captures/forwarding-loop", "crafted/upstream-trouble",
         "crafted/incident-mixed"]  # fmt: skip


def test_a_child_answers_from_its_own_process() -> None:
    child = Child(lambda: os.getpid())
    got = child.result()
    assert isinstance(got, int) and got != os.getpid() and got > 0
    assert not child.pid  # waited for


def test_a_child_says_things_while_it_works_and_is_reaped_when_done() -> None:
    """A child with an inbox sends what it says as it goes, in order, its answer last,
    then DONE; by then its reader has reaped it, so result() has nothing to wait for."""
    inbox: queue.Queue[tuple[Child, object]] = queue.Queue()

    def work(say: Any) -> str:
        say(("summary", os.getpid()))
        time.sleep(0.3)
        say(("part", 1))
        return "done"

    child = Child(work, inbox=inbox)
    first = inbox.get(timeout=30)
    assert first[0] is child and first[1][0] == "summary" and first[1][1] not in (0, os.getpid())
    rest = [inbox.get(timeout=30)[1] for _ in range(3)]
    assert rest == [("part", 1), "done", DONE]
    pid = child.pid
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped by the reader, not by result()
    assert child.result() == "done" and not child.pid


def test_an_error_in_the_child_comes_back_with_its_traceback() -> None:
    def work() -> None:
        raise ValueError("no such table")

    got = Child(work).result()
    assert isinstance(got, Failed) and "ValueError: no such table" in got.text


def test_a_child_that_dies_or_hangs_answers_none() -> None:
    assert Child(lambda: os._exit(3)).result() is None
    inbox: queue.Queue[tuple[Child, object]] = queue.Queue()
    dead = Child(lambda say: os._exit(3), inbox=inbox)
    assert inbox.get(timeout=30) == (dead, DONE) and dead.result() is None
    stuck = Child(lambda: time.sleep(600))
    pid = stuck.pid
    started = time.monotonic()
    assert stuck.result(timeout=0.5) is None
    assert time.monotonic() - started < 30  # killed, not waited for ten minutes
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped


def test_parts_side_by_side_run_in_children_and_come_back_in_order() -> None:
    me, ran = os.getpid(), []

    def run(j: int, summarized: Any) -> tuple[Any, Any]:
        return f"part {j}", os.getpid()

    parts, told = side_by_side(run, 5, 2, done=lambda j, pid: ran.append((j, pid)))
    assert parts == [f"part {j}" for j in range(5)] and not told  # type: ignore[comparison-overlap]
    assert sorted(j for j, _ in ran) == list(range(5))  # each once, as it came in
    here = sorted(j for j, pid in ran if pid == me)
    assert here == [0, 2, 4]  # every other part here; the others in one child
    assert len({pid for j, pid in ran if j not in here} - {me}) == 1


def test_a_child_analyses_its_parts_one_after_another_and_lets_the_others_go() -> None:
    """With three processors, two children, each forked once for its series of parts:
    each is told to drop the parts it will not analyse as it starts, and each of its
    own once done; a part is sent as soon as it is done, not when the others are."""
    me = os.getpid()
    ran: list[tuple[int, int]] = []

    def run(j: int, summarized: Any) -> tuple[Any, Any]:
        time.sleep(0.05 * j)
        return f"part {j}", (os.getpid(), tuple(dropped))

    dropped: list[int] = []
    parts, _ = side_by_side(run, 7, 3, done=lambda j, o: ran.append((j, *o)),
                            drop=dropped.append)  # fmt: skip
    assert parts == [f"part {j}" for j in range(7)]  # type: ignore[comparison-overlap]
    pids = {j: pid for j, pid, _ in ran}
    assert [j for j in range(7) if pids[j] == me] == [0, 3, 6] and not dropped
    assert pids[1] == pids[4] != pids[2] == pids[5] and me not in (pids[1], pids[2])
    gone = {j: seen for j, _, seen in ran}
    assert gone[1] == (0, 2, 3, 5, 6) and gone[4] == (0, 2, 3, 5, 6, 1)
    assert gone[2] == (0, 1, 3, 4, 6) and gone[5] == (0, 1, 3, 4, 6, 2)


def test_a_part_whose_child_fails_is_analysed_here() -> None:
    me, ran = os.getpid(), []

    def run(j: int, summarized: Any) -> tuple[Any, Any]:
        if os.getpid() != me:
            raise MemoryError("the child's part")
        return f"part {j}", os.getpid()

    parts, _ = side_by_side(run, 4, 2, done=lambda j, pid: ran.append(pid))
    assert parts == [f"part {j}" for j in range(4)]  # type: ignore[comparison-overlap]
    assert ran == [me] * 4


def test_the_parts_a_child_did_not_send_before_it_failed_are_analysed_here() -> None:
    me, ran = os.getpid(), []

    def run(j: int, summarized: Any) -> tuple[Any, Any]:
        if os.getpid() != me and j == 3:
            raise MemoryError("the child's second part")
        return f"part {j}", os.getpid()

    parts, _ = side_by_side(run, 6, 2, done=lambda j, pid: ran.append((j, pid)))
    assert parts == [f"part {j}" for j in range(6)]  # type: ignore[comparison-overlap]
    where = dict(ran)
    assert sorted(where) == list(range(6)) and len(ran) == 6  # each part taken once
    assert where[1] != me and where[3] == where[5] == me


@pytest.mark.parametrize("name", SPLIT)
def test_parts_side_by_side_give_the_single_process_report(name: str) -> None:
    path = SAMPLES / f"{name}.pcap"
    whole = dnspcap.analyze(path, part_messages=None)
    seen: list[Plots] = []
    side = dnspcap.analyze(path, part_messages=7, workers=2, plots=seen.append)
    one = dnspcap.analyze(path, part_messages=7, workers=1)
    assert side.render("json") == whole.render("json") == one.render("json")
    assert side.render("text") == whole.render("text")
    assert side._tables[1] is None  # analysed in parts, the whole's tables not made
    # the figures' data handed over once, before the end: the whole's figures
    assert len(seen) == 1
    assert figure_pngs(build(side)) == figure_pngs(build(whole))


def test_parts_go_side_by_side_from_a_size_on() -> None:
    """Two processors: a capture of PARALLEL_FROM DNS messages on is cut into twice as
    many parts as its memory needs (two at a time); smaller ones are analysed whole."""
    assert parts_of(PARALLEL_FROM - 1, PART_MESSAGES, 2) == 1
    assert parts_of(PARALLEL_FROM, PART_MESSAGES, 2) == 2
    assert parts_of(2_000_000, PART_MESSAGES, 2) == 2
    assert parts_of(10_000_000, PART_MESSAGES, 2) == 12
    assert parts_of(10_000_000, PART_MESSAGES, 1) == 6
    assert processors() >= 1


def test_the_command_gives_the_same_report_whatever_its_jobs(tmp_path: Path) -> None:
    sample = SAMPLES / "lab" / "captures" / "incident.pcap"
    outs = []
    for jobs in ("1", "2", "0"):
        out = tmp_path / f"report-{jobs}.json"
        run = subprocess.run(
            [sys.executable, "-m", "dnspcap.cli", "analyze", str(sample), "-j", jobs, "-o",
             str(out)], cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert run.returncode in (0, 1), run.stderr
        outs.append(out.read_text())
    assert outs[0] == outs[1] == outs[2]
    for bad in ("-1", "two"):
        run = subprocess.run(
            [sys.executable, "-m", "dnspcap.cli", "analyze", str(sample), "-j", bad],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert run.returncode == 2 and "--jobs" in run.stderr and "Traceback" not in run.stderr


def test_a_part_that_fails_here_ends_the_others_children() -> None:
    me, children = os.getpid(), []

    def run(j: int, summarized: Any) -> tuple[Any, Any]:
        if os.getpid() == me:
            raise ValueError("this process's part")
        time.sleep(600)  # a child that would outlive the error
        return j, None

    real = Child.__init__

    def remember(self: Child, *args: Any, **kw: Any) -> None:
        real(self, *args, **kw)
        children.append(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Child, "__init__", remember)
        started = time.monotonic()
        with pytest.raises(ValueError, match="this process's part"):
            side_by_side(run, 2, 2, done=lambda j, other: None)
    assert time.monotonic() - started < 60  # the child was ended, not waited for
    assert children and all(not c.pid for c in children)


# ---- a capture analysed whole: its detectors scanned in two processes (detect_beside)

ALL_SAMPLES = sorted(SAMPLES.glob("**/*.pcap*"))


def _tables(path: Path) -> tuple[Any, Any]:
    from dnspcap.grouping import lookups
    from dnspcap.pairing import pair

    tx = pair(dnspcap.read_messages(path))
    return tx, lookups(tx)


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: p.name)
def test_detectors_scanned_beside_find_what_detect_finds(path: Path) -> None:
    from dnspcap.pipeline.side import detect_beside

    tx, lk = _tables(path)
    beside = detect_beside(tx, lk)
    assert [f.as_dict(6) for f in beside] == [f.as_dict(6) for f in dnspcap.detect(tx, lk)]
    chosen = {"select": ["DNS001", "DNS004"], "options": {"retransmissions_min": 2}}
    assert [f.as_dict(6) for f in detect_beside(tx, lk, **chosen)] == [  # type: ignore[arg-type]
        f.as_dict(6)
        for f in dnspcap.detect(tx, lk, **chosen)  # type: ignore[arg-type]
    ]


def test_detectors_apart_scan_in_a_child_and_a_failed_child_leaves_them_here() -> None:
    from dnspcap.findings import detection
    from dnspcap.pipeline import side

    tx, lk = _tables(SAMPLES / "lab" / "captures" / "incident.pcap")
    expected = [f.as_dict(6) for f in dnspcap.detect(tx, lk)]
    me, scanned = os.getpid(), []
    real = detection.scan

    def scan(*args: Any, **kw: Any) -> Any:
        scanned.append((os.getpid() == me, tuple(kw.get("select") or ())))
        if os.getpid() != me and fail:
            raise MemoryError("the child's scans")
        return real(*args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(side, "scan", scan)
        fail = False
        assert [f.as_dict(6) for f in side.detect_beside(tx, lk)] == expected
        # the child's calls are not seen here: only this process's scan of the others
        apart, rest = detection.split_scan(None, ())
        assert scanned == [(True, tuple(rest))] and apart and rest
        scanned.clear()
        fail = True
        assert [f.as_dict(6) for f in side.detect_beside(tx, lk)] == expected
        assert scanned == [(True, tuple(rest)), (True, tuple(apart))]  # the child's, here
