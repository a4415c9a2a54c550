"""The table of lookups (:func:`dnspcap.lookups`): one row per lookup, from its transactions.

Everything here is an array operation over all transactions at once, on category codes
rather than strings: the transactions of each lookup are one run of rows (put in turn by
a counting sort, ``group_order`` in dnspcap/csrc/grouping/lookups.c), reduced with
``ufunc.reduceat`` (the yes/no facts as bits of one byte, ORed at once); the resolver is
voted from signs found by pairing A with AAAA rows.

It runs on a million transactions, so it avoids what costs most at that size: hashing
(pandas factorize/unique), sorts of random keys and ``ufunc.at``. Rows come grouped by
lookup, so grouping them further (by name and type) is a stable sort of short runs.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..arrays.categorical import pack, take
from ..arrays.lists import list_column
from ..arrays.memory import ARROW_POOL
from ..native import check_constants, group_order, lookup_signs, lookup_sums
from .names import take as take_text
from .names import text_array

if TYPE_CHECKING:
    from .join import Grouping, Queries

OUTCOMES = ["answered", "nxdomain", "no_data", "timed_out", "failed", "pending"]
RESOLVERS = ["glibc", "musl", "go", "unknown"]

# Resolver fingerprints (docs/wire-patterns.md, measured): glibc sends A and AAAA from one
# socket ~60 µs apart with independent random IDs and retries after 5 s; musl does the
# same but derives IDs from the clock, so a pair is 0x140-0x187 apart (or equal), and
# retries after 2.5 s; Go opens a new socket with a new ID for each question.
# A and AAAA sent this close are asked together (glibc and musl from one socket ~60 µs
# apart, Go from two sockets 0-125 µs apart, measured); the detectors that look at such
# pairs take the same window by default (the option pair_window_s)
PAIR_WINDOW_S = 0.001
PAIR_WINDOW_NS = int(PAIR_WINDOW_S * 1e9)
# ... and asked in turn when the second went out once the first was answered, within a
# round trip or so of it (glibc after a timeout, or with single-request)
TURN_WINDOW_NS = 5_000_000
MUSL_ID_GAP = 0x400
GLIBC_RETRY_S = (4.5, 5.5)
MUSL_RETRY_S = (2.2, 2.8)
_SIGNS = {
    "same_id": ("musl", 2, "A and AAAA with one ID on one socket"),
    "near_id": ("musl", 1, "A/AAAA IDs a few hundred apart on one socket (clock-derived)"),
    "random_id": ("glibc", 1, "A and AAAA from one socket, independent IDs"),
    "sequential": (
        "glibc",
        1,
        "A and AAAA sent in turn on one socket (glibc after a timeout, or single-request)",
    ),
    "two_sockets": ("go", 1, "A and AAAA at once from two sockets"),
    "reopen": (
        "glibc",
        1,
        "AAAA from a new socket once the A was answered (glibc single-request-reopen)",
    ),
    # glibc's use-vc, or its TCP retry after a truncated answer; musl (1.2.4+) retries
    # over TCP one question per connection
    "tcp_pipelined": ("glibc", 1, "A and AAAA pipelined on one TCP connection"),
    "retry_5s": ("glibc", 1, "retry after 5 s"),
    "retry_2_5s": ("musl", 1, "retry after 2.5 s"),
    # a question asked again after a timeout from another socket: Go takes a new socket
    # and a new ID for every exchange; glibc's next round and next nameserver keep the ID
    "retry_new_id": ("go", 2, "asked again after a timeout from a new socket with a new ID"),
    "retry_new_socket": (
        "glibc",
        1,
        "asked again after a timeout from a new socket with the same ID",
    ),
}
_SIGN_NAMES = list(_SIGNS)
# The signs of A/AAAA pairs lookup_signs (C) tells apart, in the order of its LS_ codes.
_PAIR_SIGNS = ("reopen", "two_sockets", "tcp_pipelined", "same_id", "near_id", "random_id",
               "sequential")  # fmt: skip
LS_REOPEN, LS_TWO_SOCKETS, LS_TCP_PIPELINED, LS_SAME_ID, LS_NEAR_ID, LS_RANDOM_ID = range(6)
LS_SEQUENTIAL, LS_N = 6, len(_PAIR_SIGNS)
check_constants(
    __name__, globals(),
    ("LS_REOPEN", "LS_TWO_SOCKETS", "LS_TCP_PIPELINED", "LS_SAME_ID", "LS_NEAR_ID",
     "LS_RANDOM_ID", "LS_SEQUENTIAL", "LS_N"),
)  # fmt: skip
# what lookup_signs is told of each query's type: A, AAAA, or 0 for neither
FAM_A, FAM_AAAA = 1, 2
check_constants(__name__, globals(), ("FAM_A", "FAM_AAAA"))
# The rows of what lookup_sums (C) adds up per lookup, in the order of its LK_ codes: its
# first and last query, the _STATES bits seen, when the final name was first asked, the
# last message, the last attempt, queries, search queries, retransmissions, transactions.
LK_FIRST, LK_LAST, LK_SEEN, LK_FINAL_START, LK_END, LK_LAST_SENT, LK_QUERIES = range(7)
LK_SEARCH, LK_RETRANSMISSIONS, LK_SIZE, LK_N = 7, 8, 9, 10
check_constants(
    __name__, globals(),
    ("LK_FIRST", "LK_LAST", "LK_SEEN", "LK_FINAL_START", "LK_END", "LK_LAST_SENT",
     "LK_QUERIES", "LK_SEARCH", "LK_RETRANSMISSIONS", "LK_SIZE", "LK_N"),
)  # fmt: skip
# glibc's next round after a timeout (new sockets, the next nameserver) comes a whole
# timeout after the last query; no resolver waits less than this
NEW_ROUND_S = 0.9


def _retries(
    retry_gaps: pd.Series, pos: np.ndarray, q_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the transactions at positions pos (first attempts at q_ns): when their last
    attempt went out; and which of them were retried (positions into pos), with their
    first retry gap.

    Few transactions are retried, so the gaps are summed for those alone (in order, as
    numpy.bincount sums them) and looked up through a table of their slots."""
    gaps = pa.chunked_array(retry_gaps.array._pa_array)
    arr = gaps.combine_chunks(memory_pool=ARROW_POOL) if len(pos) else None
    if arr is None or len(arr) == 0:
        return q_ns.copy(), np.zeros(0, np.int64), np.zeros(0)
    values = pc.list_flatten(arr, memory_pool=ARROW_POOL).to_numpy(zero_copy_only=False)
    parent = pc.list_parent_indices(arr, memory_pool=ARROW_POOL)
    parent = parent.to_numpy(zero_copy_only=False)
    new = np.ones(len(parent), np.bool_)
    new[1:] = parent[1:] != parent[:-1]
    starts = np.flatnonzero(new)
    sums = np.bincount(np.cumsum(new) - 1, weights=values)
    slot = np.full(len(arr), -1, np.int32)  # of each transaction among the retried ones
    slot[parent[starts]] = np.arange(len(starts), dtype=np.int32)
    k = slot[pos]
    retried = np.flatnonzero(k >= 0)
    k = k[retried]
    last_ns = q_ns.copy()
    last_ns[retried] += (sums[k] * 1e9).round().astype(np.int64)
    return last_ns, retried, values[starts][k]


