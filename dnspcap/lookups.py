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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# A step of a lookup follows the previous one at once (the next search suffix is asked
# as soon as NXDOMAIN arrives); retries come after the resolver's timeout (5 s glibc,
# 2.5 s musl), the last one up to timeout × attempts after the first query (glibc caps
# the timeout at 30 s). A transaction this long after its lookup's last one starts anew.
LOOKUP_GAP_S = 11.0
# Two questions this close, the first NXDOMAIN, are taken as consecutive search steps.
SEARCH_STEP_GAP_S = 1.0


@dataclass(slots=True)
class _Lookup:
    client: str
    base: str
    step: int
    start: int  # ns
    last: int  # ns
    ports: list[int] = field(default_factory=list)
    txns: list[int] = field(default_factory=list)
    answered_at_step: set[str] = field(default_factory=set)


def infer_search_list(transactions: pd.DataFrame) -> dict[str, list[str]]:
    """Per client, the search suffixes its NXDOMAIN chains show, in the order tried."""
    t = _queries(transactions)
    pairs: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for client, g in t.groupby("client", observed=True, sort=False):
        names = g["qname"].tolist()
        rcodes = g["rcode"].tolist()
        times = g["q_ns"].tolist()
        prev_name, prev_rcode, prev_t = None, None, 0
        for name, rcode, ts in zip(names, rcodes, times, strict=True):
            if name == prev_name:
                continue
            if prev_name and prev_rcode == "NXDOMAIN" and ts - prev_t <= SEARCH_STEP_GAP_S * 1e9:
                split = _split(prev_name, name)
                if split is not None:
                    pairs[str(client)][split] += 1
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


