"""Helpers the detectors share: timestamps and frame lists out of the transactions table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...arrays.categorical import as_categorical, codes_of, pack, shared_codes
from ...arrays.keys import factorized, first_codes, window_pairs
from ...grouping.join import lookup_of_rows, lookups_at, transaction_rows
from ...grouping.reasked import retries
from ...grouping.table import PAIR_WINDOW_S, interval_union
from ...native import group_order
from ..finding import Finding
from ..registry import Option
from ..tablecache import cached
from ._evidence import unique_ints


def ns(col: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch; NaT becomes the minimum int64."""
    return np.asarray(col.to_numpy("datetime64[ns]").view(np.int64))


# The A and AAAA a resolver asks at once: glibc and musl send them from one socket ~60 µs
# apart (measured); one population for every detector that looks at such pairs.
PAIR_WINDOW = Option(
    "pair_window_s", PAIR_WINDOW_S, "glibc/musl send A and AAAA from one socket ~60 µs apart"
)


def rows(tx: pd.DataFrame, mask: Any, columns: list[str]) -> pd.DataFrame:
    """These columns of the rows where mask holds (a boolean array or index labels)."""
    out: pd.DataFrame = tx.loc[mask, columns]
    return out


def _owner(lookups: pd.DataFrame) -> np.ndarray:
    """lookup_of_rows, built once per lookups table."""
    owner: np.ndarray = cached(lookups, "txn_to_lookup", lambda: lookup_of_rows(lookups))
    return owner


def lookup_positions(lookups: pd.DataFrame, txn_rows: Any) -> np.ndarray:
    """Positions in the lookups table of the lookups containing any of these rows (row
    labels of the transactions, in any order, repeated or not), sorted, once each."""
    rows = np.asarray(txn_rows, np.int64).ravel()
    if lookups.empty or not len(rows):
        return np.zeros(0, np.int64)
    owner = _owner(lookups)
    rows = rows[(rows >= 0) & (rows < len(owner))]
    found = owner[rows]
    return unique_ints(found[found >= 0])


def lookup_of(tx: pd.DataFrame, lookups: pd.DataFrame) -> np.ndarray:
    """Per row of tx, the position of the lookup it is in, or -1."""
    if lookups.empty or tx.empty:
        return np.full(len(tx), -1, np.int64)
    return lookups_at(_owner(lookups), tx.index.to_numpy())


def flat_rows(col: pd.Series) -> np.ndarray:
    """The transaction rows of a lookups table's transactions_index, one after another."""
    return transaction_rows(pd.DataFrame({"transactions_index": col}))


def _names(col: pd.Series) -> tuple[str, ...]:
    """The distinct values of a column, sorted, without converting every row."""
    return tuple(sorted(str(v) for v in col.unique()))


def typical_gaps(gaps: np.ndarray) -> list[tuple[float, int]]:
    """The usual retry gaps, most common first: (median of the gaps near it, how many).

    Gaps are binned to 0.1 s: glibc's 5 s and musl's 2.5 s stay apart instead of
    averaging to a timeout no resolver has.
    """
    gaps = np.asarray(gaps, float)
    gaps = gaps[np.isfinite(gaps)]
    if not len(gaps):
        return []
    bins = np.round(gaps, 1)
    values, counts = np.unique(bins, return_counts=True)
    order = np.lexsort((values, -counts))
    return [(float(np.median(gaps[bins == values[i]])), int(counts[i])) for i in order]


def pair_population(n: int) -> str:
    """How the detectors that look at A/AAAA pairs name them, with their count."""
    return f"{n:,} parallel A/AAAA pair{'' if n == 1 else 's'} (one socket)"


