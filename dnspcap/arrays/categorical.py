"""Helpers for the pandas categoricals (and list columns) the tables are made of.

Columns with few distinct values among millions of rows (addresses, names, types) are
categoricals; these helpers work on their codes and categories instead of turning every
row into a Python string. List columns (frames, retry gaps) are Arrow lists, read as
one flat array of items.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..native import kernel
from .keys import first_codes


def as_categorical(s: pd.Series) -> pd.Categorical:
    return s.array if isinstance(s.dtype, pd.CategoricalDtype) else pd.Categorical(s)  # type: ignore[return-value]


def take(values: np.ndarray, rows: np.ndarray, fill: int = 0) -> np.ndarray:
    """values[rows] for int32 rows, with `fill` (cut to the item's width) where a row is
    -1: one C pass over native-width items (numpy converts an int32 index and takes its
    slow path, and a fill needs a mask)."""
    values, rows = np.ascontiguousarray(values), np.asarray(rows, np.int32)
    out = np.empty(len(rows), values.dtype)
    kernel.take_rows(values.view(np.uint8), values.itemsize, rows, fill, out.view(np.uint8))
    return out


def codes_of(s: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """Non-negative codes of a column's values (0 for a missing value); with `rows`
    (positions), of those rows only, taken before they are widened to int64."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
    elif s.dtype == np.float64:  # numpy's, without missing values: hashed as their bits
        codes = _float_codes(s.to_numpy())
    else:
        codes = pd.factorize(s)[0]
    return np.asarray(codes if rows is None else codes[rows], np.int64) + 1


def _float_codes(values: np.ndarray) -> np.ndarray:
    """pd.factorize(values)[0] of floats, by their bits where none is NaN (-0.0 taken as
    0.0, which it equals), numbered in C (:func:`.keys.first_codes`): pandas hashed 1M
    round trips, 16k distinct, in 16 ms as floats and 9 ms as bits."""
    values = values + 0.0  # -0.0 + 0.0 is 0.0
    if np.isnan(values).any():
        return np.asarray(pd.factorize(values)[0])
    return first_codes(values.view(np.int64))[0]


def shared_codes(
    a: pd.Series, b: pd.Series, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of two address columns in one shared code space (categories merged, not
    values compared: the columns hold millions of rows and a few thousand addresses);
    0 for a missing value; with `rows` (positions), of those rows only."""
    ca, cb = as_categorical(a), as_categorical(b)
    cats = ca.categories.union(cb.categories)
    out = []
    for c in (ca, cb):
        # a category's shared code + 1, and 0 last, for code -1 (missing)
        to_shared = np.append(cats.get_indexer(c.categories), -1).astype(np.int64) + 1
        codes = np.asarray(c.codes)
        out.append(to_shared[codes if rows is None else codes[rows]])
    return out[0], out[1]


def pack(*keys: np.ndarray) -> np.ndarray:
    """Int64 codes for the distinct combinations of several equal-length arrays of
    non-negative integers (category codes, ports, IDs, earlier codes).

    The keys are packed into one integer (mixed radix) while that fits in 63 bits, and
    made dense with one hash pass (in C: :func:`.keys.first_codes`) only when the next
    key would not fit: a handful of passes over millions of rows instead of two per key.
    """
    limit = 1 << 62
    combined = np.zeros(len(keys[0]), np.int64)
    span = 1  # combined < span
    for k in keys:
        k = np.asarray(k, np.int64)
        card = int(k.max()) + 1 if len(k) else 1
        if span * card >= limit:
            dense, distinct = first_codes(combined)
            combined, span = dense.astype(np.int64), max(distinct, 1)
        if card >= limit // span:  # one key alone too wide: densify it first
            dense, distinct = first_codes(k)
            k, card = dense.astype(np.int64), max(distinct, 1)
        combined = combined * card + k
        span *= card
    return combined


def strings_of(col: pd.Series) -> np.ndarray:
    """A column as an object array of str, through its categories when it has them."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = np.array([str(c) for c in col.cat.categories] + [""], dtype=object)
        return np.asarray(cats[col.cat.codes.to_numpy()])  # code -1 (missing) -> ""
    return np.array([str(v) for v in col], dtype=object)


def coded(
    col: pd.Series, rows: np.ndarray | None = None, dtype: type[np.signedinteger] = np.int64
) -> tuple[np.ndarray, list[str]]:
    """A text column (or its `rows` positions) as codes (of `dtype`: int32 halves a
    million-row array, and category codes always fit it) into the sorted list of its
    distinct texts, with "" (also for a missing value) always at code 0: equal codes,
    equal texts."""
    cat = as_categorical(col)
    texts = [str(c) for c in cat.categories]
    values = sorted({"", *texts})
    index = {v: i for i, v in enumerate(values)}
    code = np.array([index[""], *(index[v] for v in texts)], dtype)  # by category code + 1
    codes = np.asarray(cat.codes)  # as narrow as pandas keeps them: take rows before widening
    if rows is not None:
        codes = take(codes, rows)
    return take(code, np.add(codes, 1, dtype=np.int32)), values


def distinct(a: np.ndarray) -> np.ndarray:
    """np.unique(a) for an integer array, by sorting (numpy 2's hashing np.unique takes
    tens of times longer on large arrays)."""
    s = np.sort(np.asarray(a), kind="stable")
    return s[np.concatenate([[True], s[1:] != s[:-1]])] if len(s) else s


def marked(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """np.isin(values, wanted), faster where ``values`` are in ascending order (a part's
    frame numbers): each wanted value found by binary search, O(m log n) for m wanted,
    not isin's sort of both (a 10M-packet capture's part: 3 ms, not 30)."""
    values = np.asarray(values)
    n = len(values)
    step = values[1:] >= values[:-1] if n > 1 else np.ones(0, bool)
    if not bool(step.all()):
        return np.isin(values, wanted)
    w = np.asarray(wanted, values.dtype) if len(wanted) else np.zeros(0, values.dtype)
    keep = np.zeros(n, bool)
    if bool((values[1:] != values[:-1]).all()):  # each value once: where each wanted one is
        at = np.searchsorted(values, w)
        ok = at < n
        ok[ok] = values[at[ok]] == w[ok]
        keep[at[ok]] = True
        return keep
    # values repeated: +1 where each wanted value's run starts, -1 after it
    edge = np.bincount(np.searchsorted(values, w, "left"), minlength=n + 1)
    edge -= np.bincount(np.searchsorted(values, w, "right"), minlength=n + 1)
    return np.cumsum(edge[:-1]) > 0


def flatten(col: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The items of a list column's rows (positions), and the index in `rows` of each."""
    if isinstance(col.dtype, pd.ArrowDtype):
        arr = pa.chunked_array(col.array._pa_array).take(pa.array(rows))  # type: ignore[attr-defined]
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        values = pc.list_flatten(arr).to_numpy(zero_copy_only=False)
        parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
        return np.asarray(values), np.asarray(parents, np.int64)
    lists = col.to_numpy(object)[rows]  # lists as Python objects: slow, never the tables'
    parents = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
    return np.array([v for x in lists for v in x]), parents


def code_dtype(n: int) -> type[np.signedinteger[Any]]:
    """The codes of n categories, as narrow as pandas itself keeps them."""
    return np.int8 if n < 127 else np.int16 if n < 32767 else np.int32


def used_categories(col: pd.Series) -> pd.Index:
    """The categories a categorical column's rows use, in category order (what
    ``remove_unused_categories().categories`` gives, by counting codes, not by a unique)."""
    cat = as_categorical(col)
    return cat.categories[code_counts(cat) > 0]


def code_counts(cat: pd.Categorical) -> np.ndarray:
    """How many rows have each category (a missing value is in none). Codes of one or two
    bytes are counted as they are, in C, a missing one (-1) in the last slot of their
    width: no int64 copy of 10M codes and mask of them (0.1 s -> 0.01 s)."""
    return counts_of(np.asarray(cat.codes), len(cat.categories))


def counts_of(codes: np.ndarray, n: int) -> np.ndarray:
    """How many of these codes are each of 0..n-1 (a negative one is in none): see
    :func:`code_counts` (np.bincount would first copy 10M codes to int64)."""
    if codes.dtype.itemsize <= 2 and codes.dtype.kind == "i":
        counts = np.zeros(1 << (8 * codes.dtype.itemsize), np.int64)
        kernel.count_codes(np.ascontiguousarray(codes).view(np.uint8), codes.dtype.itemsize, counts)
        return counts[:n]
    wide = np.asarray(codes, np.int64)
    return np.bincount(wide[wide >= 0], minlength=n)


def texts_in(col: pd.Series, texts: Iterable[str]) -> np.ndarray:
    """Per row, whether ``col.astype(str)`` is one of these texts: decided once per
    category and read through the codes, not by making a string of every row (a missing
    value is in none)."""
    cat = as_categorical(col)
    hit = np.asarray(cat.categories.astype(str).isin(list(texts)), bool)
    return np.append(hit, False)[np.asarray(cat.codes)]  # code -1 reads the last: False
