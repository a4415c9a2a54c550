"""The messages a watch holds: the ones kept from earlier steps and the chunks that came
since, as one messages table.

The reader hands over chunks whose text columns are categoricals over the values *that
chunk* uses (sorted, as :func:`dnspcap.read_messages` makes them); chunks are put
together with the union of their categories, sorted the same way, so a window's table
is what ``read_messages`` gives for the same messages, and pairing and grouping see the
codes they would see in one read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..reading.netstack import SERVICE_NAMES

# categoricals whose categories keep an order of their own instead of being sorted
_ORDERED = {"transport": ("udp", "tcp"), "service": tuple(SERVICE_NAMES)}
_APPEARANCE = ("file", "vantage")  # in the order the files were read


def concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The rows of the frames one after another (their index is kept), with each
    categorical's categories the union of theirs; ``attrs`` are the last frame's."""
    frames = [f for f in frames if f is not None]
    if not frames:
        raise ValueError("no messages to put together")
    if len(frames) == 1:
        return frames[0]
    cols: dict[str, object] = {}
    first = frames[0]
    for name in first.columns:
        parts = [f[name] for f in frames]
        if isinstance(first[name].dtype, pd.CategoricalDtype):
            cols[name] = _union(name, parts)
        else:
            cols[name] = pd.concat(parts, ignore_index=True).array
    out = pd.DataFrame(cols, copy=False)
    out.index = pd.Index(np.concatenate([f.index.to_numpy() for f in frames]))
    out.attrs = frames[-1].attrs
    return out


def _union(name: str, parts: list[pd.Series]) -> pd.Categorical:
    every = np.concatenate([np.asarray(p.cat.categories, object) for p in parts])
    cats = pd.Index(pd.unique(every), dtype=object)  # in order of appearance
    if name in _ORDERED:
        rank: dict[object, int] = {v: i for i, v in enumerate(_ORDERED[name])}
        cats = pd.Index(sorted(cats, key=lambda v: rank.get(v, len(rank))), dtype=object)
    elif name not in _APPEARANCE:
        cats = cats.sort_values()  # text categories
    codes = [_recoded(np.asarray(p.cat.codes), cats.get_indexer(p.cat.categories)) for p in parts]
    return pd.Categorical.from_codes(np.concatenate(codes), categories=cats, validate=False)


def _recoded(codes: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Codes through a table of new codes (-1, missing, stays -1)."""
    table = np.append(lut, -1).astype(np.int64)
    return table[codes.astype(np.int64)]


def prune(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the categories no row uses left out (as a read leaves them out)."""
    cols: dict[str, object] = {}
    changed = False
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cat = col.array
            used = np.bincount(
                np.asarray(cat.codes, np.int64) + 1, minlength=len(cat.categories) + 1
            )
            if (used[1:] == 0).any():
                new = np.cumsum(used[1:] > 0) - 1
                codes = _recoded(np.asarray(cat.codes), new)
                kept = cat.categories[used[1:] > 0]
                cols[name] = pd.Categorical.from_codes(codes, categories=kept, validate=False)
                changed = True
                continue
        cols[name] = col.array
    if not changed:
        return frame
    out = pd.DataFrame(cols, copy=False)
    out.index = frame.index
    out.attrs = frame.attrs
    return out
