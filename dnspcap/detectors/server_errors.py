"""DNS009 server-errors: SERVFAIL and REFUSED answers, by server and name.

**What it detects.** Answers with rcode SERVFAIL (the server could not resolve:
upstream down, DNSSEC failure, a loop detected) or REFUSED (policy, a server that
is not a resolver for this client).

**Why it matters.** The lookup fails at once or, with several nameservers, the
resolver moves to the next and the lookup slows down.

**Wire pattern.** ``R rcode=SERVFAIL`` / ``R rcode=REFUSED``.

**Known false positives.** A zone that is really broken upstream is reported as the
server's error: the names tell which.

**Fix.** Look at the DNS server's logs for those names (CoreDNS ``errors``
plugin); check its upstreams (``forward``) and its ACLs.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..findings import Finding, Option, detector
from ._groups import by_key, evidence_of, lookups_of, value_counts_of
from ._util import rows

MIN = Option("server_errors_min", 1, "every SERVFAIL is a failed lookup step")


@detector("DNS009", "server.errors", "warning", [MIN])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """One finding per server that answered SERVFAIL or REFUSED."""
    answered = rows(tx, (tx["responses"] > 0).to_numpy(), ["server", "rcode", "qname"])
    bad = answered[answered["rcode"].isin(["SERVFAIL", "REFUSED"])]
    if bad.empty:
        return []
    groups, servers = by_key(tx, bad, "server")
    keep = groups.sizes >= opts["server_errors_min"]
    groups, servers = groups.take(keep), servers[keep]
    totals = answered.groupby("server", observed=True).size().reindex(servers).to_numpy()
    rcodes = value_counts_of(tx["rcode"], groups)
    names = value_counts_of(tx["qname"], groups, head=10)
    evidence = evidence_of(tx, groups)
    affected = lookups_of(lookups, tx, groups)
    out: list[Finding] = []
    for k, (server, n, total) in enumerate(zip(servers, groups.sizes.tolist(), totals.tolist(),
                                               strict=True)):  # fmt: skip
        out.append(
            Finding(
                code="DNS009",
                name="server.errors",
                severity="warning",
                confidence="high",
                summary=(
                    f"{server} answered {n} of {total} queries with "
                    + ", ".join(f"{c} {r}" for r, c in rcodes[k].items())
                    + f" ({len(names[k])} name{'' if len(names[k]) == 1 else 's'}, "
                    f"e.g. {next(iter(names[k]))})"
                ),
                **evidence[k],
                occurrences=n,
                seen=int(total),
                lookups_affected=len(affected[k]),
                seconds_lost=0.0,
                remediation=(
                    "Check the DNS server's logs for these names (CoreDNS `errors` plugin) and "
                    "the health of its upstreams (`forward`)."
                ),
                details={"rcodes": rcodes[k], "names": names[k]},
            )
        )
    return out
