"""DNS012 lookup.slow: lookups that took too long, where no specific signature says why.

**What it detects.** Every lookup that waited longer than ``slow_lookup_s`` on the
wire and that no other finding at warning level or above concerns. A lookup waits from
each query until its answer, or until its question was asked again (a timeout): the
union of those spans, so that parallel queries count once and the search list's steps
add up, while two queries of a name that the grouping put together but that nobody
waited for in between (an MX and, seconds later, a LOC) do not count the time between.
It runs after the other detectors, so that the verdict is never OK while a
lookup in the capture was slow: where no known signature explains the delay, this
finding shows it, with the names, clients, servers and durations, and its evidence.

**Why it matters.** A second spent resolving a name is a second added to the request
that needed it; applications with tight timeouts fail.

**Wire pattern.** A query answered after more than the threshold; a question asked
again that long after it went unanswered.

**Known false positives.** None known; a lookup still waiting when the capture ended
counts with the time it had waited then (less than it will wait).

**Fix.** Read the evidence: a slow answer points at the server (its CPU, its upstream:
DNS010 when it is the server's tail); a long wait before a second query at a timeout
(DNS004); NodeLocal DNSCache answers repeated names from the node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..finding import Finding
from ..registry import Option, catch_all
from ..scan import Scan
from ._util import waited
from .failed_lookups import candidates, judge_unexplained

SLOW = Option("slow_lookup_s", 1.0, "a second is felt by any client")


def judge(s: Scan, opts: Mapping[str, float], found: Sequence[Finding]) -> list[Finding]:
    """One finding for the slow lookups no finding at warning level explains."""
    what = f"took over {opts['slow_lookup_s']:g} s"
    return judge_unexplained(s, found, "DNS012", "lookup.slow", "warning", what)


@catch_all("DNS012", "lookup.slow", "warning", [SLOW], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The slow lookups (how long a lookup waited is its client's own), with what the
    finding says of them: which the other detectors explain is known only at the end."""
    if lookups.empty:
        return Scan()
    return candidates(tx, lookups, waited(tx, lookups) > opts["slow_lookup_s"])
