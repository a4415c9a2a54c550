"""Integer keys in C (``dnspcap/csrc/shared/keys.c``): numbered in order of first
appearance (:func:`first_codes`, what ``pd.factorize`` gives for int64), and the pairs
of neighbours of one key within a time window (:func:`window_pairs`).

``pd.factorize`` of the packed socket-and-name keys of a 1M-message part's 600,000 A
and AAAA queries took 20-34 ms in the command; numbering them in C takes 8 ms (nearly
every key distinct), and keys with few distinct values far less (10M keys of 10,000
values: 22 ms, pandas 133). The window's pairs were a numpy pass per distance between
rows, each over every row still in reach: 50 ms for that part, 4 ms in one C pass."""

from __future__ import annotations

import numpy as np

from ..native import first_codes as _first_codes
from ..native import window_pairs as _window_pairs


def first_codes(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Each key's number among the distinct keys in order of first appearance (int32),
    and how many are distinct: ``pd.factorize(keys)`` without the uniques."""
    keys = np.ascontiguousarray(keys, np.int64)
    codes = np.empty(len(keys), np.int32)
    return codes, _first_codes(keys, codes, np.zeros(0, np.int64))


def factorized(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(keys)`` of int64 keys: each key's number in order of first
    appearance (int32), and the distinct keys in that order (int64)."""
    keys = np.ascontiguousarray(keys, np.int64)
    codes, first = np.empty(len(keys), np.int32), np.empty(len(keys), np.int64)
    distinct = _first_codes(keys, codes, first)
    return codes, keys[first[:distinct]]


def window_pairs(
    key: np.ndarray, ts: np.ndarray, is_a: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by ``key``, then by ``ts``: the pairs (i, j) of a row i that
    ``is_a`` and a row j of the same key that is not, ``|ts[j] - ts[i]| <= window``, as
    two arrays of row numbers. Ordered by i, then by distance ``|i - j|`` in rows, the
    row before i first at equal distance.

    Times whose differences overflow int64 (missing times among them, NaT being the
    smallest int64) go through numpy's passes, which say what the wrapped differences
    mean; the kernel needs every difference true."""
    key = np.ascontiguousarray(key, np.int64)
    ts = np.ascontiguousarray(ts, np.int64)
    is_a = np.ascontiguousarray(is_a, np.bool_)
    if len(ts) and int(ts.max()) - int(ts.min()) > np.iinfo(np.int64).max:
        return _passes(key, ts, is_a, window)
    # room for a pair a row (an A query has one AAAA partner, as a rule): one pass; only
    # keys crowded within the window ask for more, and a second pass with room for all
    room = len(key)
    first, second = np.empty(room, np.int64), np.empty(room, np.int64)
    n = _window_pairs(key, ts, is_a, int(window), first, second)
    if n > room:
        first, second = np.empty(n, np.int64), np.empty(n, np.int64)
        _window_pairs(key, ts, is_a, int(window), first, second)
    return first[:n], second[:n]


def _passes(
    key: np.ndarray, ts: np.ndarray, is_a: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """window_pairs by a numpy pass per distance d, over the rows whose partner may
    still be d rows on (a row's reach ends at the first row out of its key or window)."""
    firsts, seconds = [], []
    alive = np.arange(max(len(key) - 1, 0))
    d = 1
    with np.errstate(over="ignore"):
        while len(alive):
            alive = alive[alive + d < len(key)]
            other = alive + d
            near = (key[other] == key[alive]) & (ts[other] - ts[alive] <= window)
            alive, other = alive[near], other[near]
            mixed = is_a[other] != is_a[alive]
            firsts.append(alive[mixed])
            seconds.append(other[mixed])
            d += 1
    none = np.zeros(0, np.int64)
    i, j = np.concatenate([none, *firsts]), np.concatenate([none, *seconds])
    first, second = np.where(is_a[i], i, j), np.where(is_a[i], j, i)
    by_first = np.argsort(first, kind="stable")
    return first[by_first].astype(np.int64), second[by_first].astype(np.int64)
