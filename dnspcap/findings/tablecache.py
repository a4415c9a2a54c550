"""Values derived from a table, kept while that table object lives.

The detectors run one after another on the same two tables and need the same derived
arrays (pairs of A/AAAA queries, the lookup of each transaction, the retries); each is
built once per table object. detect() also leaves here, for the counted transactions it
hands the detectors, the other sightings of each query, whose frames join the evidence.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import pandas as pd

_CACHE: dict[tuple[int, str], tuple[weakref.ref[pd.DataFrame], Any]] = {}


def cached(table: pd.DataFrame, name: str, build: Callable[[], Any]) -> Any:
    """build() for this table object, computed once while the table lives."""
    hit = recall(table, name)
    if hit is not None:
        return hit
    value = build()
    remember(table, name, value)
    return value


def remember(table: pd.DataFrame, name: str, value: Any) -> None:
    """Keep value for this table object, under name, while the table lives."""
    for k in [k for k, (ref, _) in _CACHE.items() if ref() is None]:
        del _CACHE[k]
    _CACHE[(id(table), name)] = (weakref.ref(table), value)


def recall(table: pd.DataFrame, name: str) -> Any:
    """What was kept for this table object under name, or None."""
    hit = _CACHE.get((id(table), name))
    return hit[1] if hit is not None and hit[0]() is table else None


def forget(table: pd.DataFrame) -> None:
    """Let go of everything kept for this table object."""
    for k in [k for k in _CACHE if k[0] == id(table)]:
        del _CACHE[k]
