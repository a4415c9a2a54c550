"""Integer keys in C (dnspcap/arrays/keys.py): first_codes against pandas.factorize, and
window_pairs against their definition, a pair at a time, on random keys and times
(ties, wrapped differences, one crowded key); the A/AAAA pairs of real captures are
the detectors' tests' (test_corpus_findings, test_detectors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnspcap.arrays import keys as keys_module
from dnspcap.arrays.keys import factorized, first_codes, window_pairs
from dnspcap.native import first_codes as kernel_first_codes
from dnspcap.native import window_pairs as kernel_window_pairs


def defined_pairs(key: np.ndarray, ts: np.ndarray, is_a: np.ndarray, window: int) -> np.ndarray:
    """The pairs by their definition, one at a time: rows i < j of one key, every row
    from i to j within the window of i (int64 differences, wrapped as numpy wraps them),
    one of them is_a. One row per pair, (A row, the other), by A row, then by distance,
    the earlier row first."""
    pairs = []
    with np.errstate(over="ignore"):
        for i in range(len(key)):
            for j in range(i + 1, len(key)):
                if key[j] != key[i] or ts[j] - ts[i] > window:
                    break
                if is_a[i] != is_a[j]:
                    a, other = (i, j) if is_a[i] else (j, i)
                    pairs.append((a, abs(j - i), other > a, other))
    pairs.sort()
    return np.array([(a, o) for a, _, _, o in pairs], np.int64).reshape(-1, 2)


def sorted_rows(
    rng: np.random.Generator, n: int, kinds: int, spread: int
) -> tuple[np.ndarray, ...]:
    key = np.sort(rng.integers(-3, kinds, n)).astype(np.int64) * 7919
    ts = rng.integers(0, spread, n).astype(np.int64)
    order = np.lexsort((ts, key))
    return key[order], ts[order], rng.random(n) < 0.5


@pytest.mark.parametrize("seed", range(12))
def test_window_pairs_are_the_pairs_by_their_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 600))
    key, ts, is_a = sorted_rows(rng, n, int(rng.integers(1, 400)), int(rng.integers(1, 10**6)))
    if seed % 3 == 0 and n:  # wrapped differences: numpy's int64 arithmetic
        ts[: n // 4] = np.iinfo(np.int64).min + ts[: n // 4]
    window = int(rng.integers(0, 10**5))
    want = defined_pairs(key, ts, is_a, window)
    first, second = window_pairs(key, ts, is_a, window)  # numpy's passes where times wrap
    assert np.array_equal(np.stack([first, second], axis=1), want)
    assert is_a[first].all() and not is_a[second].any()
    if seed % 3:  # the kernel and numpy's passes agree
        assert np.array_equal(np.stack(keys_module._passes(key, ts, is_a, window), axis=1), want)


def test_window_pairs_of_one_crowded_key_are_all_of_them() -> None:
    """Every A with every other row of one key, all within the window: n^2/4 pairs."""
    n = 400
    key, ts = np.zeros(n, np.int64), np.arange(n, dtype=np.int64)
    is_a = np.arange(n) % 2 == 0
    first, second = window_pairs(key, ts, is_a, n)
    assert len(first) == (n // 2) ** 2
    assert np.array_equal(np.stack([first, second], 1), defined_pairs(key, ts, is_a, n))


@pytest.mark.parametrize("seed", range(6))
def test_first_codes_are_pandas_factorize(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 50_000))
    pool = rng.integers(-(2**62), 2**62, int(rng.integers(1, 5000)), dtype=np.int64)
    keys = pool[rng.integers(0, len(pool), n)]
    edges = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0], np.int64)
    keys[: min(3, n)] = edges[: min(3, n)]
    codes, distinct = first_codes(keys)
    want, uniques = pd.factorize(keys)
    assert codes.dtype == np.int32 and np.array_equal(codes, want)
    assert distinct == len(uniques)
    codes, distinct_keys = factorized(keys)
    assert np.array_equal(codes, want) and np.array_equal(distinct_keys, uniques)
    assert distinct_keys.dtype == np.int64


def test_the_kernels_refuse_arrays_of_other_lengths_or_types() -> None:
    keys = np.arange(5, dtype=np.int64)
    first = np.empty(5, np.int64)
    with pytest.raises(ValueError, match="as long as keys"):
        kernel_first_codes(keys, np.empty(4, np.int32), first)
    with pytest.raises(ValueError, match="first too or empty"):
        kernel_first_codes(keys, np.empty(5, np.int32), first[:3])
    with pytest.raises(TypeError):
        kernel_first_codes(keys.astype(np.int32), np.empty(5, np.int32), first)
    ts, is_a, out = np.zeros(5, np.int64), np.zeros(5, bool), np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="as long as key"):
        kernel_window_pairs(keys, ts[:4], is_a, 1, out, out)
    with pytest.raises(ValueError, match="second as long as first"):
        kernel_window_pairs(keys, ts, is_a, 1, out, out[:2])
    with pytest.raises(TypeError):
        kernel_window_pairs(keys, ts, is_a.astype(np.uint8), 1, out, out)


def test_first_codes_grow_their_table_through_many_distinct_keys() -> None:
    """The table starts at 1,024 slots and doubles when half full: 300,000 distinct keys
    (nine doublings), each met twice, numbered as pandas numbers them."""
    rng = np.random.default_rng(7)
    distinct = rng.permutation(np.arange(300_000, dtype=np.int64) * 1_000_003 - 2**40)
    keys = np.concatenate([distinct, distinct[::-1]])
    codes, uniques = factorized(keys)
    want, want_uniques = pd.factorize(keys)
    assert np.array_equal(codes, want) and np.array_equal(uniques, want_uniques)
