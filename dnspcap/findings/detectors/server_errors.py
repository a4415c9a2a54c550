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

from ..finding import Finding
from ..registry import Option, detector
from ._util import evidence, lookups_of, plural, rows, top

MIN = Option("server_errors_min", 1, "every SERVFAIL is a failed lookup step")


@detector("DNS009", "server.errors", "error", [MIN])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """One finding for the answers that were SERVFAIL or REFUSED, by server."""
    answered = rows(tx, (tx["responses"] > 0).to_numpy(), ["server", "rcode", "qname"])
    bad = answered[answered["rcode"].isin(["SERVFAIL", "REFUSED"])]
    if len(bad) < opts["server_errors_min"] or bad.empty:
        return []
    by_server = bad["server"].astype(str).value_counts()
    total = int(answered["server"].astype(str).isin(by_server.index).sum())
    rcodes = bad["rcode"].astype(str).value_counts()
    names = bad["qname"].astype(str).value_counts()
    where = (
        f"{by_server.index[0]} answered"
        if len(by_server) == 1
        else f"{plural(len(by_server), 'server')} ({top(by_server)}) answered"
    )
    return [
        Finding(
            code="DNS009",
            name="server.errors",
            severity="error",
            confidence="high",
            summary=(
                f"{where} {len(bad):,} of {total:,} queries with "
                + ", ".join(f"{n:,} {r}" for r, n in rcodes.items())
                + f" ({plural(len(names), 'name')}, e.g. {names.index[0]})"
            ),
            **evidence(bad, tx),
            occurrences=len(bad),
            seen=total,
            lookups=lookups_of(lookups, bad.index),
            seconds_lost=0.0,
            remediation=(
                "Check the DNS server's logs for these names (CoreDNS `errors` plugin) and "
                "the health of its upstreams (`forward`)."
            ),
            details={
                "rcodes": rcodes.to_dict(),
                "names": names.head(10).to_dict(),
                "servers": by_server.head(20).to_dict(),
            },
        )
    ]
