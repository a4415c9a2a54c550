"""Writing the tables and the report to files.

Parquet keeps every dtype (categoricals, UTC timestamps, list columns); CSV is
for spreadsheets and other tools, so list columns are written as JSON arrays and
timestamps in ISO 8601 UTC with the capture's precision (:mod:`dnspcap.times`), as in
JSON lines and the JSON report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..times import DIGITS, iso_strings

if TYPE_CHECKING:
    from .result import Report

EXPORT_FORMATS = ("parquet", "csv")
SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html",
            ".htm": "html", ".json": "json"}  # fmt: skip


def export_tables(
    tables: Mapping[str, pd.DataFrame],
    directory: Path,
    stem: str,
    to: str = "parquet",
    digits: int = DIGITS,
) -> list[Path]:
    """Write each table as ``<directory>/<stem>.<table>.<to>``; returns the paths.
    ``digits``: of a second, in the times of a CSV (the capture's precision)."""
    if to not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {to!r}; one of {', '.join(EXPORT_FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, df in tables.items():
        path = directory / f"{stem}.{name}.{to}"
        flat = plain(df)
        if to == "parquet":
            _to_parquet(flat, path)
        else:
            _for_csv(flat, digits).to_csv(path, index=False)
        out.append(path)
    return out


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    """Parquet that pandas reads back: Arrow list columns are recorded as object columns.

    (pandas writes their dtype as ``list<item: ...>[pyarrow]`` in its metadata and
    then cannot parse it on reading; ``dtype_backend="pyarrow"`` restores them.)
    """
    import pyarrow.parquet as pq

    pq.write_table(arrow_table(df), path)


def arrow_table(df: pd.DataFrame) -> Any:
    """A table (attrs and plain lists already dealt with, see plain) as the Arrow table
    that parquet files of it hold (see _to_parquet)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = json.loads(table.schema.metadata[b"pandas"])
    for col in meta["columns"]:
        if str(col.get("numpy_type", "")).endswith("[pyarrow]"):
            col["numpy_type"] = "object"
    return table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(meta)})


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """The table without its attrs (parquet would store them as metadata) and with plain lists."""
    out = df.copy()
    out.attrs = {}
    for col in out.columns:
        if out[col].dtype == object:
            first = next((v for v in out[col] if v is not None), None)
            if first is not None and not isinstance(first, (str, list)):
                lists = [None if v is None else [int(x) for x in v] for v in out[col]]
                out[col] = pd.Series(lists, index=out.index, dtype=object)
    return out


def csv_text(df: pd.DataFrame, digits: int = DIGITS) -> str:
    """A table as CSV, as `export --to csv` writes it."""
    return str(_for_csv(plain(df), digits).to_csv(index=False))


def json_lines(df: pd.DataFrame, digits: int = DIGITS) -> str:
    """A table as JSON lines, one object a row, with the CSV's times and lists."""
    text = str(_for_csv(plain(df), digits).to_json(orient="records", lines=True))
    # pandas escapes every "/" as "\/" and has no option not to. Each "/" it writes is
    # so escaped, so the backslash before a "/" is always that escape's: dropping it is
    # exact, whatever backslashes the text itself holds.
    return text.replace("\\/", "/")


def _for_csv(df: pd.DataFrame, digits: int = DIGITS) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        dtype = str(out[col].dtype)
        if dtype.startswith("list<") or (dtype == "object" and _holds_lists(out[col])):
            out[col] = [_json_list(v) for v in out[col]]
        elif dtype.startswith("datetime64"):
            out[col] = iso_strings(out[col], digits)
    return out


def _holds_lists(s: pd.Series) -> bool:
    return any(isinstance(v, list) for v in s.head(100))


def _json_list(v: Any) -> str:
    if v is None or (not hasattr(v, "__len__") and pd.isna(v)):
        return ""
    return json.dumps([x.item() if hasattr(x, "item") else x for x in v])


def save_report(report: Report, path: Path, fmt: str | None = None) -> Path:
    """Write the report to ``path`` (figures beside a Markdown report); returns the path."""
    from .formats import render

    fmt = fmt or SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: say the format, or end the name in {', '.join(SUFFIXES)}")
    kwargs: dict[str, Any] = {}
    if fmt == "markdown":
        kwargs = {"figures_dir": path.parent, "figures_prefix": path.stem}
    path.write_text(render(report, fmt, **kwargs), encoding="utf-8")
    return path
