"""Stage 2b: group transactions into the lookups resolvers made (`lookups`).

A lookup is one name resolution a client asked its resolver library for
(`getaddrinfo("api.example.com")`): the A/AAAA pair sent from one socket, the
retries of it (same socket after a timeout, a new socket with glibc's
single-request-reopen, the next nameserver, the Go resolver's new socket per
try), and the whole search-list chain that ndots:5 makes of it
(`api.example.com.<ns>.svc.cluster.local` → `…svc.cluster.local` →
`…cluster.local` → `api.example.com`). REFERENCE.md §2 has the measured
behaviour this follows.

The search list is not known from the capture; it is inferred from what the
capture shows: two consecutive questions of one client where the first got
NXDOMAIN and the second is the same leading labels with another (or no)
suffix reveal two search suffixes in order.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .categorical import strings_of

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


class _Lookup:
    """One lookup being grouped (a plain class: hundreds of thousands are made)."""

    __slots__ = (
        "base", "client", "found", "last", "ports", "replied", "seq", "start", "step", "txns",
    )  # fmt: skip

    def __init__(self, client: str, base: str, step: int, ts: int, seq: int) -> None:
        self.client, self.base, self.step, self.seq = client, base, step, seq
        self.start = self.last = ts  # ns
        self.ports: list[int] = []
        self.txns: list[int] = []
        self.replied: set[str] = set()  # types answered at this step
        self.found = False  # records were found at this step: the search is over


def infer_search_list(transactions: pd.DataFrame) -> dict[str, list[str]]:
    """Per client, the search suffixes its NXDOMAIN chains show, in the order tried."""
    return _search_lists(_Queries(transactions))


def _search_lists(q: _Queries) -> dict[str, list[str]]:
    pairs: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    splits: dict[tuple[str, str], tuple[str, str] | None] = {}
    prev_client, prev_name, prev_rcode, prev_t = None, None, None, 0
    step_gap = SEARCH_STEP_GAP_S * 1e9
    for client, name, rcode, ts in zip(q.client, q.qname, q.rcode, q.ts, strict=True):
        if client != prev_client:
            prev_client, prev_name = client, None
        if name == prev_name:
            continue
        if prev_name and prev_rcode == "NXDOMAIN" and ts - prev_t <= step_gap:
            key = (prev_name, name)
            if key not in splits:
                splits[key] = _split(prev_name, name)
            split = splits[key]
            if split is not None:
                pairs[client][split] += 1
        prev_name, prev_rcode, prev_t = name, rcode, ts
    out: dict[str, list[str]] = {}
    for client, counter in pairs.items():
        # two lookups interleaving by chance also look like a step: a pair seen far less
        # often than the client's usual ones is taken for that
        floor = max(counter.values()) / RARE_PAIR
        counter = Counter({pair: n for pair, n in counter.items() if n >= floor})
        order: list[str] = []
        for (a, b), _ in counter.most_common():
            for s in (a, b):
                if s and s not in order:
                    order.append(s)
        # a suffix seen before another in any chain comes first
        follows = {(a, b) for a, b in counter}
        order.sort(key=lambda s: -sum(1 for a, b in follows if a == s and b in order))
        out[client] = order
    return out


def _split(first: str, second: str) -> tuple[str, str] | None:
    """The two suffixes if `first` and `second` are one base with different search suffixes."""
    a, b = first.split("."), second.split(".")
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    if k == 0 or k == len(a):
        return None
    return ".".join(a[k:]), ".".join(b[k:])


class _Queries:
    """The transactions that have a query, by client then time, as plain lists."""

    def __init__(self, transactions: pd.DataFrame) -> None:
        has_q = transactions["attempts"].to_numpy() > 0
        t = transactions[has_q]
        q_ns = t["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
        client = strings_of(t["client"])
        order = np.lexsort((q_ns, client))
        self.txn: list[int] = np.flatnonzero(has_q)[order].tolist()
        self.ts: list[int] = q_ns[order].tolist()
        self.client: list[str] = client[order].tolist()
        self.qname, self.qtype, self.rcode, self.status = (
            strings_of(t[name])[order].tolist() for name in ("qname", "qtype", "rcode", "status")
        )
        self.port: list[int] = t["client_port"].to_numpy()[order].tolist()
        self.tc: list[bool] = t["tc"].to_numpy(bool)[order].tolist()
        records = t["ancount"].fillna(0).to_numpy(np.int64)[order] > 0
        # an answer with records (not NXDOMAIN, not truncated): the search ends there
        self.found: list[bool] = (
            records
            & (np.asarray(self.status, dtype=object) == "answered")
            & (np.asarray(self.rcode, dtype=object) != "NXDOMAIN")
            & ~np.asarray(self.tc, bool)
        ).tolist()


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
    q = _Queries(transactions)
    search = _search_lists(q) if search is None else search
    done: list[_Lookup] = []
    # several lookups of one name can be open at once (threads, concurrent requests)
    open_: dict[str, list[_Lookup]] = {}
    prev_client = None
    suffixes: list[str] = []
    # the readings of a name, per search list: clients mostly share one search list
    by_search: dict[tuple[str, ...], dict[str, list[tuple[str, int]]]] = {}
    readings: dict[str, list[tuple[str, int]]] = {}
    gap = LOOKUP_GAP_S * 1e9
    made = 0
    for txn, client, name, qtype, port, ts, status, tc, found in zip(
        q.txn, q.client, q.qname, q.qtype, q.port, q.ts, q.status, q.tc, q.found, strict=True
    ):
        if client != prev_client:
            done.extend(lk for group in open_.values() for lk in group)
            open_, prev_client = {}, client
            suffixes = search.get(client, [])
            readings = by_search.setdefault(tuple(suffixes), {})
        options = readings.get(name)
        if options is None:
            options = readings[name] = _readings(name, suffixes)
        for base, _ in options:
            live = open_.get(base)
            if live:
                for old in [lk for lk in live if ts - lk.last > gap]:
                    live.remove(old)
                    done.append(old)
        cur, step = _join(open_, options, str(qtype), port)
        if cur is None:
            base, step = options[0]
            cur = _Lookup(client, base, step, ts, made)
            made += 1
            open_.setdefault(base, []).append(cur)
        if step > cur.step:
            cur.step, cur.replied, cur.found = step, set(), False
        cur.last = ts
        cur.txns.append(txn)
        if port not in cur.ports:
            cur.ports.append(port)
        if status == "answered" and not tc:
            # a truncated answer is not an answer: the resolver asks again over TCP
            cur.replied.add(str(qtype))
        cur.found = cur.found or found
    done.extend(lk for group in open_.values() for lk in group)
    return _table(transactions, done)


def _join(
    open_: dict[str, list[_Lookup]], options: list[tuple[str, int]], qtype: str, port: int
) -> tuple[_Lookup | None, int]:
    """The open lookup a query belongs to, and at which step: the one on its socket (its
    pair partner, or a retry on the same socket), else the latest one still waiting for
    this type at this or an earlier search step (a retry from a new socket, the next
    search step). A lookup that got an answer for this type at this step, NXDOMAIN
    included, is not waiting: a resolver does not ask again what it was told; nor does it
    search further once it found records. Each reading of the name is tried, the socket
    first."""
    for base, step in options:
        for lk in reversed(open_.get(base, ())):
            if port in lk.ports and step >= lk.step:
                return lk, step
    for base, step in options:
        for lk in reversed(open_.get(base, ())):
            if (step > lk.step and not lk.found) or (step == lk.step and qtype not in lk.replied):
                return lk, step
    return None, 0


def _gap_sums(gaps: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the sum of its retry gaps, and its first gap (NaN without one)."""
    arr = pa.chunked_array(gaps.array._pa_array).combine_chunks() if len(gaps) else None
    n = len(gaps)
    if arr is None or len(arr) == 0:
        return np.zeros(n), np.full(n, np.nan)
    values = pc.list_flatten(arr).to_numpy(zero_copy_only=False)
    parent = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
    sums = np.bincount(parent, weights=values, minlength=n)
    first = np.full(n, np.nan)
    starts = np.r_[True, parent[1:] != parent[:-1]] if len(parent) else parent.astype(bool)
    first[parent[starts]] = values[starts]
    return sums, first


