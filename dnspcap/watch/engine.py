"""The watch itself: messages in, findings out, with the memory of a few minutes.

:class:`Engine` takes the messages table in chunks as the reader decodes them
(:meth:`Engine.feed`) and, at each :meth:`Engine.step`, runs the batch stages on the
messages it holds (:mod:`dnspcap.watch.window`): the transactions and lookups no later
packet can change are *final*; each detector's state takes what they show
(:mod:`dnspcap.watch.detectors`), the traffic's totals take their counts
(:mod:`dnspcap.watch.totals`), and their messages are let go. What it holds is then the
packets of the last ``LOOKUP_HOLD_S`` seconds and the unanswered queries of the last
``UNANSWERED_HOLD_S``: its memory follows the traffic's rate, not the watch's length.

Because each step runs the same stages as ``analyze``, and a row is final only once the
rest of the capture can no longer change it, the findings of a watch over a capture
are those of ``analyze`` on it (``tests/test_watch.py`` holds them equal on every
sample; ``docs/watch.md`` says which fields and where they can differ).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..findings import SEVERITIES, Finding, catalogue
from ..findings.detection import COPIES
from ..findings.detectors._util import PAIR_WINDOW
from ..findings.tablecache import forget, remember
from ..grouping import lookups
from ..pairing import SKEW_ALLOWANCE_S
from ..pairing.transactions import pair_rows
from .detectors import STATES, Event, State
from .messages import concat, prune
from .totals import Totals
from .window import ANSWERED_HOLD_S, UNANSWERED_HOLD_S, Window, build

NAT = np.iinfo(np.int64).min


class Engine:
    """A watch over one capture (one vantage point: a stream, a file and its rotated
    successors, or an interface)."""

    def __init__(
        self,
        *,
        select: Iterable[str] | None = None,
        ignore: Iterable[str] = (),
        options: Mapping[str, float] | None = None,
        skew: float = SKEW_ALLOWANCE_S,
    ) -> None:
        chosen = catalogue()
        known = {d.code for d in chosen}
        wanted = set(select) if select is not None else known
        unknown = (wanted | set(ignore)) - known
        if unknown:
            raise ValueError(f"unknown detector code(s): {', '.join(sorted(unknown))}")
        run = [d for d in chosen if d.code in wanted and d.code not in set(ignore)]
        self.detectors = sorted(run, key=lambda d: d.after is not None)  # catch-alls last
        self.opts = {
            d.code: {o.name: float((options or {}).get(o.name, o.default)) for o in d.options}
            for d in self.detectors
        }
        self.pair_window_s = float((options or {}).get(PAIR_WINDOW.name, PAIR_WINDOW.default))
        self.states: dict[str, State] = {d.code: STATES[d.code]() for d in self.detectors}
        self.skew = skew
        self.kept: pd.DataFrame | None = None  # messages of rows not final yet
        self.new: list[pd.DataFrame] = []
        self.seq = 0  # messages fed so far: each one's arrival number is its index label
        self.now = NAT  # the capture's clock: its latest message, ns
        self.steps = 0
        self.next_lookup = 0
        self.announced: set[tuple[object, ...]] = set()
        self.attrs: dict[str, Any] = {}
        self.totals = Totals()
        self.icmp: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}

    # -- input -----------------------------------------------------------------------------

    def feed(self, chunk: pd.DataFrame) -> None:
        """Messages as the reader decoded them (a chunk of the messages table)."""
        stats = dict(chunk.attrs.get("dnspcap", {}))
        self._note_icmp(stats.get("icmp_errors", []))
        self.attrs = stats
        if not len(chunk):
            return
        chunk = chunk.copy(deep=False)
        chunk.index = pd.RangeIndex(self.seq, self.seq + len(chunk))
        self.seq += len(chunk)
        self.totals.feed(chunk)
        ts = chunk["ts"].to_numpy("datetime64[ns]").view(np.int64)
        ts = ts[ts != NAT]
        if len(ts):
            self.now = max(self.now, int(ts.max()))
        self.new.append(chunk)

    @property
    def held(self) -> int:
        """Messages held: kept from earlier steps and fed since."""
        return (0 if self.kept is None else len(self.kept)) + sum(len(c) for c in self.new)

    # -- a step ----------------------------------------------------------------------------

    def step(self, *, end: bool = False, now: int | None = None) -> list[Event]:
        """Pair and group what is held, take what is final, let its messages go.

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
        m.attrs = {"dnspcap": self._attrs()}
        full, txn = pair_rows(m, skew=self.skew)
        lk = lookups(full)
        w = build(
            full, txn, m, lk, now_ns=self.now, end=end, step=self.steps,
            next_id=self.next_lookup, pair_window_s=self.pair_window_s,
        )  # fmt: skip
        self.steps += 1
        self.next_lookup += int(w.lk_final.sum())
        try:
            events = self._detect(w)
            self.totals.observe(w)
        finally:
            forget(w.tx)
            forget(w.full)
            forget(w.lk)
        keep = ~w.final[txn] if len(txn) else np.zeros(0, bool)
        self.kept = m[keep] if keep.any() else None
        self._forget_icmp()
        return events

    def _detect(self, w: Window) -> list[Event]:
        if w.copies is not None:
            remember(w.tx, COPIES, w.copies)
        events: list[Event] = []
        found: list[Finding] = []
        for d in self.detectors:
            opts = self.opts[d.code]
            state = self.states[d.code]
            events += state.early(w, opts)
            part = state.fresh()
            part.observe(w, opts)
            mine = part.findings(opts, found)
            found += mine
            if not type(part).early_only:
                events += [_event(f, w) for f in mine]
            state.merge(part)
        fresh = [e for e in events if e.key not in self.announced]
        self.announced.update(e.key for e in fresh)
        return sorted(fresh, key=lambda e: e.time)

    def findings(self) -> list[Finding]:
        """The findings of everything final so far, as ``detect`` orders them."""
        found: list[Finding] = []
        for d in self.detectors:
            found += self.states[d.code].findings(self.opts[d.code], list(found))
        order = {s: i for i, s in enumerate(SEVERITIES)}
        return sorted(
            found,
            key=lambda f: (-order[f.severity], f.code, f.first or pd.Timestamp(0, tz="UTC")),
        )

    # -- ICMP errors: kept while a transaction they answer may still come -------------------

    def _note_icmp(self, errors: list[dict[str, Any]]) -> None:
        for e in errors:
            key = (e["client"], e["client_port"], e["server"], e["server_port"], e["id"])
            if key not in self.icmp:
                self.icmp[key] = (int(pd.Timestamp(e["ts"]).value), e)

    def _forget_icmp(self) -> None:
        horizon = self.now - int(UNANSWERED_HOLD_S * 1e9)
        for key in [k for k, (t, _) in self.icmp.items() if t < horizon]:
            del self.icmp[key]

    def _attrs(self) -> dict[str, Any]:
        out = dict(self.attrs)
        out["icmp_errors"] = [e for _, e in self.icmp.values()]
        return out


def _event(f: Finding, w: Window) -> Event:
    """A step's finding as a line: confirmed when its rows became final."""
    when = f.last if f.last is not None else pd.Timestamp(w.now_ns, tz="UTC")
    return Event(f.code, f.severity, int(when.value), f.summary, f.display_filter,
                 (f.code, "step", w.step))  # fmt: skip


__all__ = ["ANSWERED_HOLD_S", "Engine", "Event"]