def _queries(transactions: pd.DataFrame) -> pd.DataFrame:
    t = transactions[transactions["attempts"] > 0]
    q_ns = t["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
    t = t.assign(q_ns=q_ns, txn=np.flatnonzero(transactions["attempts"].to_numpy() > 0))
    return t.sort_values(["client", "q_ns"], kind="stable")


def _base_and_step(name: str, search: list[str]) -> tuple[str, int]:
    for i, s in enumerate(search):
        if name.endswith("." + s) and len(name) > len(s) + 1:
            return name[: -len(s) - 1], i
    return name, len(search)


def lookups(
    transactions: pd.DataFrame, *, search: dict[str, list[str]] | None = None
) -> pd.DataFrame:
    """Group the transactions table (from :func:`dnspcap.pair`) into lookups.

    ``search``: the search list per client; inferred from the capture when omitted.
    """
    search = infer_search_list(transactions) if search is None else search
    t = _queries(transactions)
    done: list[_Lookup] = []
    for client, g in t.groupby("client", observed=True, sort=False):
        suffixes = search.get(str(client), [])
        open_: dict[str, _Lookup] = {}
        for txn, name, qtype, port, ts, status, rcode, tc in zip(
            g["txn"].tolist(), g["qname"].tolist(), g["qtype"].tolist(),
            g["client_port"].tolist(), g["q_ns"].tolist(), g["status"].tolist(),
            g["rcode"].tolist(), g["tc"].tolist(), strict=True,
        ):  # fmt: skip
            base, step = _base_and_step(str(name), suffixes)
            cur = open_.get(base)
            joins = (
                cur is not None
                and ts - cur.last <= LOOKUP_GAP_S * 1e9
                and step >= cur.step
                and (step > cur.step or qtype not in cur.answered_at_step or port in cur.ports[-1:])
            )
            if not joins:
                if cur is not None:
                    done.append(cur)
                cur = open_[base] = _Lookup(str(client), base, step, ts, ts)
            assert cur is not None
            if step > cur.step:
                cur.step, cur.answered_at_step = step, set()
            cur.last = ts
            cur.txns.append(txn)
            if not cur.ports or cur.ports[-1] != port:
                cur.ports.append(port)
            if status == "answered" and rcode != "NXDOMAIN" and not tc:
                # a truncated answer is not an answer: the resolver asks again over TCP
                cur.answered_at_step.add(str(qtype))
        done.extend(open_.values())
    return _table(transactions, done)


def _table(tx: pd.DataFrame, groups: list[_Lookup]) -> pd.DataFrame:
    rows = []
    q_ts = tx["query_ts"]
    r_ts = tx["response_ts"]
    for g in sorted(groups, key=lambda g: g.start):
        part = tx.iloc[g.txns]
        final = part[part["qname"].astype(str) == part["qname"].astype(str).iloc[-1]]
        answered = final[(final["status"] == "answered") & ~final["tc"]]
        rcodes = set(answered["rcode"].astype(str))
        if (answered["ancount"].fillna(0) > 0).any():
            outcome = "answered"
        elif "NXDOMAIN" in rcodes:
            outcome = "nxdomain"
        elif rcodes == {"NOERROR"}:
            outcome = "no_data"
        elif (final["status"] == "pending").all():
            outcome = "pending"
        elif answered.empty and (final["status"] == "unanswered").any():
            outcome = "timed_out"
        else:
            outcome = "failed"
        end = pd.concat([r_ts.iloc[g.txns], q_ts.iloc[g.txns]]).max()
        steps = part["qname"].astype(str).unique().tolist()
        wasted = int((part["qname"].astype(str) != steps[-1]).sum())
        retries = part["attempts"].to_numpy() - 1
        lost = float(sum(sum(gaps) for gaps in part["retry_gaps"] if len(gaps)))
        rows.append(
            {
                "client": g.client,
                "name": g.base,
                "final_name": steps[-1],
                "outcome": outcome,
                "start": q_ts.iloc[g.txns[0]],
                "duration": (end - q_ts.iloc[g.txns[0]]).total_seconds(),
                "queries": int(part["attempts"].sum()),
                "transactions": len(g.txns),
                "search_queries": wasted,
                "retransmissions": int(retries.sum()),
                "time_lost_to_retries": lost,
                "sockets": len(set(g.ports)),
                **_fingerprint(part),
                "transactions_index": list(g.txns),
            }
        )
    return pd.DataFrame(rows)


# Resolver fingerprints (REFERENCE.md §2, measured): glibc sends A and AAAA from one
# socket ~60 µs apart with independent random IDs and retries after 5 s; musl does the
# same but derives IDs from the clock, so a pair is 0x140-0x187 apart (or equal), and
# retries after 2.5 s; Go opens a new socket with a new ID for each question.
PAIR_WINDOW_NS = 5_000_000
MUSL_ID_GAP = 0x400
GLIBC_RETRY_S = (4.5, 5.5)
MUSL_RETRY_S = (2.2, 2.8)


def _fingerprint(part: pd.DataFrame) -> dict[str, str]:
    votes: Counter[str] = Counter()
    evidence: list[str] = []
    q = part[part["qtype"].astype(str).isin(["A", "AAAA"])]
    q_ns = q["query_ts"].to_numpy("datetime64[ns]").view(np.int64)
    ports = q["client_port"].to_numpy()
    ids = q["id"].to_numpy().astype(np.int64)
    types = q["qtype"].astype(str).to_numpy()
    names = q["qname"].astype(str).to_numpy()
    for i in range(len(q)):
        for j in range(i + 1, len(q)):
            if (
                types[i] == types[j]
                or names[i] != names[j]
                or abs(q_ns[j] - q_ns[i]) > PAIR_WINDOW_NS
            ):
                continue
            if ports[i] == ports[j]:
                gap = min((ids[i] - ids[j]) % 65536, (ids[j] - ids[i]) % 65536)
                if gap == 0:
                    votes["musl"] += 2
                    evidence.append(f"A and AAAA with one ID {ids[i]:#06x} on one socket")
                elif gap <= MUSL_ID_GAP:
                    votes["musl"] += 1
                    evidence.append(f"A/AAAA IDs {gap:#x} apart (clock-derived)")
                else:
                    votes["glibc"] += 1
                    evidence.append("A and AAAA from one socket, independent IDs")
            else:
                votes["go"] += 1
                evidence.append("A and AAAA at once from two sockets")
    for gaps in part["retry_gaps"]:
        for gap in list(gaps)[:1]:
            if GLIBC_RETRY_S[0] <= gap <= GLIBC_RETRY_S[1]:
                votes["glibc"] += 1
                evidence.append(f"retry after {gap:.2f} s")
            elif MUSL_RETRY_S[0] <= gap <= MUSL_RETRY_S[1]:
                votes["musl"] += 1
                evidence.append(f"retry after {gap:.2f} s")
    if not votes:
        return {"resolver": "unknown", "resolver_evidence": ""}
    (best, n), *rest = votes.most_common()
    resolver = best if not rest or rest[0][1] < n else "unknown"
    return {"resolver": resolver, "resolver_evidence": "; ".join(dict.fromkeys(evidence))}
