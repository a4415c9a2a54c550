"""The grouping of dnspcap.lookups written plainly in Python, as it was before the pass
moved to C (``group_lookups`` in dnspcap/csrc/grouping/lookups.c): tests check that both put every
transaction in the same lookup, and infer the same search lists."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd

from dnspcap.arrays.categorical import strings_of
from dnspcap.grouping.join import (
    LOOKUP_GAP_S,
    NEW_ROUND_S,
    RARE_PAIR,
    SEARCH_STEP_GAP_S,
    _readings,
)


class _Lookup:
    """One lookup being grouped (a plain class: hundreds of thousands are made)."""

    __slots__ = (
        "asked", "base", "client", "found", "last", "ports", "replied", "seq", "start", "step",
        "tc", "txns",
    )  # fmt: skip

    def __init__(self, client: str, base: str, step: int, ts: int, seq: int) -> None:
        self.client, self.base, self.step, self.seq = client, base, step, seq
        self.start = self.last = ts  # ns
        self.ports: list[int] = []
        self.txns: list[int] = []
        self.replied: set[str] = set()  # types answered at this step
        self.found = False  # records were found at this step: the search is over
        self.asked: set[str] = set()  # types asked at this step
        self.tc = False  # a truncated answer came: TCP may follow

    def incomplete(self) -> bool:
        return not self.asked <= self.replied


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
        if "copy_of" in transactions.columns:
            has_q &= transactions["copy_of"].to_numpy() < 0
        t = transactions[has_q]
        q_ns = t["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
        client = strings_of(t["client"])
        order = np.lexsort((q_ns, client))
        self.txn: list[int] = transactions.index.to_numpy()[has_q][order].tolist()
        self.tcp: list[bool] = (t["transport"] == "tcp").to_numpy(bool)[order].tolist()
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


def lookups(
    transactions: pd.DataFrame, *, search: dict[str, list[str]] | None = None
) -> list[tuple[str, str, list[int]]]:
    """Group the transactions table (from :func:`dnspcap.pair`) into lookups: per lookup,
    in the order of dnspcap.lookups' table, its client, name and transaction rows.

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
    for txn, client, name, qtype, port, ts, status, tc, found, tcp in zip(
        q.txn, q.client, q.qname, q.qtype, q.port, q.ts, q.status, q.tc, q.found, q.tcp,
        strict=True,
    ):  # fmt: skip
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
        cur, step = _join(open_, options, str(qtype), port, ts, tcp)
        if cur is None:
            base, step = options[0]
            cur = _Lookup(client, base, step, ts, made)
            made += 1
            open_.setdefault(base, []).append(cur)
        if step > cur.step:
            cur.step, cur.replied, cur.found, cur.asked = step, set(), False, set()
        cur.last = ts
        cur.txns.append(txn)
        if port not in cur.ports:
            cur.ports.append(port)
        if status == "answered" and not tc:
            # a truncated answer is not an answer: the resolver asks again over TCP
            cur.replied.add(str(qtype))
        cur.found = cur.found or found
        cur.asked.add(str(qtype))
        cur.tc = cur.tc or (status == "answered" and tc)
    done.extend(lk for group in open_.values() for lk in group)
    done.sort(key=lambda g: (g.start, g.seq))
    return [(g.client, g.base, g.txns) for g in done]


def _join(
    open_: dict[str, list[_Lookup]],
    options: list[tuple[str, int]],
    qtype: str,
    port: int,
    ts: int,
    tcp: bool,
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
    if tcp:  # the lookup whose answer came truncated: glibc asks both types again over TCP
        for base, step in options:
            for lk in reversed(open_.get(base, ())):
                if step == lk.step and lk.tc:
                    return lk, step
    for base, step in options:
        for lk in reversed(open_.get(base, ())):
            if (step > lk.step and not lk.found) or (step == lk.step and qtype not in lk.replied):
                return lk, step
    # a whole timeout later, one still waiting for another type: glibc's next round
    for base, step in options:
        for lk in reversed(open_.get(base, ())):
            if step == lk.step and lk.incomplete() and ts - lk.last >= NEW_ROUND_S * 1e9:
                return lk, step
    return None, 0
