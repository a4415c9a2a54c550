"""DNS007 forwarding-loop: the same question asked again and again, nothing answered.

**What it detects.** One question (name and type) asked at least ``loop_min_queries``
times at ``loop_min_rate`` queries per second or more, with no answer.

**Why it matters.** A DNS server forwarding to itself (CoreDNS ``forward . /etc/resolv.conf``
on a node whose resolv.conf points at systemd-resolved's 127.0.0.53, seed 003) amplifies
every query into a storm until the CoreDNS ``loop`` plugin kills the pod
(CrashLoopBackOff). The lab measured ~60,000 packets/s, one ID seen 900-1,800 times
in 50 ms.

**Wire pattern.** ``Q name`` × hundreds within a second; the ``loop`` plugin's probe
is ``<random>.<random>.<zone> HINFO``.

**Known false positives.** A client stuck in a tight retry loop without a timeout.

**Fix.** Point kubelet's ``--resolv-conf`` at ``/run/systemd/resolve/resolv.conf``, or
forward CoreDNS to a real upstream address instead of ``/etc/resolv.conf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..findings import Finding, Option, detector
from ._util import evidence, ns, rows

MIN_QUERIES = Option("loop_min_queries", 100, "no resolver retries one question 100 times")
MIN_RATE = Option("loop_min_rate", 100.0, "queries/s; resolvers retry every 1-5 s")


@detector("DNS007", "forwarding.loop", "critical", [MIN_QUERIES, MIN_RATE])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """Questions asked in a storm with no answer."""
    asked = rows(
        tx, (tx["attempts"] > 0).to_numpy(),
        ["qname", "qtype", "attempts", "responses", "query_ts", "client"],
    )  # fmt: skip
    # cheap totals per question first; only storms are looked at closely
    totals = asked.groupby(["qname", "qtype"], observed=True)[["attempts", "responses"]].sum()
    storms = totals[
        (totals["attempts"] >= opts["loop_min_queries"]) & (totals["responses"] == 0)
    ].index
    out: list[Finding] = []
    if len(storms) == 0:
        return out
    key = pd.MultiIndex.from_arrays([asked["qname"], asked["qtype"]])
    candidates = asked[key.isin(storms)]
    for (qname, qtype), g in candidates.groupby(["qname", "qtype"], observed=True, sort=True):
        n = int(g["attempts"].sum())
        q = ns(g["query_ts"])
        # an attempt's time is its transaction's first query plus the gaps before it
        gaps = tx.loc[g.index, "retry_gaps"]
        q_last = q + (gaps.map(lambda x: float(sum(x))).to_numpy() * 1e9).astype(np.int64)
        span = max(float(np.max(q_last) - np.min(q)) / 1e9, 1e-3)
        rate = n / span
        if rate < opts["loop_min_rate"]:
            continue
        victims = _victims(lookups, g, str(qname), int(np.min(q)), int(np.max(q_last)))
        out.append(
            Finding(
                code="DNS007",
                name="forwarding.loop",
                severity="critical",
                confidence="high",
                summary=(
                    f"{qname} {qtype} asked {n} times in {span:.3f} s ({rate:,.0f}/s) and never "
                    "answered: a forwarding loop"
                ),
                **evidence(g, tx),
                occurrences=n,
                seen=n,
                lookups_affected=len(victims),
                seconds_lost=round(float(victims["duration"].sum()), 6),
                remediation=(
                    "Point kubelet --resolv-conf at /run/systemd/resolve/resolv.conf, or make "
                    "CoreDNS forward to a real upstream instead of /etc/resolv.conf (127.0.0.53)."
                ),
                details={"rate_per_s": round(rate, 1), "span_s": round(span, 6)},
            )
        )
    return out


def _victims(lookups: pd.DataFrame, g: pd.DataFrame, qname: str, first: int, last: int) -> Any:
    """The clients' lookups of the looping name while it looped. The forwarders inside
    the loop (each sends a good share of the storm) are not clients that waited."""
    if lookups.empty:
        return lookups
    sent = g.groupby("client", observed=True)["attempts"].sum()
    forwarders = set(sent[sent > 0.1 * sent.sum()].index.astype(str))
    start = ns(lookups["start"])
    end = start + (lookups["duration"].to_numpy() * 1e9).astype(np.int64)
    hit = (
        (lookups["final_name"].astype(str).to_numpy() == qname)
        & (start <= last)
        & (end >= first)
        & ~lookups["client"].astype(str).isin(forwarders).to_numpy()
    )
    return lookups[hit]
