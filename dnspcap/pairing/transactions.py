"""Stage 2, pairing: pair queries with responses into transactions (`pair`).

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

import numpy as np
import pandas as pd
import pyarrow as pa

from ..arrays import memory
from ..arrays.categorical import as_categorical, code_dtype, take
from ..arrays.lists import list_column
from ..native import kernel
from ..reading.frame import utc_array
from .columns import NAT, Columns, Stats, stats
from .flags import clamp_skew, icmp_column, id_collisions, nat_peers, settle_unanswered
from .orphans import join_orphans
from .sightings import link
from .windows import RESOLVER_TIMEOUT_S, RETRY_WINDOW_S, SKEW_ALLOWANCE_S

STATUSES = (
    "answered",
    "unanswered",
    "pending",
    "response_without_query",
    "mismatched_question",
    "icmp_error",  # no response; the query drew an ICMP destination-unreachable error
)


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
    c = Columns(messages)
    order = c.time_order()
    txn = np.empty(c.n, np.int32)
    kind = np.zeros(c.n, np.uint8)
    n_txn = kernel.pair_assign(*c.keys, order, int(retry_window * 1e9), txn, kind)
    kind = kind[:n_txn]
    txn, kind, mismatched = join_orphans(c, txn, kind, retry_window, skew)
    s = stats(c, order, txn, len(kind))
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


def _links(c: Columns, s: Stats) -> None:
    """Each transaction's predecessor on its socket and ID, and across DNAT."""
    kernel.pair_links(*c.keys, s.rep, s.attempts, s.prev_flow, s.prev_nat)


def _take(col: pd.Series, rows: np.ndarray) -> pd.Categorical:
    """A categorical column's values at these rows (missing where a row is -1)."""
    cat = as_categorical(col)
    codes = take(np.asarray(cat.codes), rows, -1)
    return pd.Categorical.from_codes(codes, dtype=cat.dtype, validate=False)


def _build(
    c: Columns, s: Stats, mismatched: np.ndarray, ends: np.ndarray, timeout: float
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
    settle_unanswered(c, s, status, vantage, ends, lq_any_ts, timeout)
    skewed = clamp_skew(rtt, rtt_last)
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
            "id_collision": id_collisions(c, s, has_r, r_ts, lq_any_ts, timeout),
            "nat_peer": nat_peers(s.prev_nat, server, q_ts, lq_any_ts, r_ts),
        },
        copy=False,
    )
    out.attrs["dnspcap"] = {"skewed_responses": skewed, "straddling": s.straddling}
    # each query counted once: on its first sighting (before DNAT, nearest the client)
    out.attrs["dnspcap"].update(link(out, out["nat_peer"].to_numpy()))
    errors = m.attrs.get("dnspcap", {}).get("icmp_errors", [])
    out["icmp"] = icmp_column(out, errors)
    if errors:
        refused = has_q & ~has_r & np.asarray(out["icmp"] != "", bool)
        out.loc[refused, "status"] = "icmp_error"
    return out
