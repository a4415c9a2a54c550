"""DNS005 search-list amplification: NXDOMAIN queries spent on the ndots:5 search list.

**What it detects.** Lookups that walked the search list (``name.<ns>.svc.cluster.local``,
``name.svc.cluster.local``, ``name.cluster.local``) before the name that resolved.

**Why it matters.** With Kubernetes' ``ndots:5``, ``api.example.com`` costs four
A+AAAA steps, six of eight queries wasted (docs/wire-patterns.md, measured); every step
is a round trip before the real answer, and the load on CoreDNS multiplies.

**Wire pattern.** NXDOMAIN answers for each suffix in turn, each step from a new
socket, then the name as is.

**Known false positives.** A name that really lives under a search domain (a
same-namespace Service) resolves at its first step and is not counted.

**Fix.** Use fully qualified names with a trailing dot (``api.example.com.``);
set ``dnsConfig.options: [{name: ndots, value: "2"}]``; call same-namespace
Services by their short name.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..finding import Finding
from ..markup import code
from ..registry import Option, detector
from ..scan import LOOKUP, Scan
from ._evidence import evidence_of, evidence_tables
from ._util import flat_rows

MIN_WASTED = Option("search_min_wasted", 1, "any wasted query is worth knowing about")


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """One finding for all lookups that spent queries on the search list (the names
    counted over all parts' lookups, in the whole's lookup order)."""
    hit = s.table("hit")
    if not len(hit):
        return []
    wasted = int(hit["search_queries"].sum())
    if wasted < opts["search_min_wasted"]:
        return []
    n_ok = int(s.count("answered"))
    # time lost: from the lookup's start to the first query for the name that resolved
    lost = float(hit["search_time"].sum())
    names = hit["name"].value_counts()
    per_lookup = wasted / len(hit)
    # names from the capture, each one code span whatever it holds (findings.markup)
    top = ", ".join(f"{code(str(n))} ({c}x)" for n, c in names.head(5).items())
    return [
        Finding(
            code="DNS005",
            name="search.amplification",
            severity="warning",
            confidence="high",
            summary=(
                f"{len(hit)} of {n_ok} answered lookups went through the search list first: "
                f"{wasted} NXDOMAIN queries ({per_lookup:.1f} per lookup), {lost:.3f} s in all"
            ),
            **evidence_of(s),
            occurrences=len(hit),
            seen=n_ok,
            lookups=tuple(hit[LOOKUP].to_numpy(np.int64).tolist()),
            seconds_lost=round(lost, 6),
            remediation=(
                f"Qualify these names with a trailing dot ({top}) or set "
                '`dnsConfig.options: [{name: ndots, value: "2"}]` on the pods.'
            ),
            details={"names": names.head(20).to_dict(), "wasted_queries": wasted},
        )
    ]


@detector("DNS005", "search.amplification", "warning", [MIN_WASTED], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The answered lookups that walked the search list (a client's own), with their
    names, wasted queries and time, and their NXDOMAIN transactions for the evidence."""
    if lookups.empty:
        return Scan()
    # masks, and only the columns read: taking the transactions_index lists costs more
    ok = np.asarray(lookups["outcome"] == "answered", bool)
    hit_mask = ok & (lookups["search_queries"].to_numpy() > 0)
    counts: dict[str, float] = {"answered": int(ok.sum())}
    if not hit_mask.any():
        return Scan(counts=counts)
    hit = lookups.loc[hit_mask, ["search_queries", "search_time", "name"]].reset_index(drop=True)
    hit.insert(0, LOOKUP, np.flatnonzero(hit_mask))
    rows = flat_rows(lookups["transactions_index"])
    rows = rows[np.repeat(hit_mask, lookups["transactions"].to_numpy(np.int64))]
    # labels, not positions: tx may lack the DNAT copies (a mask, not np.unique: cheaper)
    labels = tx.index.to_numpy()
    seen = np.zeros(max(int(rows.max(initial=-1)), int(labels.max(initial=-1))) + 1, bool)
    seen[rows] = True
    nx = seen[labels] & (tx["rcode"] == "NXDOMAIN").to_numpy()
    return Scan(tables={"hit": hit, **evidence_tables(tx, labels[nx])}, counts=counts)