def _table(tx: pd.DataFrame, groups: list[_Lookup]) -> pd.DataFrame:
    """One row per lookup, computed with array operations over all transactions at once."""
    groups.sort(key=lambda g: (g.start, g.seq))
    n_lk = len(groups)
    sizes = np.array([len(g.txns) for g in groups], np.int64)
    rows = np.concatenate([g.txns for g in groups]).astype(np.int64) if n_lk else np.empty(0, int)
    lk = np.repeat(np.arange(n_lk), sizes)
    # only the columns used here: taking the frame lists of a million rows costs seconds
    cols = ["qname", "qtype", "query_ts", "response_ts", "attempts", "status", "rcode", "tc",
            "ancount", "retry_gaps", "client_port", "id"]  # fmt: skip
    t = tx[cols].iloc[rows].reset_index(drop=True)
    t["lookup"] = lk
    q_ns = t["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
    r_ns = t["response_ts"].to_numpy("datetime64[ns]").view(np.int64)
    nat = np.iinfo(np.int64).min
    t["q_ns"], t["r_ns"] = q_ns, r_ns
    t["end_ns"] = np.maximum(q_ns, np.where(r_ns == nat, q_ns, r_ns))
    # already in (lookup, query time) order: lookups by start, each one's transactions in
    # the order the grouping pass met them, which is query time
    qname = strings_of(t["qname"])
    last = np.r_[np.flatnonzero(np.diff(t["lookup"].to_numpy())), len(t) - 1] if len(t) else lk
    final = qname[last]
    is_final = qname == final[t["lookup"].to_numpy()]
    attempts = t["attempts"].to_numpy(np.int64)
    status = strings_of(t["status"])
    rcode = strings_of(t["rcode"])
    tc = t["tc"].to_numpy(bool)
    ancount = t["ancount"].fillna(0).to_numpy(np.int64)
    gaps, first_gap = _gap_sums(t["retry_gaps"])
    t["first_gap"] = first_gap
    t["last_ns"] = q_ns + (gaps * 1e9).round().astype(np.int64)  # the last attempt
    answered = is_final & (status == "answered") & ~tc
    by = t["lookup"].to_numpy()

    # rows are sorted by lookup and every lookup has one: reduce each run of rows
    starts = np.flatnonzero(np.r_[True, by[1:] != by[:-1]]) if len(by) else by

    def per(values: np.ndarray, how: str = "sum") -> np.ndarray:
        if not len(by):
            return np.zeros(0)
        v = np.asarray(values)
        if v.dtype == bool:
            v = v.astype(np.int64)
        ufunc = {"sum": np.add, "max": np.maximum, "min": np.minimum}[how]
        return np.asarray(ufunc.reduceat(v, starts))

    any_records = per(answered & (ancount > 0), "max").astype(bool)
    any_nx = per(answered & (rcode == "NXDOMAIN"), "max").astype(bool)
    any_answered = per(answered, "max").astype(bool)
    all_noerror = per(~answered | (rcode == "NOERROR"), "min").astype(bool)
    all_pending = per(~is_final | (status == "pending"), "min").astype(bool)
    any_unanswered = per(is_final & (status == "unanswered"), "max").astype(bool)
    outcome = np.select(
        [
            any_records,
            any_nx,
            any_answered & all_noerror,
            all_pending,
            ~any_answered & any_unanswered,
        ],
        ["answered", "nxdomain", "no_data", "pending", "timed_out"],
        default="failed",
    )
    start = per(t["q_ns"].to_numpy(), "min")
    final_start = per(np.where(is_final, t["q_ns"].to_numpy(), np.iinfo(np.int64).max), "min")
    end = per(t["end_ns"].to_numpy(), "max")
    ports = t["client_port"].to_numpy(np.int64)
    pairs = np.unique(by * 65536 + ports) if len(by) else by
    sockets = np.bincount(pairs // 65536, minlength=n_lk)
    fp = _fingerprints(t, n_lk)
    return pd.DataFrame(
        {
            "client": pd.Categorical([g.client for g in groups]),
            "name": [g.base for g in groups],
            "final_name": final if n_lk else [],
            "outcome": pd.Categorical(outcome, categories=OUTCOMES),
            "start": pd.DatetimeIndex(start.astype("datetime64[ns]")).tz_localize("UTC"),
            "duration": (end - start) / 1e9,
            "search_time": (final_start - start) / 1e9,
            "queries": per(attempts).astype(np.int64),
            "transactions": sizes,
            "search_queries": per(np.where(is_final, 0, attempts)).astype(np.int64),
            "retransmissions": per(np.maximum(attempts - 1, 0)).astype(np.int64),
            "time_lost_to_retries": per(gaps).astype(float),
            "sockets": sockets.astype(np.int64),
            "resolver": pd.Categorical(fp["resolver"], categories=RESOLVERS),
            "resolver_evidence": fp["evidence"],
            "transactions_index": [g.txns for g in groups],
        }
    )


OUTCOMES = ["answered", "nxdomain", "no_data", "timed_out", "failed", "pending"]
RESOLVERS = ["glibc", "musl", "go", "unknown"]

# Resolver fingerprints (REFERENCE.md §2, measured): glibc sends A and AAAA from one
# socket ~60 µs apart with independent random IDs and retries after 5 s; musl does the
# same but derives IDs from the clock, so a pair is 0x140-0x187 apart (or equal), and
# retries after 2.5 s; Go opens a new socket with a new ID for each question.
PAIR_WINDOW_NS = 5_000_000
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
    "retry_5s": ("glibc", 1, "retry after 5 s"),
    "retry_2_5s": ("musl", 1, "retry after 2.5 s"),
}


def _fingerprints(t: pd.DataFrame, n_lk: int) -> dict[str, list[str]]:
    """Resolver per lookup from its A/AAAA pairs and retry gaps, with the evidence."""
    signs: list[pd.DataFrame] = []
    qt = t["qtype"].astype(str)
    cols = ["lookup", "qname", "client_port", "id", "q_ns"]
    a = t.loc[qt == "A", cols]
    b = t.loc[qt == "AAAA", cols]
    pairs = a.merge(b, on=["lookup", "qname"], suffixes=("_a", "_b"))
    pairs = pairs[(pairs["q_ns_a"] - pairs["q_ns_b"]).abs() <= PAIR_WINDOW_NS]
    if len(pairs):
        same_port = pairs["client_port_a"].to_numpy() == pairs["client_port_b"].to_numpy()
        d = (pairs["id_a"].to_numpy(np.int64) - pairs["id_b"].to_numpy(np.int64)) % 65536
        gap = np.minimum(d, 65536 - d)
        kind = np.select(
            [~same_port, gap == 0, gap <= MUSL_ID_GAP],
            ["two_sockets", "same_id", "near_id"],
            default="random_id",
        )
        signs.append(pd.DataFrame({"lookup": pairs["lookup"].to_numpy(), "sign": kind}))
    # A and AAAA whose last attempts went out in turn on one socket: the second asked only
    # once the first was answered (glibc after a timeout switches itself to this)
    cols = ["lookup", "qname", "client_port", "last_ns", "r_ns"]
    last = t.loc[qt == "A", cols].merge(
        t.loc[qt == "AAAA", cols], on=["lookup", "qname", "client_port"], suffixes=("_a", "_b")
    )
    nat = np.iinfo(np.int64).min
    la, lb = last["last_ns_a"].to_numpy(), last["last_ns_b"].to_numpy()
    ra, rb = last["r_ns_a"].to_numpy(), last["r_ns_b"].to_numpy()
    in_turn = (np.abs(la - lb) <= PAIR_WINDOW_NS) & (
        ((ra != nat) & (lb > ra)) | ((rb != nat) & (la > rb))
    )
    signs.append(pd.DataFrame({"lookup": last["lookup"].to_numpy()[in_turn], "sign": "sequential"}))
    retry = pd.DataFrame({"lookup": t["lookup"].to_numpy(), "gap": t["first_gap"].to_numpy()})
    retry = retry.dropna()
    retry["sign"] = np.select(
        [retry["gap"].between(*GLIBC_RETRY_S), retry["gap"].between(*MUSL_RETRY_S)],
        ["retry_5s", "retry_2_5s"],
        default="",
    )
    signs.append(retry.loc[retry["sign"] != "", ["lookup", "sign"]])
    resolver = ["unknown"] * n_lk
    evidence = [""] * n_lk
    allsigns = pd.concat(signs, ignore_index=True)
    if allsigns.empty:
        return {"resolver": resolver, "evidence": evidence}
    allsigns["who"] = allsigns["sign"].map(lambda s: _SIGNS[s][0])
    allsigns["w"] = allsigns["sign"].map(lambda s: _SIGNS[s][1])
    votes = allsigns.groupby(["lookup", "who"])["w"].sum().unstack(fill_value=0)
    top = votes.max(axis=1)
    winners = votes.eq(top, axis=0).sum(axis=1)
    best = votes.idxmax(axis=1)
    # the evidence: which of the few signs each lookup showed, as a bit set, then text
    names = list(_SIGNS)
    bit = allsigns["sign"].map({k: 1 << i for i, k in enumerate(names)}).to_numpy(np.int64)
    masks = np.zeros(n_lk, np.int64)
    np.bitwise_or.at(masks, allsigns["lookup"].to_numpy(np.int64), bit)
    texts = {
        m: "; ".join(_SIGNS[k][2] for i, k in enumerate(names) if m >> i & 1)
        for m in np.unique(masks).tolist()
    }
    evidence = [texts[m] for m in masks.tolist()]
    for lookup, who, n_best in zip(
        best.index.tolist(), best.tolist(), winners.tolist(), strict=True
    ):
        resolver[lookup] = str(who) if n_best == 1 else "unknown"
    return {"resolver": resolver, "evidence": evidence}
