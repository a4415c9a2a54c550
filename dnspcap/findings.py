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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

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
    lookups_affected: int
    seconds_lost: float
    frames: tuple[int, ...]
    display_filter: str
    remediation: str
    details: Mapping[str, Any] = field(default_factory=dict)
    # the capture file(s) the frames are in: frame numbers count from 1 in each file
    files: tuple[str, ...] = ()
    source: tuple[str, ...] = ()  # every file analysed, set by `analyze`, for `packets()`

    @property
    def rate(self) -> float:
        return self.occurrences / self.seen if self.seen else 0.0

    def packets(self, limit: int = 10_000) -> list[Any]:
        """The evidence frames as scapy packets (``pip install 'dnspcap[inspect]'``).

        Reads the capture file(s) the finding came from again; each packet has
        ``frame``, ``file`` and ``time`` attributes. Needs ``source``, which
        :func:`dnspcap.analyze` sets.
        """
        from .packets import read_frames

        if not self.source:
            raise ValueError(
                "this finding does not know its capture file; use dnspcap.analyze(path), or "
                "dataclasses.replace(finding, source=(path,))"
            )
        # the files the evidence is in, as `analyze` named them (paths, or "-")
        files = [f for f in self.source if not self.files or f in self.files]
        return read_frames(files or self.source, self.frames, limit=limit)

    def _repr_html_(self) -> str:
        from .render.html import finding_fragment

        return finding_fragment(self)

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "source"}
        d["rate"] = self.rate
        for k in ("first", "last"):
            d[k] = None if d[k] is None else d[k].isoformat()
        d["clients"], d["servers"], d["frames"], d["files"] = (
            list(self.clients), list(self.servers), list(self.frames), list(self.files)
        )  # fmt: skip
        d["details"] = dict(self.details)
        return d


@dataclass(frozen=True, slots=True)
class Option:
    """A named threshold: its default and where the default comes from."""

    name: str
    default: float
    source: str


Run = Callable[[pd.DataFrame, pd.DataFrame, Mapping[str, float]], list[Finding]]


@dataclass(frozen=True, slots=True)
class Detector:
    code: str
    name: str
    severity: str
    options: tuple[Option, ...]
    run: Run
    doc: str


REGISTRY: dict[str, Detector] = {}


def detector(
    code: str, name: str, severity: str, options: Iterable[Option] = ()
) -> Callable[[Run], Run]:
    """Register a detector function; its module's docstring is its documentation."""

    def wrap(fn: Run) -> Run:
        if code in REGISTRY:
            raise ValueError(f"detector code {code} registered twice")
        doc = sys.modules[fn.__module__].__doc__ or ""
        REGISTRY[code] = Detector(code, name, severity, tuple(options), fn, doc)
        return fn

    return wrap


def catalogue() -> list[Detector]:
    """Every detector, by code (importing :mod:`dnspcap.detectors` registers them)."""
    importlib.import_module("dnspcap.detectors")

    return [REGISTRY[c] for c in sorted(REGISTRY)]


def detect(
    transactions: pd.DataFrame,
    lookups: pd.DataFrame,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> list[Finding]:
    """Run the detectors (all, or those selected by code, minus those ignored).

    In a node capture every pod query is seen twice, before and after kube-proxy's
    DNAT; detectors see its first copy only (`nat_copy` is False), so nothing is
    counted twice.
    """
    if "nat_copy" in transactions.columns and transactions["nat_copy"].any():
        transactions = transactions[~transactions["nat_copy"].to_numpy(bool)]
    chosen = catalogue()
    known = {d.code for d in chosen}
    wanted = set(select) if select is not None else known
    unknown = (wanted | set(ignore)) - known
    if unknown:
        raise ValueError(f"unknown detector code(s): {', '.join(sorted(unknown))}")
    found: list[Finding] = []
    try:
        for d in chosen:
            if d.code in wanted and d.code not in set(ignore):
                opts = {o.name: float((options or {}).get(o.name, o.default)) for o in d.options}
                found.extend(d.run(transactions, lookups, opts))
    finally:
        from .detectors._util import forget  # imported with the detectors by catalogue()

        forget(transactions, lookups)
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