def _code(values: list[str], text: str) -> int:
    return values.index(text) if text in values else -1


def lookup_columns(tx: pd.DataFrame, q: Queries, grouping: Grouping) -> dict[str, Any]:
    """The columns of the table of lookups (:func:`lookup_table`), one row per lookup:
    grouping.lookup_of numbers the lookup of each query of q (from 0, in the order of the
    table).

    Only per-lookup arrays are kept, so that the caller can let go of q and the grouping
    before the text columns are made: those are a function to call (functools.partial,
    holding no per-query array) for each."""
    lookup_of, bases = grouping.lookup_of, grouping.bases
    n_lk = len(bases)
    # per query (in q's order: gathering every column into lookup order costs more than
    # the sums that need it), then summed per lookup in one pass (lookup_sums, C)
    r_ns = take(tx["response_ts"].to_numpy("datetime64[ns]").view(np.int64), q.at)
    last_ns, retried, first_gap = _retries(tx["retry_gaps"], q.at, q.ts)
    attempts = take(np.asarray(tx["attempts"].to_numpy(), np.int32), q.at)
    tcp_bit = 1 << _STATES.index("tcp")
    # summed by the lookups' numbers in the order made (met nearly in turn), then put in
    # the table's order
    made, by_start = grouping.made, grouping.by_start
    sums = lookup_sums(
        made, q.name, q.ts, last_ns, r_ns, _states(q), attempts, tcp_bit, by_start
    ).reshape(LK_N, n_lk)
    del attempts
    first = sums[LK_FIRST]
    start = q.ts[first]  # a lookup's transactions are in time order
    # counted by the lookups' numbers in the order made too; put in the table's order by
    # _resolvers, on its per-lookup results rather than on the counts
    # A wait is at least NEW_ROUND_S from a question's first attempt to its last, so only
    # a lookup whose last attempt came that long after its start can have one
    long = sums[LK_LAST_SENT] - start >= NEW_ROUND_S * 1e9
    signs = _sign_counts(
        made, q.name, q.qtype, q.qtypes, q.port, take(tx["id"].to_numpy(np.uint16), q.at),
        q.ts, last_ns, r_ns, retried, first_gap, q.tcp, long[lookup_of], n_lk,
    )  # fmt: skip
    del r_ns, retried, first_gap
    time_lost = _time_lost(lookup_of, long, q, last_ns, n_lk)
    del last_ns, long
    resolver, evidence, evidence_of = _resolvers(signs, by_start)
    del signs
    seen = _Seen(*((sums[LK_SEEN] >> i & 1).astype(bool) for i in range(len(_STATES))))
    outcome = _outcome(seen, resolver == RESOLVERS.index("musl"))
    client = q.client[first]
    used = np.flatnonzero(np.bincount(client, minlength=len(q.clients)))
    remap = np.zeros(len(q.clients), np.int64)
    remap[used] = np.arange(len(used))
    # the transactions of each lookup, in the order the grouping pass met them (query time:
    # a lookup is one client's, and q is by client then time)
    rows = take(q.row, group_order(lookup_of, n_lk))
    final_name = q.name[sums[LK_LAST]]
    # the rows of sums that are columns are copies, so that sums goes now
    sizes = sums[LK_SIZE].copy()
    return {
        "client": pd.Categorical.from_codes(
            remap[client], categories=pd.Index([q.clients[c] for c in used.tolist()])
        ),
        "name": partial(_text_column, bases, []),
        "final_name": partial(_text_column, q.name_text, np.array([], object), final_name),
        "outcome": pd.Categorical.from_codes(outcome, categories=pd.Index(OUTCOMES)),
        "start": pd.DatetimeIndex(start.astype("datetime64[ns]")).tz_localize("UTC"),
        "duration": (sums[LK_END] - start) / 1e9,
        "search_time": (sums[LK_FINAL_START] - start) / 1e9,
        "queries": sums[LK_QUERIES].copy(),
        "transactions": sizes,
        "search_queries": sums[LK_SEARCH].copy(),
        "retransmissions": sums[LK_RETRANSMISSIONS].copy(),
        "time_lost_to_retries": time_lost,
        "sockets": grouping.sockets,
        "resolver": pd.Categorical.from_codes(resolver, categories=pd.Index(RESOLVERS)),
        "resolver_evidence": partial(_text_column, evidence, [], evidence_of),
        "transactions_index": partial(list_column, rows, sizes, pa.int64()),
    }


