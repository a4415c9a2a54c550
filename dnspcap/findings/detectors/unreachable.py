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
from typing import NamedTuple

import numpy as np
import pandas as pd

from ...pairing.windows import RETRY_MIN_GAP_S
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


@detector("DNS006", "upstream.unreachable", "error", [MIN])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """Servers refusing with ICMP; servers that never answer (dead nameservers); and the
    outage when nothing answers at all."""
    cols = ["server", "client", "attempts", "responses", "icmp", "status", "qname", "qtype",
            "query_ts"]  # fmt: skip
    asked = rows(tx, (tx["attempts"] > 0).to_numpy(), cols)
    out, refused = _refused_by_icmp(tx, lookups, asked)
    # a question in a forwarding loop's storm goes unanswered because of the loop (DNS007)
    asked = asked[~storm_mask(tx)[tx.index.get_indexer(asked.index)]]
    server = asked["server"].astype(str)
    # answers from each server, those to no query seen included: a server that answered
    # anything in the capture is alive
    answers = tx["responses"].groupby(tx["server"].astype(str)).sum()
    anything = bool((answers > 0).any())
    silent = [s for s in server.unique() if answers.get(s, 0) == 0 and s not in refused]
    if not silent:
        return out
    r = retry_table(tx, lookups)
    r = r[r["gap_s"].to_numpy() >= RETRY_MIN_GAP_S]
    evidence_of = _silences(silent, asked, server, r, lookups, opts)
    dead = {s: e for s, e in evidence_of.items() if e.conclusive(anything)}
    if dead:
        out.append(_finding(tx, lookups, asked, server, dead, _moves(r, dead), anything))
    return out


class _Silence(NamedTuple):
    """What shows that a server did not answer."""

    queries: int
    # its queries the clients themselves showed timed out: they asked again (resent,
    # asked from a new socket or of another server). A capture that misses one direction
    # of the traffic shows unanswered queries too, but no retries: the answers came.
    timed_out: int
    failovers: int  # the retries that went to another server after it
    parallel: int  # its queries whose question another server answered at about once
    enough: bool  # at least unreachable_min_queries queries

    def conclusive(self, anything_answered: bool) -> bool:
        if not anything_answered:  # an outage: its queries must be shown to time out
            return self.timed_out > 0
        return self.failovers > 0 or self.parallel > 0 or self.timed_out > 0 or self.enough


def _silences(
    silent: list[str],
    asked: pd.DataFrame,
    server: pd.Series,
    r: pd.DataFrame,
    lookups: pd.DataFrame,
    opts: Mapping[str, float],
) -> dict[str, _Silence]:
    """The evidence of silence of every silent server, in one pass over each table
    (a scan of a node's pods makes thousands of silent "servers")."""
    queries = asked["attempts"].groupby(server.to_numpy()).sum()  # sent, with the resends
    r_server = r["server"].astype(str).to_numpy()
    timed_out = r["before"].groupby(r_server).nunique()
    failovers = (r["kind"] == "failover").groupby(r_server).sum()
    parallel = _answered_elsewhere(silent, asked, server, lookups)
    least = opts["unreachable_min_queries"]
    out = {}
    for s in silent:
        q = int(queries.get(s, 0))
        out[s] = _Silence(
            q, int(timed_out.get(s, 0)), int(failovers.get(s, 0)), int(parallel.get(s, 0)),
            q >= least,
        )  # fmt: skip
    return out


def _moves(r: pd.DataFrame, dead: Mapping[str, _Silence]) -> pd.DataFrame:
    """The failovers away from the dead servers, server by server in `dead`'s order."""
    rank = {s: i for i, s in enumerate(dead)}
    at = r["server"].astype(str).map(rank).to_numpy(float)
    keep = (r["kind"] == "failover").to_numpy() & ~np.isnan(at)
    order = np.argsort(at[keep], kind="stable")
    return r[keep].iloc[order]


def _answered_elsewhere(
    silent: list[str], asked: pd.DataFrame, server: pd.Series, lookups: pd.DataFrame
) -> pd.Series:
    """Per silent server, how many of its (unanswered) queries another server answered
    in the same lookup, asked at about the same time: one question asked of several
    nameservers at once (musl), not a failover after a timeout."""
    if lookups.empty or asked.empty:
        return pd.Series(dtype=np.int64)
    key = pd.DataFrame(
        {"lookup": lookup_of(asked, lookups), "qname": asked["qname"].astype(str).to_numpy(),
         "qtype": asked["qtype"].astype(str).to_numpy(), "at": ns(asked["query_ts"]),
         "ok": asked["responses"].to_numpy() > 0, "server": server.to_numpy()},
        index=asked.index,
    )  # fmt: skip
    key = key[key["lookup"] >= 0]
    same = ["lookup", "qname", "qtype"]
    mine = key[key["server"].isin(silent).to_numpy()]
    both = mine.merge(key.loc[key["ok"], [*same, "at"]], on=same, suffixes=("", "_ok"))
    at_once = (both["at"] - both["at_ok"]).abs() < RETRY_MIN_GAP_S * 1e9
    return both.loc[at_once.to_numpy(), "server"].value_counts()


