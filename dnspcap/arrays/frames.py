"""Tables put one after another with their categories united."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from ..native import kernel
from .categorical import codes_of, pack
from .keys import first_codes


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after another, categories united (attrs not kept); empty frames
    add nothing (but the columns, when all are empty)."""
    some = [f for f in frames if len(f)] or frames[:1]
    return pd.DataFrame(columns_of(some), copy=False)


def columns_of(frames: list[pd.DataFrame]) -> dict[str, Any]:
    """Each column of the frames, one after another (categoricals: their categories united)."""
    cols: dict[str, Any] = {}
    for name in frames[0].columns:
        parts = [f[name] for f in frames]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            cats = [p.array for p in parts]
            if len({str(c.categories.dtype) for c in cats}) > 1:  # texts read apart: str, object
                cats = [c.set_categories(c.categories.astype(object)) for c in cats]
            cols[name] = union_categoricals(cats)  # type: ignore[arg-type]
        else:
            cols[name] = pd.concat(parts, ignore_index=True).array
    return cols


COUNT = "n"  # the column of counted(): how many rows each row stands for


def counted(frame: pd.DataFrame) -> pd.DataFrame:
    """The distinct rows of the frame, each with how many times it came (``n``), in order
    of their first row: a million answer times of a few servers, timed to the
    microsecond, are some ten thousand distinct rows. One hash pass over the columns'
    codes packed into one key (categoricals by code, other values by value), not a sort."""
    if not len(frame):
        return frame.assign(**{COUNT: np.zeros(0, np.int64)})
    group = first_codes(pack(*(codes_of(frame[c]) for c in frame.columns)))[0]
    # numbered in order of first appearance: a group's first row is where its number
    # first exceeds every number before it
    first = np.flatnonzero(group > np.maximum.accumulate(np.r_[-1, group[:-1]]))
    out = frame.take(first).reset_index(drop=True)
    out[COUNT] = np.bincount(group, minlength=len(first)).astype(np.int64)
    return out


def expanded(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of a counted() frame (these of its columns: all by default), each
    repeated its ``n`` times; a frame without ``n`` as it is."""
    keep = [c for c in frame.columns if c != COUNT] if columns is None else columns
    if COUNT not in frame.columns:
        return frame[keep]
    n = frame[COUNT].to_numpy(np.int64)
    return frame[keep].take(np.repeat(np.arange(len(frame)), n)).reset_index(drop=True)


def split(
    box: list[pd.DataFrame],
    at: list[np.ndarray],
    threads: int = 1,
    part: np.ndarray | None = None,
) -> list[pd.DataFrame]:
    """The rows of the table in ``box`` at each of these positions arrays, one table
    each, made a column at a time while the whole is let go: ``box`` is emptied, and the
    whole's memory goes back as its columns are split (a column of a block of several
    once the block's last is), so the whole and its pieces are not held twice over.
    The caller holds no other reference to the table. With ``threads``, that many
    columns are split at once: the takes, and the C pass below, let other threads run.

    ``part``: each row's part (int8, int16 or int32), when ``at[j]`` are the positions of
    part j's rows, ascending. A column is then dealt into its parts in one C pass
    (:func:`dealt`), where a take per part reads all of it once for each (10M messages
    in 12 parts, 32 columns, one thread: 1.33 s of takes)."""
    whole = box.pop()
    attrs = dict(whole.attrs)
    names = list(whole.columns)
    arrays = {c: whole[c].array for c in names}
    del whole
    # positions as the platform's integers once, not once per column: numpy and pandas
    # would convert narrower ones for every take (10M messages in 12 parts, 34 columns:
    # 0.75 s -> 0.58 s)
    at = [np.asarray(where, np.intp) for where in at]
    deal = part is not None and part.dtype in (np.int8, np.int16, np.int32)
    counts = np.array([len(where) for where in at], np.int64)

    def cut(c: str) -> list[Any]:
        column = arrays.pop(c)  # the whole's column goes once its pieces are made
        pieces = dealt(column, part, counts) if deal else None  # type: ignore[arg-type]
        return pieces if pieces is not None else [column.take(where) for where in at]

    if threads > 1 and len(names) > 1:
        with ThreadPoolExecutor(min(threads, len(names))) as pool:
            columns = list(pool.map(cut, names))
    else:
        columns = [cut(c) for c in names]
    pieces: list[dict[str, Any]] = [{} for _ in at]
    for c, taken in zip(names, columns, strict=True):
        for piece, col in zip(pieces, taken, strict=True):
            piece[c] = col
    del columns
    out = []
    for piece in pieces:
        table = pd.DataFrame(piece, copy=False)
        piece.clear()
        table.attrs = dict(attrs)
        out.append(table)
    return out


def dealt(column: Any, part: np.ndarray, counts: np.ndarray) -> list[Any] | None:
    """The column's rows of each part, in order (``part``: each row's; ``counts``: how
    many each has), by one C pass over its values (kernel.scatter_rows): numpy's,
    datetimes and categoricals (their codes), and the nullable integers and booleans
    (values and mask). None for any other kind of column, or a pandas that keeps them
    otherwise."""
    c: Any = column  # pandas' own backing arrays, which its stubs do not show
    make: Any
    try:
        if isinstance(column, pd.arrays.NumpyExtensionArray):
            make, arrays = pd.arrays.NumpyExtensionArray, [c._ndarray]
        elif isinstance(column, (pd.Categorical, pd.arrays.DatetimeArray)):
            make, arrays = c._from_backing_data, [c._ndarray]
        elif isinstance(column, (pd.arrays.IntegerArray, pd.arrays.BooleanArray)):
            make, arrays = type(column), [c._data, c._mask]
        else:
            return None
    except AttributeError:  # a pandas without these backing arrays: taken instead
        return None
    return _rebuilt(make, arrays, part, counts)


def _rebuilt(
    make: Any, arrays: list[np.ndarray], part: np.ndarray, counts: np.ndarray
) -> list[Any] | None:
    """make(*pieces) for each part, the pieces of each array dealt; None where an array
    is not of fixed-width numbers, times or bools."""
    if any(a.ndim != 1 or a.dtype.kind not in "biufmM" or a.itemsize not in (1, 2, 4, 8)
           for a in arrays):  # fmt: skip
        return None
    dealt = []
    for a in arrays:
        a = np.ascontiguousarray(a)
        out = [np.empty(int(n), a.dtype) for n in counts]
        kernel.scatter_rows(a.view(np.uint8), a.itemsize, part, [o.view(np.uint8) for o in out])
        dealt.append(out)
    return [make(*pieces) for pieces in zip(*dealt, strict=True)]