def lookup_table(columns: dict[str, Any]) -> pd.DataFrame:
    """The table of lookups, from lookup_columns(): its text columns made now."""
    return pd.DataFrame({k: v() if isinstance(v, partial) else v for k, v in columns.items()})


def _outcome(seen: _Seen, musl: np.ndarray) -> np.ndarray:
    """Per lookup, its code in OUTCOMES."""
    outcome = np.select(
        [
            seen.records,
            seen.nxdomain,
            seen.answered & ~seen.not_noerror,
            ~seen.not_pending,
            ~seen.answered & seen.unanswered,
        ],
        [OUTCOMES.index(o) for o in ("answered", "nxdomain", "no_data", "pending", "timed_out")],
        default=OUTCOMES.index("failed"),
    )
    # musl fails the whole lookup (EAI_AGAIN) when one of its questions timed out, though
    # the other was answered; glibc returns what it got
    answered_code = OUTCOMES.index("answered")
    outcome = np.where(
        musl & (outcome == answered_code) & seen.unanswered,
        OUTCOMES.index("timed_out"), outcome,
    )  # fmt: skip
    # musl before 1.2.4 never retries over TCP: it uses the records a truncated answer has
    unusable = np.isin(outcome, [OUTCOMES.index("no_data"), OUTCOMES.index("failed")])
    used_tc = musl & seen.tc_records & ~seen.tcp & unusable
    return np.where(used_tc, answered_code, outcome)


