"""Helpers the detectors share: timestamps and frame lists out of the transactions table."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..categorical import codes_of, pack, shared_codes, strings_of
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


def lookups_of(lookups: pd.DataFrame, txn_rows: set[int]) -> int:
    """How many lookups contain any of these transaction rows."""
    if lookups.empty or not txn_rows:
        return 0

    def txn_to_lookup() -> np.ndarray:
        idx = lookups["transactions_index"]
        sizes = np.fromiter((len(i) for i in idx), np.int64, len(idx))
        rows = np.fromiter(itertools.chain.from_iterable(idx), np.int64, int(sizes.sum()))
        out = np.full(int(rows.max()) + 1, -1, np.int64)
        out[rows] = np.repeat(np.arange(len(idx)), sizes)
        return out

    owner = cached(lookups, "txn_to_lookup", txn_to_lookup)
    rows = np.fromiter(txn_rows, np.int64, len(txn_rows))
    rows = rows[rows < len(owner)]
    found = owner[rows]
    return int(np.unique(found[found >= 0]).size)


def _names(col: pd.Series) -> tuple[str, ...]:
    """The distinct values of a column, sorted, without converting every row."""
    return tuple(sorted(str(v) for v in col.unique()))


def typical_gaps(gaps: np.ndarray) -> list[tuple[float, int]]:
    """The usual retry gaps, most common first: (median of the gaps near it, how many).

    Gaps are binned to 0.1 s: glibc's 5 s and musl's 2.5 s stay apart instead of
    averaging to a timeout no resolver has.
    """
    gaps = np.asarray(gaps, float)
    gaps = gaps[np.isfinite(gaps)]
    if not len(gaps):
        return []
    bins = np.round(gaps, 1)
    values, counts = np.unique(bins, return_counts=True)
    order = np.lexsort((values, -counts))
    return [(float(np.median(gaps[bins == values[i]])), int(counts[i])) for i in order]


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
        "files": _names(tx["file"]) if "file" in tx.columns else (),
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

    One row per pair: ``row``, ``id``, ``status``, ``attempts``, ``q_ns``, ``r_ns`` for
    each side (suffixes ``_a``, ``_b``), and the pair's ``client``, ``client_port``,
    ``server``, ``server_port``. The socket and name are matched as one packed integer
    key, not as six columns of strings.
    """
    qtype = strings_of(tx["qtype"])
    is_a, is_aaaa = qtype == "A", qtype == "AAAA"
    keep = np.flatnonzero((tx["attempts"].to_numpy() > 0) & (is_a | is_aaaa))
    if len(keep) == 0:
        return pd.DataFrame()
    sub = tx.iloc[keep]
    client, server = shared_codes(sub["client"], sub["server"])
    key = pack(
        client, sub["client_port"].to_numpy(np.int64), server,
        sub["server_port"].to_numpy(np.int64), codes_of(sub["transport"]),
        codes_of(sub["qname"]),
    )  # fmt: skip
    side = pd.DataFrame(
        {
            "key": key,
            "row": sub.index.to_numpy(),
            "id": sub["id"].to_numpy(np.int64),
            "status": strings_of(sub["status"]),
            "attempts": sub["attempts"].to_numpy(np.int64),
            "q_ns": ns(sub["query_ts"]),
            "r_ns": ns(sub["response_ts"]),
        }
    )
    a_side = is_a[keep]
    pairs = side[a_side].merge(side[~a_side], on="key", suffixes=("_a", "_b"))
    pairs = pairs[(pairs["q_ns_a"] - pairs["q_ns_b"]).abs() <= int(window_s * 1e9)]
    flow = tx.loc[pairs["row_a"], ["client", "client_port", "server", "server_port"]]
    out: pd.DataFrame = pd.concat(
        [pairs.drop(columns="key").reset_index(drop=True), flow.reset_index(drop=True)], axis=1
    )
    return out
