"""Detection as map and reduce: what a detector saw in one part of the tables.

A detector is two functions. ``scan(tx, lookups, opts)`` reads one part of the tables
(the whole capture in process; a partition of the clients on a cluster) and returns a
:class:`Scan`: tables of the rows that may show its signature, with what judging them
needs, and counts (the population a rate is out of). ``judge(scan, opts)`` applies the
thresholds and writes the findings. :func:`combine` makes one scan of the scans of parts
that share no client socket: their tables are concatenated, their counts added. So
``judge(combine([scan(p) for p in parts]))`` is ``judge(scan(whole))``, exactly: every
signature is a pattern of one client's sockets, and what spans clients (a server's
queries, a question asked by many) is kept as per-server or per-question rows that the
judge sums.

Two column names have a meaning in a scan's tables: ``row`` holds transactions-table
labels and ``lookup`` lookups-table positions. Combining moves each part's into the
whole's numbering (:class:`Part`), and puts every table in ``row`` order, then
``lookup`` order, where it has them: the order of the whole's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ROW = "row"
LOOKUP = "lookup"


@dataclass
class Scan:
    """One detector's view of one part of the tables, before its thresholds."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())

    def count(self, name: str) -> float:
        return self.counts.get(name, 0)


@dataclass
class Part:
    """Every detector's scan of one part, and where its numbering sits in the whole's:
    ``row_offset`` is added to its transaction labels; its lookup positions are offset by
    the lookups of the parts before it, or mapped through ``lookup_at`` (the whole's
    position of each of its lookups) when the part was cut out of whole tables."""

    scans: dict[str, Scan]
    rows: int  # one past its largest transaction label
    lookups: int  # its lookups
    row_offset: int | None = None  # None: after the parts before it
    lookup_at: np.ndarray | None = None


def combine(parts: Sequence[Part]) -> dict[str, Scan]:
    """The scans of the whole from those of its parts (see the module's docstring)."""
    if len(parts) == 1 and not parts[0].row_offset and parts[0].lookup_at is None:
        return parts[0].scans
    codes = sorted({c for p in parts for c in p.scans})
    shifted: list[dict[str, Scan]] = []
    rows = looks = 0
    for p in parts:
        roff = rows if p.row_offset is None else p.row_offset
        shifted.append({c: _moved(s, roff, looks, p.lookup_at) for c, s in p.scans.items()})
        rows = max(rows, roff + p.rows)
        looks += p.lookups
    return {c: _merged([s[c] for s in shifted if c in s]) for c in codes}


def _moved(s: Scan, row_offset: int, lookup_offset: int, lookup_at: np.ndarray | None) -> Scan:
    tables = {}
    for name, t in s.tables.items():
        if (ROW in t.columns and row_offset) or (LOOKUP in t.columns):
            t = t.copy(deep=False)
            if ROW in t.columns and row_offset:
                t[ROW] = t[ROW].to_numpy(np.int64) + row_offset
            if LOOKUP in t.columns:
                at = t[LOOKUP].to_numpy(np.int64)
                whole = (
                    lookup_at[np.maximum(at, 0)] if lookup_at is not None else at + lookup_offset
                )
                t[LOOKUP] = np.where(at >= 0, whole, -1)
        tables[name] = t
    return Scan(tables, dict(s.counts))


def _merged(scans: list[Scan]) -> Scan:
    names = sorted({n for s in scans for n in s.tables})
    tables = {}
    for n in names:
        parts = [s.tables[n] for s in scans if n in s.tables and len(s.tables[n].columns)]
        if not parts:
            tables[n] = pd.DataFrame()
            continue
        t = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        keys = [k for k in (LOOKUP, ROW) if k in t.columns]  # the last is the first key
        if keys and len(parts) > 1:
            order = np.lexsort([t[k].to_numpy(np.int64) for k in keys])
            t = t.take(order).reset_index(drop=True)
        tables[n] = t
    counts: dict[str, float] = {}
    for s in scans:
        for k, v in s.counts.items():
            counts[k] = counts.get(k, 0) + v
    return Scan(tables, counts)
