"""Stage 3, grouping: group transactions into the lookups resolvers made (`lookups`).

A lookup is one name resolution a client asked its resolver library for
(`getaddrinfo("api.example.com")`): the A/AAAA pair sent from one socket, the
retries of it (same socket after a timeout, a new socket with glibc's
single-request-reopen, the next nameserver, the Go resolver's new socket per
try), and the whole search-list chain that ndots:5 makes of it
(`api.example.com.<ns>.svc.cluster.local` → `…svc.cluster.local` →
`…cluster.local` → `api.example.com`). docs/wire-patterns.md has the measured
behaviour this follows.

The search list is not known from the capture; it is inferred from what the
capture shows: two consecutive questions of one client where the first got
NXDOMAIN and the second is the same leading labels with another (or no)
suffix reveal two search suffixes in order.

Which lookup a query joins is decided in one pass over the queries of each client in
time order (the rules are in :func:`group`). The pass is C (``group_lookups`` in
``dnspcap/csrc/grouping/lookups.c``) over integer codes that this module prepares: a name is
replaced by its *readings*, the (base name, search step) pairs it can be. The readings
and the search-list splits are worked out for all distinct names at once
(:mod:`dnspcap.grouping.names`), the table of lookups with array operations
(:mod:`dnspcap.grouping.table`).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..arrays import memory
from ..arrays.categorical import as_categorical, coded, take
from ..arrays.keys import factorized, first_codes
from ..native import check_constants, group_lookups, group_order
from .names import readings, split_pairs, text_array
from .names import take as take_text
from .table import NEW_ROUND_S, lookup_columns, lookup_table

# A step of a lookup follows the previous one at once (the next search suffix is asked
# as soon as NXDOMAIN arrives); retries come after the resolver's timeout (5 s glibc,
# 2.5 s musl), the last one up to timeout × attempts after the first query (glibc caps
# the timeout at 30 s). A transaction this long after its lookup's last one starts anew.
LOOKUP_GAP_S = 11.0
# Two questions this close, the first NXDOMAIN, are taken as consecutive search steps.
SEARCH_STEP_GAP_S = 1.0
# ... unless that pair of suffixes is seen less than this many times more rarely than the
# client's most common pair.
RARE_PAIR = 10
# flags of a query for group_lookups: answered (not truncated), and with records; sent
# over TCP; answered truncated
Q_REPLIED, Q_FOUND, Q_TCP, Q_TC = 1, 2, 4, 8
check_constants(__name__, globals(), ("Q_REPLIED", "Q_FOUND", "Q_TCP", "Q_TC"))


class Queries(NamedTuple):
    """The transactions that have a query, by client then time, as arrays.

    A million queries make each int64 array 8 MB: positions and codes are int32 (the
    kernels of dnspcap/csrc/grouping/lookups.c take them so), only times are int64."""

    row: np.ndarray  # the transaction's index label (int32 positions, or the labels)
    at: np.ndarray  # ... and its position (int32)
    ts: np.ndarray  # first attempt, ns
    client: np.ndarray  # codes into clients (sorted, so runs of one client)
    clients: list[str]
    name: np.ndarray  # codes into names
    names: list[str]
    name_text: pa.LargeStringArray  # names, for the array operations of dnspcap.grouping.names
    qtype: np.ndarray  # codes into qtypes
    qtypes: list[str]
    port: np.ndarray  # uint16
    nxdomain: np.ndarray  # its response said NXDOMAIN
    replied: np.ndarray  # answered, not truncated (a truncated answer is asked again)
    found: np.ndarray  # ... and with records, not NXDOMAIN: the search ends there
    tcp: np.ndarray  # sent over TCP
    tc: np.ndarray  # answered truncated
    records: np.ndarray  # its response had records (ancount > 0)
    noerror: np.ndarray  # ... said NOERROR
    pending: np.ndarray  # status: the capture ended before a response or a timeout
    unanswered: np.ndarray  # status: no response came


def queries(transactions: pd.DataFrame) -> Queries:
    """The queries of a transactions table, for the grouping pass."""
    has_q = transactions["attempts"].to_numpy() > 0
    if "copy_of" in transactions.columns:  # a query seen several times (DNAT, vantages): once
        has_q &= transactions["copy_of"].to_numpy() < 0
    if len(has_q) > np.iinfo(np.int32).max:
        raise ValueError(f"lookups: {len(has_q)} transactions, more than 2^31 - 1")
    rows = np.flatnonzero(has_q).astype(np.int32)
    ts = transactions["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
    client, clients = coded(transactions["client"], rows, np.int32)
    by_client = _by_client(client, len(clients), take(ts, rows))
    order, client = take(rows, by_client), take(client, by_client)
    del rows, by_client
    name, names = coded(transactions["qname"], order, np.int32)
    qtype, qtypes = coded(transactions["qtype"], order, np.int32)
    status = _Texts(transactions["status"], order)
    rcode = _Texts(transactions["rcode"], order)
    tc = take(transactions["tc"].to_numpy(bool), order)
    answered = status.equal("answered")
    nx = rcode.equal("NXDOMAIN")
    replied = answered & ~tc
    ancount = transactions["ancount"].array
    records = take(np.asarray(ancount.to_numpy(np.uint16, na_value=0)), order) > 0
    index = transactions.index
    # index labels (pair() numbers rows 0..n-1, labels that are the positions; a filtered
    # table keeps its labels)
    plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    return Queries(
        order if plain else index.to_numpy()[order], order, take(ts, order), client, clients,
        name, names, text_array(names), qtype, qtypes,
        take(transactions["client_port"].to_numpy(np.uint16), order),
        nx, replied, replied & ~nx & records, _Texts(transactions["transport"], order).equal("tcp"),
        answered & tc, records, rcode.equal("NOERROR"), status.equal("pending"),
        status.equal("unanswered"),
    )  # fmt: skip


class _Texts:
    """A text column's category codes at some rows, gathered once for several texts."""

    def __init__(self, col: pd.Series, rows: np.ndarray) -> None:
        self.cat = as_categorical(col)
        self.codes = take(np.asarray(self.cat.codes), rows, -1)

    def equal(self, text: str) -> np.ndarray:
        """Whether each row is `text` (a missing value is not)."""
        hits = [i for i, c in enumerate(self.cat.categories) if str(c) == text]
        return self.codes == hits[0] if len(hits) == 1 else np.isin(self.codes, hits)


