"""DNS006 unreachable-upstream: a server address that never answers while others do.

**What it detects.** A DNS server address that received queries and sent no answer
in the whole capture, while other servers answered.

**Why it matters.** Every resolver that tries it first waits a full timeout before
the next nameserver (glibc: 5 s, then the next; musl asks all at once). Seed 004: a
retired nameserver left in the node's resolv.conf, which CoreDNS's ``forward``
then kept probing.

**Wire pattern.** Queries to one address, no responses from it.

Also: queries answered by an ICMP destination-unreachable error quoting them
(kube-proxy rejects traffic to a Service without endpoints with port unreachable).

**Known false positives.** A capture that only sees one direction of that server's
traffic.

**Fix.** Remove the dead address from the node's ``/etc/resolv.conf`` (kubelet
``--resolv-conf``) or CoreDNS's ``forward``; check the Service has endpoints
(``kubectl get endpoints -n kube-system kube-dns``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..findings import Finding, Option, detector
from ._groups import by_key, evidence_of, lookups_of, value_counts_of
from ._util import rows

MIN = Option("unreachable_min_queries", 3, "three unanswered tries rule out one lost packet")


@detector("DNS006", "upstream.unreachable", "error", [MIN])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """Servers answering with ICMP unreachable, and servers with queries and no answer at
    all while some other server answered."""
    asked = rows(
        tx, (tx["attempts"] > 0).to_numpy(), ["server", "client", "attempts", "icmp", "responses"]
    )
    out = _refused_by_icmp(tx, lookups, asked)
    answers = tx.groupby("server", observed=True)["responses"].sum()
    if not (answers > 0).any() or asked.empty:
        return out  # nothing answered at all: a capture problem or a down node, not one server
    icmp_servers = {s for f in out for s in f.servers}
    # totals per server first; only the silent ones are looked at closely
    per = asked.groupby("server", observed=True, sort=True)
    sent = per["attempts"].sum()
    silent = (
        (answers.reindex(sent.index, fill_value=0).to_numpy() <= 0)
        & (sent.to_numpy() >= opts["unreachable_min_queries"])
        # already reported with the ICMP errors that explain it
        & ~np.isin(sent.index.astype(str), list(icmp_servers))
    )
    if not silent.any():
        return out
    clients = per["client"].nunique()[silent].tolist()
    queries = sent[silent].tolist()
    groups, servers = by_key(tx, asked[asked["server"].isin(sent.index[silent])], "server")
    evidence = evidence_of(tx, groups)
    hits = lookups_of(lookups, tx, groups)
    lost = lookups["time_lost_to_retries"].to_numpy()
    for k, (server, hit) in enumerate(zip(servers, hits, strict=True)):
        # the clients' wait before they gave up on it or asked the next nameserver
        waits = lost[hit] if len(hit) else np.zeros(0)
        waited = waits[waits > 0]
        median = float(np.median(waited)) if len(waited) else 0.0
        delay = (
            f"; {len(waited)} lookup{'s' if len(waited) != 1 else ''} waited "
            f"{median:.1f} s for it before failing over"
            if len(waited)
            else ""
        )
        out.append(
            Finding(
                code="DNS006",
                name="upstream.unreachable",
                severity="error",
                confidence="high" if queries[k] >= 10 else "medium",
                summary=(
                    f"{server} never answered: {queries[k]} queries from "
                    f"{_n(clients[k], 'client')} went unanswered while other "
                    f"servers answered{delay}"
                ),
                **evidence[k],
                occurrences=queries[k],
                seen=queries[k],
                lookups_affected=len(hit),
                seconds_lost=round(float(waited.sum()), 6),
                remediation=(
                    f"Remove {server} from the node's /etc/resolv.conf (kubelet --resolv-conf) or "
                    "from CoreDNS's forward list; if it is the DNS Service, check it has endpoints."
                ),
                details={
                    "queries": queries[k],
                    "failover_delay_s": round(median, 3),
                },
            )
        )
    return out


def _refused_by_icmp(tx: pd.DataFrame, lookups: pd.DataFrame, asked: pd.DataFrame) -> list[Finding]:
    """One finding per server whose queries drew ICMP destination-unreachable errors."""
    # by category, not by row: a million rows of text cost more than the check
    icmp = asked["icmp"].astype("category")
    cats = [str(c) for c in icmp.cat.categories]
    refused = np.array([c != "" and not c.startswith("response bounced") for c in cats] + [False])
    hit = asked[refused[icmp.cat.codes.to_numpy()]]  # code -1 (missing) reads the last: False
    if hit.empty:
        return []
    groups, servers = by_key(tx, hit, "server")
    totals = asked.groupby("server", observed=True).size().reindex(servers).tolist()
    reasons = value_counts_of(tx["icmp"], groups)
    evidence = evidence_of(tx, groups)
    hits = lookups_of(lookups, tx, groups)
    out: list[Finding] = []
    for k, (server, n) in enumerate(zip(servers, groups.sizes.tolist(), strict=True)):
        out.append(
            Finding(
                code="DNS006",
                name="upstream.unreachable",
                severity="error",
                confidence="high",
                summary=(
                    f"{n} of {totals[k]} queries to {server} drew ICMP {next(iter(reasons[k]))}: "
                    "nothing listens on port 53 there (a Service without endpoints, or the "
                    "DNS pod gone); glibc fails at once, musl waits out its timeout"
                ),
                **evidence[k],
                occurrences=n,
                seen=totals[k],
                lookups_affected=len(hits[k]),
                seconds_lost=0.0,
                remediation=(
                    f"Check that {server} has endpoints (`kubectl get endpoints -n kube-system "
                    "kube-dns`) and that the DNS pods are Ready; remove a dead address from "
                    "resolv.conf or CoreDNS's forward list."
                ),
                details={"icmp": reasons[k]},
            )
        )
    return out


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
