"""The watch itself: messages in, confirmed findings out, with the memory of a minute.

:class:`Engine` takes the messages table in chunks as the reader decodes them
(:meth:`Engine.feed`) and, at each :meth:`Engine.step`, runs the batch stages on the
messages it holds: ``pair`` → ``lookups`` → ``detect``, the functions ``analyze`` runs.
:mod:`dnspcap.watch.window` says which transactions and lookups no later packet can
change (*final*); the findings that show final lookups are announced (an
:class:`Event` each, once per lookup) and the messages of final transactions are let
go. What it holds is then the packets of the last ``LOOKUP_HOLD_S`` seconds and the
unanswered queries of the last ``UNANSWERED_HOLD_S``: its memory follows the traffic's
rate, not the watch's length.

A race (DNS001) is announced as soon as a step sees it (its lost query resent or timed
out) and a second more of the capture has passed (an answer overtaken by the retry still
comes), before its lookup is final: that is the line a user waits for.

The report at the end is ``analyze`` of the bytes watched (:mod:`dnspcap.watch.run`):
the lines are what was *seen* while watching, the report what the whole capture says.
``tests/test_watch.py`` holds the codes of the two equal on every sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..findings import Finding, catalogue, detect
from ..findings.detectors._util import PAIR_WINDOW
from ..findings.tablecache import forget
from ..grouping import lookups
from ..pairing import SKEW_ALLOWANCE_S
from ..pairing.transactions import pair_rows
from .messages import concat, prune
from .window import MARGIN_S, UNANSWERED_HOLD_S, Window, build

NAT = np.iinfo(np.int64).min
EARLY = frozenset({"DNS001"})  # announced when seen, not when final (see the docstring)


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
        self.lookups_done = 0
        self.events = 0
        self.steps = 0

    # -- input -----------------------------------------------------------------------------

    def feed(self, chunk: pd.DataFrame) -> None:
        """Messages as the reader decoded them (a chunk of the messages table)."""
        self.attrs = dict(chunk.attrs.get("dnspcap", {}))
        if not len(chunk):
            return
        chunk = chunk.copy(deep=False)
        chunk.index = pd.RangeIndex(self.seq, self.seq + len(chunk))
        self.seq += len(chunk)
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
        """Pair, group and detect on what is held; announce what is confirmed; let the
        messages of final transactions go.

        ``end``: the capture ended, everything is final. ``now``: the capture's clock when
        it is known to be later than its latest message (a live capture with no traffic
        for a while: its queries time out all the same).
        """
        if now is not None:
            self.now = max(self.now, now)
        parts = ([self.kept] if self.kept is not None else []) + self.new
        self.new = []
        if not parts:
            return []
        m = prune(concat(parts))
        m.attrs = {"dnspcap": dict(self.attrs)}
        dns = m[m["service"] == "dns"] if (m["service"] != "dns").any() else m
        full, txn = pair_rows(dns, skew=self.skew)
        lk = lookups(full)
        w = build(full, txn, dns, lk, now_ns=self.now, end=end, pair_window_s=self.pair_window_s)
        self.steps += 1
        try:
            found = detect(full, lk, select=self.select, ignore=self.ignore, options=self.options)
            events = self._announce(found, w)
        finally:
            forget(w.tx)
            forget(full)
            forget(lk)
        self.lookups_done += int(w.lk_final.sum())
        keep = np.zeros(len(m), bool)
        if len(txn):
            keep[np.flatnonzero(m.index.isin(dns.index))] = ~w.final[txn]
        self.kept = m[keep] if keep.any() else None
        return events

    def _announce(self, found: list[Finding], w: Window) -> list[Event]:
        """The findings that show a lookup not announced yet, and final (or not yet
        final, for the EARLY codes); a finding without lookups once its last evidence is
        older than anything that could still change it."""
        clients = w.lk["client"].astype(str).to_numpy() if len(w.lk) else np.zeros(0, str)
        starts = (
            w.lk["start"].to_numpy("datetime64[ns]").view(np.int64)
            if len(w.lk)
            else np.zeros(0, np.int64)
        )
        out: list[Event] = []
        for f in found:
            pos = np.asarray(f.lookups, np.int64)
            last = f.last.value if f.last is not None else self.now
            # an answer may still come just after the retry (a TCP retry after TC=1
            # overtakes the UDP answer): for an EARLY code, a second of the capture's clock
            # settles it; with its evidence newer than that (races every second), its final
            # lookups are announced as any code's
            settled = f.code in EARLY and last <= self.now - MARGIN_S * 1e9
            if len(pos) and not (settled or w.end):
                pos = pos[w.lk_final[pos]]
            keys = [(f.code, clients[p], int(starts[p])) for p in pos.tolist()]
            fresh = [k for k in keys if k not in self.announced]
            if not f.lookups:
                last = f.last.value if f.last is not None else NAT
                key: tuple[str, object, int] = (f.code, "", last)
                old = w.end or last < self.now - UNANSWERED_HOLD_S * 1e9
                fresh = [key] if old and key not in self.announced else []
            if not fresh:
                continue
            for k in fresh:
                self.announced[k] = k[2]
            when = f.last.value if f.last is not None else self.now
            out.append(Event(f.code, f.severity, int(when), f.summary, f.display_filter))
        self.events += len(out)
        # an announced lookup is final a hold after its start at the latest: forget it then
        horizon = self.now - int(3 * UNANSWERED_HOLD_S * 1e9)
        for k in [k for k, t in self.announced.items() if t < horizon]:
            del self.announced[k]
        return sorted(out, key=lambda e: e.time)


__all__ = ["EARLY", "Engine", "Event"]
