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

Some column names have a meaning in a scan's tables: ``row`` (and any name ending in
``_row``) holds transactions-table labels and ``lookup`` lookups-table positions.
Combining moves each part's into the whole's numbering (:class:`Part`), and puts every
table in ``row`` order, then ``lookup`` order, where it has them: the order of the
whole's tables. (A label is never stored as an offset from another: parts paired apart
are numbered by rank, not by a shift.)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..native import merge_ranks

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
    """Every detector's scan of one part, and where its numbering sits in the whole's.

    A part cut out of the whole's tables says so: ``row_offset`` is added to its
    transaction labels (0: they are the whole's), and ``lookup_at`` is the whole's
    position of each of its lookups. A part paired on its own (its own labels from 0)
    says where its rows and lookups fall among all parts' instead: ``row_keys`` (per
    label, the time and the place in the whole's messages of the transaction's first
    message: transactions are numbered in that order) and ``lookup_keys`` (per lookup,
    its start in ns and its client: lookups are in the order they start, ties by client
    text, then in the part's order). With neither, a part's numbers follow the parts
    before it."""

    scans: dict[str, Scan]
    rows: int  # one past its largest transaction label
    lookups: int  # its lookups
    row_offset: int | None = None  # None: after the parts before it
    lookup_at: np.ndarray | None = None
    row_keys: tuple[np.ndarray, np.ndarray] | None = None  # first message's time ns, place
    lookup_keys: tuple[np.ndarray, np.ndarray] | None = None  # start ns, client text


Numbers = tuple[np.ndarray | int, np.ndarray | int]


def numbering(parts: Sequence[Part]) -> list[Numbers]:
    """Per part, the whole's label of each of its transaction labels and the whole's
    position of each of its lookups (an array), or the offset to add to them (an int)."""
    keyed = [p for p in parts if p.row_keys is not None and p.lookup_keys is not None]
    if parts and len(keyed) == len(parts):
        rows = _ranks([p.row_keys for p in keyed if p.row_keys is not None])
        looks = _lookup_ranks([p.lookup_keys for p in keyed if p.lookup_keys is not None])
        return list(zip(rows, looks, strict=True))
    out: list[Numbers] = []
    rows_at = looks_at = 0
    for p in parts:
        roff = rows_at if p.row_offset is None else p.row_offset
        out.append((roff, p.lookup_at if p.lookup_at is not None else looks_at))
        rows_at = max(rows_at, roff + p.rows)
        looks_at += p.lookups
    return out


