"""Per-transaction settlements and flags after the passes: pending or unanswered, round
trips clamped for clock skew, ID collisions, DNAT peers, ICMP errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..arrays.categorical import take
from .columns import NAT, Columns, Stats, dense
from .windows import NAT_WINDOW_S, RETRY_MIN_GAP_S


def settle_unanswered(
    c: Columns,
    s: Stats,
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
    c: Columns, s: Stats, pending: np.ndarray, vantage: np.ndarray, lq_ts: np.ndarray
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
    key = dense((vantage[rows], client, *(k[rep] for k in c.question_codes)))
    k_pending, k_later = key[: len(pending)], key[len(pending) :]
    latest = np.full(int(key.max()) + 1, NAT, np.int64)
    np.maximum.at(latest, k_later, q_ts[later])
    again = latest[k_pending]
    return np.asarray((again != NAT) & (again - lq_ts[pending] >= int(RETRY_MIN_GAP_S * 1e9)))


def clamp_skew(rtt: np.ndarray, rtt_last: np.ndarray) -> int:
    """Round trips below zero (a response stamped before its query, see SKEW_ALLOWANCE_S)
    set to zero, in place; returns how many responses were so."""
    neg = rtt < 0
    count = int(np.count_nonzero(neg))
    if count:
        rtt[neg] = 0.0
    rtt_last[rtt_last < 0] = 0.0
    return count


def id_collisions(
    c: Columns, s: Stats, has_r: np.ndarray, r_ts: np.ndarray, lq_ts: np.ndarray, timeout: float
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


def nat_peers(
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


def icmp_column(t: pd.DataFrame, errors: list[dict[str, Any]]) -> pd.Categorical:
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
