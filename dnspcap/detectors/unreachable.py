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
from ._util import evidence, lookups_of, rows

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
    if not (answers > 0).any():
        return out  # nothing answered at all: a capture problem or a down node, not one server
    icmp_servers = {s for f in out for s in f.servers}
    for server, g in asked.groupby("server", observed=True, sort=True):
        if answers.get(server, 0) > 0 or g["attempts"].sum() < opts["unreachable_min_queries"]:
            continue
        if str(server) in icmp_servers:
            continue  # already reported with the ICMP errors that explain it
        queries = int(g["attempts"].sum())
        out.append(
            Finding(
                code="DNS006",
                name="upstream.unreachable",
                severity="error",
                confidence="high" if queries >= 10 else "medium",
                summary=(
                    f"{server} never answered: {queries} queries from "
                    f"{_n(g['client'].nunique(), 'client')} went unanswered while other "
                    "servers answered"
                ),
                **evidence(g, tx),
                occurrences=queries,
                seen=queries,
                lookups_affected=lookups_of(lookups, set(g.index.tolist())),
                seconds_lost=0.0,
                remediation=(
                    f"Remove {server} from the node's /etc/resolv.conf (kubelet --resolv-conf) or "
                    "from CoreDNS's forward list; if it is the DNS Service, check it has endpoints."
                ),
                details={"queries": queries},
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
    out: list[Finding] = []
    for server, g in hit.groupby("server", observed=True, sort=True):
        reasons = g["icmp"].astype(str).value_counts()
        total = int((asked["server"] == server).sum())
        out.append(
            Finding(
                code="DNS006",
                name="upstream.unreachable",
                severity="error",
                confidence="high",
                summary=(
                    f"{len(g)} of {total} queries to {server} drew ICMP {reasons.index[0]}: "
                    "nothing listens on port 53 there (a Service without endpoints, or the "
                    "DNS pod gone); glibc fails at once, musl waits out its timeout"
                ),
                **evidence(g, tx),
                occurrences=len(g),
                seen=total,
                lookups_affected=lookups_of(lookups, set(g.index.tolist())),
                seconds_lost=0.0,
                remediation=(
                    f"Check that {server} has endpoints (`kubectl get endpoints -n kube-system "
                    "kube-dns`) and that the DNS pods are Ready; remove a dead address from "
                    "resolv.conf or CoreDNS's forward list."
                ),
                details={"icmp": reasons.to_dict()},
            )
        )
    return out


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
