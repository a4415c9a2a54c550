"""The messages' key columns as the C pairing passes take them (:class:`Columns`), and
what the passes gather per transaction (:class:`Stats`, :func:`stats`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..arrays.categorical import as_categorical, pack
from ..arrays.keys import first_codes
from ..native import kernel

# frames of a rotated set are keyed by their file above these bits inside pair()
FILE_SHIFT = 40
NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


def _codes(s: pd.Series) -> np.ndarray:
    """A column's category codes (-1: missing), as pandas narrowed them."""
    codes: np.ndarray = np.ascontiguousarray(as_categorical(s).codes)
    return codes


def _lut(c: pd.Categorical, categories: pd.Index) -> np.ndarray:
    """Per code of c plus one, the code of its value among `categories` (a superset)."""
    return np.concatenate([[-1], categories.get_indexer(c.categories)]).astype(np.int32)


def dense(parts: tuple[np.ndarray, ...]) -> np.ndarray:
    """One int64 code per row for its combination of the parts' values, from 0 up, in
    the order of first appearance (the callers compare codes, never order by them)."""
    if not len(parts[0]):
        return np.zeros(0, np.int64)
    # packed into one integer and hashed once: np.unique(axis=0) sorts the rows as
    # opaque bytes, seconds for a few hundred thousand rows of hostile traffic
    shifted = [np.asarray(p, np.int64) - int(np.min(p)) for p in parts]  # codes -1 and up
    return first_codes(pack(*shifted))[0].astype(np.int64)


