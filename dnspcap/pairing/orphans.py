"""Responses without a query of their own, put with the query they answer
(:func:`join_orphans`, :func:`match_orphans`): clock skew, answers without a question,
answers to another question on the same socket and ID."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .columns import Columns


def join_orphans(
    c: Columns, txn: np.ndarray, kind: np.ndarray, retry_window: float, skew: float
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
