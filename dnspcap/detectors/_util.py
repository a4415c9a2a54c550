"""Helpers the detectors share: timestamps and frame lists out of the transactions table."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..categorical import codes_of, distinct, equal_pairs, pack, shared_codes
from ..findings import frame_filter


def ns(col: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch; NaT becomes the minimum int64."""
    return np.asarray(col.to_numpy("datetime64[ns]").view(np.int64))


# A finding on a busy capture can cover hundreds of thousands of transactions; its
# evidence lists the frames of the first ones, which is what a reader opens anyway.
EVIDENCE_TRANSACTIONS = 500


def frames_of(tx: pd.DataFrame) -> list[int]:
    """The frames of these transactions (of the first EVIDENCE_TRANSACTIONS by time)."""
    # transactions are in the order of their first message: the first rows are the earliest
    tx = tx.head(EVIDENCE_TRANSACTIONS)
    out: list[int] = []
    for col in ("query_frames", "response_frames"):
        for f in tx[col]:
            out.extend(int(x) for x in f)
    return sorted(set(out))


def when(tx: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    times = pd.concat([tx["query_ts"], tx["response_ts"]]).dropna()
    return (times.min(), times.max()) if len(times) else (None, None)


# Several detectors need the same derived arrays of one table; they are built once per
# table object (the detectors run one after another on the same two tables).
_CACHE: dict[tuple[int, str], tuple[weakref.ref[pd.DataFrame], Any]] = {}


def cached(table: pd.DataFrame, name: str, build: Callable[[], Any]) -> Any:
    """build() for this table object, computed once while the table lives."""
    key = (id(table), name)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is table:
        return hit[1]
    for k in [k for k, (ref, _) in _CACHE.items() if ref() is None]:
        del _CACHE[k]
    value = build()
    _CACHE[key] = (weakref.ref(table), value)
    return value


def lookups_of(lookups: pd.DataFrame, txn_rows: set[int] | np.ndarray) -> int:
    """How many lookups contain any of these transaction rows."""
    if lookups.empty or not len(txn_rows):
        return 0

    def txn_to_lookup() -> np.ndarray:
        sizes = lookups["transactions"].to_numpy(np.int64)
        rows = flat_rows(lookups["transactions_index"])
        out = np.full(int(rows.max()) + 1, -1, np.int64)
        out[rows] = np.repeat(np.arange(len(sizes)), sizes)
        return out

    owner = cached(lookups, "txn_to_lookup", txn_to_lookup)
    if isinstance(txn_rows, set):
        rows = np.fromiter(txn_rows, np.int64, len(txn_rows))
    else:
        rows = distinct(np.asarray(txn_rows, np.int64))
    rows = rows[rows < len(owner)]
    found = owner[rows]
    return int(distinct(found[found >= 0]).size)


def flat_rows(col: pd.Series) -> np.ndarray:
    """The transaction rows of a lookups table's transactions_index, one after another."""
    if isinstance(col.dtype, pd.ArrowDtype):
        arr = pa.chunked_array(col.array._pa_array)  # type: ignore[attr-defined]
        return np.asarray(pc.list_flatten(arr).to_numpy(zero_copy_only=False), np.int64)
    return np.fromiter(itertools.chain.from_iterable(col), np.int64)


def _names(col: pd.Series) -> tuple[str, ...]:
    """The distinct values of a column, sorted, without converting every row."""
    return tuple(sorted(str(v) for v in col.unique()))


def groups_of(col: pd.Series, rows: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    """(value, its rows) for each value of a categorical column among these rows (in
    ascending order), in category order: what ``tx.iloc[rows].groupby(col, observed=True,
    sort=True)`` gives, without taking the rows out of the table."""
    rows = np.asarray(rows, np.int64)
    codes = np.asarray(col.cat.codes)[rows]
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    cats = col.cat.categories
    return [
        (cats[codes[part[0]]], rows[part])
        for part in np.split(order, bounds)
        if len(part) and codes[part[0]] >= 0
    ]


def count_by(col: pd.Series, mask: np.ndarray) -> np.ndarray:
    """Per category of a categorical column, how many rows under mask have it."""
    codes = np.asarray(col.cat.codes, np.int64)[np.asarray(mask, bool)]
    return np.bincount(codes[codes >= 0], minlength=len(col.cat.categories))


def ns_of(tx: pd.DataFrame, col: str) -> np.ndarray:
    """ns() of a column of the table, built once per table."""
    out: np.ndarray = cached(tx, f"ns:{col}", lambda: ns(tx[col]))
    return out


def _names_at(col: pd.Series, rows: np.ndarray) -> tuple[str, ...]:
    """_names() of the rows of a categorical column, from its codes."""
    codes = distinct(np.asarray(col.cat.codes)[rows])
    cats = col.cat.categories
    return tuple(sorted(str(cats[c]) if c >= 0 else str(np.nan) for c in codes.tolist()))


def evidence_at(tx: pd.DataFrame, rows: np.ndarray) -> dict[str, Any]:
    """evidence(tx.iloc[rows]) for rows of a table with categorical client and server,
    without taking those rows out of it (there can be hundreds of thousands)."""
    rows = np.asarray(rows, np.int64)
    times = np.concatenate([ns_of(tx, "query_ts")[rows], ns_of(tx, "response_ts")[rows]])
    times = times[times != np.iinfo(np.int64).min]
    frames = frames_of(tx.iloc[rows[:EVIDENCE_TRANSACTIONS]])
    return {
        "clients": _names_at(tx["client"], rows),
        "servers": _names_at(tx["server"], rows),
        "first": pd.Timestamp(int(times.min()), tz="UTC") if len(times) else None,
        "last": pd.Timestamp(int(times.max()), tz="UTC") if len(times) else None,
        "frames": tuple(frames),
        "display_filter": frame_filter(frames),
    }


def evidence(tx: pd.DataFrame) -> dict[str, Any]:
    """The evidence fields of a Finding, from the transactions that show it: who was
    involved, when, which frames, and the display filter that shows exactly those."""
    first, last = when(tx)
    frames = frames_of(tx)
    return {
        "clients": _names(tx["client"]),
        "servers": _names(tx["server"]),
        "first": first,
        "last": last,
        "frames": tuple(frames),
        "display_filter": frame_filter(frames),
    }


def same_socket_pairs(tx: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """See _same_socket_pairs; built once per table and window."""
    pairs: pd.DataFrame = cached(
        tx, f"same_socket_pairs:{window_s}", lambda: _same_socket_pairs(tx, window_s)
    )
    return pairs


def _same_socket_pairs(tx: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """A and AAAA transactions for one name from one socket, sent within window_s.

    One row per pair: ``row``, ``id``, ``status`` (categorical), ``attempts``, ``q_ns``,
    ``r_ns`` for each side (suffixes ``_a``, ``_b``), and the pair's ``client``,
    ``client_port``, ``server``, ``server_port``. The socket and name are matched as one
    packed integer key, not as six columns of strings.
    """
    qtype = tx["qtype"]
    cats = list(qtype.cat.categories) if isinstance(qtype.dtype, pd.CategoricalDtype) else []
    if not cats:
        return pd.DataFrame()
    codes = np.asarray(qtype.cat.codes)
    is_a = codes == (cats.index("A") if "A" in cats else -2)
    is_aaaa = codes == (cats.index("AAAA") if "AAAA" in cats else -2)
    keep = np.flatnonzero((tx["attempts"].to_numpy() > 0) & (is_a | is_aaaa))
    if len(keep) == 0:
        return pd.DataFrame()
    sub = tx[["client", "client_port", "server", "server_port", "transport", "qname"]].iloc[keep]
    client, server = shared_codes(sub["client"], sub["server"])
    key = pack(
        client, sub["client_port"].to_numpy(np.int64), server,
        sub["server_port"].to_numpy(np.int64), codes_of(sub["transport"]),
        codes_of(sub["qname"]),
    )  # fmt: skip
    a_side = is_a[keep]
    ia, ib = equal_pairs(key[a_side], key[~a_side])
    ra, rb = keep[a_side][ia], keep[~a_side][ib]
    q_ns = ns_of(tx, "query_ts")
    near = np.abs(q_ns[ra] - q_ns[rb]) <= int(window_s * 1e9)
    ra, rb = ra[near], rb[near]
    r_ns = ns_of(tx, "response_ts")
    ids, attempts = tx["id"].to_numpy(np.int64), tx["attempts"].to_numpy(np.int64)
    status = tx["status"]
    out = {}
    for side, rows in (("a", ra), ("b", rb)):
        out[f"row_{side}"] = rows
        out[f"id_{side}"] = ids[rows]
        out[f"status_{side}"] = status.iloc[rows].array
        out[f"attempts_{side}"] = attempts[rows]
        out[f"q_ns_{side}"] = q_ns[rows]
        out[f"r_ns_{side}"] = r_ns[rows]
    for col in ("client", "client_port", "server", "server_port"):
        out[col] = tx[col].iloc[ra].array
    return pd.DataFrame(out)
