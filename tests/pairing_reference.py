"""dnspcap.pair written with numpy sorts, as it was before its passes moved to C
(dnspcap/csrc/pairing/pair.c): tests check that both give the same transactions table.

Differences from the original: the retransmission state machine is a Python loop (it
was C); transactions are numbered in the order of their first message, as the C pass
numbers them (the sorts numbered them by their packed key); and the mismatched-answer
join sorts by time stably (quicksort left answers of one instant in any order)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dnspcap.arrays.categorical import as_categorical, codes_of, pack, shared_codes
from dnspcap.pairing.orphans import match_orphans
from dnspcap.pairing.sightings import link
from dnspcap.pairing.transactions import capture_ends

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
SKEW_ALLOWANCE_S = 50e-6  # as dnspcap.pairing
RETRY_MIN_GAP_S = 0.5

STATUSES = (
    "answered",
    "unanswered",
    "pending",
    "response_without_query",
    "mismatched_question",
    "icmp_error",  # no response; the query drew an ICMP destination-unreachable error
)


def _assign(key: np.ndarray, ts: np.ndarray, is_query: np.ndarray, retry_ns: int) -> np.ndarray:
    """Walk messages sorted by (key, time); give each its transaction number.

    Within one key: a query while the current transaction's query is still
    unanswered (and its last attempt at most retry_ns ago) is a retransmission;
    the first response answers the open query; a response after that, within
    retry_ns, is a duplicate; a response with no open query starts a
    response-only transaction.

    """
    txn = np.empty(len(key), np.int64)
    t, last_q, last_r, has_q, answered = -1, 0, 0, False, False
    for i in range(len(key)):
        fresh = i == 0 or key[i] != key[i - 1]
        if is_query[i]:
            if fresh or not has_q or answered or ts[i] - last_q > retry_ns:
                t, has_q, answered = t + 1, True, False
            last_q = ts[i]
        else:
            if not fresh and has_q and not answered:
                answered = True
            elif not fresh and answered and ts[i] - last_r <= retry_ns:
                pass  # a duplicate response
            else:
                t, has_q, answered = t + 1, False, True
            last_r = ts[i]
        txn[i] = t
    return txn


def pair(
    messages: pd.DataFrame,
    *,
    timeout: float = RESOLVER_TIMEOUT_S,
    retry_window: float = RETRY_WINDOW_S,
    capture_end: pd.Timestamp | None = None,
    skew: float = SKEW_ALLOWANCE_S,
) -> pd.DataFrame:
    """Pair the messages table (from :func:`dnspcap.read_messages`) into transactions.

    ``timeout``: a query with no response is *unanswered* only when the capture
    went on at least this long after its last attempt, else *pending*.
    ``retry_window``: the longest gap between two attempts of one query.
    ``capture_end``: when the capture stopped (default: the last message).
    Columns are documented in :data:`dnspcap.columns.TRANSACTION_COLUMNS`.
    """
    m = messages
    n = len(m)
    qr = m["qr"].to_numpy(bool)
    is_query = ~qr
    src, dst = shared_codes(m["src"], m["dst"])
    sport = m["sport"].to_numpy(np.int64)
    dport = m["dport"].to_numpy(np.int64)
    client = np.where(qr, dst, src)
    server = np.where(qr, src, dst)
    cport = np.where(qr, dport, sport)
    sport_ = np.where(qr, sport, dport)
    transport = codes_of(m["transport"])
    vantage = codes_of(m["vantage"])
    flow = pack(vantage, client, cport, server, sport_, transport)
    flow_id = pack(flow, m["id"].to_numpy(np.int64))
    question = pack(codes_of(m["qname"]), codes_of(m["qtype"]), codes_of(m["qclass"]))
    key = pack(flow_id, question)
    ts = m["ts"].to_numpy("datetime64[ns]").view(np.int64)
    order = np.lexsort((ts, key))  # stable: ties stay in row order
    txn_sorted = _assign(key[order], ts[order], is_query[order], int(retry_window * 1e9))
    txn = np.empty(n, np.int64)
    txn[order] = txn_sorted
    has_question = m["qdcount"].to_numpy() > 0
    txn, mismatched = _join_orphans(
        txn, is_query, ts, flow_id, question, has_question, retry_window, skew
    )
    ends = capture_ends(m, as_categorical(m["vantage"]).categories, capture_end)
    return _build(
        m, txn, is_query, ts, mismatched, flow_id, question, client, server, ends, timeout
    )


def _ns(t: pd.Timestamp | None) -> int:
    return int(pd.Timestamp(t).value) if t is not None else 0


def _join_orphans(
    txn: np.ndarray,
    is_query: np.ndarray,
    ts: np.ndarray,
    flow_id: np.ndarray,
    question: np.ndarray,
    has_question: np.ndarray,
    retry_window: float,
    skew: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Move a response-only transaction into the unanswered query it answers (which one:
    dnspcap.pairing.match_orphans, shared; this checks the transactions around it)."""
    n_txn = int(txn.max()) + 1 if len(txn) else 0
    has_q = np.zeros(n_txn, bool)
    has_q[txn[is_query]] = True
    has_r = np.zeros(n_txn, bool)
    has_r[txn[~is_query]] = True
    mismatched = np.zeros(n_txn, bool)
    orphan_rows = np.flatnonzero(~is_query & ~has_q[txn])
    open_rows = np.flatnonzero(is_query & ~has_r[txn])
    if len(orphan_rows) == 0 or len(open_rows) == 0:
        return txn, mismatched
    orphans = pd.DataFrame(
        {"txn": txn[orphan_rows], "ts": ts[orphan_rows], "sock": flow_id[orphan_rows],
         "question": question[orphan_rows], "has_question": has_question[orphan_rows]}
    )  # fmt: skip
    opens = pd.DataFrame(
        {"q_txn": txn[open_rows], "ts": ts[open_rows], "sock": flow_id[open_rows],
         "q_question": question[open_rows], "q_has_question": has_question[open_rows]}
    )  # fmt: skip
    match = match_orphans(orphans, opens, retry_window, skew)
    if match.empty:
        return txn, mismatched
    remap = np.arange(n_txn)
    remap[match["txn"].to_numpy(np.int64)] = match["q_txn"].to_numpy(np.int64)
    hit = match["mismatched"].to_numpy(bool)
    mismatched[match["q_txn"].to_numpy(np.int64)[hit]] = True
    return remap[txn], mismatched


