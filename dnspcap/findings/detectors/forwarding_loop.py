"""DNS007 forwarding-loop: the same question asked again and again, nothing answered.

**What it detects.** One question (name and type) asked at least ``loop_min_queries``
times at ``loop_min_rate`` queries per second or more, with no answer.

**Why it matters.** A DNS server forwarding to itself (CoreDNS ``forward . /etc/resolv.conf``
on a node whose resolv.conf points at systemd-resolved's 127.0.0.53: the article on
kube-dns failing after a while, see docs/wire-patterns.md) amplifies every query into a
storm until the CoreDNS ``loop`` plugin kills the pod
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

from ..finding import Finding
from ..registry import Option, detector
from ._util import STORM, evidence, ns, rows, storm_mask

MIN_QUERIES = STORM
MIN_RATE = Option("loop_min_rate", 100.0, "queries/s; resolvers retry every 1-5 s")


@detector("DNS007", "forwarding.loop", "critical", [MIN_QUERIES, MIN_RATE])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """One finding for the questions asked in a storm with no answer."""
    storm = storm_mask(tx, opts["loop_min_queries"])
    if not storm.any():
        return []
    cols = ["qname", "qtype", "attempts", "responses", "query_ts", "last_query_ts", "client"]
    candidates = rows(tx, storm, cols)
    loops: list[tuple[str, int, float, float]] = []  # question, queries, span, rate
    shown: list[pd.DataFrame] = []
    looped = np.zeros(len(lookups), bool)  # the lookups of a looping name while it looped
    victims = np.ones(len(lookups), bool)  # ... of clients, not of forwarders in the loop
    for (qname, qtype), g in candidates.groupby(["qname", "qtype"], observed=True, sort=True):
        n = int(g["attempts"].sum())
        q, q_last = ns(g["query_ts"]), ns(g["last_query_ts"])
        span = max(float(np.max(q_last) - np.min(q)) / 1e9, 1e-3)
        rate = n / span
        if rate < opts["loop_min_rate"]:
            continue
        loops.append((f"{qname} {qtype}", n, span, rate))
        shown.append(g)
        looped |= _during(lookups, str(qname), int(np.min(q)), int(np.max(q_last)))
        victims &= _clients_of(lookups, g)
    if not loops:
        return []
    n = sum(x[1] for x in loops)
    what = "; ".join(
        f"{question} asked {k:,} times in {span:.3f} s ({rate:,.0f}/s)"
        for question, k, span, rate in loops[:3]
    ) + (f"; and {len(loops) - 3} more questions" if len(loops) > 3 else "")
    hit = np.flatnonzero(looped)
    waited = np.flatnonzero(looped & victims)
    return [
        Finding(
            code="DNS007",
            name="forwarding.loop",
            severity="critical",
            confidence="high",
            summary=f"{what}, never answered: a forwarding loop",
            **evidence(pd.concat(shown), tx),
            occurrences=n,
            seen=n,
            lookups=tuple(hit.tolist()),
            seconds_lost=round(float(lookups["duration"].to_numpy()[waited].sum()), 6),
            remediation=(
                "Point kubelet --resolv-conf at /run/systemd/resolve/resolv.conf, or make "
                "CoreDNS forward to a real upstream instead of /etc/resolv.conf (127.0.0.53)."
            ),
            details={"questions": {q: _facts(k, sp, r) for q, k, sp, r in loops}},
        )
    ]


def _facts(queries: int, span: float, rate: float) -> dict[str, float]:
    return {"queries": queries, "span_s": round(span, 6), "rate_per_s": round(rate, 1)}


def _during(lookups: pd.DataFrame, qname: str, first: int, last: int) -> np.ndarray:
    """Which lookups are lookups of the looping name while it looped."""
    if lookups.empty:
        return np.zeros(0, bool)
    start = ns(lookups["start"])
    end = start + (lookups["duration"].to_numpy() * 1e9).astype(np.int64)
    named = lookups["final_name"].astype(str).to_numpy() == qname
    return np.asarray(named & (start <= last) & (end >= first), bool)


def _clients_of(lookups: pd.DataFrame, g: pd.DataFrame) -> np.ndarray:
    """Which lookups are not the forwarders' in this loop: each forwarder sends a good
    share of the storm; the clients that waited for an answer do not."""
    sent = g.groupby("client", observed=True)["attempts"].sum()
    forwarders = set(sent[sent > 0.1 * sent.sum()].index.astype(str))
    return ~lookups["client"].astype(str).isin(forwarders).to_numpy()
