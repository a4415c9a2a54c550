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
from ..scan import Scan
from ._evidence import evidence_of, evidence_tables, lookup_table, lookups_in
from ._util import key_sums, plural, tallied, tally, top

MIN = Option("server_errors_min", 1, "every SERVFAIL is a failed lookup step")


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """One finding for the answers that were SERVFAIL or REFUSED, by server."""
    bad = int(s.count("bad"))
    if bad < opts["server_errors_min"] or not bad:
        return []
    by_server = tallied(s.table("servers"))
    answered = s.table("answered")
    total = int(answered["n"].to_numpy()[answered["key"].isin(by_server.index).to_numpy()].sum())
    rcodes = tallied(s.table("rcodes"))
    names = tallied(s.table("names"))
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
                f"{where} {bad:,} of {total:,} queries with "
                + ", ".join(f"{n:,} {r}" for r, n in rcodes.items())
                + f" ({plural(len(names), 'name')}, e.g. {names.index[0]})"
            ),
            **evidence_of(s),
            occurrences=bad,
            seen=total,
            lookups=lookups_in(s),
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


@detector("DNS009", "server.errors", "error", [MIN], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The SERVFAIL and REFUSED answers, tallied by server, rcode and name, and the
    answers per server (a server's total spans clients: the judge adds them up)."""
    answered = tx.loc[(tx["responses"] > 0).to_numpy(), ["server", "rcode", "qname"]]
    bad = answered[answered["rcode"].isin(["SERVFAIL", "REFUSED"]).to_numpy()]
    answers = key_sums(answered["server"], pd.Series(1, index=answered.index))
    if bad.empty:
        return Scan(tables={"answered": answers}, counts={"bad": 0})
    labels = bad.index.to_numpy()
    return Scan(
        tables={**evidence_tables(tx, labels), "lookups": lookup_table(lookups, labels),
                "servers": tally(bad["server"], labels), "rcodes": tally(bad["rcode"], labels),
                "names": tally(bad["qname"], labels), "answered": answers},
        counts={"bad": len(bad)},
    )  # fmt: skip