# What the transactions of a lookup showed, one bit each: _states() sets them per query,
# _any() ORs them over each lookup (only the tcp bit counts for a query of a name the
# lookup went past: the others are about the answer for its final name).
_STATES = ("records", "nxdomain", "answered", "not_noerror", "not_pending", "unanswered",
           "tc_records", "tcp")  # fmt: skip


class _Seen(NamedTuple):
    """Per lookup, whether any of its transactions (of the final name, but tcp) was:"""

    records: np.ndarray  # answered (not truncated) with records
    nxdomain: np.ndarray  # answered NXDOMAIN
    answered: np.ndarray  # answered, not truncated
    not_noerror: np.ndarray  # answered with another rcode than NOERROR
    not_pending: np.ndarray  # not pending
    unanswered: np.ndarray  # unanswered
    tc_records: np.ndarray  # answered truncated, with records
    tcp: np.ndarray  # sent over TCP (any name)


def _states(q: Queries) -> np.ndarray:
    """Per query, its _STATES bits."""
    bits = [
        q.replied & q.records, q.replied & q.nxdomain, q.replied, q.replied & ~q.noerror,
        ~q.pending, q.unanswered, q.tc & q.records, q.tcp,
    ]  # fmt: skip
    out = np.zeros(len(q.ts), np.uint8)
    for i, b in enumerate(bits):
        out |= b.astype(np.uint8) << i
    return out