def _by_client(client: np.ndarray, n_clients: int, ts: np.ndarray) -> np.ndarray:
    """The positions by client, then time (ties in position order). pair() numbers the
    transactions in time order, so mostly that is a counting sort by client (group_order);
    else a sort on both (codes as narrow as they fit sort faster)."""
    if np.all(ts[1:] >= ts[:-1]):
        return group_order(client, n_clients)
    return np.lexsort((ts, client.astype(np.min_scalar_type(n_clients))))


def infer_search_list(transactions: pd.DataFrame) -> dict[str, list[str]]:
    """Per client, the search suffixes its NXDOMAIN chains show, in the order tried."""
    return _search_lists(queries(transactions))


def _search_lists(q: Queries) -> dict[str, list[str]]:
    # A run of one name is its first query; two consecutive runs of a client, the first
    # NXDOMAIN and the second soon after, may be two steps of one search.
    first = np.ones(len(q.ts), np.bool_)
    first[1:] = (q.client[1:] != q.client[:-1]) | (q.name[1:] != q.name[:-1])
    at = np.flatnonzero(first)
    c, nm, ts, nx = q.client[at], q.name[at], q.ts[at], q.nxdomain[at]
    step = (
        (c[1:] == c[:-1]) & nx[:-1] & (nm[:-1] != 0) & (ts[1:] - ts[:-1] <= SEARCH_STEP_GAP_S * 1e9)
    )
    k = np.flatnonzero(step)
    # the suffixes each distinct pair of names shows, if any
    n_names = max(len(q.names), 1)
    name_pair, distinct_pairs = factorized(nm[k].astype(np.int64) * n_names + nm[k + 1])
    split_of, splits = split_pairs(q.name_text, distinct_pairs // n_names, distinct_pairs % n_names)
    split_of = split_of[name_pair]
    kept = split_of >= 0
    # the count of each (client, pair of suffixes), in the order they first appear
    n_splits = max(len(splits), 1)
    client_split, seen = factorized(c[k][kept].astype(np.int64) * n_splits + split_of[kept])
    counts = np.bincount(client_split, minlength=len(seen))
    client, split = np.divmod(np.asarray(seen, np.int64), n_splits)
    # two lookups interleaving by chance also look like a step: a pair seen far less often
    # than the client's usual ones is taken for that
    top = np.zeros(len(q.clients), np.int64)
    np.maximum.at(top, client, counts)
    usual = np.flatnonzero(counts >= top[client] / RARE_PAIR)
    # per client (in the order they first appear), its pairs from most to least common,
    # ties in the order they first appear
    client_rank = first_codes(client)[0]
    usual = usual[np.lexsort((usual, -counts[usual], client_rank[usual]))]
    bounds = np.flatnonzero(np.diff(client_rank[usual], prepend=-1, append=-1)).tolist()
    ids, who = split[usual].tolist(), client[usual].tolist()
    orders: dict[tuple[int, ...], list[str]] = {}  # clients mostly show the same pairs
    out: dict[str, list[str]] = {}
    for lo, hi in itertools.pairwise(bounds):
        key = tuple(ids[lo:hi])
        if key not in orders:
            orders[key] = _suffix_order([splits[x] for x in key])
        out[q.clients[who[lo]]] = list(orders[key])
    return out


def _suffix_order(pairs: list[tuple[str, str]]) -> list[str]:
    """The search list the pairs of suffixes of one client show (most common first)."""
    order: list[str] = []
    for a, b in pairs:
        for s in (a, b):
            if s and s not in order:
                order.append(s)
    # a suffix seen before another in any chain comes first
    follows = set(pairs)
    order.sort(key=lambda s: -sum(1 for a, b in follows if a == s and b in order))
    return order


def _readings(name: str, search: list[str]) -> list[tuple[str, int]]:
    """The (base name, search step) a query name can be: the base with the step's suffix,
    for each suffix it ends with, and last the name itself, asked as it is after the
    suffixes. Under ndots:5 `svc-1.ns-1.svc.cluster.local` is the name as it is, step 1 of
    `svc-1.ns-1` and, with search `ns-1.svc.cluster.local`, step 0 of `svc-1`: which one,
    only the open lookups can tell."""
    out = [
        (name[: -len(s) - 1], i)
        for i, s in enumerate(search)
        if name.endswith("." + s) and len(name) > len(s) + 1
    ]
    return [*out, (name, len(search))]


def lookups(
    transactions: pd.DataFrame, *, search: dict[str, list[str]] | None = None
) -> pd.DataFrame:
    """Group the transactions table (from :func:`dnspcap.pair`) into lookups.

    ``search``: the search list per client; inferred from the capture when omitted.
    """
    q = queries(transactions)
    search = _search_lists(q) if search is None else search
    grouping = group(q, search)
    columns = lookup_columns(transactions, q, grouping)
    # the per-query arrays go before the text columns are made; those come from arrow's
    # allocator, which does not reuse the C heap's free pages: hand them back first
    del q, grouping
    memory.give_back()  # (dnspcap/arrays/memory.py)
    out = lookup_table(columns)
    del columns
    memory.give_back()
    return out


class Grouping(NamedTuple):
    """What the grouping pass tells of each query and lookup."""

    lookup_of: np.ndarray  # per query, its lookup (numbered in the order they start)
    bases: pa.LargeStringArray  # per lookup, its base name
    sockets: np.ndarray  # per lookup, how many ports its queries came from
    # per query, its lookup numbered in the order the pass made them: the order of their
    # first query in q, so a pass over q meets them nearly in turn (dnspcap.grouping.table)
    made: np.ndarray
    by_start: np.ndarray  # per lookup (in the order they start), its number in made


def group(q: Queries, search: dict[str, list[str]]) -> Grouping:
    """The lookup of each query (numbered in the order they start, ties in the order the
    pass made them), and each lookup's base name and socket count.

    One pass over each client's queries in time order. A query joins an open lookup of
    one of its readings (base name, step): first one on its socket at that step or an
    earlier one (its pair partner, or a retry on the same socket), else the latest one
    still waiting for this type at this step, or at an earlier step without records yet
    (a retry from a new socket, the next search step). A lookup that got an answer for
    this type at its step, NXDOMAIN included, is not waiting for it: a resolver does not
    ask again what it was told; nor does it search further once it found records. Each
    reading is tried in turn, the socket rule first for all of them. Failing that, the
    query starts a lookup of its first reading. A lookup idle for LOOKUP_GAP_S is closed.
    """
    # The readings of each distinct (search list, name); clients mostly share a list.
    lists: dict[tuple[str, ...], int] = {}
    list_of_client = np.array(
        [lists.setdefault(tuple(search.get(c, ())), len(lists)) for c in q.clients], np.int64
    )
    n_names = max(len(q.names), 1)
    key = list_of_client[q.client]  # (search list, name) as one int64, built in place
    key *= n_names
    key += q.name
    rset, key = _dense(key, len(lists) * n_names)
    r = readings(q.name_text, list(lists), key // n_names, key % n_names)
    flags = np.zeros(len(q.ts), np.uint8)  # bytes throughout: no int64 temporaries
    for bit, is_set in ((Q_REPLIED, q.replied), (Q_FOUND, q.found), (Q_TCP, q.tcp), (Q_TC, q.tc)):
        flags |= np.multiply(is_set, bit, dtype=np.uint8)
    made, first, sockets = group_lookups(  # int32 but for ts
        q.client, rset, q.qtype, q.port, q.ts, flags, r.start, r.length, r.base, r.step,
        len(r.bases), int(LOOKUP_GAP_S * 1e9), int(NEW_ROUND_S * 1e9),
    )  # fmt: skip
    key_of_first = rset[first]
    del rset, flags
    # number the lookups by start (their first query), ties in the order they were made
    n_lk = len(first)
    rank = np.empty(n_lk, np.int32)
    by_start = np.argsort(q.ts[first], kind="stable").astype(np.int32)
    rank[by_start] = np.arange(n_lk, dtype=np.int32)
    first_base, ranked_sockets = np.empty(n_lk, np.int64), np.empty(n_lk, np.int64)
    first_base[rank] = r.base[r.start[key_of_first]]
    ranked_sockets[rank] = sockets
    return Grouping(rank[made], take_text(r.bases, first_base), ranked_sockets, made, by_start)


def _dense(key: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0.. (int32) for the distinct values of key (each in [0, span)), and those
    values.

    A table of the whole span when it is not much bigger than key (a few passes over
    memory), else a hash table."""
    if span > 4 * len(key) + 1024:
        return factorized(key)
    present = np.zeros(span, np.bool_)
    present[key] = True
    code_of = np.cumsum(present, dtype=np.int64) - 1
    return code_of.astype(np.int32)[key], np.flatnonzero(present)


def transaction_rows(lookups: pd.DataFrame) -> np.ndarray:
    """The transaction rows (index labels) of every lookup, one lookup after another: the
    ``transactions_index`` lists flattened."""
    col = lookups["transactions_index"]
    if isinstance(col.dtype, pd.ArrowDtype):
        arr = pa.chunked_array(col.array._pa_array)  # type: ignore[attr-defined]
        return np.asarray(pc.list_flatten(arr).to_numpy(zero_copy_only=False), np.int64)
    return np.fromiter(itertools.chain.from_iterable(col), np.int64)


def lookup_of_rows(lookups: pd.DataFrame) -> np.ndarray:
    """Indexed by transaction row label: the position of the lookup it belongs to, or -1
    (labels past the last one in any lookup are not in the array)."""
    rows = transaction_rows(lookups)
    out = np.full(int(rows.max(initial=-1)) + 1, -1, np.int64)
    out[rows] = np.repeat(np.arange(len(lookups)), lookups["transactions"].to_numpy(np.int64))
    return out


def lookups_at(owner: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The lookup (position, or -1) of each transaction row label, through owner (from
    lookup_of_rows)."""
    labels = np.asarray(labels, np.int64)
    out = np.full(len(labels), -1, np.int64)
    inside = labels < len(owner)
    out[inside] = owner[labels[inside]]
    return out
