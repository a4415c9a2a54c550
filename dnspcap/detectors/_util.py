"""Helpers the detectors share: timestamps and frame lists out of the transactions table."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ns(col: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch; NaT becomes the minimum int64."""
    return np.asarray(col.to_numpy("datetime64[ns]").view(np.int64))


def frames_of(tx: pd.DataFrame) -> list[int]:
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
