"""A capture's parts analysed side by side, on as many processors as it may use.

The parts go ``workers`` at a time: this process analyses the first of each group,
children forked just before it (:mod:`dnspcap.forked`) the others, each on its own
part of the messages, which fork shares with it without a copy. A child answers its
part's scans (small: the parts' are combined as a cluster's are) and whatever else the
caller's ``run`` returns. A child that fails, dies or is stuck (:data:`CHILD_SLACK_S`
and :data:`CHILD_TIMES` after this process's own part) leaves its part to this
process, where an error is raised as usual; so does a system without ``fork``.

The figures' data needs every part's summary. In the last group, each child sends its
part's summary as soon as it is made, before its detectors scan, and this process
combines them with its own and the earlier groups' and hands them to ``plots``: the
figures are drawn while the detectors run, as on a capture analysed whole
(:class:`~dnspcap.report.drawing.Painter`). A child that has not sent its summary by
the time this process made its own twice over leaves the figures' data to the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from ..findings.detection import detect, judge, scan, split_scan
from ..findings.finding import Finding
from ..findings.scan import Part, combine
from ..forked import Child
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
) -> tuple[list[Part], bool]:
    """``run(j, summarized)`` for each part j of k, ``workers`` at a time; ``done(j,
    other)`` with what else each returned, in the parts' order, as each group ends.
    The parts' scans, in order, and whether ``plots`` was called (if not, the caller
    calls it once it has combined them)."""
    parts: list[Part] = []
    told: Told | None = None
    step = max(workers, 1)
    for first in range(0, k, step):
        group = range(first, min(first + step, k))
        last = group.stop == k
        children = {j: Child(_work(run, j), early=last) for j in group[1:]}
        started = time.monotonic()
        told = Told(parts, list(children.values()), started, plots) if last else None
        try:
            answers = {group[0]: run(group[0], told if told is not None and plots else None)}
        except BaseException:  # this process's part failed: the others are not needed
            for child in children.values():
                child.stop()
            raise
        allowed = _allowed(started)
        for j, child in children.items():
            got = child.result(allowed)
            answers[j] = got if isinstance(got, tuple) else run(j, None)  # it failed: here
        for j in group:
            part, other = answers.pop(j)
            parts.append(part)
            done(j, other)
            del part, other
    return parts, told is not None and told.told


class Told:
    """The last group's own part's ``summarized``: every part's summary combined and
    handed to ``plots`` (see the module's docstring)."""

    def __init__(
        self,
        earlier: list[Part],
        children: list[Child],
        started: float,
        plots: Callable[[Plots], None] | None,
    ) -> None:
        self.earlier, self.children, self.started, self.plots = earlier, children, started, plots
        self.told = False

    def __call__(self, own: Part) -> None:
        allowed = time.monotonic() - self.started  # as long again as this process took
        said = [c.first(allowed) for c in self.children]
        if self.plots is None or not all(isinstance(p, Part) for p in said):
            return
        summaries = [summary_part(p) for p in self.earlier] + [own]
        summaries += [p for p in said if isinstance(p, Part)]
        self.plots(Plots.of(combine(summaries)[SUMMARY]))
        self.told = True


def _allowed(started: float) -> float:
    """How long a child may still take once this process's own share, begun at
    ``started``, is done (see CHILD_SLACK_S)."""
    return CHILD_SLACK_S + CHILD_TIMES * (time.monotonic() - started)


def _work(run: Run, j: int) -> Callable[..., tuple[Part, Any]]:
    """Part j's work in a child: with the function that sends its summary (an early
    child, of the last group), or without."""
    return lambda say=None: run(j, say)


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
