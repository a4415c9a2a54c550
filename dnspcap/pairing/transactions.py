"""Stage 2a: pair queries with responses into transactions (`pair`).

A transaction is one question a client asked one server on one socket: the
query (with every retransmission of it), and the response (with any
duplicates). Peers pair on 5-tuple + ID and get the Kubernetes cases wrong
(docs/wire-patterns.md); we pair on

    (client IP, client port, server IP, server port, transport, DNS ID, qname, qtype, qclass)

so two queries with one ID and different qtypes on one socket (musl) are two
transactions, flagged as an ID collision, and a response whose question does
not match the query it answers is kept with that query and flagged as
mismatched. Every message belongs to exactly one transaction; a response with
no query is a transaction of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..arrays import memory
from ..arrays.categorical import as_categorical, code_dtype, take
from ..arrays.memory import ARROW_POOL
from ..native import kernel
from ..reading.frame import utc_array
from .sightings import link

# A query resent with no answer in between, at most this long after the previous
# attempt, is a retransmission; later, it is a new transaction. glibc caps its timeout
# at 30 s (RES_MAXRETRANS) and musl at 60 s; 60 s covers both.
RETRY_WINDOW_S = 60.0
# A resolver gives up on a query after its timeout; a query with nothing after it for
# this long is "unanswered", otherwise the capture ended too soon to tell ("pending").
# glibc RES_TIMEOUT is 5 s; musl's whole lookup also gives up at 5 s.
RESOLVER_TIMEOUT_S = 5.0
# A second copy of a query within this time with another server is the same query seen
# before and after kube-proxy's DNAT in a node capture (measured: tens of microseconds).
NAT_WINDOW_S = 0.05
# A response stamped this much before its query still answers it: `-i any` stamps packets
# with per-CPU clocks (tens of µs apart); C-DNS compactor allows 10 µs.
SKEW_ALLOWANCE_S = 50e-6
# No resolver retries sooner than this (glibc and Go time out after 1 s at the least,
# musl after timeout/attempts); a question asked again sooner is a parallel ask.
RETRY_MIN_GAP_S = 0.5
# frames of a rotated set are keyed by their file above these bits inside pair()
FILE_SHIFT = 40

STATUSES = (
    "answered",
    "unanswered",
    "pending",
    "response_without_query",
    "mismatched_question",
    "icmp_error",  # no response; the query drew an ICMP destination-unreachable error
)
NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


def pair(
    messages: pd.DataFrame,
    *,
    timeout: float = RESOLVER_TIMEOUT_S,
    retry_window: float = RETRY_WINDOW_S,
    capture_end: pd.Timestamp | str | None = None,
    skew: float = SKEW_ALLOWANCE_S,
) -> pd.DataFrame:
    """Pair the messages table (from :func:`dnspcap.read_messages`) into transactions.

    Each vantage point (the ``vantage`` column: a file, or the files of a rotated set) is
    paired on its own, so a query in one file of a rotated set and its answer or retry in
    the next are one transaction.

    ``timeout``: a query with no response is *pending* only while the capture had not
    gone on this long after it (and nothing asked its question again), else
    *unanswered*; a query resent with no answer is *unanswered* (its first attempt timed
    out). ``retry_window``: the longest gap between two attempts of one query.
    ``capture_end``: when the capture stopped (default: per vantage point, the later of
    its last packet and the end time its pcapng interface statistics give).
    ``skew``: how much earlier than its query a response may be stamped and still
    answer it (per-CPU time stamps of ``-i any``); such round trips count as 0 and are
    counted in ``attrs["dnspcap"]["skewed_responses"]``.
    Columns are documented in :data:`dnspcap.columns.TRANSACTION_COLUMNS`; rows are in
    the order of each transaction's first message.

    Three passes in C (dnspcap/csrc/pairing/pair.c) visit the messages in time order and find each
    one's transaction by hashing its key; tests/pairing_reference.py is the same
    pairing written with numpy sorts, and the tests hold the two equal.
    """
    c = _Columns(messages)
    order = c.time_order()
    txn = np.empty(c.n, np.int32)
    kind = np.zeros(c.n, np.uint8)
    n_txn = kernel.pair_assign(*c.keys, order, int(retry_window * 1e9), txn, kind)
    kind = kind[:n_txn]
    txn, kind, mismatched = _join_orphans(c, txn, kind, retry_window, skew)
    s = _stats(c, order, txn, len(kind))
    del txn, kind, order  # 15 bytes a message, no longer needed
    _links(c, s)
    ends = capture_ends(messages, c.vantages, capture_end)
    out = _build(c, s, mismatched, ends, timeout)
    del c, s
    memory.give_back()
    return out


def capture_ends(
    messages: pd.DataFrame, vantages: pd.Index, capture_end: pd.Timestamp | str | None = None
) -> np.ndarray:
    """Per vantage point (codes of the messages' vantage column), when its capture ended
    (ns): ``capture_end`` when given, else what the reader learnt from the files (their
    last packet, pcapng interface statistics), and at least its last DNS message."""
    ts = messages["ts"].to_numpy("datetime64[ns]").view(np.int64)
    codes = np.asarray(as_categorical(messages["vantage"]).codes, np.int64)
    last = np.full(max(len(vantages), 1), NAT, np.int64)
    if len(ts):
        np.maximum.at(last, codes, ts)
    if capture_end is not None:
        return np.full(len(last), int(pd.Timestamp(capture_end).value), np.int64)
    known = messages.attrs.get("dnspcap", {}).get("capture_end", {})
    for i, name in enumerate(vantages):
        if str(name) in known:
            last[i] = max(last[i], int(known[str(name)]))
    return last


class _Columns:
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
        return _dense(parts)

    def question(self, rows: np.ndarray) -> np.ndarray:
        """A code per row for its question (qname, qtype, qclass)."""
        return _dense(tuple(k[rows] for k in self.question_codes))


def _codes(s: pd.Series) -> np.ndarray:
    """A column's category codes (-1: missing), as pandas narrowed them."""
    codes: np.ndarray = np.ascontiguousarray(as_categorical(s).codes)
    return codes


def _lut(c: pd.Categorical, categories: pd.Index) -> np.ndarray:
    """Per code of c plus one, the code of its value among `categories` (a superset)."""
    return np.concatenate([[-1], categories.get_indexer(c.categories)]).astype(np.int32)


def _dense(parts: tuple[np.ndarray, ...]) -> np.ndarray:
    """One int64 code per row for its combination of the parts' values."""
    if not len(parts[0]):
        return np.zeros(0, np.int64)
    stacked = np.stack([np.asarray(p, np.int64) for p in parts], axis=1)
    return np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _join_orphans(
    c: _Columns, txn: np.ndarray, kind: np.ndarray, retry_window: float, skew: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move each response-only transaction that answers an unanswered query into it
    (see :func:`match_orphans` for which). Returns the transaction of each message, each
    transaction's kind (bit 0: it has a query, bit 1: a response) and whether its answer
    is mismatched, renumbered in the order of each transaction's first message. Rare:
    the work is on the few rows concerned.
    """
    n_txn = len(kind)
    mismatched = np.zeros(n_txn, bool)
    if not ((kind == 2).any() and (kind == 1).any()):
        return txn, kind, mismatched
    k = kind[txn]
    orphan_rows = np.flatnonzero(k == 2)
    open_rows = np.flatnonzero((k == 1) & ~c.qr)
    rows = np.concatenate([orphan_rows, open_rows])
    sock, question = c.socket(rows), c.question(rows)
    no = len(orphan_rows)
    asks = c.m["qdcount"].to_numpy() > 0  # a message with a question section
    match = match_orphans(
        pd.DataFrame(
            {
                "txn": txn[orphan_rows],
                "ts": c.ts[orphan_rows],
                "sock": sock[:no],
                "question": question[:no],
                "has_question": asks[orphan_rows],
            }
        ),
        pd.DataFrame({"q_txn": txn[open_rows], "ts": c.ts[open_rows], "sock": sock[no:],
                      "q_question": question[no:], "q_has_question": asks[open_rows]}),
        retry_window,
        skew,
    )  # fmt: skip
    if match.empty:
        return txn, kind, mismatched
    orphan = match["txn"].to_numpy(np.int64)
    query = match["q_txn"].to_numpy(np.int64)
    # the merged transaction starts with the earlier of the two first messages
    first = np.arange(n_txn)
    first[query] = np.minimum(query, orphan)
    keep = np.ones(n_txn, bool)
    keep[orphan] = False
    remap = np.arange(n_txn)
    remap[orphan] = query
    kept = np.flatnonzero(keep)
    renumber = np.empty(n_txn, np.int32)
    renumber[kept[np.argsort(first[kept], kind="stable")]] = np.arange(len(kept))
    new = renumber[remap]
    mismatched = np.zeros(len(kept), bool)
    mismatched[new[query[match["mismatched"].to_numpy(bool)]]] = True
    kind_new = np.zeros(len(kept), np.uint8)
    kind_new[new[kept]] = kind[kept]
    kind_new[new[query]] |= 2
    return new[txn], kind_new, mismatched


def match_orphans(
    orphans: pd.DataFrame, opens: pd.DataFrame, retry_window: float, skew: float
) -> pd.DataFrame:
    """Which unanswered query each response without a query of its own answers.

    ``orphans``: every response of the response-only transactions (``txn``, ``ts``,
    ``sock``: socket and ID, ``question``, ``has_question``); ``opens``: every attempt of
    the query-only transactions (``q_txn``, ``ts``, ``sock``, ``q_question``,
    ``q_has_question``). Returns
    ``txn``, ``q_txn``, ``mismatched``: at most one answer per query, in this order of
    precedence:

    1. *clock skew*: the same question on the socket and ID, asked at most ``skew``
       seconds after the response's time stamp: `-i any` stamps packets with per-CPU
       clocks, so a fast answer can look earlier than its query (compactor allows 10 µs);
    2. *an answer without a question* (FORMERR, NOTIMP or REFUSED often carry none), or
       an answer to a query without one (an inverse query's answer carries the question
       it resolved), when exactly one query on the socket and ID was waiting for it;
    3. *a mismatched question*: another question on the socket and ID, the latest one
       asked before it: the resolver receives it as that query's answer (musl matches
       on the ID alone), so it belongs with that query, flagged.
    """
    cols = ["txn", "q_txn", "mismatched"]
    if orphans.empty or opens.empty:
        return pd.DataFrame(columns=cols)
    # an orphan transaction is matched by its first response in time (rows may be out of
    # time order)
    first = orphans.sort_values("ts", kind="stable").drop_duplicates("txn")
    opens = opens.sort_values("ts", kind="stable")
    skewed = pd.merge_asof(
        first[first["has_question"]],
        opens.rename(columns={"q_question": "question"}),
        on="ts", by=["sock", "question"], direction="forward",
        tolerance=int(skew * 1e9), allow_exact_matches=True,
    ).dropna(subset=["q_txn"])  # fmt: skip
    skewed["mismatched"] = False
    before = pd.merge_asof(
        first, opens, on="ts", by="sock", direction="backward",
        tolerance=int(retry_window * 1e9),
    ).dropna(subset=["q_txn"])  # fmt: skip
    no_q = ~before["has_question"] | ~before["q_has_question"]
    bare = before[no_q]
    bare = bare[bare["txn"].isin(_one_waiting(first[first["txn"].isin(bare["txn"])], opens,
                                              retry_window))]  # fmt: skip
    bare = bare.assign(mismatched=False)
    other = before[~no_q & (before["q_question"] != before["question"])]
    other = other.assign(mismatched=True)
    match = pd.concat([skewed[cols], bare[cols], other[cols]], ignore_index=True)
    match = match.drop_duplicates("txn").drop_duplicates("q_txn")  # one answer per query
    return match.astype({"txn": np.int64, "q_txn": np.int64, "mismatched": bool})


def _one_waiting(orphans: pd.DataFrame, opens: pd.DataFrame, retry_window: float) -> np.ndarray:
    """The orphans (txn) for which exactly one query transaction on their socket and ID
    was asked within the retry window before them."""
    if orphans.empty:
        return np.zeros(0, np.int64)
    both = orphans[["txn", "ts", "sock"]].merge(opens, on="sock", suffixes=("", "_q"))
    near = both[(both["ts_q"] <= both["ts"]) & (both["ts"] - both["ts_q"] <= retry_window * 1e9)]
    counts = near.groupby("txn")["q_txn"].nunique()
    return np.asarray(counts.index[counts == 1], np.int64)


class _Stats:
    """What pair_stats() gathers per transaction (see PairStats in kernel.h)."""

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


def _stats(c: _Columns, order: np.ndarray, txn: np.ndarray, n_txn: int) -> _Stats:
    nr = int(np.count_nonzero(c.qr))
    s = _Stats(n_txn, c.n - nr, nr)
    frame = np.ascontiguousarray(c.m["frame"].to_numpy(np.int64))
    files = np.asarray(as_categorical(c.m["file"]).codes, np.int64)
    rotated = c.n > 0 and len(np.unique(files)) > len(c.vantages)
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


def _straddling(c: _Columns, s: _Stats) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
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


def _links(c: _Columns, s: _Stats) -> None:
    """Each transaction's predecessor on its socket and ID, and across DNAT."""
    kernel.pair_links(*c.keys, s.rep, s.attempts, s.prev_flow, s.prev_nat)


def list_column(
    values: np.ndarray, counts: np.ndarray, typ: pa.DataType
) -> pd.arrays.ArrowExtensionArray:
    """A pyarrow list column: row i holds the next counts[i] values."""
    offsets = np.zeros(len(counts) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    arr = pa.ListArray.from_arrays(
        pa.array(offsets, memory_pool=ARROW_POOL),
        pa.array(values, type=typ, memory_pool=ARROW_POOL),
        pool=ARROW_POOL,
    )
    return pd.arrays.ArrowExtensionArray(arr)


def _take(col: pd.Series, rows: np.ndarray) -> pd.Categorical:
    """A categorical column's values at these rows (missing where a row is -1)."""
    cat = as_categorical(col)
    codes = take(np.asarray(cat.codes), rows, -1)
    return pd.Categorical.from_codes(codes, dtype=cat.dtype, validate=False)


def _build(
    c: _Columns, s: _Stats, mismatched: np.ndarray, ends: np.ndarray, timeout: float
) -> pd.DataFrame:
    m, rep, n = c.m, s.rep, len(s.rep)
    end_ns = int(ends.max()) if len(ends) else 0
    has_q, has_r = s.attempts > 0, s.responses > 0
    # times, round trips, status and ends in one C pass (dnspcap/csrc/pairing/columns.c); the
    # address codes in the width pandas keeps for that many categories
    addr = pd.CategoricalDtype(c.addresses)
    q_ts, r_ts, lq_any_ts = (np.empty(n, np.int64) for _ in range(3))
    rtt, rtt_last = np.empty(n), np.empty(n)
    status = np.empty(n, np.int8)
    client, server = (np.empty(n, code_dtype(len(c.addresses))) for _ in range(2))
    client_port, server_port = np.empty(n, np.uint16), np.empty(n, np.uint16)
    kernel.pair_columns(
        *c.keys, rep, s.first_q, s.first_r, s.last_q, s.last_q_any, s.attempts, s.responses,
        mismatched, end_ns, timeout, q_ts, r_ts, lq_any_ts, rtt, rtt_last, status, client,
        server, client_port, server_port,
    )  # fmt: skip
    vantage = take(c.vantage, rep)
    _settle_unanswered(c, s, status, vantage, ends, lq_any_ts, timeout)
    skewed = _clamp_skew(rtt, rtt_last)
    r_rows = s.first_r  # -1: no response
    ancount = take(m["ancount"].to_numpy(np.uint16), r_rows)
    out = pd.DataFrame(
        {
            "file": _take(m["file"], rep),
            "vantage": pd.Categorical.from_codes(vantage, categories=c.vantages, validate=False),
            "client": pd.Categorical.from_codes(client, dtype=addr, validate=False),
            "client_port": client_port,
            "server": pd.Categorical.from_codes(server, dtype=addr, validate=False),
            "server_port": server_port,
            "transport": _take(m["transport"], rep),
            "id": take(c.id, rep),
            "qname": _take(m["qname"], rep),
            "qtype": _take(m["qtype"], rep),
            "qclass": _take(m["qclass"], rep),
            "query_ts": utc_array(q_ts),
            "last_query_ts": utc_array(lq_any_ts),
            "response_ts": utc_array(r_ts),
            "rtt": rtt,
            "rtt_last": rtt_last,
            "attempts": s.attempts,
            "retry_gaps": list_column(s.gaps, np.maximum(s.attempts - 1, 0), pa.float64()),
            "responses": s.responses,
            "duplicate_responses": np.maximum(s.responses - 1, 0).astype(np.int32),
            "status": pd.Categorical.from_codes(status, categories=pd.Index(STATUSES)),
            "rcode": _take(m["rcode"], r_rows),
            "tc": take(c.m["tc"].to_numpy(bool), r_rows),
            "ancount": pd.arrays.IntegerArray(ancount, ~has_r),
            "answers": _take(m["answers"], r_rows),
            "query_frames": list_column(s.q_frames, s.attempts, pa.int64()),
            "response_frames": list_column(s.r_frames, s.responses, pa.int64()),
            "id_collision": _id_collisions(c, s, has_r, r_ts, lq_any_ts, timeout),
            "nat_peer": _nat_peers(s.prev_nat, server, q_ts, lq_any_ts, r_ts),
        },
        copy=False,
    )
    out.attrs["dnspcap"] = {"skewed_responses": skewed, "straddling": s.straddling}
    # each query counted once: on its first sighting (before DNAT, nearest the client)
    out.attrs["dnspcap"].update(link(out, out["nat_peer"].to_numpy()))
    errors = m.attrs.get("dnspcap", {}).get("icmp_errors", [])
    out["icmp"] = _icmp_column(out, errors)
    if errors:
        refused = has_q & ~has_r & np.asarray(out["icmp"] != "", bool)
        out.loc[refused, "status"] = "icmp_error"
    return out


def _settle_unanswered(
    c: _Columns,
    s: _Stats,
    status: np.ndarray,
    vantage: np.ndarray,
    ends: np.ndarray,
    lq_ts: np.ndarray,
    timeout: float,
) -> None:
    """The status of queries without a response: *unanswered* when the capture of their
    vantage point went on a resolver timeout past their last attempt, when they were
    resent (a resend proves the attempt before it timed out), or when their client asked
    the same question again later (a retry from a new socket, the next nameserver);
    *pending* only while none of that is known."""
    waiting = np.flatnonzero((s.attempts > 0) & (s.responses == 0) & (status <= 2))
    if not len(waiting):
        return
    # as pair_columns computes it: the int64 difference, then a float division
    waited = (ends[vantage[waiting]] - lq_ts[waiting]) / 1e9 >= timeout
    resent = s.attempts[waiting] > 1
    status[waiting] = np.where(waited | resent, 1, 2)
    pending = np.flatnonzero(status == 2)
    if len(pending):
        status[pending[_asked_again(c, s, pending, vantage, lq_ts)]] = 1


def _asked_again(
    c: _Columns, s: _Stats, pending: np.ndarray, vantage: np.ndarray, lq_ts: np.ndarray
) -> np.ndarray:
    """Which of the pending transactions' questions their client asked again, at least
    RETRY_MIN_GAP_S after their last attempt (from any socket, to any server)."""
    q_ts = take(c.ts, s.first_q, NAT)
    # pending transactions are near the end: only transactions that started after the
    # earliest of their last attempts can have asked again
    later = np.flatnonzero((s.attempts > 0) & (q_ts > lq_ts[pending].min()))
    rows = np.concatenate([pending, later])
    rep = s.rep[rows]
    client, _ = c.ends(rep)
    key = _dense((vantage[rows], client, *(k[rep] for k in c.question_codes)))
    k_pending, k_later = key[: len(pending)], key[len(pending) :]
    latest = np.full(int(key.max()) + 1, NAT, np.int64)
    np.maximum.at(latest, k_later, q_ts[later])
    again = latest[k_pending]
    return np.asarray((again != NAT) & (again - lq_ts[pending] >= int(RETRY_MIN_GAP_S * 1e9)))


def _clamp_skew(rtt: np.ndarray, rtt_last: np.ndarray) -> int:
    """Round trips below zero (a response stamped before its query, see SKEW_ALLOWANCE_S)
    set to zero, in place; returns how many responses were so."""
    neg = rtt < 0
    count = int(np.count_nonzero(neg))
    if count:
        rtt[neg] = 0.0
    rtt_last[rtt_last < 0] = 0.0
    return count


def _id_collisions(
    c: _Columns, s: _Stats, has_r: np.ndarray, r_ts: np.ndarray, lq_ts: np.ndarray, timeout: float
) -> np.ndarray:
    """Two transactions in flight at once on one socket with one ID and different questions.

    Each transaction is compared with the one before it on its socket and ID: it
    collides when it starts before that one finished (its answer, or its last attempt
    plus the timeout) and asks another question.
    """
    prev = s.prev_flow
    t = np.flatnonzero(prev >= 0)  # few: a socket and ID reused
    p = prev[t]
    rep = s.rep
    finish = np.where(has_r[p], r_ts[p], lq_ts[p] + int(timeout * 1e9))
    other = np.zeros(len(t), bool)
    for k in c.question_codes:
        other |= k[rep[t]] != k[rep[p]]
    hit = other & (c.ts[rep[t]] <= finish)
    flags = np.zeros(len(rep), bool)
    flags[t[hit]] = True
    flags[p[hit]] = True
    return flags


def _nat_peers(
    prev: np.ndarray, server: np.ndarray, q_ts: np.ndarray, lq_ts: np.ndarray, r_ts: np.ndarray
) -> np.ndarray:
    """Index of the same query seen on the other side of DNAT (node captures), or -1.

    prev: per transaction with a query, the one before it from the same client socket
    with the same ID and question (to any server). The copy after DNAT starts with the
    first attempt before it, or with its last: when the first attempt was dropped on the
    node (the conntrack race), only the retry made it through.
    """
    peers = np.full(len(prev), -1, np.int64)
    b = np.flatnonzero(prev >= 0)
    a = prev[b]
    window = int(NAT_WINDOW_S * 1e9)
    after_last = q_ts[b] - lq_ts[a]
    near = (q_ts[b] - q_ts[a] <= window) | ((after_last >= 0) & (after_last <= window))
    hit = (server[a] != server[b]) & near
    a, b = a[hit], b[hit]
    # DNAT nests the copies: the first one sent (to the VIP) is answered last, after the
    # endpoint's answer came back through the node. musl sends one query to every
    # nameserver at once with one ID: those copies are answered independently, or one
    # not at all, and are not DNAT copies.
    ra, rb = r_ts[a], r_ts[b]
    nested = ((ra == NAT) & (rb == NAT)) | ((ra != NAT) & (rb != NAT) & (rb <= ra))
    a, b = a[nested], b[nested]
    peers[a] = b
    peers[b] = a
    return peers


def _icmp_column(t: pd.DataFrame, errors: list[dict[str, Any]]) -> pd.Categorical:
    """Per transaction, the ICMP error its query or response drew ('' for none)."""
    if not errors:  # the usual case: one category, without a million-string detour
        none: pd.Categorical = pd.Categorical.from_codes(  # type: ignore[assignment]
            np.zeros(len(t), np.int8), categories=pd.Index([""])
        )
        return none
    text = np.full(len(t), "", dtype=object)
    if errors:
        e = pd.DataFrame(errors)
        e["text"] = np.where(
            e["quotes"] == "query",
            e["reason"] + " from " + e["reporter"],
            "response bounced: " + e["reason"] + " from " + e["reporter"],
        )
        key = ["client", "client_port", "server", "server_port", "id"]
        left = pd.DataFrame(
            {
                "client": t["client"].astype(str).to_numpy(),
                "client_port": t["client_port"].to_numpy(np.int64),
                "server": t["server"].astype(str).to_numpy(),
                "server_port": t["server_port"].to_numpy(np.int64),
                "id": t["id"].to_numpy(np.int64),
                "row": np.arange(len(t)),
            }
        )
        e = e.astype({"client_port": np.int64, "server_port": np.int64, "id": np.int64})
        hit = left.merge(e[[*key, "text"]].drop_duplicates(key), on=key)
        text[hit["row"].to_numpy()] = hit["text"].to_numpy()
    return pd.Categorical(text)