def list_column(
    values: np.ndarray, counts: np.ndarray, typ: pa.DataType
) -> pd.arrays.ArrowExtensionArray:
    """A pyarrow list column: row i holds the next counts[i] values."""
    offsets = np.zeros(len(counts) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=typ))
    return pd.arrays.ArrowExtensionArray(arr)


def _build(
    m: pd.DataFrame,
    txn: np.ndarray,
    is_query: np.ndarray,
    ts: np.ndarray,
    mismatched: np.ndarray,
    flow_id: np.ndarray,
    question: np.ndarray,
    client: np.ndarray,
    server: np.ndarray,
    ends: np.ndarray,
    timeout: float,
) -> pd.DataFrame:
    # renumber transactions densely in order of their first message
    n = len(txn)
    if n:
        first = np.full(int(txn.max()) + 1, n, np.int64)
        np.minimum.at(first, txn, np.argsort(np.argsort(ts, kind="stable"), kind="stable"))
        used = np.flatnonzero(first < n)
        rank = np.zeros(len(first), np.int64)
        rank[used[np.argsort(first[used], kind="stable")]] = np.arange(len(used))
        txn = rank[txn]
        if len(mismatched):
            mismatched = mismatched[used[np.argsort(first[used], kind="stable")]]
    order = np.lexsort((ts, txn))  # stable: ties stay in row order
    t_sorted = txn[order]
    starts = np.flatnonzero(np.r_[True, t_sorted[1:] != t_sorted[:-1]]) if n else np.empty(0, int)
    n_txn = len(starts)
    tid = np.cumsum(np.r_[True, t_sorted[1:] != t_sorted[:-1]]) - 1 if n else np.empty(0, int)
    q_sorted = is_query[order]
    ts_sorted = ts[order]
    attempts = np.bincount(tid[q_sorted], minlength=n_txn)
    responses = np.bincount(tid[~q_sorted], minlength=n_txn)
    # first query / last query before the response / first response (positions in `order`)
    pos = np.arange(n)
    big = np.iinfo(np.int64).max
    first_q = np.full(n_txn, big)
    np.minimum.at(first_q, tid[q_sorted], pos[q_sorted])
    first_r = np.full(n_txn, big)
    np.minimum.at(first_r, tid[~q_sorted], pos[~q_sorted])
    before_r = q_sorted & (pos < first_r[tid])
    last_q = np.full(n_txn, -1)
    np.maximum.at(last_q, tid[before_r], pos[before_r])
    last_q_any = np.full(n_txn, -1)
    np.maximum.at(last_q_any, tid[q_sorted], pos[q_sorted])
    has_q, has_r = attempts > 0, responses > 0
    rep = np.where(has_q, first_q, first_r)  # the row that names the transaction
    rep_rows = order[rep]
    r_rows = order[np.where(has_r, first_r, 0)]
    nat = pd.NaT

    def at(col: str, rows_: np.ndarray, mask: np.ndarray) -> pd.Categorical:
        """A categorical column's values at these rows, missing where mask is False."""
        c = as_categorical(m[col])
        codes = np.where(mask, np.asarray(c.codes)[rows_], -1)
        return pd.Categorical.from_codes(codes, categories=c.categories)

    q_ts = np.where(has_q, ts_sorted[np.where(has_q, first_q, 0)], 0)
    r_ts = np.where(has_r, ts_sorted[np.where(has_r, first_r, 0)], 0)
    lq_ts = np.where(last_q >= 0, ts_sorted[np.maximum(last_q, 0)], 0)
    lq_any_ts = np.where(has_q, ts_sorted[np.maximum(last_q_any, 0)], 0)
    mism = np.zeros(n_txn, bool)
    if mismatched.any():
        mism = mismatched[t_sorted[starts]]
    status = np.full(n_txn, 0, np.int8)  # answered
    vantage = codes_of(m["vantage"])[rep_rows] - 1
    waited = (ends[vantage] - lq_any_ts) / 1e9
    # unanswered once the capture went on a timeout past it, or it was resent
    done = (waited >= timeout) | (attempts > 1)
    status[has_q & ~has_r] = np.where(done[has_q & ~has_r], 1, 2)
    status[~has_q] = 3
    status[mism] = 4
    # ... or its client asked its question again later, from any socket
    client_q = pack(vantage, client[rep_rows], question[rep_rows])
    for t in np.flatnonzero(status == 2):
        later = (client_q == client_q[t]) & has_q & (q_ts - lq_any_ts[t] >= RETRY_MIN_GAP_S * 1e9)
        if later.any():
            status[t] = 1
    # the attempts' frames, the responses' frames, and the gaps between attempts
    frames = m["frame"].to_numpy(np.int64)[order]
    q_frames = list_column(frames[q_sorted], attempts, pa.int64())
    r_frames = list_column(frames[~q_sorted], responses, pa.int64())
    q_ts_all = ts_sorted[q_sorted]
    q_tid = tid[q_sorted]
    gap_mask = np.r_[False, q_tid[1:] == q_tid[:-1]] if len(q_tid) else np.empty(0, bool)
    gaps = (np.diff(q_ts_all, prepend=0) / 1e9)[gap_mask]
    retry_gaps = list_column(gaps, np.maximum(attempts - 1, 0), pa.float64())

    def tstamp(v: np.ndarray, mask: np.ndarray) -> pd.Series:
        s = pd.Series(pd.DatetimeIndex(v.view("datetime64[ns]")).tz_localize("UTC"))
        return s.where(pd.Series(mask), nat)

    rtt = np.where(has_q & has_r, (r_ts - q_ts) / 1e9, np.nan)
    rtt_last = np.where((last_q >= 0) & has_r, (r_ts - lq_ts) / 1e9, np.nan)
    skewed = int((rtt < 0).sum())
    rtt, rtt_last = np.where(rtt < 0, 0.0, rtt), np.where(rtt_last < 0, 0.0, rtt_last)
    src_is_client = ~m["qr"].to_numpy(bool)[rep_rows]
    out = pd.DataFrame(
        {
            "file": as_categorical(m["file"]).take(rep_rows),
            "vantage": as_categorical(m["vantage"]).take(rep_rows),
            "client": _addr(m, rep_rows, src_is_client, "src", "dst"),
            "client_port": np.where(
                src_is_client, m["sport"].to_numpy()[rep_rows], m["dport"].to_numpy()[rep_rows]
            ).astype(np.uint16),
            "server": _addr(m, rep_rows, src_is_client, "dst", "src"),
            "server_port": np.where(
                src_is_client, m["dport"].to_numpy()[rep_rows], m["sport"].to_numpy()[rep_rows]
            ).astype(np.uint16),
            "transport": as_categorical(m["transport"]).take(rep_rows),
            "id": m["id"].to_numpy()[rep_rows],
            "qname": as_categorical(m["qname"]).take(rep_rows),
            "qtype": as_categorical(m["qtype"]).take(rep_rows),
            "qclass": as_categorical(m["qclass"]).take(rep_rows),
            "query_ts": tstamp(q_ts, has_q),
            "last_query_ts": tstamp(lq_any_ts, has_q),
            "response_ts": tstamp(r_ts, has_r),
            "rtt": rtt,
            "rtt_last": rtt_last,
            "attempts": attempts.astype(np.int32),
            "retry_gaps": retry_gaps,
            "responses": responses.astype(np.int32),
            "duplicate_responses": np.maximum(responses - 1, 0).astype(np.int32),
            "status": pd.Categorical.from_codes(status, categories=pd.Index(STATUSES)),
            "rcode": at("rcode", r_rows, has_r),
            "tc": np.where(has_r, m["tc"].to_numpy(bool)[r_rows], False),
            "ancount": pd.array(
                np.where(has_r, m["ancount"].to_numpy()[r_rows], 0), dtype="UInt16"
            ),
            "answers": at("answers", r_rows, has_r),
            "query_frames": q_frames,
            "response_frames": r_frames,
        }
    )
    out.loc[~has_r, "ancount"] = pd.NA
    out["id_collision"] = _id_collisions(
        out, flow_id[rep_rows], question[rep_rows], ts_sorted, rep, has_r, r_ts, lq_any_ts, timeout
    )
    out["nat_peer"] = _nat_peers(out, client[rep_rows], server[rep_rows], flow_id, rep_rows)
    out.attrs["dnspcap"] = {"skewed_responses": skewed, "straddling": {}}
    out.attrs["dnspcap"].update(link(out, out["nat_peer"].to_numpy()))
    out["icmp"] = _icmp_column(out, m.attrs.get("dnspcap", {}).get("icmp_errors", []))
    refused = (
        (out["responses"].to_numpy() == 0)
        & (out["attempts"].to_numpy() > 0)
        & np.asarray(out["icmp"] != "", bool)
    )
    out.loc[refused, "status"] = "icmp_error"
    return out


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


