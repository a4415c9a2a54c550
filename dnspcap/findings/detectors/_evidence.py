"""A finding's evidence as scan tables (see :mod:`dnspcap.findings.scan`).

A scan keeps, for the transactions that show a signature, who and when (one row each)
and the frames of the first ``EVIDENCE_TRANSACTIONS`` of them, with the frames of their
copies (the same query after DNAT, or at other vantage points). The scans of several
parts combine into the rows of all, in label order; :func:`evidence_of` reads the
Finding's evidence fields out of them as :func:`._util.evidence` does out of the whole
table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..detection import COPIES
from ..scan import LOOKUP, ROW, Scan
from ..tablecache import recall

# A finding on a busy capture can cover hundreds of thousands of transactions; its
# evidence lists the frames of the first ones, which is what a reader opens anyway.
EVIDENCE_TRANSACTIONS = 500
WHO = ("client", "server", "query_ts", "response_ts")


def evidence_tables(
    tx: pd.DataFrame, labels: Any, name: str = "evidence"
) -> dict[str, pd.DataFrame]:
    """The scan tables of the evidence of these transactions (labels of ``tx``, the
    counted transactions detect() hands the detectors): ``name`` (one row each: ``row``,
    client, server, query and response time) and ``name + "_frames"`` (``row``, file,
    frame) for the first EVIDENCE_TRANSACTIONS."""
    labels = unique_ints(labels)
    who = tx.loc[labels, [c for c in WHO if c in tx.columns]].reset_index(drop=True)
    who.insert(0, ROW, labels)
    return {name: needed(who), name + "_frames": frame_rows(tx, labels[:EVIDENCE_TRANSACTIONS])}


def needed(who: pd.DataFrame) -> pd.DataFrame:
    """The rows of an evidence table (in ``row`` order) that evidence_of reads, of this
    part and of any whole it is combined into: the first EVIDENCE_TRANSACTIONS (the
    whole's first are among its parts' first), the first row of each client and of each
    server, and those with the earliest and the latest time. A finding over a million
    transactions keeps a few thousand rows, not a million."""
    if len(who) <= EVIDENCE_TRANSACTIONS:
        return who
    keep = np.zeros(len(who), bool)
    keep[:EVIDENCE_TRANSACTIONS] = True
    for col in ("client", "server"):
        codes = np.asarray(pd.Categorical(who[col]).codes)  # a missing value is a code too
        keep[np.unique(codes, return_index=True)[1]] = True
    for col in ("query_ts", "response_ts"):
        t = who[col].to_numpy("datetime64[ns]").view(np.int64)
        known = np.flatnonzero(t != np.iinfo(np.int64).min)
        if len(known):
            keep[known[np.argmin(t[known])]] = keep[known[np.argmax(t[known])]] = True
    return who[keep].reset_index(drop=True)


def frame_rows(tx: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per frame of these transactions (labels) and of their copies: the label it shows,
    its file and its number. A transaction's frames are in its own file, but for the few
    whose messages straddle two files of a rotated set (pair() lists those in its attrs)."""
    straddling = tx.attrs.get("dnspcap", {}).get("straddling", {})
    copies: pd.DataFrame | None = recall(tx, COPIES)
    out_row: list[int] = []
    out_file: list[str] = []
    out_frame: list[int] = []
    parts = [(labels, labels, tx.loc[labels, ["file", "query_frames", "response_frames"]])]
    if copies is not None and len(copies):
        shown = copies[copies.index.isin(labels)]
        parts.append((shown.index.to_numpy(), shown["row"].to_numpy(), shown))
    for shows, own, part in parts:
        files = part["file"].astype(str).to_numpy()
        for col, side in (("query_frames", 0), ("response_frames", 1)):
            for i, frames in enumerate(part[col]):
                if not len(frames):
                    continue
                split = straddling.get(int(own[i]))
                where = split[side] if split is not None else [files[i]] * len(frames)
                out_row += [int(shows[i])] * len(frames)
                out_file += [str(f) for f in where]
                out_frame += [int(f) for f in frames]
    return pd.DataFrame(
        {ROW: np.asarray(out_row, np.int64), "file": out_file,
         "frame": np.asarray(out_frame, np.int64)}
    )  # fmt: skip


