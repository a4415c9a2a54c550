"""The three tables of a cluster run as a Parquet dataset, partitioned by capture set and hour.

``DIR/<table>/capture_set=<vantage point>/hour=<YYYY-MM-DDTHH>/*.parquet`` (hive
partitioning): pandas (``pd.read_parquet(DIR/"messages")``), ``dask.dataframe``
and DuckDB (``read_parquet('DIR/messages/*/*/*.parquet', hive_partitioning=true)``)
read each table back with the columns of docs/columns.md plus the two partition
keys. A lookup's capture set and hour are those of its first transaction and its start.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..report import Report
from ..report.files import arrow_table, plain

TABLES = ("messages", "transactions", "lookups")
SET, HOUR = "capture_set", "hour"


def export_dataset(report: Report, directory: Path, tables: Iterable[str] = TABLES) -> list[Path]:
    """Write the tables as ``directory/<table>/`` datasets; returns their folders."""
    import pyarrow.dataset as ds

    out = []
    for name in tables:
        df = plain(report.tables()[name])
        where, when = _keys(report, name)
        df[SET] = where
        df[HOUR] = when.dt.strftime("%Y-%m-%dT%H").fillna("none").to_numpy()
        folder = directory / name
        ds.write_dataset(
            arrow_table(df), folder, format="parquet", partitioning=[SET, HOUR],
            partitioning_flavor="hive", existing_data_behavior="delete_matching",
            basename_template="part-{i}.parquet",
        )  # fmt: skip
        out.append(folder)
    return out


def _keys(report: Report, name: str) -> tuple[np.ndarray, pd.Series]:
    """Per row of a table: its capture set (vantage point) and its time."""
    tx = report.transactions
    if name == "messages":
        m = report.messages
        return m["vantage"].astype(str).to_numpy(), m["ts"]
    if name == "transactions":
        first = tx["query_ts"].where(tx["query_ts"].notna(), tx["response_ts"])
        return tx["vantage"].astype(str).to_numpy(), first
    lk = report.lookups
    rows = [int(t[0]) if len(t) else -1 for t in lk["transactions_index"]]
    vantage = tx["vantage"].astype(str).to_numpy()
    where = np.asarray([vantage[r] if r >= 0 else "none" for r in rows], object)
    return where, lk["start"]
