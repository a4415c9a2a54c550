"""Running the detectors over the tables: :func:`detect`.

Pairing knows nothing of detectors; detectors only read the tables. A query seen
several times (before and after DNAT, at several vantage points) is counted once: the
detectors see its first sighting, and its other sightings join the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .finding import SEVERITIES, Finding
from .registry import Detector, catalogue
from .scan import Part, Scan, combine
from .tablecache import forget, remember

COPIES = "copies"  # what detect() keeps for the counted transactions: see copies_of
# Detectors that derive no table another detector also derives (the A/AAAA pairs of one
# socket are DNS001's and DNS003's alone; the retries, waits and per-question sums are
# the others'): another process may scan them beside the rest without doing any of the
# rest's work again (dnspcap.pipeline.side.detect_beside). On the 2M benchmark capture
# they are 0.38 s of the scans' 0.94 s.
APART = ("DNS001", "DNS002", "DNS003", "DNS005", "DNS010")


def copies_of(full: pd.DataFrame) -> pd.DataFrame | None:
    """The sightings of queries counted elsewhere (``copy_of`` >= 0), indexed by the row
    of the one counted: their file and frames, which join a finding's evidence."""
    if "copy_of" not in full.columns:
        return None
    copy_of = full["copy_of"].to_numpy()
    rows = np.flatnonzero(copy_of >= 0)
    copies = full[["file", "query_frames", "response_frames"]].iloc[rows]
    copies.insert(0, "row", full.index.to_numpy()[rows])
    copies.index = pd.Index(copy_of[rows], name="counted")  # a label: a part keeps the whole's
    return copies


def detect(
    transactions: pd.DataFrame,
    lookups: pd.DataFrame,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> list[Finding]:
    """Run the detectors (all, or those selected by code, minus those ignored): judge
    the scan of these tables.

    A query seen several times (before and after kube-proxy's DNAT in a node capture,
    or at several vantage points) is counted once: detectors see its first sighting only
    (``copy_of`` is -1), which says where it was seen and lost (``seen_at``, ``lost_at``).
    """
    chosen = chosen_detectors(select, ignore)
    part, counted = _scan(transactions, lookups, chosen, options)
    try:
        return judge([part], select=select, ignore=ignore, options=options)
    finally:
        # what the detectors derived from the tables (the A/AAAA pairs: ~400 MB at 10M
        # packets) goes now, not when the tables do
        forget(counted)
        forget(lookups)


def scan(
    transactions: pd.DataFrame,
    lookups: pd.DataFrame,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> Part:
    """The map step of :func:`detect`: every chosen detector's scan of these tables (a
    part of the capture whose clients are in no other part), for :func:`judge`."""
    part, counted = _scan(transactions, lookups, chosen_detectors(select, ignore), options)
    forget(counted)
    forget(lookups)
    return part


def split_scan(select: Iterable[str] | None, ignore: Iterable[str]) -> tuple[list[str], list[str]]:
    """The chosen detectors' codes in two groups that share no derived table: those of
    APART, the others."""
    codes = [d.code for d in chosen_detectors(select, ignore)]
    return [c for c in codes if c in APART], [c for c in codes if c not in APART]


def judge(
    parts: Sequence[Part],
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> list[Finding]:
    """The reduce step of :func:`detect`: the findings of the scans of all parts, which
    are those of the whole (:mod:`dnspcap.findings.scan`), most severe first."""
    return judge_scans(combine(parts), select=select, ignore=ignore, options=options)


def judge_scans(
    scans: Mapping[str, Scan],
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> list[Finding]:
    """:func:`judge` of scans already combined (by :func:`~.scan.combine`)."""
    found: list[Finding] = []
    for d in sorted(chosen_detectors(select, ignore), key=lambda d: d.after is not None):
        opts = d.settings(options)  # the catch-alls last: they see the others' findings
        if d.after is not None:
            found.extend(d.after(scans.get(d.code, Scan()), opts, list(found)))
        elif d.judge is not None:
            found.extend(d.judge(scans.get(d.code, Scan()), opts))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(
        found, key=lambda f: (-order[f.severity], f.code, f.first or pd.Timestamp(0, tz="UTC"))
    )


def chosen_detectors(select: Iterable[str] | None, ignore: Iterable[str]) -> list[Detector]:
    """The detectors selected by code (all by default), minus those ignored."""
    chosen = catalogue()
    known = {d.code for d in chosen}
    wanted = set(select) if select is not None else known
    unknown = (wanted | set(ignore)) - known
    if unknown:
        raise ValueError(f"unknown detector code(s): {', '.join(sorted(unknown))}")
    return [d for d in chosen if d.code in wanted and d.code not in set(ignore)]


def _scan(
    transactions: pd.DataFrame,
    lookups: pd.DataFrame,
    chosen: list[Detector],
    options: Mapping[str, float] | None,
) -> tuple[Part, pd.DataFrame]:
    if "copy_of" in transactions.columns and (transactions["copy_of"].to_numpy() >= 0).any():
        full = transactions
        transactions = transactions[transactions["copy_of"].to_numpy() < 0]
        remember(transactions, COPIES, copies_of(full))
        rows = int(full.index.max()) + 1
    else:
        rows = int(transactions.index.max()) + 1 if len(transactions) else 0
    scans = {d.code: d.scan(transactions, lookups, d.settings(options)) for d in chosen}
    return Part(scans, rows=rows, lookups=len(lookups)), transactions
