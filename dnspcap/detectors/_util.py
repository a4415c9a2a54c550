"""Helpers the detectors share: timestamps and frame lists out of the transactions table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..findings import frame_filter


def ns(col: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch; NaT becomes the minimum int64."""
    return np.asarray(col.to_numpy("datetime64[ns]").view(np.int64))


# A finding on a busy capture can cover hundreds of thousands of transactions; its
# evidence lists the frames of the first ones, which is what a reader opens anyway.
EVIDENCE_TRANSACTIONS = 500


def frames_of(tx: pd.DataFrame) -> list[int]:
    """The frames of these transactions (of the first EVIDENCE_TRANSACTIONS by time)."""
    if len(tx) > EVIDENCE_TRANSACTIONS:
        tx = tx.sort_values("query_ts", kind="stable").head(EVIDENCE_TRANSACTIONS)
    out: list[int] = []
    for col in ("query_frames", "response_frames"):
        for f in tx[col]:
            out.extend(int(x) for x in f)
    return sorted(set(out))


def when(tx: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    times = pd.concat([tx["query_ts"], tx["response_ts"]]).dropna()
    return (times.min(), times.max()) if len(times) else (None, None)


def lookups_of(lookups: pd.DataFrame, txn_rows: set[int]) -> int:
    """How many lookups contain any of these transaction rows."""
    if lookups.empty or not txn_rows:
        return 0
    hit = lookups["transactions_index"].map(lambda idx: not txn_rows.isdisjoint(idx))
    return int(hit.sum())


def evidence(tx: pd.DataFrame) -> dict[str, Any]:
    """The evidence fields of a Finding, from the transactions that show it: who was
    involved, when, which frames, and the display filter that shows exactly those."""
    first, last = when(tx)
    frames = frames_of(tx)
    return {
        "clients": tuple(sorted(set(tx["client"].astype(str)))),
        "servers": tuple(sorted(set(tx["server"].astype(str)))),
        "first": first,
        "last": last,
        "frames": tuple(frames),
        "display_filter": frame_filter(frames),
    }


def same_socket_pairs(tx: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """A and AAAA transactions for one name from one socket, sent within window_s.

    One row per pair: ``row``, ``id``, ``status``, ``attempts``, ``q_ns``, ``r_ns`` for
    each side (suffixes ``_a``, ``_b``), and the pair's ``client``, ``client_port``,
    ``server``, ``server_port``. The socket and name are matched as one packed integer
    key, not as six columns of strings.
    """
    from ..pairing import _cat_codes, _codes, _same_codes

    qtype = tx["qtype"].astype(str).to_numpy()
    is_a, is_aaaa = qtype == "A", qtype == "AAAA"
    keep = np.flatnonzero((tx["attempts"].to_numpy() > 0) & (is_a | is_aaaa))
    if len(keep) == 0:
        return pd.DataFrame()
    sub = tx.iloc[keep]
    client, server = _same_codes(sub["client"], sub["server"])
    key = _codes(
        client, sub["client_port"].to_numpy(np.int64), server,
        sub["server_port"].to_numpy(np.int64), _cat_codes(sub["transport"]),
        _cat_codes(sub["qname"]),
    )  # fmt: skip
    side = pd.DataFrame(
        {
            "key": key,
            "row": sub.index.to_numpy(),
            "id": sub["id"].to_numpy(np.int64),
            "status": sub["status"].astype(str).to_numpy(),
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
