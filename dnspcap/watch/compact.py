"""A watch's past, kept small: the parts it let go merged, a few at a time.

Every step lets go of a part (:mod:`dnspcap.watch.released`); a watch of hours steps
thousands of times. Parts are merged as a log-structured store merges its runs: once
the last ``COMPACT_PARTS`` parts are of one level, they become one part of the next
level, so a watch holds a few parts per level and each part is merged a few times.

A merged part is numbered as its parts were: it keeps every row's and lookup's key,
sorted (:class:`~dnspcap.findings.scan.Part`), so however late a transaction is let
go, it falls in its place among all. Merging keeps what the judges read and nothing
more: the evidence rows a finding shows (:func:`~dnspcap.findings.detectors._evidence.
needed`), the questions' sums added up; the rest (round-trip times for percentiles, a
row per lookup for the clients table, the keys) grows with the traffic, a few dozen
bytes per lookup.

Given a folder (``spill``), a watch keeps in memory only the small parts not merged
yet: a merged part, or a big one, is written there (:class:`Spilled`) and read back to
be merged again, until a merge would hold more than ``MERGED_LOOKUPS`` lookups (such
parts stay as they are). Memory then holds a few steps' parts, whatever the watch's
length; the report at the end reads them all.
"""

from __future__ import annotations

import itertools
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..findings.detectors._evidence import EVIDENCE_TRANSACTIONS, needed, unique_ints
from ..findings.scan import ROW, Part, Scan, combine, numbering
from .messages import prune

COMPACT_PARTS = 8  # parts of one level merged into one of the next
QUESTION_KEYS = ["qname", "qtype"]


MERGED_LOOKUPS = 500_000  # spilled parts are merged up to this many lookups
SPILLED_LOOKUPS = 20_000  # a part let go with this many is spilled at once (a fast pipe)
DONE = -1  # the level of a spilled part merged no more


@dataclass(frozen=True)
class Spilled:
    """A part written to a file: what a watch keeps of it in memory."""

    path: Path
    lookups: int


_numbers = itertools.count()


def spilled(part: Part, folder: Path) -> Spilled:
    path = folder / f"part-{next(_numbers):08d}.pickle"
    with path.open("wb") as f:
        pickle.dump(part, f, protocol=pickle.HIGHEST_PROTOCOL)
    return Spilled(path, part.lookups)


def loaded(part: Part | Spilled) -> Part:
    """The part, read back if it was spilled (its file goes: a part is read once)."""
    if isinstance(part, Part):
        return part
    with part.path.open("rb") as f:
        one: Part = pickle.load(f)
    part.path.unlink()
    return one


def add(
    parts: list[Part | Spilled],
    levels: list[int],
    part: Part,
    *,
    every: int = COMPACT_PARTS,
    spill: Path | None = None,
) -> None:
    """Add the part (level 0) to the watch's parts, merging runs of ``every`` parts of
    one level, in place; ``spill``: the folder merged parts are written to."""
    parts.append(trimmed(part))
    levels.append(0)
    while len(levels) >= every and len(set(levels[-every:])) == 1 and levels[-1] != DONE:
        level = levels[-1]
        run = parts[-every:]
        if spill is not None and sum(p.lookups for p in run) > MERGED_LOOKUPS:
            levels[-every:] = [DONE] * every  # big enough: they stay apart
            break
        one = merged([loaded(p) for p in run])
        del parts[-every:], levels[-every:]
        parts.append(one)
        levels.append(level + 1)
    if spill is None:
        return
    for i, p in enumerate(parts):  # in memory: the small parts not merged yet
        if isinstance(p, Part) and (levels[i] != 0 or p.lookups >= SPILLED_LOOKUPS):
            parts[i] = spilled(p, spill)


def merged(parts: list[Part]) -> Part:
    """One part of these, numbered as they were among any others."""
    scans = {code: compacted(s) for code, s in combine(parts).items()}
    rows, looks = sum(p.rows for p in parts), sum(p.lookups for p in parts)
    ts, place = np.empty(rows, np.int64), np.empty(rows, np.int64)
    start, client = np.empty(looks, np.int64), np.empty(looks, object)
    for p, (r, k) in zip(parts, numbering(parts), strict=True):
        assert p.row_keys is not None and p.lookup_keys is not None
        ts[r], place[r] = p.row_keys
        start[k], client[k] = p.lookup_keys
    return Part(scans, rows=rows, lookups=looks, row_keys=(ts, place), lookup_keys=(start, client))


def trimmed(part: Part) -> Part:
    """The part with its tables' categoricals holding only the values they use (a
    part's tables would otherwise keep every name and address of its step)."""
    for s in part.scans.values():
        for name, t in list(s.tables.items()):
            s.tables[name] = prune(t)
    return part


def compacted(s: Scan) -> Scan:
    """The scan with what the judges read and nothing more (as a merge keeps it)."""
    tables = dict(s.tables)
    for name, t in s.tables.items():
        frames = tables.get(name + "_frames")
        if frames is not None and ROW in t.columns and len(t):
            head = unique_ints(t[ROW].to_numpy(np.int64))[:EVIDENCE_TRANSACTIONS]
            tables[name] = needed(t)
            if len(frames):
                keep = np.isin(frames[ROW].to_numpy(np.int64), head)
                tables[name + "_frames"] = frames[keep].reset_index(drop=True)
        elif name == "questions" and len(t) and set(QUESTION_KEYS) <= set(t.columns):
            tables[name] = t.groupby(QUESTION_KEYS, observed=True, sort=False).agg(
                attempts=("attempts", "sum"), responses=("responses", "sum"),
                first=("first", "min"), last=("last", "max"),
            ).reset_index()  # fmt: skip
    return Scan(tables, dict(s.counts))
