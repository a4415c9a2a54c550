"""Questions asked again after no answer, at the level of lookups: `retries`.

A resolver that gets no answer asks again once its timeout has passed, and how depends
on the resolver (see docs/wire-patterns.md):

- the same socket and ID (glibc, musl): one transaction with several attempts;
- a new socket, the same ID (glibc's next round, its next nameserver);
- a new socket *and* a new ID (Go's resolver, for every exchange);
- the next nameserver (glibc and Go in turn, after the per-try timeout).

Pairing sees the first kind as one transaction; the others are new transactions, which
the grouping stage put into the lookup they continue. This module lists every one of
them in one table, so that the detectors can tell a resend from a failover whatever
the ID and port, and the lookups table can fingerprint Go.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..arrays.categorical import as_categorical, flatten, pack
from ..pairing.windows import RETRY_MIN_GAP_S
from .join import lookup_of_rows, lookups_at

KINDS = ("resend", "new_socket", "failover")
# More attempts of one query than any resolver makes (glibc caps attempts at 5, musl at
# 10): a forwarding loop's storm, not a resolver retrying.
MAX_RESOLVER_ATTEMPTS = 10

_NAT = np.iinfo(np.int64).min


def retries(tx: pd.DataFrame, lookups: pd.DataFrame) -> pd.DataFrame:
    """One row per time a client asked a question again after no answer came, at least
    RETRY_MIN_GAP_S after it last asked:

    ``lookup`` (position in the lookups table, -1 outside any), ``before`` (row label of
    the transaction that went unanswered), ``after`` (row label of the transaction that
    asked again: the same one for a resend), ``gap_s`` (seconds from the last attempt of
    ``before`` to the retry), ``kind`` (``resend``: same socket and ID; ``new_socket``:
    another socket or ID, the same server; ``failover``: another server), ``new_id``
    (the retry used another ID: Go), ``server`` and ``to_server``.
    """
    attempts = tx["attempts"].to_numpy()
    counted = (attempts > 0) & (attempts <= MAX_RESOLVER_ATTEMPTS)
    if "copy_of" in tx.columns:
        counted &= tx["copy_of"].to_numpy() < 0
    rows = np.flatnonzero(counted)
    owner = np.full(len(rows), -1, np.int64)
    if not lookups.empty:
        owner = lookups_at(lookup_of_rows(lookups), tx.index.to_numpy()[rows])
    resends = _resends(tx, rows, owner)
    reasks = _reasks(tx, rows, owner)
    out = pd.concat([resends, reasks], ignore_index=True)
    out = out.sort_values(["before", "gap_s"], kind="stable", ignore_index=True)
    out["kind"] = pd.Categorical(out["kind"], categories=pd.Index(KINDS))
    servers = as_categorical(tx["server"])
    out["server"] = servers.take(tx.index.get_indexer(pd.Index(out["before"])))
    out["to_server"] = servers.take(tx.index.get_indexer(pd.Index(out["after"])))
    return out


def _resends(tx: pd.DataFrame, rows: np.ndarray, owner: np.ndarray) -> pd.DataFrame:
    """The attempts after the first of one transaction (same socket and ID)."""
    attempts = tx["attempts"].to_numpy()[rows]
    again = rows[attempts > 1]
    # the gaps of these rows only, taken in arrow: not a Python list per row of the table
    values, parent = flatten(tx["retry_gaps"], again)
    gap = np.asarray(values, float)
    counts = np.bincount(parent, minlength=len(again))
    labels = np.repeat(tx.index.to_numpy()[again], counts)
    keep = gap >= RETRY_MIN_GAP_S
    return pd.DataFrame(
        {
            "lookup": np.repeat(owner[attempts > 1], counts)[keep],
            "before": labels[keep],
            "after": labels[keep],
            "gap_s": gap[keep],
            "kind": "resend",
            "new_id": False,
        }
    )


def _reasks(tx: pd.DataFrame, rows: np.ndarray, owner: np.ndarray) -> pd.DataFrame:
    """Transactions of one lookup asking a question the one before them (in time) asked
    and got no answer to before they did."""
    in_lookup = owner >= 0
    rows, owner = rows[in_lookup], owner[in_lookup]
    q = _ns(tx["query_ts"])[rows]
    name = np.asarray(as_categorical(tx["qname"]).codes, np.int64)[rows]
    qtype = np.asarray(as_categorical(tx["qtype"]).codes, np.int64)[rows]
    order = _by_question(pack(owner, name + 1, qtype + 1), q)
    rows, owner, q, name, qtype = (a[order] for a in (rows, owner, q, name, qtype))
    same = (owner[1:] == owner[:-1]) & (name[1:] == name[:-1]) & (qtype[1:] == qtype[:-1])
    prev, nxt = rows[:-1][same], rows[1:][same]
    r = _ns(tx["response_ts"])
    last = _ns(tx["last_query_ts"])
    asked = q[1:][same]
    unanswered = (r[prev] == _NAT) | (r[prev] > asked)
    gap = (asked - last[prev]) / 1e9
    keep = unanswered & (gap >= RETRY_MIN_GAP_S)
    prev, nxt, gap = prev[keep], nxt[keep], gap[keep]
    server = np.asarray(as_categorical(tx["server"]).codes)
    ids, ports = tx["id"].to_numpy(), tx["client_port"].to_numpy()
    labels = tx.index.to_numpy()
    kind = np.where(server[prev] != server[nxt], "failover", "new_socket")
    return pd.DataFrame(
        {
            "lookup": owner[:-1][same][keep],
            "before": labels[prev],
            "after": labels[nxt],
            "gap_s": gap,
            "kind": kind,
            "new_id": (ids[prev] != ids[nxt]) & (ports[prev] != ports[nxt]),
        }
    )


def _by_question(key: np.ndarray, q: np.ndarray) -> np.ndarray:
    """An order of the rows that brings each question of a lookup (equal keys) together,
    in time order within one. Rows already in time order (as pair() writes them) keep it
    through a stable sort of the keys: lookups are numbered in time order, so the keys
    come nearly sorted, and numpy's stable sort (a merge of runs) takes 13 ms for 1M of
    them where hashing them dense for a counting sort took 64-76 ms (each is nearly
    distinct). The groups then come in the order of their keys, which the pairs of
    neighbours do not depend on (retries() sorts what comes out)."""
    if len(q) < 2 or (q[1:] >= q[:-1]).all():
        return np.argsort(key, kind="stable")
    return np.lexsort((q, key))


def _ns(col: pd.Series) -> np.ndarray:
    return np.asarray(col.to_numpy("datetime64[ns]").view(np.int64))
