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