def evidence_of(scan: Scan, name: str = "evidence") -> dict[str, Any]:
    """The evidence fields of a Finding (clients, servers, first, last, evidence_frames)
    from a scan's evidence tables (see evidence_tables)."""
    who = scan.table(name)
    if not len(who):
        return {"clients": (), "servers": (), "first": None, "last": None, "evidence_frames": {}}
    times = pd.concat([who["query_ts"], who["response_ts"]]).dropna()
    head = unique_ints(who[ROW].to_numpy(np.int64))[:EVIDENCE_TRANSACTIONS]
    frames = scan.table(name + "_frames")
    frames = frames[np.isin(frames[ROW].to_numpy(np.int64), head)] if len(frames) else frames
    out: dict[str, set[int]] = {}
    for file, frame in zip(frames.get("file", ()), frames.get("frame", ()), strict=True):
        out.setdefault(str(file), set()).add(int(frame))
    return {
        "clients": _names(who["client"]),
        "servers": _names(who["server"]),
        "first": times.min() if len(times) else None,
        "last": times.max() if len(times) else None,
        "evidence_frames": {f: tuple(sorted(v)) for f, v in sorted(out.items())},
    }


def _names(col: pd.Series) -> tuple[str, ...]:
    """The distinct values of a column, sorted, without converting every row."""
    return tuple(sorted({str(v) for v in col.unique()}))


def lookup_table(lookups: pd.DataFrame, labels: Any) -> pd.DataFrame:
    """The scan table of the lookups (positions) that contain any of these transactions."""
    from ._util import lookup_positions  # _util builds on the grouping stage's tables

    found = lookup_positions(lookups, np.asarray(labels, np.int64))
    return pd.DataFrame({LOOKUP: np.asarray(found, np.int64)})


def lookups_in(scan: Scan, name: str = "lookups") -> tuple[int, ...]:
    """The lookups (positions in the whole's table) a scan table names, sorted, once each."""
    table = scan.table(name)
    if not len(table):
        return ()
    return tuple(unique_ints(table[LOOKUP].to_numpy(np.int64)).tolist())


def frame_table(tx: pd.DataFrame, labels: Any) -> pd.DataFrame:
    """The rows of :func:`frame_rows` (in another order) for many labels, taken by whole
    columns: for the scans that keep the frames of every candidate transaction, because
    which are shown is decided by the judge. Transactions straddling two files (or whose
    copies do) go through frame_rows."""
    from ...arrays.categorical import as_categorical, flatten

    labels = unique_ints(labels)
    straddling = tx.attrs.get("dnspcap", {}).get("straddling", {})
    copies: pd.DataFrame | None = recall(tx, COPIES)
    tables = []
    if straddling and len(labels):
        odd = np.fromiter(straddling, np.int64, len(straddling))
        slow = np.isin(labels, odd)
        if copies is not None and len(copies):
            slow |= np.isin(labels, copies.index.to_numpy()[np.isin(copies["row"], odd)])
        if slow.any():
            tables.append(frame_rows(tx, labels[slow]))
            labels = labels[~slow]
    parts = [(tx, tx.index.get_indexer(labels), labels)]
    if copies is not None and len(copies):
        at = np.flatnonzero(np.isin(copies.index.to_numpy(), labels))
        parts.append((copies, at, copies.index.to_numpy()[at]))
    for t, pos, shows in parts:
        cat = as_categorical(t["file"])
        texts = np.append(np.asarray(cat.categories.astype(str), object), "nan")
        files = texts[np.asarray(cat.codes, np.int64)[pos]]
        for col in ("query_frames", "response_frames"):
            values, parent = flatten(t[col], pos)
            tables.append(pd.DataFrame(
                {ROW: np.asarray(shows, np.int64)[parent], "file": files[parent],
                 "frame": np.asarray(values, np.int64)}
            ))  # fmt: skip
    if not tables:
        return frame_rows(tx, labels[:0])
    out = pd.concat(tables, ignore_index=True)
    return out.take(np.argsort(out[ROW].to_numpy(), kind="stable")).reset_index(drop=True)


def unique_ints(values: Any) -> np.ndarray:
    """np.unique of integers, by a sort: numpy 2.4's np.unique hashes, ~50x slower on
    the hundreds of thousands of labels a busy capture's evidence holds. Values in order
    already (a combined scan table's, sorted by label) are not sorted again; the stable
    sort finds the runs of findings' labels put one after another (1.15M labels in three
    runs: 6 ms, against 81 ms for the default sort; 15% slower on labels in no order)."""
    a = np.asarray(values, np.int64)
    if len(a) > 1 and not (a[1:] >= a[:-1]).all():
        a = np.sort(a, kind="stable")
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a