def _ranks(keys: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Each part's rows' ranks among all parts' (by time, then place: distinct). A part's
    rows are numbered in that order, so the parts' keys are merged in C (10M packets'
    12 parts: 0.12 s, where a sort of all took 0.2-0.7 s in a fresh process, most of it
    its temporaries' page faults); parts out of order are sorted."""
    ts = [np.ascontiguousarray(t, np.int64) for t, _ in keys]
    places = [np.ascontiguousarray(p, np.int64) for _, p in keys]
    rank = np.empty(sum(len(t) for t in ts), np.int64)
    if merge_ranks(ts, places, rank) < 0:
        return _split(rank, [len(t) for t in ts])
    return _sorted_ranks(keys)


def _sorted_ranks(keys: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """_ranks() by a sort of all parts' keys."""
    ts = np.concatenate([np.asarray(t, np.int64) for t, _ in keys])
    place = np.concatenate([np.asarray(p, np.int64) for _, p in keys])
    rank = np.empty(len(ts), np.int64)
    rank[_order(ts, lambda tied: [place[tied]])] = np.arange(len(ts))
    return _split(rank, [len(t) for t, _ in keys])


def _lookup_ranks(keys: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Each part's lookups' ranks among all parts': by start, then client text, then the
    part's own order (two lookups of one client are in one part)."""
    sizes = [len(start) for start, _ in keys]
    start = np.concatenate([np.asarray(s, np.int64) for s, _ in keys])
    offsets = np.cumsum([0, *sizes])

    def then(tied: np.ndarray) -> list[np.ndarray]:  # client by text, then the part's order
        # the texts of the tied only, from their parts' (a 10M capture's 1.2M lookups:
        # 0.04-0.08 s, against 0.09-0.15 s with every part's texts joined first)
        part = np.searchsorted(offsets, tied, "right") - 1
        own = tied - offsets[part]
        texts = np.empty(len(tied), object)
        for p in np.unique(part).tolist():
            mine = part == p
            texts[mine] = np.asarray(keys[p][1], object)[own[mine]]
        return [pd.factorize(texts, sort=True)[0], own]

    rank = np.empty(len(start), np.int64)
    rank[_order(start, then)] = np.arange(len(start))
    return _split(rank, sizes)


def _order(first: np.ndarray, then: Callable[[np.ndarray], list[np.ndarray]]) -> np.ndarray:
    """``np.lexsort`` by ``first``, then by the keys ``then`` gives for the elements it
    is asked about (positions), in turn: the later keys are made and sorted only where
    ``first`` ties (a million lookups' starts tie a few thousand times; a lexsort of all
    three keys took 0.16 s, a stable argsort of the first 0.02 s)."""
    order = np.argsort(first, kind="stable")
    sorted_first = first[order]
    tie = np.flatnonzero(sorted_first[1:] == sorted_first[:-1])
    if not len(tie):
        return order
    in_tie = np.zeros(len(order), bool)
    in_tie[tie] = in_tie[tie + 1] = True
    at = np.flatnonzero(in_tie)  # places in the order, in runs of ties
    run = np.cumsum(np.r_[True, sorted_first[at[1:]] != sorted_first[at[:-1]]])
    tied = order[at]
    keys = then(tied)
    order[at] = tied[np.lexsort((*reversed(keys), run))]
    return order


def _split(a: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    bounds = np.cumsum([0, *sizes])
    return [a[x:y] for x, y in itertools.pairwise(bounds)]


def combine(parts: Sequence[Part]) -> dict[str, Scan]:
    """The scans of the whole from those of its parts (see the module's docstring)."""
    one = parts[0] if len(parts) == 1 else None
    if one is not None and not one.row_offset and one.lookup_at is None and one.row_keys is None:
        return one.scans
    codes = sorted({c for p in parts for c in p.scans})
    numbers = numbering(parts)
    same: dict[tuple[int, int], bool] = {}
    return {
        c: _merged(
            [(p.scans[c], n) for p, n in zip(parts, numbers, strict=True) if c in p.scans], same
        )
        for c in codes
    }


def _renumbered(t: pd.DataFrame) -> list[str]:
    """The columns of a scan table that hold transaction labels or lookup positions."""
    cols = [c for c in t.columns if c == ROW or str(c).endswith("_" + ROW)]
    return cols + ([LOOKUP] if LOOKUP in t.columns else [])


def _moved(t: pd.DataFrame, rows: np.ndarray | int, looks: np.ndarray | int) -> pd.DataFrame:
    """The table with its labels and positions in the whole's numbering."""
    renumbered = _renumbered(t)
    if renumbered:
        t = t.copy(deep=False)
        for col in renumbered:
            to = looks if col == LOOKUP else rows
            if not _none(to):
                t[col] = _renumber(t[col].to_numpy(np.int64), to)
    return t


def _none(to: np.ndarray | int) -> bool:
    """Whether a part's numbering is the whole's as it is (an offset of 0)."""
    return isinstance(to, int) and not to


def _renumber(at: np.ndarray, to: np.ndarray | int) -> np.ndarray:
    """Labels or positions of a part (-1: none) in the whole's numbering: ``to`` of each,
    or ``to`` added to each."""
    whole = at + to if isinstance(to, int) else to[np.maximum(at, 0)]
    return np.where(at >= 0, whole, -1)


def _merged(scans: list[tuple[Scan, Numbers]], same: dict[tuple[int, int], bool]) -> Scan:
    """One scan of the parts' scans of one detector, each with its part's numbering."""
    names = sorted({n for s, _ in scans for n in s.tables})
    tables = {}
    for n in names:
        parts = [(s.tables[n], num) for s, num in scans if n in s.tables]
        parts = [(t, num) for t, num in parts if len(t.columns)]
        if not parts:
            tables[n] = pd.DataFrame()
            continue
        if len(parts) == 1:
            tables[n] = _moved(parts[0][0], *parts[0][1])
            continue
        t = _joined(parts, same)
        if t is None:  # columns or types that differ between the parts: as pandas joins them
            moved = _one_dtype([_moved(t, *num) for t, num in parts], same)
            t = pd.concat(moved, ignore_index=True)
        keys = [k for k in (LOOKUP, ROW) if k in t.columns]  # the last is the first key
        if keys:
            order = np.lexsort([t[k].to_numpy(np.int64) for k in keys])
            t = _frame({c: t[c].array.take(order) for c in t.columns})
        tables[n] = t
    counts: dict[str, float] = {}
    for s, _ in scans:
        for k, v in s.counts.items():
            counts[k] = counts.get(k, 0) + v
    return Scan(tables, counts)


def _joined(
    parts: list[tuple[pd.DataFrame, Numbers]], same: dict[tuple[int, int], bool]
) -> pd.DataFrame | None:
    """The parts' tables one after another, renumbered, a column at a time: what
    ``pd.concat`` of the renumbered tables gives, without making a table per part (a 10M
    capture's 12 parts hold 700 small tables, and pandas' work for each table, not the
    data, was most of combine's 0.66 s). None where the parts' columns or their types
    differ."""
    first = parts[0][0]
    columns = list(first.columns)
    if any(list(t.columns) != columns for t, _ in parts[1:]):
        return None
    renumbered = set(_renumbered(first))
    out: dict[str, Any] = {}
    for i, c in enumerate(columns):
        arrays = [_column(t, i) for t, _ in parts]
        side = 1 if c == LOOKUP else 0
        if c in renumbered and not all(_none(num[side]) for _, num in parts):
            # as pd.concat of the parts renumbered (int64) and those left as they were
            moved = [np.asarray(a, np.int64) if _none(num[side]) else
                     _renumber(np.asarray(a, np.int64), num[side])
                     for a, (_, num) in zip(arrays, parts, strict=True)]  # fmt: skip
            out[c] = np.concatenate(moved)
            continue
        joined = _same_type(arrays, same)
        if joined is None:
            return None
        out[c] = joined
    return _frame(out)


def _column(t: pd.DataFrame, i: int) -> Any:
    """``t.iloc[:, i].array`` without the Series (and the deep copy of the table's attrs)
    pandas makes for it: 1 us, not 20-30, for each of the thousands of columns of a 10M
    capture's parts' scans (a pandas without the block's accessor: through the Series)."""
    get = getattr(type(t), "_get_column_array", None)
    if get is None:
        return t.iloc[:, i].array
    a = get(t, i)
    return pd.arrays.NumpyExtensionArray(a) if isinstance(a, np.ndarray) else a


def _frame(columns: dict[str, Any]) -> pd.DataFrame:
    """A table of these columns as they are: numpy's as numpy arrays, an object column
    of texts still of objects (a table made of arrays would make it ``str``)."""
    out = {}
    for c, a in columns.items():
        a = np.asarray(a) if isinstance(a, pd.arrays.NumpyExtensionArray) else a
        out[c] = pd.Series(a, dtype=a.dtype, copy=False) if isinstance(a, np.ndarray) else a
    return pd.DataFrame(out, copy=False)


def _same_type(arrays: list[Any], same: dict[tuple[int, int], bool]) -> Any:
    """Arrays of one type (categoricals: of the same categories, in the same order) one
    after another, or None."""
    d0 = arrays[0].dtype
    if isinstance(d0, pd.CategoricalDtype):
        for a in arrays[1:]:
            d = a.dtype
            key = (id(d), id(d0))
            if key not in same:
                same[key] = d is d0 or (
                    isinstance(d, pd.CategoricalDtype)
                    and d.ordered == d0.ordered
                    and d.categories.equals(d0.categories)
                )
            if not same[key]:
                return None
        codes = np.concatenate([np.asarray(a.codes) for a in arrays])
        return pd.Categorical.from_codes(codes, dtype=d0, validate=False)
    if any(a.dtype != d0 or isinstance(a.dtype, pd.CategoricalDtype) for a in arrays[1:]):
        return None
    return type(arrays[0])._concat_same_type(arrays)


def _one_dtype(tables: list[pd.DataFrame], same: dict[tuple[int, int], bool]) -> list[pd.DataFrame]:
    """The tables, each categorical column with the first table's dtype object where its
    categories are the same, in the same order. Parts analysed in other processes come
    back with equal categories in distinct objects, and ``pd.concat`` compared them
    category by category for every table (0.18 s of a 10M capture's 12 parts); the same
    object it takes at once. ``same``: what was found of two dtypes (by id) before."""
    first = dict(zip(tables[0].columns, tables[0].dtypes, strict=True))
    out = [tables[0]]
    for t in tables[1:]:
        cols: dict[object, Any] = {}
        for c, d in zip(t.columns, t.dtypes, strict=True):
            d0 = first.get(c)
            if d is d0 or not isinstance(d, pd.CategoricalDtype):
                continue
            if not isinstance(d0, pd.CategoricalDtype):
                continue
            key = (id(d), id(d0))
            if key not in same:
                same[key] = d.ordered == d0.ordered and d.categories.equals(d0.categories)
            if same[key]:
                codes = np.asarray(t[c].array.codes)
                cols[c] = pd.Categorical.from_codes(codes, dtype=d0, validate=False)
        if cols:
            t = t.copy(deep=False)
            for name, col in cols.items():
                t[name] = col
        out.append(t)
    return out
