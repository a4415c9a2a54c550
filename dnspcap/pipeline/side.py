"""A capture's parts analysed side by side, on as many processors as it may use.

With ``workers`` processors, this process analyses parts 0, ``workers``, 2 x
``workers``, ...; a child forked at the start (:mod:`dnspcap.forked`) each of the other
series, one part after another, on the messages fork shares with it without a copy.
A child sends each part's scans (small: the parts' are combined as a cluster's are) and
whatever else the caller's ``run`` returns as soon as that part is done, and lets go of
the part's data, so that parts go on without waiting for each other: at 10M packets,
waiting for the slower of each pair, a fork and a reaping per pair cost 0.8 s of 11.
A child that fails, dies or is stuck (:data:`CHILD_SLACK_S` and :data:`CHILD_TIMES`
this process's longest part after this process is done) leaves the parts it did not
send to this process, where an error is raised as usual; so does a system without
``fork``.

The figures' data needs every part's summary. Each child sends its last part's summary
as soon as it is made, before its detectors scan; this process, once it has made its
own last part's, takes in what the children sent and hands every part's summary,
combined, to ``plots``: the figures are drawn while the detectors run, as on a capture
analysed whole (:class:`~dnspcap.report.drawing.Painter`). A child that has not sent
its summary by the time this process made its own twice over leaves the figures' data
to the end.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from ..arrays import memory
from ..findings.detection import detect, judge, scan, split_scan
from ..findings.finding import Finding
from ..findings.scan import Part, combine
from ..forked import DONE, Child
from ..report.plotdata import Plots
from ..report.summary import NAME as SUMMARY
from .parts import summary_part

# a part's child that has not answered this long after this process's own part of the
# same size is taken to be stuck: killed, its part analysed here
CHILD_SLACK_S = 60.0
CHILD_TIMES = 5.0

# a capture analysed whole has its detectors' scans split between two processes from
# this many transactions on (detect_beside); below, the fork costs more than it saves
BESIDE_FROM = 50_000

Summarized = Callable[[Part], None]
Run = Callable[[int, Summarized | None], tuple[Part, Any]]


def side_by_side(
    run: Run,
    k: int,
    workers: int,
    *,
    done: Callable[[int, Any], None],
    plots: Callable[[Plots], None] | None = None,
    drop: Callable[[int], None] | None = None,
) -> tuple[list[Part], bool]:
    """``run(j, summarized)`` for each part j of k on ``workers`` processors (see the
    module's docstring); ``done(j, other)`` with what else part j's run returned, in
    this process, as each part's answer comes in (not in the parts' order). ``drop(j)``
    is called in a child for each part whose data it no longer needs: the others' as it
    starts, its own once analysed. The parts' scans, in order, and whether ``plots`` was
    called (if not, the caller calls it once it has combined them)."""
    step = max(1, min(workers, k))
    got: dict[int, Part] = {}

    def take(j: int, part: Part, other: Any) -> None:
        if j not in got:  # a part is taken once, from whoever answers first
            got[j] = part
            done(j, other)

    inbox: queue.Queue[tuple[Child, object]] = queue.Queue()
    mine = [range(w, k, step) for w in range(step)]
    children = [Child(_work(run, mine[w], k, drop, plots is not None), inbox=inbox)
                for w in range(1, step)]  # fmt: skip
    said = Said(children, inbox, take)
    own = mine[0]
    told = Told(got, said, plots, own[-1] if len(own) else -1, k)
    try:
        longest = 0.0
        for j in own:
            started = told.started = time.monotonic()
            take(j, *run(j, told if j == own[-1] and plots is not None else None))
            longest = max(longest, time.monotonic() - started)
            said.read_all()
        said.wait(CHILD_SLACK_S + CHILD_TIMES * longest)
    except BaseException:  # this process's part failed: the others are not needed
        for child in children:
            child.stop()
        raise
    for j in range(k):  # the parts of a child that failed, died or was stuck: here
        if j not in got:
            take(j, *run(j, None))
    return [got[j] for j in range(k)], told.told


class Said:
    """What the children said, taken in as it comes: each part's answer (``take``), each
    one's last part's summary (``early``, for the figures), and which are still at work."""

    def __init__(
        self,
        children: list[Child],
        inbox: queue.Queue[tuple[Child, object]],
        take: Callable[[int, Part, Any], None],
    ) -> None:
        self.inbox, self.take = inbox, take
        self.working = {c for c in children if c.pid}
        self.early: dict[int, Part] = {}

    def read(self, timeout: float) -> bool:
        """One thing a child said taken in, waiting up to ``timeout`` s (False: none)."""
        try:
            child, what = self.inbox.get(timeout > 0, timeout if timeout > 0 else None)
        except queue.Empty:
            return False
        if what is DONE:
            self.working.discard(child)
        elif isinstance(what, tuple) and what[:1] == ("part",):
            self.take(*what[1:])
        elif isinstance(what, tuple) and what[:1] == ("summary",):
            self.early[what[1]] = what[2]
        return True  # anything else (a Failed, the answer None): its parts are done here

    def read_all(self) -> None:
        """Whatever the children said so far, taken in without waiting."""
        while self.read(0):
            pass

    def until(self, ready: Callable[[], bool], allowed: float) -> bool:
        """Take in what the children say until ``ready()``, for at most ``allowed`` s."""
        deadline = time.monotonic() + allowed
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0 or not self.read(left):
                return ready()
        return True

    def wait(self, allowed: float) -> None:
        """Every child's parts taken in; a child still at work after ``allowed`` s is
        stuck: ended, its parts left to this process."""
        if not self.until(lambda: not self.working, allowed):
            for child in self.working:
                child.stop()
            self.read_all()


class Told:
    """This process's last part's ``summarized``: every part's summary combined and
    handed to ``plots`` (see the module's docstring)."""

    def __init__(
        self,
        got: dict[int, Part],
        said: Said,
        plots: Callable[[Plots], None] | None,
        last: int,
        k: int,
    ) -> None:
        self.got, self.said, self.plots, self.last, self.k = got, said, plots, last, k
        self.started = time.monotonic()
        self.told = False

    def __call__(self, own: Part) -> None:
        allowed = time.monotonic() - self.started  # as long again as this process took

        def known() -> bool:
            return all(self._summary(j, own) is not None for j in range(self.k))

        self.said.until(lambda: known() or not self.said.working, allowed)
        summaries = [self._summary(j, own) for j in range(self.k)]
        if self.plots is None or any(p is None for p in summaries):
            return
        self.plots(Plots.of(combine([p for p in summaries if p is not None])[SUMMARY]))
        self.told = True

    def _summary(self, j: int, own: Part) -> Part | None:
        if j == self.last:
            return own
        if j in self.got:
            return summary_part(self.got[j])
        return self.said.early.get(j)


def _allowed(started: float) -> float:
    """How long a child may still take once this process's own share, begun at
    ``started``, is done (see CHILD_SLACK_S)."""
    return CHILD_SLACK_S + CHILD_TIMES * (time.monotonic() - started)


def _work(
    run: Run, mine: range, k: int, drop: Callable[[int], None] | None, early: bool
) -> Callable[[Callable[[object], None]], None]:
    """A child's work: its parts, one after another, each one's answer sent as it is
    done (``early``: its last part's summary too, as soon as that is made). A part that
    fails ends the child: the answer is its traceback, and the parts it did not send
    are done by the parent."""

    def work(send: Callable[[object], None]) -> None:
        if drop is not None:
            for j in range(k):
                if j not in mine:
                    drop(j)
        for j in mine:
            say = (lambda p, j=j: send(("summary", j, p))) if early and j == mine[-1] else None
            answer = run(j, say)
            send(("part", j, *answer))
            del answer
            if drop is not None:
                drop(j)
            memory.give_back()  # the part's tables are gone: their pages go back too

    return work


def detect_beside(
    tx: pd.DataFrame,
    lk: pd.DataFrame,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> list[Finding]:
    """:func:`~dnspcap.findings.detect` of a capture analysed whole, on two processors:
    the detectors that share no derived table with the others (``APART``: the A/AAAA
    pairs' and a few of their own) scan in a forked child while this process scans the
    rest; the scans are judged together, so the findings are detect()'s. A child that
    fails or is stuck leaves its detectors to this process, where an error is raised as
    usual. Parts of a capture's clients already fill the processors; this is for one
    client's capture (a pod's own), and for captures too small to cut in parts."""
    apart, rest = split_scan(select, ignore)
    if not apart or not rest:
        return detect(tx, lk, select=select, ignore=ignore, options=options)
    child = Child(lambda: scan(tx, lk, select=apart, options=options).scans)
    started = time.monotonic()
    try:
        part = scan(tx, lk, select=rest, options=options)
    except BaseException:
        child.stop()
        raise
    got = child.result(_allowed(started))
    if not isinstance(got, dict):  # no child, or it failed: here
        got = scan(tx, lk, select=apart, options=options).scans
    part.scans.update(got)
    return judge([part], select=select, ignore=ignore, options=options)