def _addr(m: pd.DataFrame, rows: np.ndarray, first: np.ndarray, a: str, b: str) -> pd.Categorical:
    """Column a where `first`, else column b, at these rows, as one categorical."""
    ca, cb = as_categorical(m[a]), as_categorical(m[b])
    cats = ca.categories.union(cb.categories)
    codes = np.where(
        first,
        np.asarray(ca.set_categories(cats).codes)[rows],
        np.asarray(cb.set_categories(cats).codes)[rows],
    )
    return pd.Categorical.from_codes(codes, categories=cats)


def _id_collisions(
    t: pd.DataFrame,
    flow_id: np.ndarray,
    question: np.ndarray,
    ts_sorted: np.ndarray,
    rep: np.ndarray,
    has_r: np.ndarray,
    r_ts: np.ndarray,
    lq_ts: np.ndarray,
    timeout: float,
) -> np.ndarray:
    """Two transactions in flight at once on one socket with one ID and different questions:
    each compared with the one before it on its socket and ID in the transactions' order
    (of their first message), which is not that of their first queries when a response
    is stamped before its query (SKEW_ALLOWANCE_S)."""
    start = ts_sorted[rep]
    finish = np.where(has_r, r_ts, lq_ts + int(timeout * 1e9))
    order = np.lexsort((np.arange(len(t)), flow_id))
    f, q, s, e = flow_id[order], question[order], start[order], finish[order]
    hit = (f[1:] == f[:-1]) & (q[1:] != q[:-1]) & (s[1:] <= e[:-1])
    flags = np.zeros(len(t), bool)
    flags[order[1:][hit]] = True
    flags[order[:-1][hit]] = True
    return flags


