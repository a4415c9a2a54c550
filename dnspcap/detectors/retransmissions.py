"""DNS004 retransmissions: queries resent with no answer in between.

**What it detects.** The same query (same socket, ID and question) sent again
before any answer came. The gap between attempts is the resolver's timeout: ~5 s
for glibc's default, ~2.5 s for musl's (timeout/attempts), 1-3 s with
``options timeout:n``.

**Why it matters.** Each retransmission adds a whole timeout to the lookup that
waited for it; many at one server mean that server (or the path to it) drops
queries.

**Wire pattern.** ``Q id=x`` … nothing … ``Q id=x`` again from the same port,
5.0 s (glibc) or 2.5 s (musl) later. Wireshark does not mark glibc's retry: its
own retransmission timer is also 5 s.

**Known false positives.** A capture that misses replies (asymmetric routing,
a capture filter on one direction) shows every query as retransmitted.

**Fix.** Find why the first attempt went unanswered (DNS001 for the conntrack
race, DNS006 for a dead server); lower ``timeout`` only after that.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..categorical import flatten
from ..findings import Finding, Option, detector
from ._groups import by_key, evidence_of, lookups_of, split_by
from ._util import rows, typical_gaps

MIN = Option("retransmissions_min", 1, "one retried query is already a lost timeout")
MIN_GAP = Option(
    "retransmission_min_gap_s", 0.5, "no resolver times out under 1 s; faster repeats are DNS007"
)


# known resolver timeouts: (low, high) gap in s, long name, short name
_TIMEOUTS = (
    (4.5, 5.5, "glibc default timeout (5 s)", "glibc default"),
    (2.2, 2.8, "musl default (timeout 5 s / attempts 2)", "musl default"),
)


def _timeout_name(gap: float, short: bool = False) -> str:
    for lo, hi, long_name, short_name in _TIMEOUTS:
        if lo <= gap <= hi:
            return short_name if short else long_name
    return "a custom timeout" if short else f"a {gap:.1f} s timeout"


@detector("DNS004", "timeout.retransmissions", "warning", [MIN, MIN_GAP])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """One finding per server whose queries had to be resent."""
    retried = rows(tx, (tx["attempts"] > 1).to_numpy(), ["server", "status"])
    # a resend is a gap a resolver's timeout could make; faster repeats (a forwarding
    # loop's storm of one ID) are DNS007's
    min_gap = opts["retransmission_min_gap_s"]
    gaps, parent = flatten(tx["retry_gaps"], tx.index.get_indexer(retried.index))
    timed = gaps >= min_gap
    retried = retried[np.bincount(parent[timed], minlength=len(retried)) > 0]
    if retried.empty:
        return []
    groups, servers = by_key(tx, retried, "server")
    keep = groups.sizes >= opts["retransmissions_min"]
    groups, servers = groups.take(keep), servers[keep]
    gaps, parent = flatten(tx["retry_gaps"], groups.pos)
    timed = gaps >= min_gap
    gaps_of = split_by(gaps[timed], groups.of[parent[timed]], len(groups))
    asked = tx.groupby("server", observed=True).size().reindex(servers).tolist()
    status = np.asarray(tx["status"].array.take(groups.pos) == "answered")
    answered = np.bincount(groups.of[status], minlength=len(groups)).tolist()
    evidence = evidence_of(tx, groups)
    affected = lookups_of(lookups, tx, groups)
    out: list[Finding] = []
    for k, (server, n, gaps) in enumerate(zip(servers, groups.sizes.tolist(), gaps_of,
                                              strict=True)):  # fmt: skip
        lost = float(gaps.sum())
        usual = typical_gaps(gaps)
        typical = usual[0][0]
        if len(usual) == 1:
            how = f"{typical:.2f} s: {_timeout_name(typical)}"
        else:  # glibc and musl clients side by side: name both timeouts
            how = " and ".join(
                f"{g:.2f} s ({n}x, {_timeout_name(g, short=True)})" for g, n in usual[:2]
            )
        out.append(
            Finding(
                code="DNS004",
                name="timeout.retransmissions",
                severity="warning",
                confidence="high",
                summary=(
                    f"{n} of {asked[k]} queries to {server} were resent "
                    f"({len(gaps)} retransmission{'s' if len(gaps) != 1 else ''}, typically "
                    f"after {how}); "
                    f"{answered[k]} answered in the end"
                ),
                **evidence[k],
                occurrences=n,
                seen=asked[k],
                lookups_affected=len(affected[k]),
                seconds_lost=round(lost, 6),
                remediation=(
                    "Find why first attempts go unanswered (see DNS001 conntrack race and "
                    "DNS006 unreachable upstream findings); a lower `options timeout:` in the "
                    "pod's dnsConfig only shortens each wait."
                ),
                details={
                    "typical_gap_s": round(typical, 3),
                    "gaps_s": {f"{g:.2f}": n for g, n in usual[:5]},
                    "retransmissions": len(gaps),
                },
            )
        )
    return out
