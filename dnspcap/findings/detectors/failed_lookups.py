"""DNS011 lookup.failed: lookups that failed, where no specific signature says why.

**What it detects.** Every lookup that failed (it timed out, or got SERVFAIL, REFUSED or
an ICMP error) and that no other finding at error level or above concerns. It runs
after the other detectors, so that the verdict is never OK while a lookup in the
capture failed: where no known signature explains a failure, this finding shows it,
with the names, clients, servers and durations, and its evidence messages.

**Why it matters.** A failed lookup is an application error (``EAI_AGAIN``, ``no such
host``, ``i/o timeout``) whatever the cause.

**Wire pattern.** Any lookup whose outcome is ``timed_out`` or ``failed``.

**Known false positives.** None by construction; a less severe finding that concerns
the same lookups (a DNS004 warning of retries, say) is named beside it.

**Fix.** Read the evidence: timeouts point at the server or the path to it (the DNS
pods, NetworkPolicy egress to UDP and TCP port 53, ``conntrack -S`` on the node);
SERVFAIL at the server's upstream; REFUSED at its configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..finding import Finding
from ..registry import catch_all
from ._util import also_in, evidence, plural, rows_of_lookups, texts_in, top, unexplained


@catch_all("DNS011", "lookup.failed", "error")
def run(
    tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float], found: Sequence[Finding]
) -> list[Finding]:
    """One finding for the failed lookups no error-level finding explains."""
    if lookups.empty:
        return []
    failed = texts_in(lookups["outcome"], ("timed_out", "failed"))
    hit = unexplained(lookups, failed, found, "error")
    if not len(hit):
        return []
    return [unexplained_finding(tx, lookups, hit, found, "DNS011", "lookup.failed", "error")]


def unexplained_finding(
    tx: pd.DataFrame,
    lookups: pd.DataFrame,
    hit: np.ndarray,
    found: Sequence[Finding],
    code: str,
    name: str,
    severity: str,
    what: str = "failed",
) -> Finding:
    """A finding that names these lookups: the failed (DNS011) or slow (DNS012) ones."""
    lk = lookups.iloc[hit]
    rows = rows_of_lookups(lookups, hit)
    involved = tx.loc[tx.index.intersection(pd.Index(rows))]
    outcomes = lk["outcome"].astype(str).value_counts()
    names = lk["name"].astype(str).value_counts()
    clients = lk["client"].astype(str).value_counts()
    servers = involved["server"].astype(str).value_counts()
    durations = lk["duration"].to_numpy(float)
    others = [c for c in also_in(found, hit) if c != code]
    got = involved.loc[involved["responses"].to_numpy() > 0, "rcode"].astype(str)
    rcodes = got[got != "NOERROR"].value_counts()
    why = f"outcomes {top(outcomes)}" + (f", answers {top(rcodes)}" if len(rcodes) else "")
    summary = (
        f"{plural(len(hit), 'lookup')} {what} with no known signature found: "
        f"{top(names)}; from {top(clients)}; servers {top(servers)}; {why}; "
        f"took {np.median(durations):.1f} s (median), {durations.max():.1f} s at most"
        + (f" (see also {', '.join(others)})" if others else "")
    )
    silent = set(outcomes.index) == {"timed_out"} and not (involved["attempts"] > 1).any()
    if silent and not (involved["responses"] > 0).any():
        # no answer seen, and no resolver asked again: a capture of one direction looks so
        summary += "; no answer was seen and nobody asked again: does the capture see replies?"
    return Finding(
        code=code,
        name=name,
        severity=severity,
        confidence="high",
        summary=summary,
        **evidence(involved, tx),
        occurrences=len(hit),
        seen=len(lookups),
        lookups=tuple(hit.tolist()),
        seconds_lost=round(float(durations.sum()), 6),
        remediation=(
            "Read the evidence messages: timeouts point at the server or the path to it (the "
            "DNS pods, NetworkPolicy egress to UDP and TCP 53, `conntrack -S` on the node); "
            "SERVFAIL at the server's upstream; slow answers at its load or its upstream."
        ),
        details={
            "outcomes": outcomes.to_dict(),
            "names": names.head(20).to_dict(),
            "clients": clients.head(20).to_dict(),
            "servers": servers.head(20).to_dict(),
            "also_in": others,
        },
    )
