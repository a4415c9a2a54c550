"""Evidence for many findings at once.

Detectors that report one finding per server or per client can have thousands of them
(a scan from many sources, garbage answered from many addresses). Built one at a time,
each finding's evidence would be a pass over the transactions table; here every
group's evidence comes out of a few passes over the rows of all groups together.
``evidence_of(tx, groups)[k]`` equals ``evidence(<group k's rows>, tx)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..categorical import as_categorical, flatten
from ..findings import frame_filter
from ._util import EVIDENCE_TRANSACTIONS, ns, txn_to_lookup


@dataclass(frozen=True, slots=True)
class Groups:
    """Rows of a transactions table in groups, one finding's rows per group.

    ``pos`` holds the rows' positions in the table, group after group, in table order
    within a group; group k's are ``pos[bounds[k]:bounds[k + 1]]``. No group is empty.
    """

    pos: np.ndarray
    bounds: np.ndarray

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.bounds)

    @property
    def of(self) -> np.ndarray:
        """The group of each entry of pos."""
        return np.repeat(np.arange(len(self)), self.sizes)

    def take(self, keep: np.ndarray) -> Groups:
        """Only the groups where `keep` (one bool per group) holds."""
        sizes = self.sizes[keep]
        entries = np.repeat(keep, self.sizes)
        return Groups(self.pos[entries], np.concatenate([[0], np.cumsum(sizes)]))


def split(tx: pd.DataFrame, labels: pd.Index, group: np.ndarray, count: int) -> Groups:
    """Rows of tx (index labels) into `count` groups: ``group[i]`` is row i's, -1 for none.
    A row's place in its group follows its place in tx."""
    pos = tx.index.get_indexer(labels)
    inside = np.asarray(group) >= 0
    pos, group = pos[inside], np.asarray(group)[inside]
    if len(pos) < 2 or (pos[1:] > pos[:-1]).all():  # rows in table order: the usual case
        order = np.argsort(group, kind="stable")
    else:
        order = np.lexsort((pos, group))
    sizes = np.bincount(group, minlength=count)
    if count and not sizes.all():
        raise ValueError("every group needs a row")
    return Groups(pos[order], np.concatenate([[0], np.cumsum(sizes)]))


def by_key(tx: pd.DataFrame, rows: pd.DataFrame, key: str) -> tuple[Groups, pd.Index]:
    """``rows`` (a selection of tx) grouped by a categorical column, in the order of
    ``groupby(key, observed=True, sort=True)`` (by category; missing values in no group),
    and the groups' keys."""
    cat = as_categorical(rows[key])
    codes = np.asarray(cat.codes, np.int64)
    present = np.bincount(codes + 1, minlength=len(cat.categories) + 1)[1:] > 0
    rank = np.append(np.cumsum(present) - 1, -1)  # a category's group; code -1 reads -1
    keys = cat.categories[present]
    return split(tx, rows.index, rank[codes], len(keys)), keys


def evidence_of(tx: pd.DataFrame, groups: Groups) -> list[dict[str, Any]]:
    """The evidence fields of a Finding (see _util.evidence) for every group."""
    n = len(groups)
    if not n:
        return []
    clients = names_of(tx["client"], groups)
    servers = names_of(tx["server"], groups)
    files = names_of(tx["file"], groups) if "file" in tx.columns else [()] * n
    first, last = _when(tx, groups)
    frames = _frames(tx, groups)
    return [
        {
            "clients": clients[k],
            "servers": servers[k],
            "first": first[k],
            "last": last[k],
            "frames": tuple(frames[k].tolist()),
            "files": files[k],
            "display_filter": frame_filter(frames[k][:200].tolist()),
        }
        for k in range(n)
    ]


def names_of(col: pd.Series, groups: Groups) -> list[tuple[str, ...]]:
    """Each group's distinct values of a column as sorted text (a missing one as "nan")."""
    cat = as_categorical(col)
    texts = np.array(["nan", *(str(c) for c in cat.categories)], dtype=object)
    rank = np.empty(len(texts), np.int64)
    rank[sorted(range(len(texts)), key=texts.__getitem__)] = np.arange(len(texts))
    by_rank = texts[np.argsort(rank)]
    code = rank[np.asarray(cat.codes, np.int64)[groups.pos] + 1]
    pairs = np.unique(groups.of * len(texts) + code)
    owner, value = np.divmod(pairs, len(texts))
    return [tuple(names) for names in split_by(by_rank[value], owner, len(groups))]


