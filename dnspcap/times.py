"""Times as dnspcap writes them: ISO 8601 in UTC, to the capture's precision.

One format wherever a time leaves the tables as text (``messages --format csv|json``,
``export --to csv``, the JSON report): ``2025-11-24T16:00:02.500060Z``, with as many
digits of the second as the capture's timestamps carry (6 for a microsecond pcap, 9 for
nanoseconds), so a time read back is the time the capture recorded, and two tools
writing the same capture agree character for character.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

DIGITS = 9  # when nothing says what the capture carries: every digit we hold
# numpy formats whole units only: a precision between two is written with the finer one
_UNITS: tuple[tuple[int, Literal["s", "ms", "us", "ns"]], ...] = (
    (0, "s"), (3, "ms"), (6, "us"), (9, "ns"),
)  # fmt: skip


def digits_of(stats: Mapping[str, Any] | None) -> int:
    """The digits of a second the capture's timestamps carry, from read statistics
    (``df.attrs["dnspcap"]``); every digit when they do not say."""
    value = (stats or {}).get("time_digits")
    return int(value) if isinstance(value, (int, np.integer)) else DIGITS


def iso(ts: pd.Timestamp | None, digits: int = DIGITS) -> str | None:
    """One time as ISO 8601 UTC (``None`` stays ``None``)."""
    if ts is None or pd.isna(ts):
        return None
    return str(iso_strings(pd.Series([ts]), digits)[0])


def iso_strings(values: pd.Series, digits: int = DIGITS) -> np.ndarray:
    """A column of UTC times as ISO 8601 strings; a missing time is the empty string.

    Formatted by numpy in one pass: a CSV of millions of messages does not format
    them one by one."""
    unit: Literal["s", "ms", "us", "ns"] = next(u for d, u in _UNITS if d >= min(digits, 9))
    times = pd.to_datetime(values, utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    out: np.ndarray = np.datetime_as_string(times, unit=unit, timezone="UTC").astype(object)
    out[np.isnat(times)] = ""
    return out
