"""DNS006 upstream-unreachable: a DNS server that does not answer.

**What it detects.** Three signatures, each one finding:

- *refused*: queries answered by an ICMP destination-unreachable error quoting them
  (kube-proxy rejects traffic to a Service without endpoints with port unreachable;
  a DNS pod that is gone answers so too);
- *dead nameserver*: a server that answered nothing in the whole capture while others
  answered, with conclusive evidence even in a one-lookup capture: a client asked it,
  got nothing, and after a timeout asked the next nameserver (glibc and Go fail over in
  turn: the failover delay is reported per lookup); or the same question went to another
  server at once and was answered there (musl asks every nameserver at once); or its
  queries timed out (resent, or the capture went on a timeout past them), at least
  ``unreachable_min_queries`` of them;
- *outage*: nothing answered at all, and the queries' own retries (or the capture going
  on past their timeout) prove they timed out: every lookup failed.

**Why it matters.** Every resolver that tries a dead server first waits a full timeout
before the next nameserver (glibc: 5 s, or ``timeout``; Go: 5 s per try; musl asks all
at once and does not wait, but keeps asking). The Tencent Cloud TKE team's article "DNS 解析异常":
a retired nameserver left in the node's resolv.conf, which pods inherit with
``dnsPolicy: Default`` and CoreDNS's ``forward`` keeps probing.

**Wire pattern.** Queries to one address, no responses from it; then the same question
to the next address after 2-5 s (new port, same IDs for glibc; new ports and IDs for
Go), or at once (musl).

**Known false positives.** A capture that only sees one direction of that server's
traffic.

**Fix.** Remove the dead address from the node's ``/etc/resolv.conf`` (kubelet
``--resolv-conf``) or CoreDNS's ``forward``; check the Service has endpoints
(``kubectl get endpoints -n kube-system kube-dns``) and that the DNS pods are Ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...grouping.reasked import RETRY_MIN_GAP_S
from ..finding import Finding
from ..registry import Option, detector
from ._util import (
    evidence,
    lookup_of,
    lookups_of,
    ns,
    plural,
    retry_table,
    rows,
    storm_mask,
    top,
)

MIN = Option("unreachable_min_queries", 3, "three unanswered tries rule out one lost packet")
# the columns of the asked rows this detector reads
COLUMNS = ["server", "client", "attempts", "responses", "icmp", "status", "qname", "qtype",
           "query_ts"]  # fmt: skip


@detector("DNS006", "upstream.unreachable", "error", [MIN])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """Servers refusing with ICMP; servers that never answer (dead nameservers); and the
    outage when nothing answers at all."""
    asked = rows(tx, (tx["attempts"] > 0).to_numpy(), COLUMNS)
    out: list[Finding] = []
    hit = refused_rows(asked)
    if not hit.empty:
        out.append(
            refused_finding(
                hit["server"].astype(str),
                hit["icmp"].astype(str),
                rows_by_server(asked),
                evidence(hit, tx),
                lookups_of(lookups, hit.index),
            )
        )
    refused = set(hit["server"].astype(str))
    # a question in a forwarding loop's storm goes unanswered because of the loop (DNS007)
    asked = asked[~storm_mask(tx)[tx.index.get_indexer(asked.index)]]
    # answers from each server, those to no query seen included: a server that answered
    # anything in the capture is alive
    answers = answers_by_server(tx)
    server = asked["server"].astype(str)
    silent = [s for s in server.unique() if answers.get(s, 0) == 0 and s not in refused]
    if not silent:
        return out
    f = silent_facts(tx, lookups, asked, silent, any(v > 0 for v in answers.values()))
    dead = dead_servers(f, opts)
    if dead:
        g, moves = f.of(dead)
        rows_ = np.unique(np.concatenate([g.index.to_numpy(), moves["after"].to_numpy()]))
        out.append(dead_finding(f, dead, evidence(pd.DataFrame(index=rows_), tx)))
    return out


def answers_by_server(tx: pd.DataFrame) -> dict[str, int]:
    """The responses from each server (to queries seen or not)."""
    got = tx["responses"].groupby(tx["server"].astype(str)).sum()
    return {str(k): int(v) for k, v in got.items()}


def rows_by_server(asked: pd.DataFrame) -> dict[str, int]:
    """How many of the asked rows each server was asked."""
    counts = asked["server"].astype(str).value_counts(sort=False)
    return {str(k): int(v) for k, v in counts.items()}


@dataclass
class Silent:
    """What shows that servers did not answer, for the servers that answered nothing.

    ``asked``: their queries (a forwarding loop's excluded), in the order of the
    transactions table, with ``server``, ``client``, ``attempts``, ``lookup`` (the lookup
    concerned, -1 for none) and ``parallel`` (how many answers another server gave the
    same question in the same lookup at about once); ``timed_out``: per server, its
    queries the clients asked again (resent, from a new socket or of another server:
    a capture that misses one direction of the traffic shows unanswered queries too,
    but no retries); ``moves``: the retries that went to another server after one of
    them (``server``, ``lookup``, ``gap_s``, ``to_server``, ``after``), in the order of
    the retries; ``lookups``: per lookup concerned, its ``outcome``, ``duration``,
    ``name`` and ``client``; ``anything``: some server answered something.
    """

    asked: pd.DataFrame
    timed_out: dict[str, int]
    moves: pd.DataFrame
    lookups: pd.DataFrame
    anything: bool

    def servers(self) -> list[str]:
        """The silent servers in the order their first query came."""
        return [str(s) for s in self.asked["server"].astype(str).unique()]

    def of(self, dead: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The queries of these servers, and the failovers from them (server by server in
        the order their first query came)."""
        g = self.asked[self.asked["server"].astype(str).isin(dead).to_numpy()]
        moves = [self.moves[(self.moves["server"].astype(str) == s).to_numpy()]
                 for s in self.servers() if s in dead]  # fmt: skip
        return g, pd.concat(moves) if moves else self.moves.iloc[:0]

    def conclusive(self, s: str, opts: Mapping[str, float]) -> bool:
        mine = self.asked[(self.asked["server"].astype(str) == s).to_numpy()]
        timed_out = self.timed_out.get(s, 0)
        if not self.anything:  # an outage: its queries must be shown to time out
            return timed_out > 0
        failovers = bool(((self.moves["server"].astype(str) == s).to_numpy()).any())
        queries = int(mine["attempts"].sum())  # packets sent, with the resends
        enough = queries >= opts["unreachable_min_queries"]
        return failovers or int(mine["parallel"].sum()) > 0 or timed_out > 0 or enough


def silent_facts(
    tx: pd.DataFrame, lookups: pd.DataFrame, asked: pd.DataFrame, silent: list[str], anything: bool
) -> Silent:
    """The Silent facts of these servers (``asked``: the queries, a loop's left out)."""
    mine = asked[asked["server"].astype(str).isin(silent).to_numpy()]
    owner = lookup_of(mine, lookups)
    g = pd.DataFrame(
        {"server": mine["server"].astype(str).to_numpy(), "client": mine["client"].astype(str),
         "attempts": mine["attempts"].to_numpy(np.int64), "lookup": owner,
         "parallel": _answered_elsewhere(mine, asked, lookups),
         "qname": mine["qname"].astype(str).to_numpy(), "qtype": mine["qtype"].astype(str)},
        index=mine.index,
    )  # fmt: skip
    r = retry_table(tx, lookups)
    r = r[(r["gap_s"].to_numpy() >= RETRY_MIN_GAP_S) & r["server"].astype(str).isin(silent)]
    timed_out = r.groupby(r["server"].astype(str))["before"].nunique()
    moves = r[(r["kind"] == "failover").to_numpy()]
    moves = pd.DataFrame(
        {"server": moves["server"].astype(str).to_numpy(), "lookup": moves["lookup"].to_numpy(),
         "gap_s": moves["gap_s"].to_numpy(), "to_server": moves["to_server"].astype(str),
         "after": moves["after"].to_numpy()}
    )  # fmt: skip
    concerned = np.unique(np.concatenate([owner, moves["lookup"].to_numpy(np.int64)]))
    concerned = concerned[concerned >= 0]
    info = lookups.iloc[concerned]
    lk = pd.DataFrame(
        {"outcome": info["outcome"].astype(str).to_numpy(),
         "duration": info["duration"].to_numpy(float),
         "name": info["name"].astype(str).to_numpy(),
         "client": info["client"].astype(str).to_numpy()},
        index=pd.Index(concerned, name="lookup"),
    )  # fmt: skip
    return Silent(g, {str(k): int(v) for k, v in timed_out.items()}, moves, lk, anything)


def dead_servers(f: Silent, opts: Mapping[str, float]) -> list[str]:
    """The silent servers the evidence shows dead, the most queried first."""
    dead = [s for s in f.servers() if f.conclusive(s, opts)]
    sent = {s: int(f.asked.loc[(f.asked["server"] == s).to_numpy(), "attempts"].sum())
            for s in dead}  # fmt: skip
    return sorted(dead, key=lambda s: -sent[s])


def _answered_elsewhere(
    mine: pd.DataFrame, asked: pd.DataFrame, lookups: pd.DataFrame
) -> np.ndarray:
    """Per query of mine (unanswered), how many answers another server gave the same
    question in the same lookup, asked at about the same time: one question asked of
    several nameservers at once (musl), not a failover after a timeout."""
    out = np.zeros(len(mine), np.int64)
    if lookups.empty or mine.empty:
        return out
    key = pd.DataFrame(
        {"lookup": lookup_of(asked, lookups), "qname": asked["qname"].astype(str).to_numpy(),
         "qtype": asked["qtype"].astype(str).to_numpy(), "at": ns(asked["query_ts"]),
         "ok": asked["responses"].to_numpy() > 0},
        index=asked.index,
    )  # fmt: skip
    key = key[key["lookup"] >= 0]
    same = ["lookup", "qname", "qtype"]
    left = key[key.index.isin(mine.index)].assign(row=lambda k: k.index)
    both = left.merge(key[key["ok"]], on=same, suffixes=("", "_ok"))
    at_once = (both["at"] - both["at_ok"]).abs() < RETRY_MIN_GAP_S * 1e9
    counts = both.loc[at_once.to_numpy(), "row"].value_counts()
    out[mine.index.get_indexer(counts.index)] = counts.to_numpy()
    return out


def dead_finding(f: Silent, names: list[str], shown: dict[str, Any]) -> Finding:
    """The DNS006 finding for the dead servers (or the outage, when nothing answered);
    ``shown``: the evidence of their queries and of the failovers from them."""
    g, moves = f.of(names)
    queries = len(g)
    sent = int(g["attempts"].sum())
    timed_out = sum(f.timed_out.get(s, 0) for s in names)
    concerned = np.concatenate([g["lookup"].to_numpy(np.int64), moves["lookup"].to_numpy(np.int64)])
    hit = tuple(sorted({int(x) for x in concerned if x >= 0}))
    info = f.lookups.loc[list(hit)] if hit else f.lookups.iloc[:0]
    outcome = info["outcome"].to_numpy(object).astype(str)
    failed = int(np.isin(outcome, ("timed_out", "failed")).sum())
    who = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    clients = g["client"].nunique()
    if not f.anything:
        summary = (
            f"nothing answered: {who} answered none of {plural(queries, 'query', 'queries')} "
            f"from {plural(clients, 'client')} ({sent} sent, with the resends); the clients "
            f"asked {timed_out} of them again after their timeout: {failed} of "
            f"{plural(len(hit), 'lookup')} failed"
        )
        lost = float(info["duration"].to_numpy(float).sum()) if hit else 0.0
    else:
        summary = f"{who} never answered: {plural(queries, 'query', 'queries')} from " + (
            f"{plural(clients, 'client')} went unanswered while other servers answered"
        )
        if len(moves):
            per_lookup = moves.groupby("lookup")["gap_s"].max()
            to = moves["to_server"].astype(str).value_counts().index[0]
            summary += (
                f"; {plural(len(per_lookup), 'lookup')} waited {np.median(per_lookup):.1f} s "
                f"for it before failing over to {to}"
            )
        parallel = int(g["parallel"].sum())
        if parallel:
            summary += (
                f"; {parallel} of its questions went to another server at the same time, "
                "which answered (as musl asks every nameserver: nobody waited for it)"
            )
        lost = float(moves.groupby("lookup")["gap_s"].max().sum()) if len(moves) else 0.0
    delays = _delays(f.lookups, moves)
    # the evidence shows the failovers too; the servers it names are the silent ones
    shown = shown | {"servers": tuple(sorted(names))}
    anything = f.anything
    return Finding(
        code="DNS006",
        name="upstream.unreachable",
        severity="error",
        confidence="high" if queries >= 3 or len(moves) else "medium",
        summary=summary,
        **shown,
        occurrences=queries,
        seen=queries,
        lookups=hit,
        seconds_lost=round(lost, 6),
        remediation=(
            f"Remove {names[0]} from the node's /etc/resolv.conf (kubelet --resolv-conf) or "
            "from CoreDNS's forward list; if it is the DNS Service, check it has endpoints "
            "(`kubectl get endpoints -n kube-system kube-dns`) and that the DNS pods are Ready."
            if anything
            else f"Nothing answered: check that {names[0]} is reachable from the pods (a "
            "NetworkPolicy, the node's firewall or conntrack table), that the DNS Service "
            "has endpoints and that the DNS pods are Ready."
        ),
        details={
            "signature": "dead nameserver" if anything else "outage",
            "servers": {s: _sent(g, s) for s in names},
            "timed_out": timed_out,
            "failover_delay_s": round(float(np.median(list(delays.values()))), 3)
            if delays
            else 0.0,
            "failover_delay_per_lookup_s": delays,
        },
    )


def _sent(g: pd.DataFrame, s: str) -> int:
    """The packets sent to server s (resends included)."""
    return int(g.loc[(g["server"] == s).to_numpy(), "attempts"].sum())


def _delays(lookups: pd.DataFrame, moves: pd.DataFrame) -> dict[str, float]:
    """How long each lookup (its name and client; ``lookups``: indexed by lookup) waited
    before it failed over."""
    if moves.empty:
        return {}
    wait = moves.groupby("lookup")["gap_s"].max()
    at = lookups.loc[wait.index]
    who = at["name"].astype(str).to_numpy() + " from " + at["client"].astype(str).to_numpy()
    out: dict[str, float] = {}
    for k, v in zip(who.tolist(), wait.to_numpy().tolist(), strict=True):
        out[k if k not in out else f"{k} #{len(out) + 1}"] = round(float(v), 3)
    return out


def refused_rows(asked: pd.DataFrame) -> pd.DataFrame:
    """The queries that drew ICMP destination-unreachable errors."""
    # by category, not by row: a million rows of text cost more than the check
    icmp = asked["icmp"].astype("category")
    cats = [str(c) for c in icmp.cat.categories]
    refused = np.array([c != "" and not c.startswith("response bounced") for c in cats] + [False])
    return asked[refused[icmp.cat.codes.to_numpy()]]  # code -1 (missing) reads the last: False


def refused_finding(
    server: pd.Series,
    icmp: pd.Series,
    asked: dict[str, int],
    shown: dict[str, Any],
    lookups: tuple[int, ...],
) -> Finding:
    """One finding for the queries that drew ICMP errors (their ``server`` and ``icmp``
    text, in the order of the transactions table), of the ``asked`` queries of each
    server."""
    servers = server.value_counts()
    reasons = icmp.value_counts()
    total = int(sum(asked.get(str(s), 0) for s in servers.index))
    where = servers.index[0] if len(servers) == 1 else top(servers)
    return Finding(
        code="DNS006",
        name="upstream.unreachable",
        severity="error",
        confidence="high",
        summary=(
            f"{len(server)} of {total} queries to {where} drew ICMP {reasons.index[0]}: "
            "nothing listens on port 53 there (a Service without endpoints, or the "
            "DNS pod gone); glibc fails at once, musl waits out its timeout"
        ),
        **shown,
        occurrences=len(server),
        seen=total,
        lookups=lookups,
        seconds_lost=0.0,
        remediation=(
            f"Check that {servers.index[0]} has endpoints (`kubectl get endpoints -n "
            "kube-system kube-dns`) and that the DNS pods are Ready; remove a dead address "
            "from resolv.conf or CoreDNS's forward list."
        ),
        details={"signature": "refused", "icmp": reasons.to_dict(), "servers": servers.to_dict()},
    )
