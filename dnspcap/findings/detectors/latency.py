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

from ..finding import Finding
from ..registry import Option, detector
from ._util import evidence, lookups_of, rows

P99 = Option("latency_p99_s", 0.1, "CoreDNS answers from cache in well under 1 ms")
MIN_ANSWERS = Option("latency_min_answers", 20, "a 99th percentile of fewer answers means little")
OUTLIER = Option("latency_outlier_s", 1.0, "a second is felt by any client")


@detector("DNS010", "latency.slow_server", "warning", [P99, OUTLIER, MIN_ANSWERS])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """One finding for the servers with a slow tail."""
    ok = rows(tx, tx["rtt_last"].notna().to_numpy(), ["server", "rtt_last"])
    if ok.empty:
        return []
    by = ok.groupby("server", observed=True, sort=True)["rtt_last"]
    over_s = (ok["rtt_last"] > opts["latency_outlier_s"]).groupby(ok["server"], observed=True)
    stats = pd.DataFrame(
        {"answers": by.size(), "p50": by.quantile(0.5), "p99": by.quantile(0.99),
         "slow": over_s.sum()}
    )  # fmt: skip
    tail = stats["p99"] >= opts["latency_p99_s"]
    tail &= stats["answers"] >= opts["latency_min_answers"]
    stats = stats[tail | (stats["slow"] > 0)]
    if stats.empty:
        return []
    stats = stats.sort_values(["p99", "answers"], ascending=False)
    servers = ok["server"].astype(str).to_numpy()
    mine = np.isin(servers, stats.index.astype(str))
    rtt = ok["rtt_last"].to_numpy(float)
    p99_of = stats["p99"].reindex(ok["server"]).to_numpy(float)
    # the evidence: the answers over a second, or else each server's slowest percent
    over = mine & (rtt > opts["latency_outlier_s"])
    shown = ok[over] if over.any() else ok[mine & (rtt >= p99_of)]
    slow = int(stats["slow"].sum())
    answers = int(stats["answers"].sum())
    worst = stats.index[0]
    head = (
        f"{worst} answers slowly: p50 {stats['p50'].iloc[0] * 1000:.1f} ms, "
        f"p99 {stats['p99'].iloc[0] * 1000:.1f} ms over {int(stats['answers'].iloc[0])} answers"
    )
    if len(stats) > 1:
        head = (
            f"{len(stats)} servers answer slowly, worst {worst}: p99 "
            f"{stats['p99'].iloc[0] * 1000:.1f} ms over {int(stats['answers'].iloc[0])} answers"
        )
    return [
        Finding(
            code="DNS010",
            name="latency.slow_server",
            severity="warning",
            confidence="high" if answers >= 20 else "medium",
            summary=f"{head}; {slow} took over {opts['latency_outlier_s']:g} s",
            **evidence(shown, tx),
            occurrences=max(slow, 1),
            seen=answers,
            lookups=lookups_of(lookups, shown.index),
            seconds_lost=round(float(shown["rtt_last"].sum()), 6),
            remediation=(
                "Check the DNS pods' CPU throttling and their upstream latency; NodeLocal "
                "DNSCache answers repeated names from the node."
            ),
            details={
                "p50_s": round(float(stats["p50"].iloc[0]), 6),
                "p99_s": round(float(stats["p99"].iloc[0]), 6),
                "answers": answers,
                "servers": {
                    str(s): {
                        "p50_s": round(float(r.p50), 6),
                        "p99_s": round(float(r.p99), 6),
                        "answers": int(r.answers),
                    }
                    for s, r in stats.head(20).iterrows()
                },
            },
        )
    ]


def _facts(r: pd.Series) -> dict[str, float]:
    return {"p50_s": round(float(r.p50), 6), "p99_s": round(float(r.p99), 6),
            "answers": int(r.answers)}  # fmt: skip