def _nat_peers(
    t: pd.DataFrame,
    client: np.ndarray,
    server: np.ndarray,
    flow_id: np.ndarray,
    rep_rows: np.ndarray,
) -> np.ndarray:
    """Index of the same query seen on the other side of DNAT (node captures), or -1."""
    peers = np.full(len(t), -1, np.int64)
    has_q = t["attempts"].to_numpy() > 0
    if not has_q.any():
        return peers
    key = pack(
        codes_of(t["vantage"]), client, t["client_port"].to_numpy(np.int64),
        codes_of(t["transport"]), t["id"].to_numpy(np.int64), codes_of(t["qname"]),
        codes_of(t["qtype"]),
    )  # fmt: skip
    qts = t["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
    idx = np.flatnonzero(has_q)
    order = idx[np.lexsort((qts[idx], key[idx]))]
    k, s, tt = key[order], server[order], qts[order]
    # the copy after DNAT starts near the first attempt before it, or near its last (the
    # first attempt dropped on the node, the retry through)
    lq = t["last_query_ts"].to_numpy("datetime64[ns]").view(np.int64)[order]
    window = int(NAT_WINDOW_S * 1e9)
    after_last = tt[1:] - lq[:-1]
    near = (tt[1:] - tt[:-1] <= window) | ((after_last >= 0) & (after_last <= window))
    hit = (k[1:] == k[:-1]) & (s[1:] != s[:-1]) & near
    a, b = order[:-1][hit], order[1:][hit]
    # DNAT nests the copies: the first one sent (to the VIP) is answered last, after the
    # endpoint's answer came back through the node. musl sends one query to every
    # nameserver at once with one ID: those copies are answered independently, or one
    # not at all, and are not DNAT copies.
    r_ns = t["response_ts"].to_numpy("datetime64[ns]").view(np.int64)
    nat = np.iinfo(np.int64).min
    ra, rb = r_ns[a], r_ns[b]
    nested = ((ra == nat) & (rb == nat)) | ((ra != nat) & (rb != nat) & (rb <= ra))
    a, b = a[nested], b[nested]
    peers[a] = b
    peers[b] = a
    return peers
