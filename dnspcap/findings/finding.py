"""A finding: one failure signature seen in a capture, with its evidence, impact and fix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..times import DIGITS, iso
from .markup import spans

if TYPE_CHECKING:
    from ..reading.dissect import Dissection

SEVERITIES = ("info", "warning", "error", "critical")


@dataclass(frozen=True, slots=True)
class Finding:
    """One failure signature seen in a capture, with its evidence, impact and fix."""

    code: str
    name: str
    severity: str
    confidence: str  # "high", "medium", "low"
    summary: str
    clients: tuple[str, ...]
    servers: tuple[str, ...]
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    occurrences: int
    seen: int  # out of how many comparable things (pairs, lookups, queries)
    # the lookups it concerns (positions in the lookups table): the verdict checks that
    # every failed or slow lookup is among those of a finding severe enough
    lookups: tuple[int, ...]
    seconds_lost: float
    # the evidence: per capture file, its frames (numbers count from 1 in each file, as
    # Wireshark numbers them: a file opens on its own)
    evidence_frames: Mapping[str, tuple[int, ...]]
    remediation: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.occurrences / self.seen if self.seen else 0.0

    @property
    def lookups_affected(self) -> int:
        return len(self.lookups)

    @property
    def files(self) -> tuple[str, ...]:
        """The capture files the evidence is in."""
        return tuple(self.evidence_frames)

    @property
    def frames(self) -> tuple[int, ...]:
        """The evidence frames, file by file."""
        return tuple(f for frames in self.evidence_frames.values() for f in frames)

    @property
    def display_filters(self) -> dict[str, str]:
        """Per file, the Wireshark display filter that shows its evidence frames."""
        return {file: frame_filter(frames) for file, frames in self.evidence_frames.items()}

    @property
    def display_filter(self) -> str:
        """The Wireshark display filter of the evidence when it is in one file (with
        several files, each has its own: :attr:`display_filters`)."""
        filters = list(self.display_filters.values())
        return filters[0] if len(filters) == 1 else ""

    def packets(self, limit: int = 10_000) -> list[Any]:
        """The evidence frames as scapy packets (``pip install 'dnspcap[inspect]'``).

        Reads the capture file(s) the evidence is in again; each packet has ``frame``,
        ``file`` and ``time`` attributes.
        """
        from ..reading.packets import read_frames

        return read_frames(self.evidence_frames, limit=limit)

    def dissect(self, limit: int = 1_000, tshark_path: str | None = None) -> Dissection:
        """Its evidence packets as Wireshark dissects them: each file read by tshark through
        the display filter the finding gives for it (:attr:`display_filters`), through
        pyshark (``pip install 'dnspcap[inspect]'``; tshark from Wireshark).

        Returns a :class:`~dnspcap.reading.dissect.Dissection`, a list of packets with
        their file, frame and pyshark packet; ``print()`` shows every dissection tree and
        Jupyter a fold per packet. Safe inside Jupyter's running event loop.
        """
        from ..reading.dissect import dissect

        return dissect(self.display_filters, limit=limit, tshark_path=tshark_path)

    def __repr__(self) -> str:
        """One line; every field is an attribute (``as_dict()`` gives them all)."""
        where = f" in {len(self.files)} files" if len(self.files) > 1 else ""
        summary = self.summary if len(self.summary) <= 100 else self.summary[:97] + "..."
        return (
            f"<dnspcap.Finding {self.code} {self.name} ({self.severity}): {printable(summary)}; "
            f"{len(self.frames)} evidence frames{where}>"
        )

    def _repr_html_(self) -> str:
        """Jupyter shows a finding on its own so: its headline facts (the report shows
        it with its evidence table)."""
        rows = [("severity", self.severity), ("summary", self.summary),
                ("clients", listed(self.clients)), ("servers", listed(self.servers)),
                ("impact", f"{self.occurrences} of {self.seen}; lookups affected: "
                           f"{self.lookups_affected}; time lost: {self.seconds_lost:.3f} s"),
                ("Wireshark", self._filters_shown()),
                ("fix", self.remediation)]  # fmt: skip
        fix = rows.pop()[1]  # our text: its code spans are code
        cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        code = "".join(f"<code>{escape(t)}</code>" if c else escape(t) for t, c in spans(fix))
        cells += f"<tr><th>fix</th><td>{code}</td></tr>"
        return f"<p><b>{escape(self.code)} {escape(self.name)}</b></p><table>{cells}</table>"

    def _filters_shown(self, first: int = 12) -> str:
        """The display filters, per file; over FILTER_FRAMES frames, those of the first
        `first` (a filter of a thousand numbers is no use on a screen)."""
        if len(self.frames) <= FILTER_FRAMES:
            return "; ".join(f"{f}: {d}" for f, d in self.display_filters.items())
        shown: list[tuple[str, str, int]] = []
        for file, frames in self.evidence_frames.items():
            chosen = sorted(set(frames))[: first - sum(n for _, _, n in shown)]
            if chosen:
                shown.append((file, frame_filter(chosen), len(chosen)))
        return "; ".join(f"{f}: {d}" for f, d, _ in shown) + (
            f" (the first {first} of {len(self.frames):,} frames; display_filters has them all)"
        )

    def as_dict(self, digits: int = DIGITS) -> dict[str, Any]:
        """The finding as plain values (JSON's): times in ISO 8601 UTC with ``digits``
        digits of a second (the capture's precision)."""
        skip = ("evidence_frames",)
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in skip}
        d["rate"] = self.rate
        for k in ("first", "last"):
            d[k] = iso(d[k], digits)
        d["clients"], d["servers"] = list(self.clients), list(self.servers)
        d["lookups_affected"], d["lookups"] = self.lookups_affected, list(self.lookups)
        d["files"], d["frames"] = list(self.files), list(self.frames)
        d["evidence_frames"] = {k: list(v) for k, v in self.evidence_frames.items()}
        d["display_filter"] = self.display_filter
        d["display_filters"] = self.display_filters
        d["details"] = dict(self.details)
        return d


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(s: str) -> str:
    """Text that may hold a capture's names, safe to print on a terminal: control
    characters (a crafted qname's cursor moves, colours) shown as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


# Wireshark's filter bar takes a filter of a thousand frame numbers, but nobody can read,
# edit or paste it: above this many evidence frames a report (and a finding in Jupyter)
# prints the filter of the first few, and display_filters (the JSON report) has them all
FILTER_FRAMES = 100


def frame_filter(frames: Iterable[int]) -> str:
    """A Wireshark display filter that shows exactly these frames, all of them (a report
    prints a shorter one when they are many: :mod:`dnspcap.report.document`)."""
    chosen = sorted(set(int(f) for f in frames))
    # commas: Wireshark 4 refuses a set of space-separated numbers (3.6 takes both)
    return "frame.number in {" + ", ".join(map(str, chosen)) + "}" if chosen else ""


LIST_ITEMS = 10  # items a report lists (clients, servers, names, flows); the rest counted


def listed(items: Iterable[str], shown: int = LIST_ITEMS) -> str:
    """Items for a reader: the first `shown`, and how many more ("a, b and 5,164 more");
    "-" for none. The full lists are in the JSON report and the tables."""
    items = list(items)
    more = len(items) - shown
    head = ", ".join(items[: max(shown, 0)] if more > 0 else items)
    return (head + f" and {more:,} more" if more > 0 else head) or "-"
