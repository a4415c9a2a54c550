"""DNS010 latency: slow answers, per server (p50, p99 and outliers).

**What it detects.** Servers whose answers take long: a 99th percentile above
``latency_p99_s`` (over at least ``latency_min_answers`` answers), or single answers
slower than ``latency_outlier_s``. The time is
from the last attempt to the answer, so resolver timeouts (DNS004) are not counted
twice.

**Why it matters.** Every lookup waits for it; a slow upstream behind CoreDNS, CPU
throttling of the DNS pods, or an overloaded node shows here first.

**Wire pattern.** ``Q`` … ``R`` with a large gap.

**Known false positives.** A capture taken on a loaded node can delay packets itself.

**Fix.** Look at the DNS pods' CPU limits and throttling, their upstream latency, and
NodeLocal DNSCache to answer from the node.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..findings import Finding, Option, detector
from ._groups import Groups, by_key, evidence_of, lookups_of
from ._util import rows

P99 = Option("latency_p99_s", 0.1, "CoreDNS answers from cache in well under 1 ms")
MIN_ANSWERS = Option("latency_min_answers", 20, "a 99th percentile of fewer answers means little")
OUTLIER = Option("latency_outlier_s", 1.0, "a second is felt by any client")


@detector("DNS010", "latency.slow_server", "warning", [P99, OUTLIER, MIN_ANSWERS])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """One finding per server with a slow tail."""
    ok = rows(tx, tx["rtt_last"].notna().to_numpy(), ["server", "rtt_last"])
    if ok.empty:
        return []
    groups, servers = by_key(tx, ok, "server")
    rtt_all = tx["rtt_last"].to_numpy(float)[groups.pos]
    found: list[tuple[int, float, float, int, np.ndarray]] = []  # group, p50, p99, slow, shown
    for k, (a, b) in enumerate(itertools.pairwise(groups.bounds.tolist())):
        rtt = rtt_all[a:b]
        p50, p99 = (float(x) for x in np.percentile(rtt, [50, 99]))
        slow = rtt > opts["latency_outlier_s"]
        slow_tail = p99 >= opts["latency_p99_s"] and len(rtt) >= opts["latency_min_answers"]
        if slow_tail or slow.any():
            shown = np.flatnonzero(slow if slow.any() else rtt >= p99) + a
            found.append((k, p50, p99, int(slow.sum()), shown))
    if not found:
        return []
    # the evidence of the shown answers of every slow server, in one go
    shown_rows = Groups(
        groups.pos[np.concatenate([f[4] for f in found])],
        np.cumsum([0, *(len(f[4]) for f in found)]),
    )
    evidence = evidence_of(tx, shown_rows)
    affected = lookups_of(lookups, tx, shown_rows)
    sizes = groups.sizes
    out: list[Finding] = []
    for j, (k, p50, p99, slow_n, shown) in enumerate(found):
        n = int(sizes[k])
        out.append(
            Finding(
                code="DNS010",
                name="latency.slow_server",
                severity="warning",
                confidence="high" if n >= 20 else "medium",
                summary=(
                    f"{servers[k]} answers slowly: p50 {p50 * 1000:.1f} ms, p99 "
                    f"{p99 * 1000:.1f} ms over {n} answers; {slow_n} took over "
                    f"{opts['latency_outlier_s']:g} s"
                ),
                **evidence[j],
                occurrences=max(slow_n, 1),
                seen=n,
                lookups_affected=len(affected[j]),
                seconds_lost=round(float(rtt_all[shown].sum()), 6),
                remediation=(
                    "Check the DNS pods' CPU throttling and their upstream latency; NodeLocal "
                    "DNSCache answers repeated names from the node."
                ),
                details={"p50_s": round(p50, 6), "p99_s": round(p99, 6), "answers": n},
            )
        )
    return out