class Columns:
    """The messages' key columns as the C passes take them: category codes as pandas
    keeps them (1, 2 or 4 bytes), with a lookup table per address column into one code
    space for source and destination; ports and IDs as uint16; times as int64 ns."""

    def __init__(self, m: pd.DataFrame) -> None:
        self.m = m
        self.n = len(m)
        self.qr = np.ascontiguousarray(m["qr"].to_numpy(bool))
        src, dst = as_categorical(m["src"]), as_categorical(m["dst"])
        self.addresses = src.categories.union(dst.categories)
        self.src, self.dst = np.asarray(src.codes), np.asarray(dst.codes)
        self.src_lut, self.dst_lut = _lut(src, self.addresses), _lut(dst, self.addresses)
        self.sport = np.ascontiguousarray(m["sport"].to_numpy(np.uint16))
        self.dport = np.ascontiguousarray(m["dport"].to_numpy(np.uint16))
        self.id = np.ascontiguousarray(m["id"].to_numpy(np.uint16))
        vantage = as_categorical(m["vantage"])
        self.vantages = vantage.categories
        self.vantage = np.ascontiguousarray(vantage.codes)
        qname, qtype, qclass = _codes(m["qname"]), _codes(m["qtype"]), _codes(m["qclass"])
        self.question_codes = (qname, qtype, qclass)
        self.ts = np.ascontiguousarray(m["ts"].to_numpy("datetime64[ns]").view(np.int64))
        self.keys = (
            self.qr, self.vantage, self.src, self.dst, self.src_lut, self.dst_lut,
            self.sport, self.dport, _codes(m["transport"]), self.id, qname, qtype, qclass,
            self.ts,
        )  # fmt: skip

    def time_order(self) -> np.ndarray:
        """The rows in time order, ties in row order (empty: already in that order)."""
        ts = self.ts
        if self.n < 2 or bool((ts[1:] >= ts[:-1]).all()):
            return np.empty(0, np.int64)
        return np.argsort(ts, kind="stable").astype(np.int64)

    def ends(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The client's and the server's address codes at these rows (in self.addresses)."""
        # codes + 1 fit their own width: pandas widens the codes before the last value
        src = self.src_lut[self.src[rows] + 1]
        dst = self.dst_lut[self.dst[rows] + 1]
        response = self.qr[rows]
        return np.where(response, dst, src), np.where(response, src, dst)

    def socket(self, rows: np.ndarray) -> np.ndarray:
        """A code per row for its socket and ID, seen from the client: equal codes, same
        socket and ID (vantage point, client, client port, server, server port, transport,
        ID)."""
        qr = self.qr[rows]
        sport, dport = self.sport[rows], self.dport[rows]
        client, server = self.ends(rows)
        parts = (
            self.keys[1][rows], client, np.where(qr, dport, sport), server,
            np.where(qr, sport, dport), self.keys[8][rows], self.id[rows],
        )  # fmt: skip
        return dense(parts)

    def question(self, rows: np.ndarray) -> np.ndarray:
        """A code per row for its question (qname, qtype, qclass)."""
        return dense(tuple(k[rows] for k in self.question_codes))


class Stats:
    """What pairstats() gathers per transaction (see PairStats in kernel.h)."""

    def __init__(self, n_txn: int, nq: int, nr: int) -> None:
        # rows (below 2**31: pair_assign refuses more messages); -1 for none
        self.first_q, self.first_r, self.last_q, self.last_q_any = (
            np.empty(n_txn, np.int32) for _ in range(4)
        )
        self.attempts = np.empty(n_txn, np.int32)
        self.responses = np.empty(n_txn, np.int32)
        self.q_frames = np.empty(nq, np.int64)
        self.r_frames = np.empty(nr, np.int64)
        self.gaps = np.empty(nq)  # seconds
        self.rep = np.empty(n_txn, np.int32)
        self.prev_flow = np.empty(n_txn, np.int32)
        self.prev_nat = np.empty(n_txn, np.int32)
        # transactions whose messages are in several files of a rotated set: per row, the
        # file of each query frame and of each response frame
        self.straddling: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def stats(c: Columns, order: np.ndarray, txn: np.ndarray, n_txn: int) -> Stats:
    nr = int(np.count_nonzero(c.qr))
    s = Stats(n_txn, c.n - nr, nr)
    frame = np.ascontiguousarray(c.m["frame"].to_numpy(np.int64))
    files = np.asarray(as_categorical(c.m["file"]).codes, np.int64)
    # how many files: a count of each code (-1 too), not np.unique's hash of 2M codes
    rotated = c.n > 0 and np.count_nonzero(np.bincount(files + 1)) > len(c.vantages)
    if rotated:  # a rotated set: each frame with its file, to tell them apart after
        frame = frame | (files << FILE_SHIFT)
    del files
    ngaps = kernel.pair_stats(
        *c.keys, order, frame, txn, s.first_q, s.first_r, s.last_q, s.last_q_any,
        s.attempts, s.responses, s.q_frames, s.r_frames, s.gaps,
    )  # fmt: skip
    s.gaps = s.gaps[:ngaps]
    if rotated:
        s.straddling = _straddling(c, s)
    # the row that names a transaction: its first query, else its first response
    s.rep = np.where(s.attempts > 0, s.first_q, s.first_r)
    return s


def _straddling(c: Columns, s: Stats) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Take the file codes out of s.q_frames and s.r_frames (see _stats), and say where
    the frames of the transactions whose messages are in more than one file are."""
    names = [str(f) for f in as_categorical(c.m["file"]).categories]
    sides = []
    for frames, counts in ((s.q_frames, s.attempts), (s.r_frames, s.responses)):
        files = frames >> FILE_SHIFT
        frames &= (1 << FILE_SHIFT) - 1
        starts = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=starts[1:])
        sides.append((files, starts))
    # the file of each transaction's first message (its query, else its response)
    (q_files, q_starts), (r_files, r_starts) = sides
    first = np.where(
        s.attempts > 0,
        q_files[np.minimum(q_starts[:-1], max(len(q_files) - 1, 0))] if len(q_files) else 0,
        r_files[np.minimum(r_starts[:-1], max(len(r_files) - 1, 0))] if len(r_files) else 0,
    )
    mixed: set[int] = set()
    for files, starts in sides:
        owner = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
        mixed.update(np.unique(owner[files != first[owner]]).tolist())
    return {
        t: (
            tuple(names[f] for f in q_files[q_starts[t] : q_starts[t + 1]].tolist()),
            tuple(names[f] for f in r_files[r_starts[t] : r_starts[t + 1]].tolist()),
        )
        for t in sorted(mixed)
    }
