"""The watch itself: messages in, confirmed findings out, with the memory of a minute.

:class:`Engine` takes the messages table in chunks as the reader decodes them
(:meth:`Engine.feed`) and, at each :meth:`Engine.step`, pairs and groups the messages it
holds (``pair`` and ``lookups``, the functions ``analyze`` runs).
:mod:`dnspcap.watch.window` says which transactions and lookups no later packet can
change (*final*); those are let go as a *part* of the capture
(:mod:`dnspcap.watch.released`): every detector's scan of them, and the report's, kept
small and merged as the watch goes (:mod:`dnspcap.watch.compact`); a big step's scan is
made in a forked child while the watch goes on (:mod:`dnspcap.watch.aside`, kept at
:meth:`Engine.collect`). The findings of the
parts let go in the last minute, judged together, are announced (an :class:`Event`
each, once per lookup). What the watch holds is the packets of the last
``LOOKUP_HOLD_S`` seconds and the unanswered queries of the last ``UNANSWERED_HOLD_S``,
and its past as scans: its memory follows the traffic's rate, not the watch's length.

A race (DNS001) is announced as soon as a step sees it on what is held (its lost query
resent or timed out) and a second more of the capture has passed (an answer overtaken
by the retry still comes), before its lookup is final: that is the line a user waits for.

The report at the end (:meth:`Engine.report`) judges every part's scans together, as
``analyze`` judges the parts of a big capture: the lines are what was *seen* while
watching, the report what the whole capture says (``tests/test_watch_report.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..arrays import memory
from ..findings import Finding, catalogue
from ..findings.detection import chosen_detectors, judge_scans, scan
from ..findings.detectors._util import PAIR_WINDOW
from ..findings.scan import Part
from ..findings.tablecache import forget
from ..grouping import lookups
from ..grouping.join import infer_search_list
from ..pairing import SKEW_ALLOWANCE_S
from ..pairing.transactions import pair_rows
from ..pipeline.parts import Tables, client_texts, report_of_parts
from ..report import Report
from ..report.plotdata import Plots
from ..report.summary import NAME as SUMMARY
from .aside import ASIDE_FROM, Aside, Scanned
from .compact import COMPACT_PARTS, Spilled, add, loaded, merged
from .messages import concat, prune
from .released import kept, part_of
from .shown import Shown
from .window import MARGIN_S, UNANSWERED_HOLD_S, Window, build

NAT = np.iinfo(np.int64).min
EARLY = frozenset({"DNS001"})  # announced when seen, not when final (see the docstring)
# a line judges the parts let go in the last minute of the capture, or as many of the
# latest as hold RECENT_LOOKUPS lookups (a rate is out of enough of them); they are kept
# merged by ten seconds of the capture, so that what is older than the minute goes
RECENT_NS = 60 * 10**9
RECENT_BUCKET_NS = 10 * 10**9
RECENT_LOOKUPS = 20_000
PAIRING_ATTRS = ("capture_end", "icmp_errors")


@dataclass(frozen=True)
class Event:
    """One line of a watch: a finding confirmed."""

    code: str
    severity: str
    time: int  # ns, the capture's clock: its latest evidence
    summary: str
    display_filter: str


class Engine:
    """A watch over one capture (a stream, a followed file, or an interface)."""

    def __init__(
        self,
        *,
        select: Iterable[str] | None = None,
        ignore: Iterable[str] = (),
        options: Mapping[str, float] | None = None,
        skew: float = SKEW_ALLOWANCE_S,
        spill: Path | None = None,
        evidence: bool = True,
    ) -> None:
        self.select = list(select) if select is not None else None
        self.ignore = list(ignore)
        self.options = dict(options or {})
        known = {d.code for d in catalogue()}
        unknown = (set(self.select or known) | set(self.ignore)) - known
        if unknown:
            raise ValueError(f"unknown detector code(s): {', '.join(sorted(unknown))}")
        self.pair_window_s = float(self.options.get(PAIR_WINDOW.name, PAIR_WINDOW.default))
        self.skew = skew
        self.kept: pd.DataFrame | None = None  # messages of rows not final yet
        self.new: list[pd.DataFrame] = []
        self.seq = 0  # messages fed so far: each one's arrival number is its index label
        self.now = NAT  # the capture's clock: its latest message, ns
        self.attrs: dict[str, Any] = {}
        self.announced: dict[tuple[str, object, int], int] = {}  # (code, client, start): start
        self.codes = {d.code for d in chosen_detectors(self.select, self.ignore)}
        self.parts: list[Part | Spilled] = []  # every step's, merged a few at a time
        self.spill = spill  # the folder merged parts are kept in (None: in memory)
        self.saw_dns = False  # whether a DNS message was let go (the report has something)
        self.levels: list[int] = []  # each part's merges (dnspcap.watch.compact)
        self.merge_every = COMPACT_PARTS
        self.recent: list[tuple[int, Part]] = []  # the last minute's: (ten seconds, part)
        self.search: dict[str, list[str]] = {}  # per client, the last search list seen
        self.lookups_done = 0
        self.events = 0
        self.steps = 0
        # the messages the parts' scans name: the evidence (none kept when the report
        # will read it from the files again: ``evidence`` false)
        self.shown = Shown(spill, keep=evidence)
        self.errors = self.truncated = 0  # of the messages fed (the read's statistics)
        self.pending: list[tuple[Aside, int, int]] = []  # steps scanned aside: (scan, last, now)

    # -- input -----------------------------------------------------------------------------

    def feed(self, chunk: pd.DataFrame) -> None:
        """Messages as the reader decoded them (a chunk of the messages table)."""
        self.attrs = dict(chunk.attrs.get("dnspcap", {}))
        if not len(chunk):
            return
        chunk = chunk.copy(deep=False)
        chunk.attrs = {}  # the statistics are kept once (pandas copies attrs on every step)
        chunk.index = pd.RangeIndex(self.seq, self.seq + len(chunk))
        self.seq += len(chunk)
        self.errors += int((chunk["error"] != "").sum())
        self.truncated += int(chunk["truncated"].sum())
        self.shown.like(chunk)
        ts = chunk["ts"].to_numpy("datetime64[ns]").view(np.int64)
        ts = ts[ts != NAT]
        if len(ts):
            self.now = max(self.now, int(ts.max()))
        self.new.append(chunk)

    @property
    def held(self) -> int:
        """Messages held: kept from earlier steps and fed since."""
        return (0 if self.kept is None else len(self.kept)) + sum(len(c) for c in self.new)

    @property
    def waiting(self) -> int:
        """Messages fed since the last step."""
        return sum(len(c) for c in self.new)

    @property
    def packets(self) -> int:
        return int(self.attrs.get("packets", 0))

    # -- a step ----------------------------------------------------------------------------

    def step(self, *, end: bool = False, now: int | None = None) -> list[Event]:
        """Pair and group what is held; scan what is final (a part of the whole, kept for
        the report; a big step's aside, kept when it is back: :meth:`collect`); announce
        what is confirmed; let the messages of final transactions go.

        ``end``: the capture ended, everything is final. ``now``: the capture's clock when
        it is known to be later than its latest message (a live capture with no traffic
        for a while: its queries time out all the same).
        """
        if now is not None:
            self.now = max(self.now, now)
        held = ([self.kept] if self.kept is not None else []) + self.new
        self.new = []
        if not held:
            return []
        m = prune(concat(held))
        # what pairing reads of the read's statistics (pandas copies attrs on every step)
        m.attrs = {"dnspcap": {k: self.attrs[k] for k in PAIRING_ATTRS if k in self.attrs}}
        is_dns = (m["service"] == "dns").to_numpy()
        where = np.flatnonzero(is_dns)
        dns = m if len(where) == len(m) else m.take(where)
        full, txn = pair_rows(dns, skew=self.skew)
        lk = lookups(full, search=self._search_lists(full))
        w = build(full, txn, dns, lk, now_ns=self.now, end=end, pair_window_s=self.pair_window_s)
        self.steps += 1
        keep = kept(len(m), where, txn, w)
        aside = Aside(self._scan(m, where, txn, w, keep), fork=len(m) >= ASIDE_FROM and not end)
        try:
            early = [] if end else self._early(w)
        finally:
            forget(w.tx)
            forget(full)
            forget(lk)
        ts = m["ts"].to_numpy("datetime64[ns]").view(np.int64)
        self.pending.append((aside, int(ts[~keep].max(initial=NAT)), self.now))
        events = self._announce(early, settled_only=True)
        self.events += len(events)
        self.kept = m[keep] if keep.any() else None
        del m, dns, full, txn, lk, w, aside
        events += self.collect(wait=end, end=end)
        self._forget_old()
        memory.give_back()  # the step's tables are gone: their pages go back (arrays/memory.py)
        return sorted(events, key=lambda e: e.time)

    def _scan(
        self, m: pd.DataFrame, where: np.ndarray, txn: np.ndarray, w: Window, keep: np.ndarray
    ) -> Callable[[], Scanned]:
        """The step's part and what is kept of its messages (done aside, :mod:`.aside`)."""
        take = self.shown.taken(m)
        chosen = self._chosen

        def scan() -> Scanned:
            part = part_of(m, where, txn, w, keep, **chosen)
            return part, take(part)

        return scan

    def collect(self, *, wait: bool = False, end: bool = False) -> list[Event]:
        """The parts of the steps scanned aside that are back (``wait``: all of them),
        in the steps' order, kept for the report and the lines; the lines they confirm
        (see :meth:`step`: ``end``)."""
        back = False
        while self.pending and (wait or self.pending[0][0].ready()):
            aside, last, now = self.pending.pop(0)
            part, shown = aside.result()
            del aside
            self.lookups_done += part.lookups
            self.shown.add(shown)  # type: ignore[arg-type]
            self.saw_dns = self.saw_dns or bool(part.scans[SUMMARY].count("dns"))
            add(self.parts, self.levels, part, every=self.merge_every, spill=self.spill)
            self._remember(part, last, now)
            back = True
        lines = self._lines(end) if back else []
        self.events += len(lines)
        return lines

    def _remember(self, part: Part, last: int, now: int) -> None:
        """Keep the part for the lines: merged with the others of its ten seconds (the
        latest ten seconds, if the capture's clock went back); those older than the last
        minute, or than RECENT_LOOKUPS lookups, go (``now``: the clock at its step)."""
        bucket = (last if last != NAT else now) // RECENT_BUCKET_NS
        if self.recent and bucket <= self.recent[-1][0]:
            bucket, older = self.recent.pop()
            part = merged([older, part])
        self.recent.append((bucket, part))
        horizon = (now - RECENT_NS) // RECENT_BUCKET_NS
        self.recent = [(b, p) for b, p in self.recent if b >= horizon]
        while len(self.recent) > 1 and sum(p.lookups for _, p in self.recent[1:]) >= RECENT_LOOKUPS:
            self.recent.pop(0)

    def _search_lists(self, full: pd.DataFrame) -> dict[str, list[str]]:
        """Each client's search list: what the messages held show, else what the watch
        learnt of it before (a client whose chains are minutes apart)."""
        self.search.update(infer_search_list(full))
        return self.search

    @property
    def _chosen(self) -> dict[str, Any]:
        return {"select": self.select, "ignore": self.ignore, "options": self.options}

    def _early(self, w: Window) -> list[tuple[Finding, list[tuple[str, int]]]]:
        """The EARLY codes' findings on everything held, final or not, with the client and
        start of each of their lookups."""
        codes = [c for c in EARLY if c in self.codes]
        if not codes or not len(w.lk):
            return []
        part = scan(w.full, w.lk, select=codes, options=self.options)
        found = judge_scans(part.scans, select=codes, options=self.options)
        clients = client_texts(w.lk["client"])
        starts = w.lk["start"].to_numpy("datetime64[ns]").view(np.int64)
        return [(f, _keys(f, clients, starts)) for f in found]

    def _lines(self, end: bool) -> list[Event]:
        """The findings of the parts let go in the last minute of the capture, judged
        together: the lookups they show are final."""
        parts = [p for _, p in self.recent]
        one = parts[0] if len(parts) == 1 else merged(parts)  # in its own numbers
        assert one.lookup_keys is not None
        found = judge_scans(one.scans, **self._chosen)
        starts, clients = one.lookup_keys
        keyed = [(f, _keys(f, clients, starts)) for f in found]
        return self._announce(keyed, end=end)

    def _announce(
        self,
        found: list[tuple[Finding, list[tuple[str, int]]]],
        *,
        settled_only: bool = False,
        end: bool = False,
    ) -> list[Event]:
        """The findings that show a lookup not announced yet. ``settled_only`` (the EARLY
        codes on what is held): only once a second of the capture has passed since the
        last evidence (a TCP retry after TC=1 may overtake the UDP answer, which then
        still comes). A finding without lookups once its last evidence is older than
        anything that could still change it."""
        out: list[Event] = []
        for f, looks in found:
            last = f.last.value if f.last is not None else NAT
            if settled_only and last > self.now - MARGIN_S * 1e9:
                continue
            fresh: list[tuple[str, object, int]] = [
                (f.code, c, s) for c, s in looks if (f.code, c, s) not in self.announced
            ]
            if not f.lookups:
                key: tuple[str, object, int] = (f.code, "", last)
                old = end or last < self.now - UNANSWERED_HOLD_S * 1e9
                fresh = [key] if old and key not in self.announced else []
            if not fresh:
                continue
            for k in fresh:
                self.announced[k] = k[2]
            when = last if f.last is not None else self.now
            out.append(Event(f.code, f.severity, int(when), f.summary, f.display_filter))
        return out

    def _forget_old(self) -> None:
        """An announced lookup is final a hold after its start at the latest: forget it
        then."""
        horizon = self.now - int(3 * UNANSWERED_HOLD_S * 1e9)
        for k in [k for k, t in self.announced.items() if t < horizon]:
            del self.announced[k]

    # -- the end ---------------------------------------------------------------------------

    def report(
        self,
        read_back: Callable[[dict[str, set[int]]], pd.DataFrame] | None = None,
        *,
        ports: Iterable[int] = (53,),
        gather: Callable[[], Tables] | None = None,
        plots: Callable[[Plots], None] | None = None,
    ) -> Report:
        """The report of everything watched: the parts' scans judged together, which is
        ``analyze``'s report of the capture. The evidence is the messages the parts'
        scans named, kept as the watch went (:mod:`dnspcap.watch.shown`), and the read's
        statistics those of the chunks fed (one stream's); ``read_back``, if given, is
        asked for them instead: the messages of the findings' evidence frames (per
        file), the read's statistics in their ``attrs`` (the followed files read again
        as one capture set). ``gather``: the whole's tables, if the timeline (or a user)
        asks for them; ``plots``: see :func:`~dnspcap.pipeline.parts.report_of_parts`."""

        if read_back is None and not self.shown.keep:
            raise ValueError("this watch kept no evidence (evidence=False): give read_back")

        def evidence(frames: dict[str, set[int]]) -> pd.DataFrame:
            if read_back is not None:
                self.shown.drop()
                shown = read_back(frames)
            else:
                shown = self.shown.evidence(frames, self.stats)
            shown.attrs["dnspcap"]["ports"] = sorted(set(ports))
            return shown

        self.collect(wait=True)  # a step's part still scanned aside (no end step was made)
        parts = [loaded(p) for p in self.parts]
        self.parts = list(parts)  # read back once, for good
        return report_of_parts(parts, stats=None, evidence=evidence, gather=gather,
                               plots=plots, **self._chosen)  # fmt: skip

    @property
    def stats(self) -> dict[str, Any]:
        """The read's statistics of everything fed (as ``read_messages`` says them for
        one stream: the chunks' last, with the messages counted over them all)."""
        return dict(self.attrs, messages=self.seq, decode_errors=self.errors,
                    truncated=self.truncated)  # fmt: skip


def _keys(f: Finding, clients: np.ndarray, starts: np.ndarray) -> list[tuple[str, int]]:
    """The client and start of each of the finding's lookups (what a line is once for)."""
    at = np.asarray(f.lookups, np.int64)
    return list(zip(clients[at].tolist(), np.asarray(starts)[at].tolist(), strict=True))


__all__ = ["EARLY", "Engine", "Event"]
