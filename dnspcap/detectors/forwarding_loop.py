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

import numpy as np
import pandas as pd

from ..findings import Finding, Option, detector
from ._util import evidence, ns

MIN_QUERIES = Option("loop_min_queries", 100, "no resolver retries one question 100 times")
MIN_RATE = Option("loop_min_rate", 100.0, "queries/s; resolvers retry every 1-5 s")


@detector("DNS007", "forwarding.loop", "critical", [MIN_QUERIES, MIN_RATE])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """Questions asked in a storm with no answer."""
    attempts = tx["attempts"].to_numpy(np.int64)
    # cheap totals per question (qname, qtype) first; only storms are looked at closely
    name = np.asarray(tx["qname"].cat.codes, np.int64)
    qtype = np.asarray(tx["qtype"].cat.codes, np.int64)
    counted = (attempts > 0) & (name >= 0) & (qtype >= 0)
    key = name * max(len(tx["qtype"].cat.categories), 1) + qtype
    size = int(key[counted].max()) + 1 if counted.any() else 0
    sent = np.bincount(key[counted], attempts[counted], minlength=size)
    answered = np.bincount(key[counted], tx["responses"].to_numpy(np.int64)[counted], size)
    storm = (sent >= opts["loop_min_queries"]) & (answered == 0)
    out: list[Finding] = []
    if not storm.any():
        return out
    candidates = tx[counted & storm[np.where(counted, key, 0)]]
    for (qname, qtype), g in candidates.groupby(["qname", "qtype"], observed=True, sort=True):
        n = int(g["attempts"].sum())
        q = ns(g["query_ts"])
        # an attempt's time is its transaction's first query plus the gaps before it
        q_last = q + (g["retry_gaps"].map(lambda x: float(sum(x))).to_numpy() * 1e9).astype(
            np.int64
        )
        span = max(float(np.max(q_last) - np.min(q)) / 1e9, 1e-3)
        rate = n / span
        if rate < opts["loop_min_rate"]:
            continue
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
                **evidence(g),
                occurrences=n,
                seen=n,
                lookups_affected=0,
                seconds_lost=0.0,
                remediation=(
                    "Point kubelet --resolv-conf at /run/systemd/resolve/resolv.conf, or make "
                    "CoreDNS forward to a real upstream instead of /etc/resolv.conf (127.0.0.53)."
                ),
                details={"rate_per_s": round(rate, 1), "span_s": round(span, 6)},
            )
        )
    return out
