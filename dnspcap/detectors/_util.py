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

from ..categorical import as_categorical, codes_of, pack, shared_codes
from ..findings import frame_filter


def ns(col: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch; NaT becomes the minimum int64."""
    return np.asarray(col.to_numpy("datetime64[ns]").view(np.int64))


# A finding on a busy capture can cover hundreds of thousands of transactions; its
# evidence lists the frames of the first ones, which is what a reader opens anyway.
EVIDENCE_TRANSACTIONS = 500


# Taking rows of the Arrow list columns is the slow part of filtering the whole table:
# detectors filter only the columns they read, and fetch frames for their evidence.
LIST_COLUMNS = ("retry_gaps", "query_frames", "response_frames")
EVIDENCE_COLUMNS = ("client", "server", "query_ts", "response_ts", "file")


def rows(tx: pd.DataFrame, mask: Any, columns: list[str]) -> pd.DataFrame:
    """These columns of the rows where mask holds (a boolean array or index labels)."""
    out: pd.DataFrame = tx.loc[mask, columns]
    return out


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


def forget(*tables: pd.DataFrame) -> None:
    """Drop what was built for these tables: on a big capture the A/AAAA pairs alone
    hold hundreds of MB, and a report keeps its tables long after detection."""
    for key in [k for k in _CACHE if k[0] in {id(t) for t in tables}]:
        del _CACHE[key]


def lookups_of(lookups: pd.DataFrame, txn_rows: set[int]) -> int:
    """How many lookups contain any of these transaction rows."""
    return len(lookup_positions(lookups, txn_rows))


def lookup_positions(lookups: pd.DataFrame, txn_rows: set[int]) -> np.ndarray:
    """Positions in the lookups table of the lookups containing any of these rows."""
    if lookups.empty or not txn_rows:
        return np.zeros(0, np.int64)
    owner = txn_to_lookup(lookups)
    rows = np.fromiter(txn_rows, np.int64, len(txn_rows))
    rows = rows[rows < len(owner)]
    found = owner[rows]
    return np.unique(found[found >= 0])


def txn_to_lookup(lookups: pd.DataFrame) -> np.ndarray:
    """The lookup (position) of each transaction row, -1 for none; built once per table."""

    def build() -> np.ndarray:
        sizes = lookups["transactions"].to_numpy(np.int64)
        rows = flat_rows(lookups["transactions_index"])
        out = np.full(int(rows.max(initial=-1)) + 1, -1, np.int64)
        out[rows] = np.repeat(np.arange(len(sizes)), sizes)
        return out

    owner: np.ndarray = cached(lookups, "txn_to_lookup", build)
    return owner


def flat_rows(col: pd.Series) -> np.ndarray:
    """The transaction rows of a lookups table's transactions_index, one after another."""
    if isinstance(col.dtype, pd.ArrowDtype):
        arr = pa.chunked_array(col.array._pa_array)  # type: ignore[attr-defined]
        return np.asarray(pc.list_flatten(arr).to_numpy(zero_copy_only=False), np.int64)
    return np.fromiter(itertools.chain.from_iterable(col), np.int64)


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


def evidence(tx: pd.DataFrame, full: pd.DataFrame | None = None) -> dict[str, Any]:
    """The evidence fields of a Finding, from the transactions that show it: who was
    involved, when, which frames, and the display filter that shows exactly those.

    With ``full`` (the whole transactions table), ``tx`` only names the rows (its index)
    and the columns needed are read from ``full``."""
    if full is not None:
        head = tx.index[:EVIDENCE_TRANSACTIONS]
        framed = full.loc[head, ["query_frames", "response_frames"]]
        tx = full.loc[tx.index, [c for c in EVIDENCE_COLUMNS if c in full.columns]]
    else:
        framed = tx
    first, last = when(tx)
    frames = frames_of(framed)
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
    qtype = as_categorical(tx["qtype"])
    texts = [str(c) for c in qtype.categories]
    a_code, aaaa_code = (texts.index(t) if t in texts else -2 for t in ("A", "AAAA"))
    codes = np.asarray(qtype.codes)
    keep = np.flatnonzero(
        (tx["attempts"].to_numpy() > 0) & ((codes == a_code) | (codes == aaaa_code))
    )
    if len(keep) == 0:
        return pd.DataFrame()
    # arrays of the kept rows only, taken before widening: no full-length temporaries
    client, server = shared_codes(tx["client"], tx["server"], keep)
    key = pack(
        client, tx["client_port"].to_numpy()[keep], server, tx["server_port"].to_numpy()[keep],
        codes_of(tx["transport"], keep), codes_of(tx["qname"], keep),
    )  # fmt: skip
    # every A/AAAA pair of one key within the window, without a merge: sorted by key and
    # time, a row's partners are its next rows while the key holds and the time fits
    q_ns = ns(tx["query_ts"])[keep]
    order = np.lexsort((q_ns, key))
    key, q_sorted, a_sorted = key[order], q_ns[order], (codes[keep] == a_code)[order]
    window = int(window_s * 1e9)
    firsts, seconds = [], []
    alive = np.arange(len(key) - 1)  # rows whose partner may still be d rows on
    d = 1
    while len(alive):
        alive = alive[alive + d < len(key)]
        other = alive + d
        near = (key[other] == key[alive]) & (q_sorted[other] - q_sorted[alive] <= window)
        alive, other = alive[near], other[near]
        mixed = a_sorted[other] != a_sorted[alive]
        firsts.append(alive[mixed])
        seconds.append(other[mixed])
        d += 1
    i = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    j = np.concatenate(seconds) if seconds else np.zeros(0, np.int64)
    i_is_a = a_sorted[i]
    pos_a = keep[order[np.where(i_is_a, i, j)]]  # positions in tx
    pos_b = keep[order[np.where(i_is_a, j, i)]]
    sort = np.argsort(pos_a, kind="stable")
    pos_a, pos_b = pos_a[sort], pos_b[sort]
    ids = tx["id"].to_numpy()
    status = tx["status"].array  # categorical: taking codes, not strings
    attempts = tx["attempts"].to_numpy()
    q_all, r_all = ns(tx["query_ts"]), ns(tx["response_ts"])
    cols: dict[str, Any] = {}
    for side, pos in (("a", pos_a), ("b", pos_b)):
        cols[f"row_{side}"] = np.asarray(tx.index[pos])
        cols[f"id_{side}"] = ids[pos].astype(np.int64)
        cols[f"status_{side}"] = status.take(pos)
        cols[f"attempts_{side}"] = attempts[pos].astype(np.int64)
        cols[f"q_ns_{side}"] = q_all[pos]
        cols[f"r_ns_{side}"] = r_all[pos]
    for name in ("client", "client_port", "server", "server_port"):
        cols[name] = tx[name].array.take(pos_a)
    return pd.DataFrame(cols)
