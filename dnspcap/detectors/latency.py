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

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..findings import Finding, Option, detector
from ._util import evidence, lookups_of, rows

P99 = Option("latency_p99_s", 0.1, "CoreDNS answers from cache in well under 1 ms")
MIN_ANSWERS = Option("latency_min_answers", 20, "a 99th percentile of fewer answers means little")
OUTLIER = Option("latency_outlier_s", 1.0, "a second is felt by any client")


@detector("DNS010", "latency.slow_server", "warning", [P99, OUTLIER, MIN_ANSWERS])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """One finding per server with a slow tail."""
    ok = rows(tx, tx["rtt_last"].notna().to_numpy(), ["server", "rtt_last"])
    out: list[Finding] = []
    for server, g in ok.groupby("server", observed=True, sort=True):
        rtt = g["rtt_last"].to_numpy(float)
        p50, p99 = (float(x) for x in np.percentile(rtt, [50, 99]))
        slow = g[g["rtt_last"] > opts["latency_outlier_s"]]
        slow_tail = p99 >= opts["latency_p99_s"] and len(g) >= opts["latency_min_answers"]
        if not slow_tail and slow.empty:
            continue
        shown = slow if not slow.empty else g[g["rtt_last"] >= p99]
        out.append(
            Finding(
                code="DNS010",
                name="latency.slow_server",
                severity="warning",
                confidence="high" if len(g) >= 20 else "medium",
                summary=(
                    f"{server} answers slowly: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
                    f"over {len(g)} answers; {len(slow)} took over "
                    f"{opts['latency_outlier_s']:g} s"
                ),
                **evidence(shown, tx),
                occurrences=max(len(slow), 1),
                seen=len(g),
                lookups_affected=lookups_of(lookups, set(shown.index.tolist())),
                seconds_lost=round(float(shown["rtt_last"].sum()), 6),
                remediation=(
                    "Check the DNS pods' CPU throttling and their upstream latency; NodeLocal "
                    "DNSCache answers repeated names from the node."
                ),
                details={"p50_s": round(p50, 6), "p99_s": round(p99, 6), "answers": len(g)},
            )
        )
    return out
