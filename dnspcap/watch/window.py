"""One step of a watch: the tables of the messages it holds, and which rows are final.

Each step pairs and groups the messages the watch holds with the batch stages
(:func:`~dnspcap.pairing.transactions.pair_rows`, :func:`~dnspcap.grouping.lookups`), as
``analyze`` would on the whole capture, then decides which transactions and lookups no
later packet can change (:func:`finality`). Those are *final*: the findings they show are
printed and the watch lets their messages go.

A transaction or lookup is final when its last packet is older than what could still
join it, measured on the capture's clock (``now``: its latest packet):

- a query with no answer, ``UNANSWERED_HOLD_S``: a retransmission of it joins it up to
  ``RETRY_WINDOW_S`` (60 s) after its last attempt, and an answer at any time;
- a transaction with an answer, ``ANSWERED_HOLD_S``: a duplicate of the answer joins it
  (a copy of one packet, seen microseconds later on ``-i any``);
- a lookup, ``LOOKUP_HOLD_S`` after its last query: a query joins a lookup up to
  ``LOOKUP_GAP_S`` (11 s) after its last one;

and everything it is tied to is final too: the transactions of one lookup, a query's
copies before and after DNAT, the A and AAAA of a same-socket pair, the transactions of
an ID collision (:func:`_components`). One second beyond each window allows for time
stamps that run backwards a little (per-CPU clocks of ``-i any``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings.detectors._util import ns, same_socket_pairs
from ..grouping.join import LOOKUP_GAP_S, transaction_rows
from ..pairing.windows import RETRY_WINDOW_S

MARGIN_S = 1.0
UNANSWERED_HOLD_S = RETRY_WINDOW_S + MARGIN_S
LOOKUP_HOLD_S = LOOKUP_GAP_S + MARGIN_S
ANSWERED_HOLD_S = LOOKUP_GAP_S + MARGIN_S
NAT = np.iinfo(np.int64).min


@dataclass
class Window:
    """The tables of one step, and what is final in them.

    ``full`` is the transactions table (copies of queries too, as ``pair`` gives it),
    ``tx`` its counted rows (what ``detect`` hands the detectors), ``lk`` the lookups;
    ``final`` per transaction (position in ``full``), ``lk_final`` per lookup.
    """

    full: pd.DataFrame
    tx: pd.DataFrame
    lk: pd.DataFrame
    final: np.ndarray
    lk_final: np.ndarray
    now_ns: int
    end: bool  # the last step: the capture ended, everything is final


def build(
    full: pd.DataFrame,
    txn: np.ndarray,
    messages: pd.DataFrame,
    lk: pd.DataFrame,
    *,
    now_ns: int,
    end: bool,
    pair_window_s: float,
) -> Window:
    """The window of one step (see the module docstring for what is final)."""
    ts = ns(messages["ts"])
    if "copy_of" in full.columns and (full["copy_of"].to_numpy() >= 0).any():
        tx = full[full["copy_of"].to_numpy() < 0]
    else:
        tx = full
    final, lk_final = finality(full, tx, txn, ts, lk, now_ns, end, pair_window_s)
    return Window(full, tx, lk, final, lk_final, now_ns, end)


def finality(
    full: pd.DataFrame,
    tx: pd.DataFrame,
    txn: np.ndarray,
    ts: np.ndarray,
    lk: pd.DataFrame,
    now_ns: int,
    end: bool,
    pair_window_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Which transactions (positions in full) and lookups (positions) are final."""
    n = len(full)
    if end:
        return np.ones(n, bool), np.ones(len(lk), bool)
    last = np.full(n, NAT, np.int64)
    if len(txn):
        np.maximum.at(last, txn, ts)
    answered = full["responses"].to_numpy() > 0
    hold = np.where(answered, ANSWERED_HOLD_S, UNANSWERED_HOLD_S) * 1e9
    ok = last.astype(np.float64) < now_ns - hold
    # a lookup: its transactions in one component, and final once its last query is old
    rows = transaction_rows(lk) if len(lk) else np.zeros(0, np.int64)
    sizes = lk["transactions"].to_numpy(np.int64) if len(lk) else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(lk)), sizes)
    q_ts = ns(full["query_ts"])
    lk_last = np.full(len(lk), NAT, np.int64)
    if len(rows):
        np.maximum.at(lk_last, owner, q_ts[rows])
    lk_ok = lk_last.astype(np.float64) < now_ns - LOOKUP_HOLD_S * 1e9
    base = np.arange(n, dtype=np.int64) + len(lk)  # a node per lookup, then per transaction
    base[rows] = owner
    label = _components(len(lk) + n, *_edges(full, tx, base, pair_window_s))
    bad = np.zeros(len(lk) + n, bool)
    bad[label[base[~ok]]] = True
    bad[label[np.flatnonzero(~lk_ok)]] = True
    final = ~bad[label[base]]
    lk_final = ~bad[label[np.arange(len(lk))]]
    return final, lk_final


def _edges(
    full: pd.DataFrame, tx: pd.DataFrame, base: np.ndarray, pair_window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ties between transactions beyond their lookup, as pairs of nodes (base)."""
    a: list[np.ndarray] = []
    b: list[np.ndarray] = []
    for col in ("copy_of", "nat_peer"):
        if col in full.columns:
            other = full[col].to_numpy(np.int64)
            i = np.flatnonzero(other >= 0)
            a.append(i)
            b.append(other[i])
    pairs = same_socket_pairs(tx, pair_window_s)
    if len(pairs):
        a.append(pairs["row_a"].to_numpy(np.int64))
        b.append(pairs["row_b"].to_numpy(np.int64))
    hit = np.flatnonzero(full["id_collision"].to_numpy(bool))
    if len(hit):
        key = full.iloc[hit][["client", "client_port", "server", "server_port", "id"]]
        group = key.groupby(list(key.columns), observed=True, sort=False).ngroup().to_numpy()
        ok = group >= 0
        first = pd.Series(hit[ok]).groupby(group[ok]).transform("first").to_numpy(np.int64)
        a.append(hit[ok])
        b.append(first)
    if not a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    na, nb = base[np.concatenate(a)], base[np.concatenate(b)]
    keep = na != nb
    return na[keep], nb[keep]


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The connected components of n nodes joined by the edges (a[i], b[i]): per node,
    the smallest node of its component (hooking and pointer jumping; the components
    here are small, a few rounds)."""
    label = np.arange(n, dtype=np.int64)
    if not len(a):
        return label
    while True:
        la, lb = label[a], label[b]
        low = np.minimum(la, lb)
        new = label.copy()
        np.minimum.at(new, la, low)
        np.minimum.at(new, lb, low)
        while True:
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            return label
        label = new