def _when(tx: pd.DataFrame, groups: Groups) -> tuple[list[Any], list[Any]]:
    """Each group's first and last message time (None, None without any)."""
    nat = np.iinfo(np.int64).min
    q, r = ns(tx["query_ts"])[groups.pos], ns(tx["response_ts"])[groups.pos]
    starts = groups.bounds[:-1]
    big = np.iinfo(np.int64).max
    lo = np.minimum(
        np.minimum.reduceat(np.where(q == nat, big, q), starts),
        np.minimum.reduceat(np.where(r == nat, big, r), starts),
    )
    hi = np.maximum(np.maximum.reduceat(q, starts), np.maximum.reduceat(r, starts))
    tz = tx["query_ts"].dt.tz
    first = [None if v == big else pd.Timestamp(v, tz=tz) for v in lo.tolist()]
    last = [None if v == nat else pd.Timestamp(v, tz=tz) for v in hi.tolist()]
    return first, last


def _frames(tx: pd.DataFrame, groups: Groups) -> list[np.ndarray]:
    """Each group's frames: those of its first EVIDENCE_TRANSACTIONS rows, sorted, once."""
    of = groups.of
    head = np.arange(len(of)) - groups.bounds[of] < EVIDENCE_TRANSACTIONS
    rows, of = groups.pos[head], of[head]
    values, owners = [], []
    for col in ("query_frames", "response_frames"):
        v, parent = flatten(tx[col], rows)
        values.append(v.astype(np.int64))
        owners.append(of[parent])
    frame, owner = np.concatenate(values), np.concatenate(owners)
    order = np.lexsort((frame, owner))
    frame, owner = frame[order], owner[order]
    new = np.ones(len(frame), bool)
    new[1:] = (frame[1:] != frame[:-1]) | (owner[1:] != owner[:-1])
    frame, owner = frame[new], owner[new]
    return split_by(frame, owner, len(groups))


def lookups_of(lookups: pd.DataFrame, tx: pd.DataFrame, groups: Groups) -> list[np.ndarray]:
    """Each group's lookups: positions in the lookups table, sorted, of the lookups that
    contain any of the group's transactions (see _util.lookup_positions)."""
    if lookups.empty:
        return [np.zeros(0, np.int64) for _ in range(len(groups))]
    owner = txn_to_lookup(lookups)
    labels = np.asarray(tx.index[groups.pos])
    inside = labels < len(owner)
    found = np.full(len(labels), -1, np.int64)
    found[inside] = owner[labels[inside]]
    hit = found >= 0
    width = len(lookups)
    pairs = np.unique(groups.of[hit] * width + found[hit])
    group, lookup = np.divmod(pairs, width)
    return split_by(lookup, group, len(groups))


def value_counts_of(
    col: pd.Series, groups: Groups, head: int | None = None
) -> list[dict[str, int]]:
    """Each group's ``col.astype(str).value_counts().head(head).to_dict()``: the most
    common first, a tie in order of first appearance, missing values left out."""
    cat = as_categorical(col)
    texts, text_of = np.unique(np.array([str(c) for c in cat.categories], dtype=object),
                               return_inverse=True)  # fmt: skip
    code = np.asarray(cat.codes, np.int64)[groups.pos]
    present = code >= 0
    width = max(len(texts), 1)
    key = groups.of[present] * width + text_of[code[present]]
    pairs, first, count = np.unique(key, return_index=True, return_counts=True)
    owner = pairs // width
    order = np.lexsort((first, -count, owner))
    owner, count, names = owner[order], count[order], texts[pairs[order] % width]
    return [
        dict(zip(n[:head].tolist(), c[:head].tolist(), strict=True))
        for n, c in zip(
            split_by(names, owner, len(groups)), split_by(count, owner, len(groups)), strict=True
        )
    ]


def split_by(values: np.ndarray, owner: np.ndarray, count: int) -> list[np.ndarray]:
    """values cut into the runs of each group 0..count-1 (`owner` sorted: values' group)."""
    cut = np.searchsorted(owner, np.arange(count + 1)).tolist()
    return [values[a:b] for a, b in itertools.pairwise(cut)]
