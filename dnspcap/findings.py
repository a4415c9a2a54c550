"""Stage 3: findings, the detector registry, and `detect`.

A detector reads the transactions and lookups tables and returns findings.
Each detector is one module in :mod:`dnspcap.detectors` with a stable code
(like a linter's: ``DNS001``), a dotted name, a default severity, named
thresholds with their source, and a docstring that is its documentation page.
Pairing knows nothing of detectors; detectors only read the tables.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .tablecache import forget, remember

SEVERITIES = ("info", "warning", "error", "critical")
COPIES = "copies"  # what detect() keeps for the counted transactions: see copies_of


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
        from .packets import read_frames

        return read_frames(self.evidence_frames, limit=limit)

    def _repr_html_(self) -> str:
        from .render.html import finding_fragment

        return finding_fragment(self)

    def as_dict(self) -> dict[str, Any]:
        skip = ("evidence_frames",)
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in skip}
        d["rate"] = self.rate
        for k in ("first", "last"):
            d[k] = None if d[k] is None else d[k].isoformat()
        d["clients"], d["servers"] = list(self.clients), list(self.servers)
        d["lookups_affected"], d["lookups"] = self.lookups_affected, list(self.lookups)
        d["files"], d["frames"] = list(self.files), list(self.frames)
        d["evidence_frames"] = {k: list(v) for k, v in self.evidence_frames.items()}
        d["display_filter"] = self.display_filter
        d["display_filters"] = self.display_filters
        d["details"] = dict(self.details)
        return d


@dataclass(frozen=True, slots=True)
class Option:
    """A named threshold: its default and where the default comes from."""

    name: str
    default: float
    source: str


Run = Callable[[pd.DataFrame, pd.DataFrame, Mapping[str, float]], list[Finding]]
# a catch-all detector also sees what the others found, to report what they left out
RunAfter = Callable[
    [pd.DataFrame, pd.DataFrame, Mapping[str, float], Sequence[Finding]], list[Finding]
]


@dataclass(frozen=True, slots=True)
class Detector:
    code: str
    name: str
    severity: str
    options: tuple[Option, ...]
    run: Run | None
    doc: str
    after: RunAfter | None = None  # a catch-all: runs after the others, with their findings


REGISTRY: dict[str, Detector] = {}


def detector(
    code: str, name: str, severity: str, options: Iterable[Option] = ()
) -> Callable[[Run], Run]:
    """Register a detector function; its module's docstring is its documentation."""

    def wrap(fn: Run) -> Run:
        _register(Detector(code, name, severity, tuple(options), fn, _doc(fn)))
        return fn

    return wrap


def catch_all(
    code: str, name: str, severity: str, options: Iterable[Option] = ()
) -> Callable[[RunAfter], RunAfter]:
    """Register a catch-all detector: it runs after the others and gets their findings."""

    def wrap(fn: RunAfter) -> RunAfter:
        _register(Detector(code, name, severity, tuple(options), None, _doc(fn), fn))
        return fn

    return wrap


def _doc(fn: Callable[..., object]) -> str:
    return sys.modules[fn.__module__].__doc__ or ""


def _register(d: Detector) -> None:
    if d.code in REGISTRY:
        raise ValueError(f"detector code {d.code} registered twice")
    REGISTRY[d.code] = d


def catalogue() -> list[Detector]:
    """Every detector, by code (importing :mod:`dnspcap.detectors` registers them)."""
    importlib.import_module("dnspcap.detectors")

    return [REGISTRY[c] for c in sorted(REGISTRY)]


def copies_of(full: pd.DataFrame) -> pd.DataFrame | None:
    """The sightings of queries counted elsewhere (``copy_of`` >= 0), indexed by the row
    of the one counted: their file and frames, which join a finding's evidence."""
    if "copy_of" not in full.columns:
        return None
    copy_of = full["copy_of"].to_numpy()
    rows = np.flatnonzero(copy_of >= 0)
    copies = full.iloc[rows][["file", "query_frames", "response_frames"]]
    copies.insert(0, "row", full.index.to_numpy()[rows])
    copies.index = pd.Index(full.index.to_numpy()[copy_of[rows]], name="counted")
    return copies


def detect(
    transactions: pd.DataFrame,
    lookups: pd.DataFrame,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> list[Finding]:
    """Run the detectors (all, or those selected by code, minus those ignored).

    A query seen several times (before and after kube-proxy's DNAT in a node capture,
    or at several vantage points) is counted once: detectors see its first sighting only
    (``copy_of`` is -1), which says where it was seen and lost (``seen_at``, ``lost_at``).
    """
    if "copy_of" in transactions.columns and (transactions["copy_of"].to_numpy() >= 0).any():
        full = transactions
        transactions = transactions[transactions["copy_of"].to_numpy() < 0]
        remember(transactions, COPIES, copies_of(full))
    chosen = catalogue()
    known = {d.code for d in chosen}
    wanted = set(select) if select is not None else known
    unknown = (wanted | set(ignore)) - known
    if unknown:
        raise ValueError(f"unknown detector code(s): {', '.join(sorted(unknown))}")
    found: list[Finding] = []
    run = [d for d in chosen if d.code in wanted and d.code not in set(ignore)]
    try:
        for d in sorted(run, key=lambda d: d.after is not None):  # the catch-alls last
            opts = {o.name: float((options or {}).get(o.name, o.default)) for o in d.options}
            if d.after is not None:
                found.extend(d.after(transactions, lookups, opts, list(found)))
            elif d.run is not None:
                found.extend(d.run(transactions, lookups, opts))
    finally:
        # what the detectors derived from the tables (the A/AAAA pairs: ~400 MB at 10M
        # packets) goes now, not when the tables do
        forget(transactions)
        forget(lookups)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(
        found, key=lambda f: (-order[f.severity], f.code, f.first or pd.Timestamp(0, tz="UTC"))
    )


def frame_filter(frames: Iterable[int], limit: int = 200) -> str:
    """A Wireshark display filter that shows exactly these frames (the first `limit`)."""
    chosen = sorted(set(int(f) for f in frames))[:limit]
    return "frame.number in {" + " ".join(map(str, chosen)) + "}" if chosen else ""


def render_catalogue() -> str:
    """The detector catalogue as Markdown, generated from the detectors' code."""
    lines = [
        "# Detectors",
        "",
        "Generated from `dnspcap/detectors/` by `python -m dnspcap.findings`; do not edit.",
        "",
        "| code | name | default severity | thresholds |",
        "|---|---|---|---|",
    ]
    for d in catalogue():
        opts = "; ".join(f"`{o.name}` = {o.default:g} ({o.source})" for o in d.options)
        lines.append(f"| {d.code} | `{d.name}` | {d.severity} | {opts or '-'} |")
    for d in catalogue():
        lines += ["", f"## {d.code} `{d.name}`", "", d.doc.strip()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - regenerates docs/detectors.md
    # the registry lives in the package's module, not in this __main__ copy of it
    from dnspcap.findings import render_catalogue as _render

    print(_render(), end="")
