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
from ._util import evidence, lookups_of, rows

MIN = Option("server_errors_min", 1, "every SERVFAIL is a failed lookup step")


@detector("DNS009", "server.errors", "warning", [MIN])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """One finding per server that answered SERVFAIL or REFUSED."""
    answered = rows(tx, (tx["responses"] > 0).to_numpy(), ["server", "rcode", "qname"])
    bad = answered[answered["rcode"].isin(["SERVFAIL", "REFUSED"])]
    out: list[Finding] = []
    for server, g in bad.groupby("server", observed=True, sort=True):
        if len(g) < opts["server_errors_min"]:
            continue
        total = int((answered["server"] == server).sum())
        rcodes = g["rcode"].astype(str).value_counts().to_dict()
        names = g["qname"].astype(str).value_counts().head(10).to_dict()
        out.append(
            Finding(
                code="DNS009",
                name="server.errors",
                severity="warning",
                confidence="high",
                summary=(
                    f"{server} answered {len(g)} of {total} queries with "
                    + ", ".join(f"{n} {r}" for r, n in rcodes.items())
                    + f" ({len(names)} name{'' if len(names) == 1 else 's'}, "
                    f"e.g. {next(iter(names))})"
                ),
                **evidence(g, tx),
                occurrences=len(g),
                seen=total,
                lookups_affected=lookups_of(lookups, set(g.index.tolist())),
                seconds_lost=0.0,
                remediation=(
                    "Check the DNS server's logs for these names (CoreDNS `errors` plugin) and "
                    "the health of its upstreams (`forward`)."
                ),
                details={"rcodes": rcodes, "names": names},
            )
        )
    return out