def _reduce(ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """ufunc over each lookup's run of rows (every lookup has one)."""
    return np.asarray(ufunc.reduceat(values, starts)) if len(starts) else values[:0]


def _text_column(
    text: pa.LargeStringArray, empty: object, rows: np.ndarray | None = None
) -> object:
    """A str column, straight from arrow (text, or text.take(rows)); for a table without
    rows, `empty` (the columns' dtypes then are what pandas makes of an empty list or
    object array, as they were)."""
    if rows is not None:
        text = take_text(text, rows)
    return pd.array(text, dtype="str") if len(text) else empty


def _time_lost(
    lookup: np.ndarray, long: np.ndarray, q: Queries, last_ns: np.ndarray, n_lk: int
) -> np.ndarray:
    """Per lookup, seconds lost waiting for retries (see _retry_spans and interval_union). Only
    the queries of lookups that took long enough to have a wait (long) are looked at: most
    lookups are over in milliseconds."""
    rows = np.flatnonzero(long[lookup])
    spans = _retry_spans(lookup[rows], q.name[rows], q.qtype[rows], q.ts[rows], last_ns[rows])
    return interval_union(*spans, n_lk)


def _retry_spans(
    by: np.ndarray, name: np.ndarray, qtype: np.ndarray, q_ns: np.ndarray, last_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question of each lookup: its lookup, its first attempt and its last one.

    A question asked again, on the same socket or from a new one (glibc's next round,
    the next nameserver), waited from its first attempt to its last.
    """
    # the rows of one question side by side (rows come by lookup: a sort of short runs)
    key = pack(by, name, qtype)
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(_run_ids(key[order]), prepend=-1))
    first = _reduce(np.minimum, q_ns[order], starts)
    last = _reduce(np.maximum, last_ns[order], starts)
    # musl asks every nameserver at once: copies microseconds apart are not a wait
    last = np.where(last - first >= NEW_ROUND_S * 1e9, last, first)
    return by[order[starts]], first, last


def _run_ids(key: np.ndarray) -> np.ndarray:
    """The number of the run of equal values each item of a (grouped) array is in."""
    new = np.ones(len(key), np.bool_)
    new[1:] = key[1:] != key[:-1]
    return np.cumsum(new, dtype=np.int64) - 1


def interval_union(by: np.ndarray, first: np.ndarray, last: np.ndarray, n_lk: int) -> np.ndarray:
    """Per lookup (by: the lookup of each question), seconds of wall-clock time spent
    between a question's first and last attempt: the union of those intervals (an A and
    an AAAA resent side by side after the same timeout cost the user one wait, not two)."""
    waits = np.flatnonzero(last > first)  # most questions were asked once: no wait
    by, first, last = by[waits], first[waits], last[waits]
    if not len(by):
        return np.zeros(n_lk)
    t0, span = int(first.min()), int(last.max()) - int(first.min()) + 1
    if n_lk * span < 1 << 62:
        # the lookup and the time packed in one key, which comes nearly sorted (spans come
        # by lookup): one stable sort of runs, not a lexsort of two keys; each lookup's
        # running latest end by one running maximum, its ends lifted by the lookup
        # (400k spans: 55 ms -> 20 ms)
        lift = by.astype(np.int64) * span - t0
        order = np.argsort(lift + first, kind="stable")
        by, first, last, lift = by[order], first[order], last[order], lift[order]
        ends = np.maximum.accumulate(lift + last) - lift
    else:  # a capture longer than the key can hold
        order = np.lexsort((first, by))
        by, first, last = by[order], first[order], last[order]
        ends = pd.Series(last).groupby(by).cummax().to_numpy()
    before = np.r_[np.iinfo(np.int64).min, ends[:-1]]
    new = np.r_[True, by[1:] != by[:-1]]
    before = np.where(new, first, before)
    covered = np.clip(last - np.maximum(first, before), 0, None)
    return np.bincount(by, weights=covered, minlength=n_lk) / 1e9


def _sign_counts(
    lookup: np.ndarray,
    name: np.ndarray,
    qtype: np.ndarray,
    qtypes: list[str],
    port: np.ndarray,
    msg_id: np.ndarray,
    q_ns: np.ndarray,
    last_ns: np.ndarray,
    r_ns: np.ndarray,
    retried: np.ndarray,
    first_gap: np.ndarray,
    tcp: np.ndarray,
    long: np.ndarray,
    n_lk: int,
) -> np.ndarray:
    """How often each lookup shows each resolver sign: a row per sign of _SIGN_NAMES, a
    column per lookup (lookup: per query, its lookup, at best numbered in the order of the
    queries: see below).

    The A and AAAA of one name in one lookup, every A with every AAAA: asked together
    (one socket or two, and how their IDs relate), or in turn on one socket (the second
    only once the first was answered: glibc after a timeout switches itself to this).
    That pass is C (``lookup_signs`` in dnspcap/csrc/grouping/lookups.c) over the rows of each
    lookup in turn, pairing A and AAAA rows of the same name within it (a lookup has a handful of
    queries); the retry signs are the first retry's gap (first_gap, of the rows retried).
    """
    fam = (qtype == _code(qtypes, "A")).astype(np.uint8)  # FAM_A
    fam[qtype == _code(qtypes, "AAAA")] = FAM_AAAA
    # lookups numbered in the order of their first query: a lookup's rows are near one
    # another, and the lookups come nearly in the order of the rows (the C pass reads the
    # arrays at rows)
    kind = np.array([_SIGN_NAMES.index(k) for k in _PAIR_SIGNS], np.int64)
    counts = lookup_signs(
        group_order(lookup, n_lk), fam, lookup, name, q_ns, last_ns, r_ns, port, msg_id, tcp,
        PAIR_WINDOW_NS, TURN_WINDOW_NS, MUSL_ID_GAP, kind, n_lk, len(_SIGN_NAMES),
    ).reshape(len(_SIGN_NAMES), n_lk)  # fmt: skip
    for sign, (lo, hi) in (("retry_5s", GLIBC_RETRY_S), ("retry_2_5s", MUSL_RETRY_S)):
        hit = retried[(first_gap >= lo) & (first_gap <= hi)]
        counts[_SIGN_NAMES.index(sign)] += np.bincount(lookup[hit], minlength=n_lk)
    new_id, same_id = _reasked(
        np.flatnonzero(long), lookup, name, qtype, port, msg_id, q_ns, last_ns, r_ns
    )
    counts[_SIGN_NAMES.index("retry_new_id")] += np.bincount(new_id, minlength=n_lk)
    counts[_SIGN_NAMES.index("retry_new_socket")] += np.bincount(same_id, minlength=n_lk)
    return counts


def _reasked(
    rows: np.ndarray,
    lookup: np.ndarray,
    name: np.ndarray,
    qtype: np.ndarray,
    port: np.ndarray,
    msg_id: np.ndarray,
    q_ns: np.ndarray,
    last_ns: np.ndarray,
    r_ns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The lookups (one entry per time) in which a question unanswered on one socket was
    asked again from another, a timeout later: with a new ID, and with the same ID.

    rows: the queries of the lookups whose queries span a timeout, the only ones that
    can show it (most lookups are over in milliseconds)."""
    if not len(rows):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = rows[np.lexsort((q_ns[rows], qtype[rows], name[rows], lookup[rows]))]
    a, b = order[:-1], order[1:]
    same = (lookup[a] == lookup[b]) & (name[a] == name[b]) & (qtype[a] == qtype[b])
    unanswered = (r_ns[a] == np.iinfo(np.int64).min) | (r_ns[a] > q_ns[b])
    waited = q_ns[b] - last_ns[a] >= NEW_ROUND_S * 1e9
    moved = same & unanswered & waited & (port[a] != port[b])
    other = msg_id[a] != msg_id[b]
    return lookup[a[moved & other]], lookup[a[moved & ~other]]


def _resolvers(
    counts: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, pa.LargeStringArray, np.ndarray]:
    """Per lookup, the resolver its signs (counts from _sign_counts) vote for (codes into
    RESOLVERS: unknown without signs or on a tie) and the evidence: texts, and which one
    each lookup has. The lookups in `order` (positions into the columns of counts)."""
    n_s, n_lk = counts.shape
    # one row per resolver, a column per lookup: row-wise operations are fast
    votes = np.zeros((len(RESOLVERS), n_lk), np.int64)
    for i, sign in enumerate(_SIGN_NAMES):
        votes[RESOLVERS.index(_SIGNS[sign][0])] += _SIGNS[sign][1] * counts[i]
    top = votes.max(axis=0) if n_lk else np.zeros(0, np.int64)
    winner = np.full(n_lk, RESOLVERS.index("unknown"))
    for r in reversed(range(len(RESOLVERS))):  # the first with the top vote
        winner[votes[r] == top] = r
    alone = (votes == top).sum(axis=0) == 1
    resolver = np.where((top > 0) & alone, winner, RESOLVERS.index("unknown"))
    shown = counts > 0
    masks = np.zeros(n_lk, np.int64)
    for i in range(n_s):
        masks |= shown[i].astype(np.int64) << i
    present = np.bincount(masks, minlength=1 << n_s) > 0
    kinds = np.flatnonzero(present)
    texts = text_array(
        ["; ".join(_SIGNS[k][2] for i, k in enumerate(_SIGN_NAMES) if m >> i & 1)
         for m in kinds.tolist()]
    )  # fmt: skip
    return resolver[order], texts, (np.cumsum(present) - 1)[masks[order]]
