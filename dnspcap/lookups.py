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


class _Lookup:
    """One lookup being grouped (a plain class: hundreds of thousands are made)."""

    __slots__ = ("answered_at_step", "asked_at_step", "base", "client", "last", "ports",
                 "start", "step", "tc", "txns")  # fmt: skip

    def __init__(self, client: str, base: str, step: int, ts: int) -> None:
        self.client, self.base, self.step = client, base, step
        self.start = self.last = ts  # ns
        self.ports: list[int] = []
        self.txns: list[int] = []
        self.answered_at_step: set[str] = set()
        self.asked_at_step: set[str] = set()
        self.tc = False  # a truncated answer came: the resolver may go on over TCP

    def incomplete(self) -> bool:
        """Some type asked at the current step has no answer yet."""
        return not self.asked_at_step <= self.answered_at_step


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
        if "nat_copy" in transactions.columns:  # a query seen before and after DNAT: once
            has_q &= ~transactions["nat_copy"].to_numpy(bool)
        t = transactions[has_q]
        q_ns = t["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
        client = strings_of(t["client"])
        order = np.lexsort((q_ns, client))
        # index labels (pair() numbers rows 0..n-1; a filtered table keeps its labels)
        self.txn: list[int] = transactions.index.to_numpy()[has_q][order].tolist()
        self.ts: list[int] = q_ns[order].tolist()
        self.client: list[str] = client[order].tolist()
        self.qname, self.qtype, self.rcode, self.status = (
            strings_of(t[name])[order].tolist() for name in ("qname", "qtype", "rcode", "status")
        )
        self.port: list[int] = t["client_port"].to_numpy()[order].tolist()
        self.tc: list[bool] = t["tc"].to_numpy(bool)[order].tolist()
        self.transport: list[str] = strings_of(t["transport"])[order].tolist()


def _bases_and_steps(name: str, search: list[str]) -> list[tuple[str, int]]:
    """Every (base, search step) the name can be: `kubernetes.default.svc.cluster.local`
    is `kubernetes` at step `default.svc.cluster.local` or `kubernetes.default` at
    step `svc.cluster.local`. The first suffix that fits comes first."""
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
    # (base, step) of a name, per search list: clients mostly share one search list
    by_search: dict[tuple[str, ...], dict[str, list[tuple[str, int]]]] = {}
    steps: dict[str, list[tuple[str, int]]] = {}
    gap = LOOKUP_GAP_S * 1e9
    for txn, client, name, qtype, port, ts, status, rcode, tc, transport in zip(
        q.txn, q.client, q.qname, q.qtype, q.port, q.ts, q.status, q.rcode, q.tc, q.transport,
        strict=True,
    ):  # fmt: skip
        if client != prev_client:
            for group in open_.values():
                done.extend(group)
            open_, prev_client = {}, client
            suffixes = search.get(client, [])
            steps = by_search.setdefault(tuple(suffixes), {})
        known = steps.get(name)
        if known is None:
            known = steps[name] = _bases_and_steps(name, suffixes)
        base, step = _pick(known, open_)
        live = open_.setdefault(base, [])
        for old in [lk for lk in live if ts - lk.last > gap]:
            live.remove(old)
            done.append(old)
        cur = _join(live, step, str(qtype), port, ts, transport == "tcp")
        if cur is None:
            cur = _Lookup(client, base, step, ts)
            live.append(cur)
        if step > cur.step:
            cur.step, cur.answered_at_step, cur.asked_at_step = step, set(), set()
        cur.last = ts
        cur.txns.append(txn)
        cur.asked_at_step.add(str(qtype))
        if port not in cur.ports:
            cur.ports.append(port)
        if status == "answered" and rcode != "NXDOMAIN" and not tc:
            # a truncated answer is not an answer: the resolver asks again over TCP
            cur.answered_at_step.add(str(qtype))
        cur.tc |= bool(tc)
    for group in open_.values():
        done.extend(group)
    return _table(transactions, done)


def _pick(candidates: list[tuple[str, int]], open_: dict[str, list[_Lookup]]) -> tuple[str, int]:
    """The reading of a name that continues an open lookup at a later search step, if one
    does (`kubernetes.default` asked at its first step, then at its second); else the
    first reading."""
    if len(candidates) > 1:
        for base, step in candidates:  # the next step of a lookup
            if any(lk.step < step for lk in open_.get(base, ())):
                return base, step
        for base, step in candidates:  # another query of its current step
            if any(lk.step == step for lk in open_.get(base, ())):
                return base, step
    return candidates[0]


# glibc's next round after a timeout (new sockets, the next nameserver) comes a whole
# timeout after the last query; no resolver waits less than this
NEW_ROUND_S = 0.9


def _join(
    live: list[_Lookup], step: int, qtype: str, port: int, ts: int, tcp: bool
) -> _Lookup | None:
    """The open lookup a query belongs to:
    - the one on its socket (its pair partner, or a retry on the same socket);
    - over TCP, the one whose answer came truncated (glibc asks both types again there);
    - the latest one still waiting for this type at this or an earlier search step (a
      retry from a new socket, the next search step);
    - one still waiting for another type, a whole timeout later: glibc asks both types
      again from new sockets when one of them timed out."""
    for lk in reversed(live):
        if port in lk.ports and step >= lk.step:
            return lk
    if tcp:
        for lk in reversed(live):
            if lk.tc and step == lk.step:
                return lk
    for lk in reversed(live):
        if step > lk.step or (step == lk.step and qtype not in lk.answered_at_step):
            return lk
    for lk in reversed(live):
        if step == lk.step and lk.incomplete() and ts - lk.last >= NEW_ROUND_S * 1e9:
            return lk
    return None


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


def _retry_spans(t: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: from the first attempt of its question in its lookup to the last attempt.

    A question asked again, on the same socket or from a new one (glibc's next round,
    the next nameserver), waited from its first attempt to its last.
    """
    key = [t["lookup"], t["qname"].astype(str), t["qtype"].astype(str)]
    first = t["q_ns"].groupby(key, observed=True, sort=False).transform("min").to_numpy()
    last = t["last_ns"].groupby(key, observed=True, sort=False).transform("max").to_numpy()
    # musl asks every nameserver at once: copies microseconds apart are not a wait
    last = np.where(last - first >= NEW_ROUND_S * 1e9, last, first)
    return first, last


def _waiting(by: np.ndarray, first: np.ndarray, last: np.ndarray, n_lk: int) -> np.ndarray:
    """Per lookup, seconds of wall-clock time spent between a query's first and last attempt.

    The union of those intervals: an A and an AAAA resent side by side after the same
    timeout cost the user one wait, not two.
    """
    if not len(by):
        return np.zeros(n_lk)
    order = np.lexsort((first, by))
    by, first, last = by[order], first[order], last[order]
    # the latest end among the lookup's earlier rows (the lookup's own start for its first)
    ends = pd.Series(last).groupby(by).cummax().to_numpy()
    before = np.r_[np.iinfo(np.int64).min, ends[:-1]]
    new = np.r_[True, by[1:] != by[:-1]]
    before = np.where(new, first, before)
    covered = np.clip(last - np.maximum(first, before), 0, None)
    return np.bincount(by, weights=covered, minlength=n_lk) / 1e9


def _table(tx: pd.DataFrame, groups: list[_Lookup]) -> pd.DataFrame:
    """One row per lookup, computed with array operations over all transactions at once."""
    groups.sort(key=lambda g: g.start)
    n_lk = len(groups)
    sizes = np.array([len(g.txns) for g in groups], np.int64)
    rows = np.concatenate([g.txns for g in groups]).astype(np.int64) if n_lk else np.empty(0, int)
    lk = np.repeat(np.arange(n_lk), sizes)
    # only the columns used here: taking the frame lists of a million rows costs seconds
    cols = ["qname", "qtype", "query_ts", "response_ts", "attempts", "status", "rcode", "tc",
            "ancount", "retry_gaps", "client_port", "id", "transport"]  # fmt: skip
    t = tx[cols].loc[rows].reset_index(drop=True)
    t["lookup"] = lk
    q_ns = t["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
    r_ns = t["response_ts"].to_numpy("datetime64[ns]").view(np.int64)
    nat = np.iinfo(np.int64).min
    t["q_ns"], t["r_ns"] = q_ns, r_ns
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
    # the last message: the response, or for an unanswered query its last attempt
    t["end_ns"] = np.maximum(t["last_ns"].to_numpy(), np.where(r_ns == nat, q_ns, r_ns))
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
    musl = np.asarray(fp["resolver"]) == "musl"
    # musl fails the whole lookup (EAI_AGAIN) when one of its questions timed out, though
    # the other was answered; glibc returns what it got
    outcome = np.where(musl & (outcome == "answered") & any_unanswered, "timed_out", outcome)
    # musl before 1.2.4 never retries over TCP: it uses the records a truncated answer has
    transport = strings_of(t["transport"])
    tc_records = per(is_final & (status == "answered") & tc & (ancount > 0), "max").astype(bool)
    over_tcp = per(transport == "tcp", "max").astype(bool)
    outcome = np.where(
        musl & tc_records & ~over_tcp & np.isin(outcome, ["no_data", "failed"]), "answered", outcome
    )
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
            "time_lost_to_retries": _waiting(by, *_retry_spans(t), n_lk),
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
    "reopen": (
        "glibc",
        1,
        "AAAA from a new socket once the A was answered (glibc single-request-reopen)",
    ),
    # glibc's use-vc, or its TCP retry after a truncated answer; musl (1.2.4+) retries
    # over TCP one question per connection
    "tcp_pipelined": ("glibc", 1, "A and AAAA pipelined on one TCP connection"),
    "retry_5s": ("glibc", 1, "retry after 5 s"),
    "retry_2_5s": ("musl", 1, "retry after 2.5 s"),
}


def _fingerprints(t: pd.DataFrame, n_lk: int) -> dict[str, list[str]]:
    """Resolver per lookup from its A/AAAA pairs and retry gaps, with the evidence."""
    signs: list[pd.DataFrame] = []
    qt = t["qtype"].astype(str)
    cols = ["lookup", "qname", "transport", "client_port", "id", "q_ns", "r_ns"]
    a = t.loc[qt == "A", cols]
    b = t.loc[qt == "AAAA", cols]
    pairs = a.merge(b, on=["lookup", "qname", "transport"], suffixes=("_a", "_b"))
    pairs = pairs[(pairs["q_ns_a"] - pairs["q_ns_b"]).abs() <= PAIR_WINDOW_NS]
    if len(pairs):
        same_port = pairs["client_port_a"].to_numpy() == pairs["client_port_b"].to_numpy()
        d = (pairs["id_a"].to_numpy(np.int64) - pairs["id_b"].to_numpy(np.int64)) % 65536
        gap = np.minimum(d, 65536 - d)
        # from two sockets: both sent before either answer (Go), or the second only once
        # the first was answered (glibc single-request-reopen)
        qa, qb = pairs["q_ns_a"].to_numpy(), pairs["q_ns_b"].to_numpy()
        ra, rb = pairs["r_ns_a"].to_numpy(), pairs["r_ns_b"].to_numpy()
        first_r, second_q = np.where(qa <= qb, ra, rb), np.maximum(qa, qb)
        after_answer = (first_r != np.iinfo(np.int64).min) & (second_q > first_r)
        tcp = pairs["transport"].astype(str).to_numpy() == "tcp"
        kind = np.select(
            [~same_port & after_answer, ~same_port, tcp, gap == 0, gap <= MUSL_ID_GAP],
            ["reopen", "two_sockets", "tcp_pipelined", "same_id", "near_id"],
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
