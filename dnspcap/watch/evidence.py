"""A finding's evidence gathered step by step: what ``evidence()`` of the detectors gives
for the whole capture, from the transactions each step closes.

``evidence()`` names the clients and servers of every transaction that shows the
finding, its first and last time, and the frames of the first
:data:`~dnspcap.findings.detectors._util.EVIDENCE_TRANSACTIONS` of them in the order of
the transactions table (the time of each one's first message). A step closes
transactions in about that order, not exactly (a lookup that waits for a retry closes
after a later one that did not): each transaction carries its place in the whole
capture's table (:class:`~dnspcap.watch.window.Window` ``order``), and the first ones are
kept by it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..findings.detectors._util import EVIDENCE_TRANSACTIONS, ns
from .window import Window

Key = tuple[int, int, int]  # the transaction's place: its first message's time, frame, arrival
Frames = tuple[tuple[str, int], ...]  # (file, frame) of its messages and of its copies'


@dataclass
class Evidence:
    """The evidence fields of a finding over the transactions added so far."""

    limit: int = EVIDENCE_TRANSACTIONS
    clients: set[str] = field(default_factory=set)
    servers: set[str] = field(default_factory=set)
    first: int | None = None  # ns
    last: int | None = None
    # the first `limit` transactions by place: (negated key, frames), a max-heap by key
    head: list[tuple[tuple[int, int, int], Frames]] = field(default_factory=list)
    keys: set[Key] = field(default_factory=set)  # of those in head: each transaction once
    count: int = 0  # transactions added

    def add(self, w: Window, labels: Iterable[int]) -> None:
        """Add these transactions (index labels of the counted table ``w.tx``)."""
        rows = np.unique(np.fromiter((int(x) for x in labels), np.int64))
        if not len(rows):
            return
        self.count += len(rows)
        sub = w.tx.loc[rows, ["client", "server", "query_ts", "response_ts"]]
        self.clients.update(_names(sub["client"]))
        self.servers.update(_names(sub["server"]))
        times = np.concatenate([ns(sub["query_ts"]), ns(sub["response_ts"])])
        times = times[times != _NAT]
        if len(times):
            lo, hi = int(times.min()), int(times.max())
            self.first = lo if self.first is None else min(self.first, lo)
            self.last = hi if self.last is None else max(self.last, hi)
        keys = w.keys(rows)
        # only the transactions that can still be among the first `limit`
        order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))[: self.limit]
        if len(self.head) >= self.limit:
            worst = _unneg(self.head[0][0])
            order = np.asarray([i for i in order.tolist() if tuple(keys[i]) < worst], np.int64)
        for i in order.tolist():
            key: Key = (int(keys[i, 0]), int(keys[i, 1]), int(keys[i, 2]))
            self._push(key, w.frames(int(rows[i])))

    def _push(self, key: Key, frames: Frames) -> None:
        if key in self.keys:
            return
        entry = ((-key[0], -key[1], -key[2]), frames)
        if len(self.head) < self.limit:
            heapq.heappush(self.head, entry)
            self.keys.add(key)
        elif key < _unneg(self.head[0][0]):
            dropped = heapq.heappushpop(self.head, entry)
            self.keys.add(key)
            self.keys.discard(_unneg(dropped[0]))

    def merge(self, other: Evidence) -> None:
        self.count += other.count
        self.clients |= other.clients
        self.servers |= other.servers
        for a in ("first", "last"):
            mine, theirs = getattr(self, a), getattr(other, a)
            pick = min if a == "first" else max
            setattr(self, a, theirs if mine is None else mine if theirs is None else pick(mine, theirs))
        for neg, frames in other.head:
            self._push(_unneg(neg), frames)

    def fields(self) -> dict[str, Any]:
        """The Finding fields evidence() fills: clients, servers, first, last,
        evidence_frames."""
        out: dict[str, set[int]] = {}
        for _, frames in self.head:
            for file, frame in frames:
                out.setdefault(file, set()).add(frame)
        return {
            "clients": tuple(sorted(self.clients)),
            "servers": tuple(sorted(self.servers)),
            "first": _ts(self.first),
            "last": _ts(self.last),
            "evidence_frames": {f: tuple(sorted(fr)) for f, fr in sorted(out.items())},
        }


_NAT = np.iinfo(np.int64).min


def _unneg(k: tuple[int, int, int]) -> Key:
    return (-k[0], -k[1], -k[2])


def _names(col: pd.Series) -> set[str]:
    return {str(v) for v in col.unique()}  # as the detectors' evidence() names them


def _ts(v: int | None) -> pd.Timestamp | None:
    return None if v is None else pd.Timestamp(v, tz="UTC")
