"""DNS006 unreachable-upstream: a server address that never answers while others do.

**What it detects.** A DNS server address that received queries and sent no answer
in the whole capture, while other servers answered.

**Why it matters.** Every resolver that tries it first waits a full timeout before
the next nameserver (glibc: 5 s, then the next; musl asks all at once). Seed 004: a
retired nameserver left in the node's resolv.conf, which CoreDNS's ``forward``
then kept probing.

**Wire pattern.** Queries to one address, no responses from it.

**Known false positives.** A capture that only sees one direction of that server's
traffic. ICMP port-unreachable answers (a Service without endpoints) are not read
yet: they show here as no answer.

**Fix.** Remove the dead address from the node's ``/etc/resolv.conf`` (kubelet
``--resolv-conf``) or CoreDNS's ``forward``; check the Service has endpoints
(``kubectl get endpoints -n kube-system kube-dns``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..findings import Finding, Option, detector
from ._util import evidence, lookups_of

MIN = Option("unreachable_min_queries", 3, "three unanswered tries rule out one lost packet")


@detector("DNS006", "upstream.unreachable", "error", [MIN])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """Servers with queries and no answer at all, when some other server answered."""
    asked = tx[tx["attempts"] > 0]
    answers = tx.groupby("server", observed=True)["responses"].sum()
    if not (answers > 0).any():
        return []  # nothing answered at all: a capture problem or a down node, not one server
    out: list[Finding] = []
    for server, g in asked.groupby("server", observed=True, sort=True):
        if answers.get(server, 0) > 0 or g["attempts"].sum() < opts["unreachable_min_queries"]:
            continue
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
                **evidence(g),
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


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