def same_socket_pairs(tx: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """See _same_socket_pairs; built once per table and window."""
    pairs: pd.DataFrame = cached(
        tx, f"same_socket_pairs:{window_s}", lambda: _same_socket_pairs(tx, window_s)
    )
    return pairs


def _same_socket_pairs(tx: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """A and AAAA transactions for one name from one socket, sent within window_s.

    One row per pair: ``row``, ``id``, ``status``, ``attempts``, ``q_ns``, ``r_ns`` for
    each side (suffixes ``_a``, ``_b``), and the pair's ``client``, ``client_port``,
    ``server``, ``server_port``. The socket and name are matched as one packed integer
    key, not as six columns of strings.
    """
    qtype = as_categorical(tx["qtype"])
    texts = [str(c) for c in qtype.categories]
    a_code, aaaa_code = (texts.index(t) if t in texts else -2 for t in ("A", "AAAA"))
    codes = np.asarray(qtype.codes)
    keep = np.flatnonzero(
        (tx["attempts"].to_numpy() > 0) & ((codes == a_code) | (codes == aaaa_code))
    )
    if len(keep) == 0:
        return pd.DataFrame()
    # each step in a function of its own: its temporaries go when it returns (at 10M
    # packets each is tens of MB)
    pos_a, pos_b = _pair_positions(tx, keep, codes[keep] == a_code, int(window_s * 1e9))
    ids = tx["id"].to_numpy()
    status = tx["status"].array  # categorical: taking codes, not strings
    attempts = tx["attempts"].to_numpy()
    q_all, r_all = ns(tx["query_ts"]), ns(tx["response_ts"])
    cols: dict[str, Any] = {}
    for side, pos in (("a", pos_a), ("b", pos_b)):
        cols[f"row_{side}"] = np.asarray(tx.index[pos])
        cols[f"id_{side}"] = ids[pos].astype(np.int64)
        cols[f"status_{side}"] = status.take(pos)
        cols[f"attempts_{side}"] = attempts[pos].astype(np.int64)
        cols[f"q_ns_{side}"] = q_all[pos]
        cols[f"r_ns_{side}"] = r_all[pos]
    for name in ("client", "client_port", "server", "server_port"):
        cols[name] = tx[name].array.take(pos_a)
    return pd.DataFrame(cols)


def _pair_positions(
    tx: pd.DataFrame, keep: np.ndarray, is_a: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """The positions in tx of the A and of the AAAA row of every pair among the rows
    `keep` (is_a: which of them ask A), in the order of the A rows."""
    q_ns = ns(tx["query_ts"])[keep]
    key = _socket_and_name(tx, keep)
    order = _by_socket_and_name(key, q_ns)
    # every A/AAAA pair of one key within the window, without a merge: sorted by key and
    # time, a row's partners are its neighbours while the key holds and the time fits
    i, j = window_pairs(key[order], q_ns[order], is_a[order], window)
    del key, q_ns
    pos_a, pos_b = keep[order[i]], keep[order[j]]
    sort = group_order(pos_a.astype(np.int32), len(tx))  # a stable sort of the positions
    return pos_a[sort], pos_b[sort]


def _socket_and_name(tx: pd.DataFrame, keep: np.ndarray) -> np.ndarray:
    """One integer per kept row for its socket (addresses, ports, transport) and name,
    from the kept rows' codes only: no full-length temporaries."""
    client, server = shared_codes(tx["client"], tx["server"], keep)
    return pack(
        client, tx["client_port"].to_numpy()[keep], server, tx["server_port"].to_numpy()[keep],
        codes_of(tx["transport"], keep), codes_of(tx["qname"], keep),
    )  # fmt: skip


def _by_socket_and_name(key: np.ndarray, q_ns: np.ndarray) -> np.ndarray:
    """An order of the rows that brings equal keys together, in time order within one."""
    if len(q_ns) < 2 or (q_ns[1:] >= q_ns[:-1]).all():
        # rows already in time order (pair() writes them so): equal keys brought together
        # by a stable counting sort keep it, which is all the scan needs
        dense, distinct = first_codes(key)
        # as intp: numpy converts any other index array on every take
        return group_order(dense, distinct).astype(np.intp)
    return np.lexsort((q_ns, key))


def retry_table(tx: pd.DataFrame, lookups: pd.DataFrame) -> pd.DataFrame:
    """dnspcap.grouping.reasked.retries of these tables, built once for both."""
    key = f"retries:{id(lookups)}"
    table: pd.DataFrame = cached(tx, key, lambda: retries(tx, lookups))
    return table


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 lookup', '3 lookups'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def top(counts: pd.Series, shown: int = 3) -> str:
    """The first few of a value_counts(), and how many more: 'a (3), b (1) and 4 more'."""
    items = [f"{k} ({v:,})" for k, v in counts.head(shown).items()]
    more = len(counts) - shown
    return ", ".join(items) + (f" and {more:,} more" if more > 0 else "")


SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


def also_in(found: Sequence[Finding], positions: np.ndarray) -> list[str]:
    """The codes of the (less severe) findings that also concern some of these lookups."""
    mine = set(positions.tolist())
    return sorted({f.code for f in found if mine.intersection(f.lookups)})


# A question asked this many times in the capture and never answered is a storm, not a
# resolver retrying: no resolver retries one question 100 times (glibc caps attempts at
# 5, musl at 10). DNS007 reports storms; DNS006 leaves their questions to it.
STORM = Option("loop_min_queries", 100, "no resolver retries one question 100 times")


def waited(tx: pd.DataFrame, lookups: pd.DataFrame) -> np.ndarray:
    """Per lookup, the seconds it waited on the wire: from each query until its answer (or
    its last attempt, unanswered), and from a question that went unanswered until it was
    asked again from another socket or of another server; the union of those spans."""

    def build() -> np.ndarray:
        # each part in a function of its own, so that its temporaries (a few arrays of a
        # million rows) are gone before the union's own
        spans = [_transaction_spans(tx, lookups), _retry_spans(tx, lookups)]
        by, first, last = (np.concatenate(a) for a in zip(*spans, strict=True))
        del spans
        return interval_union(by, first, last, len(lookups))

    out: np.ndarray = cached(lookups, f"waited:{id(tx)}", build)
    return out


def _transaction_spans(
    tx: pd.DataFrame, lookups: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per transaction of a lookup: the lookup, its first query and its answer (or its last
    attempt, unanswered); only spans interval_union counts (both ends known, the end later)."""
    rows = flat_rows(lookups["transactions_index"])
    owner = np.repeat(np.arange(len(lookups)), lookups["transactions"].to_numpy(np.int64))
    at = tx.index.get_indexer(pd.Index(rows))
    del rows
    owner, at = owner[at >= 0], at[at >= 0]
    q, r, last = (ns(tx[c])[at] for c in ("query_ts", "response_ts", "last_query_ts"))
    del at
    end = np.where(r != _NAT, np.maximum(r, q), last)
    del r, last
    return _counted(owner, q, end)


def _retry_spans(
    tx: pd.DataFrame, lookups: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question asked again from another socket or of another server: the lookup, when
    it was first asked and when again (as _transaction_spans keeps them)."""
    re = retry_table(tx, lookups)
    re = re[(re["kind"] != "resend").to_numpy() & (re["lookup"].to_numpy() >= 0)]
    before = ns(tx["query_ts"])[tx.index.get_indexer(pd.Index(re["before"]))]
    after = ns(tx["query_ts"])[tx.index.get_indexer(pd.Index(re["after"]))]
    return _counted(re["lookup"].to_numpy(np.int64), before, after)


def _counted(
    by: np.ndarray, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The spans with both ends known and the end later: all interval_union counts, in
    the same order."""
    keep = (first != _NAT) & (last != _NAT) & (last > first)
    return by[keep], first[keep], last[keep]


_NAT = np.iinfo(np.int64).min


# Map and reduce (dnspcap.findings.scan): what spans clients is kept per key with sums.


def tally(values: pd.Series, labels: Any) -> pd.DataFrame:
    """The scan side of :func:`tallied`: per distinct text of ``values`` (a missing one
    dropped, as value_counts() drops it), ``key``, how many rows (``n``) and the label
    of its first row (``row``), in ``row`` order. ``labels``: the rows' labels."""
    cat = as_categorical(values)
    codes = np.asarray(cat.codes, np.int64)
    labels = np.asarray(labels, np.int64)
    ok = codes >= 0
    uniq, first = np.unique(codes[ok], return_index=True)
    n = np.bincount(codes[ok], minlength=len(cat.categories))[uniq]
    texts = np.asarray(cat.categories.astype(str), object)[uniq]
    order = np.argsort(first, kind="stable")
    return pd.DataFrame(
        {"key": texts[order], "n": n[order].astype(np.int64), "row": labels[ok][first[order]]}
    )


def tallied(table: pd.DataFrame) -> pd.Series:
    """``values.astype(str).value_counts()`` of the rows of all parts, from their
    :func:`tally` tables: counts added, ties in the order of first appearance."""
    if not len(table):
        return pd.Series([], dtype=np.int64)
    g = table.groupby("key", sort=False).agg(n=("n", "sum"), first=("row", "min"))
    g = g.sort_values("first", kind="stable")
    out: pd.Series = g["n"].astype(np.int64).sort_values(ascending=False, kind="stable")
    return out


def key_sums(values: pd.Series, weights: Any) -> pd.DataFrame:
    """Per distinct text of ``values`` (missing dropped): ``key`` and the sum of
    ``weights`` over its rows (``n``); keys with no row left out."""
    cat = as_categorical(values)
    codes = np.asarray(cat.codes, np.int64)
    ok = codes >= 0
    w = np.asarray(weights, np.int64)[ok]
    n = np.bincount(codes[ok], w, minlength=len(cat.categories)).astype(np.int64)
    present = np.bincount(codes[ok], minlength=len(cat.categories)) > 0
    texts = np.asarray(cat.categories.astype(str), object)
    return pd.DataFrame({"key": texts[present], "n": n[present]})


def question_sums(tx: pd.DataFrame) -> pd.DataFrame:
    """Per question (qname, qtype) of these rows: its ``attempts`` and ``responses``, and
    the first query (``first``, ns) and last attempt (``last``, ns) of its asked rows: a
    part's share of what :func:`storm_mask` decides over all clients (see
    :func:`storm_questions`). Built once per table."""

    def build() -> pd.DataFrame:
        # groupby(["qname", "qtype"], observed=True, sort=False).agg(...) of the rows, in
        # numpy: the questions in the order of their first row, their names and types
        # categoricals of the table's categories
        name, qtype = as_categorical(tx["qname"]), as_categorical(tx["qtype"])
        width = len(qtype.categories) + 1
        names, types = np.asarray(name.codes, np.int64), np.asarray(qtype.codes, np.int64)
        ok = np.flatnonzero((names >= 0) & (types >= 0))
        dense, keys = factorized(names[ok] * width + types[ok])
        n = len(keys)
        attempts = tx["attempts"].to_numpy(np.int64)[ok]
        asked = attempts > 0
        q = np.where(asked, ns(tx["query_ts"])[ok], np.iinfo(np.int64).max)
        last = np.where(asked, ns(tx["last_query_ts"])[ok], np.iinfo(np.int64).min)
        first_of, last_of = np.full(n, np.iinfo(np.int64).max), np.full(n, np.iinfo(np.int64).min)
        np.minimum.at(first_of, dense, q)
        np.maximum.at(last_of, dense, last)
        keys = np.asarray(keys, np.int64)
        return pd.DataFrame(
            {
                "qname": pd.Categorical.from_codes(keys // width, dtype=name.dtype),
                "qtype": pd.Categorical.from_codes(keys % width, dtype=qtype.dtype),
                "attempts": _sums(dense, attempts, n),
                "responses": _sums(dense, tx["responses"].to_numpy(np.int64)[ok], n),
                "first": first_of,
                "last": last_of,
            }
        )

    table: pd.DataFrame = cached(tx, "question_sums", build)
    return table


def _sums(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per group, the sum of its values (int64, exact)."""
    out = np.zeros(n, np.int64)
    np.add.at(out, groups, values)
    return out


def storm_questions(table: pd.DataFrame, min_queries: float = STORM.default) -> pd.DataFrame:
    """The storms among the questions of all parts' :func:`question_sums` tables (asked
    at least min_queries times in all, never answered), with their sums, in the order
    ``groupby(["qname", "qtype"], sort=True)`` gives."""
    if not len(table):
        return pd.DataFrame(columns=["qname", "qtype", "attempts", "first", "last"])
    totals = table.groupby(["qname", "qtype"], observed=True, sort=True).agg(
        attempts=("attempts", "sum"), responses=("responses", "sum"),
        first=("first", "min"), last=("last", "max"),
    )  # fmt: skip
    storms = totals[(totals["attempts"] >= min_queries) & (totals["responses"] == 0)]
    return storms.drop(columns="responses").reset_index()


def quiet_rows(tx: pd.DataFrame, questions: pd.DataFrame) -> np.ndarray:
    """The positions of the asked rows of tx whose question is one of these (rows of
    tx's :func:`question_sums`), matched by category codes, not by text."""
    qname, qtype = as_categorical(tx["qname"]), as_categorical(tx["qtype"])
    asked = tx["attempts"].to_numpy() > 0
    if not len(questions) or not asked.any():
        return np.zeros(0, np.int64)
    width = len(qtype.categories) + 1
    keys = np.asarray(questions["qname"].array.codes, np.int64) * width + np.asarray(
        questions["qtype"].array.codes, np.int64
    )
    rows = np.flatnonzero(asked)
    mine = np.asarray(qname.codes, np.int64)[rows] * width + np.asarray(qtype.codes, np.int64)[rows]
    return rows[np.isin(mine, keys)]