def _finding(
    tx: pd.DataFrame,
    lookups: pd.DataFrame,
    asked: pd.DataFrame,
    server: pd.Series,
    dead: dict[str, _Silence],
    moves: pd.DataFrame,
    anything: bool,
) -> Finding:
    names = sorted(dead, key=lambda s: -dead[s].queries)
    g = asked[server.isin(names).to_numpy()]
    queries = len(g)
    sent = sum(e.queries for e in dead.values())
    timed_out = sum(e.timed_out for e in dead.values())
    hit = lookups_of(lookups, np.concatenate([g.index.to_numpy(), moves["after"].to_numpy()]))
    outcome = lookups["outcome"].astype(str).to_numpy()[list(hit)]
    failed = int(np.isin(outcome, ("timed_out", "failed")).sum())
    who = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    clients = g["client"].nunique()
    if not anything:
        summary = (
            f"nothing answered: {who} answered none of {plural(queries, 'query', 'queries')} "
            f"from {plural(clients, 'client')} ({sent} sent, with the resends); the clients "
            f"asked {timed_out} of them again after their timeout: {failed} of "
            f"{plural(len(hit), 'lookup')} failed"
        )
        lost = float(lookups["duration"].to_numpy()[list(hit)].sum()) if hit else 0.0
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
        parallel = sum(e.parallel for e in dead.values())
        if parallel:
            summary += (
                f"; {parallel} of its questions went to another server at the same time, "
                "which answered (as musl asks every nameserver: nobody waited for it)"
            )
        lost = float(moves.groupby("lookup")["gap_s"].max().sum()) if len(moves) else 0.0
    rows_ = np.unique(np.concatenate([g.index.to_numpy(), moves["after"].to_numpy()]))
    delays = _delays(lookups, moves)
    # the evidence shows the failovers too; the servers it names are the silent ones
    shown = evidence(pd.DataFrame(index=rows_), tx) | {"servers": tuple(sorted(names))}
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
            "servers": {s: dead[s].queries for s in names},
            "timed_out": timed_out,
            "failover_delay_s": round(float(np.median(list(delays.values()))), 3)
            if delays
            else 0.0,
            "failover_delay_per_lookup_s": delays,
        },
    )


def _delays(lookups: pd.DataFrame, moves: pd.DataFrame) -> dict[str, float]:
    """How long each lookup (its name and client) waited before it failed over."""
    if moves.empty:
        return {}
    wait = moves.groupby("lookup")["gap_s"].max()
    at = wait.index.to_numpy()
    who = (
        lookups["name"].astype(str).to_numpy()[at]
        + " from "
        + (lookups["client"].astype(str).to_numpy()[at])
    )
    out: dict[str, float] = {}
    for k, v in zip(who.tolist(), wait.to_numpy().tolist(), strict=True):
        out[k if k not in out else f"{k} #{len(out) + 1}"] = round(float(v), 3)
    return out


def _refused_by_icmp(
    tx: pd.DataFrame, lookups: pd.DataFrame, asked: pd.DataFrame
) -> tuple[list[Finding], set[str]]:
    """One finding for the queries that drew ICMP destination-unreachable errors, and the
    servers that did."""
    # by category, not by row: a million rows of text cost more than the check
    icmp = asked["icmp"].astype("category")
    cats = [str(c) for c in icmp.cat.categories]
    refused = np.array([c != "" and not c.startswith("response bounced") for c in cats] + [False])
    hit = asked[refused[icmp.cat.codes.to_numpy()]]  # code -1 (missing) reads the last: False
    if hit.empty:
        return [], set()
    servers = hit["server"].astype(str).value_counts()
    reasons = hit["icmp"].astype(str).value_counts()
    total = int(asked["server"].astype(str).isin(servers.index).sum())
    where = servers.index[0] if len(servers) == 1 else top(servers)
    finding = Finding(
        code="DNS006",
        name="upstream.unreachable",
        severity="error",
        confidence="high",
        summary=(
            f"{len(hit)} of {total} queries to {where} drew ICMP {reasons.index[0]}: "
            "nothing listens on port 53 there (a Service without endpoints, or the "
            "DNS pod gone); glibc fails at once, musl waits out its timeout"
        ),
        **evidence(hit, tx),
        occurrences=len(hit),
        seen=total,
        lookups=lookups_of(lookups, hit.index),
        seconds_lost=0.0,
        remediation=(
            f"Check that {servers.index[0]} has endpoints (`kubectl get endpoints -n "
            "kube-system kube-dns`) and that the DNS pods are Ready; remove a dead address "
            "from resolv.conf or CoreDNS's forward list."
        ),
        details={"signature": "refused", "icmp": reasons.to_dict(), "servers": servers.to_dict()},
    )
    return [finding], set(servers.index)
