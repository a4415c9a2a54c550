"""DNS004 retransmissions: questions asked again after no answer came.

**What it detects.** A client asking a question again once no answer came within its
resolver's timeout, however it asks: the same query from the same socket with the same
ID (glibc, musl), from a new socket (glibc's next round), from a new socket with a new
ID (Go's resolver, for every exchange), or of the next nameserver (glibc and Go fail
over in turn). The gap identifies the resolver's timeout: ~5 s for glibc's and Go's
default, ~2.5 s for musl's (timeout/attempts), 1-3 s with ``options timeout:n``.

**Why it matters.** Each retry adds a whole timeout to the lookup that waited for it;
many at one server mean that server (or the path to it) drops queries.

**Wire pattern.** ``Q id=x`` … nothing … ``Q id=x`` again from the same port 5.0 s
(glibc) or 2.5 s (musl) later; or ``Q id=y`` from a new port 5.0 s later (Go); or the
same question to the next nameserver after the per-try timeout. Wireshark does not
mark glibc's retry (its own retransmission timer is also 5 s) and cannot see Go's.

**Known false positives.** A capture that misses replies (asymmetric routing, a capture
filter on one direction) shows every query as retried.

**Fix.** Find why the first attempt went unanswered (DNS001 for the conntrack race,
DNS006 for a dead server); lower ``timeout`` only after that.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ...arrays.categorical import as_categorical
from ..finding import Finding
from ..registry import Option, detector
from ..scan import LOOKUP, ROW, Scan
from ._evidence import evidence_of, evidence_tables, lookups_in
from ._util import lookup_positions, plural, retry_table, typical_gaps

MIN = Option("retransmissions_min", 1, "one retried query is already a lost timeout")
MIN_GAP = Option(
    "retransmission_min_gap_s", 0.5, "no resolver times out under 1 s; faster repeats are DNS007"
)


# known resolver timeouts: (low, high) gap in s, long name, short name
_TIMEOUTS = (
    (4.5, 5.5, "the default 5 s timeout of glibc and Go", "glibc/Go default"),
    (2.2, 2.8, "musl default (timeout 5 s / attempts 2)", "musl default"),
)


def _timeout_name(gap: float, short: bool = False) -> str:
    for lo, hi, long_name, short_name in _TIMEOUTS:
        if lo <= gap <= hi:
            return short_name if short else long_name
    return "a custom timeout" if short else f"a {gap:.1f} s timeout"


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """One finding for every question asked again after a timeout, by server."""
    r = s.table("retries")
    if r.empty:
        return []
    unanswered = r[ROW].drop_duplicates()
    if len(unanswered) < opts["retransmissions_min"]:
        return []
    # per server that left them unanswered: its queries (of every client), and how many
    # of them were retried
    servers = r.drop_duplicates(ROW)["server"].astype(str).value_counts()
    queries = s.table("asked")
    asked = int(queries["asked"][queries["server"].astype(str).isin(servers.index)].sum())
    usual = typical_gaps(r["gap_s"].to_numpy())
    typical = usual[0][0]
    if len(usual) == 1:
        how = f"{typical:.2f} s: {_timeout_name(typical)}"
    else:  # glibc and musl clients side by side: name both timeouts
        how = " and ".join(
            f"{g:.2f} s ({n}x, {_timeout_name(g, short=True)})" for g, n in usual[:2]
        )
    kinds = r["kind"].astype(str).value_counts()
    where = (
        f" to {servers.index[0]}"
        if len(servers) == 1
        else f" ({', '.join(f'{k}: {v}' for k, v in servers.head(3).items())}"
        + (f" and {len(servers) - 3} more servers)" if len(servers) > 3 else ")")
    )
    hit = lookups_in(s)
    lk = s.table("lookups")
    answered = int(lk["answered"].sum()) if hit else 0
    lost = float(lk["lost"].to_numpy().sum()) if hit else 0.0
    moved = int(kinds.get("failover", 0))
    summary = (
        f"{len(unanswered)} of {asked} queries{where} went unanswered and were asked again "
        f"({plural(len(r), 'retry', 'retries')}, typically after {how}"
        + (f"; {moved} to another server" if moved else "")
        + f"); {answered} of {plural(len(hit), 'lookup')} got an answer in the end"
    )
    return [
        Finding(
            code="DNS004",
            name="timeout.retransmissions",
            severity="warning",
            confidence="high",
            summary=summary,
            # the evidence shows the retries too; the servers named are those that did
            # not answer
            **evidence_of(s) | {"servers": tuple(sorted(servers.index))},
            occurrences=len(unanswered),
            seen=asked,
            lookups=hit,
            seconds_lost=round(lost, 6),
            remediation=(
                "Find why first attempts go unanswered (see DNS001 conntrack race and "
                "DNS006 unreachable upstream findings); a lower `options timeout:` in the "
                "pod's dnsConfig only shortens each wait."
            ),
            details={
                "typical_gap_s": round(typical, 3),
                "gaps_s": {f"{g:.2f}": n for g, n in usual[:5]},
                "retries": len(r),
                "how": {k: int(v) for k, v in kinds.items() if v},
                "servers": {k: int(v) for k, v in servers.items()},
            },
        )
    ]


@detector("DNS004", "timeout.retransmissions", "warning", [MIN, MIN_GAP], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The retries (a client's own: one row each, in the order of the transaction that
    went unanswered, with its gap, kind and server), the lookups they are in, and per
    server the queries asked of it: the judge picks the servers that left queries
    unanswered in any part, which span clients."""
    asked = {"asked": _asked(tx)}
    # a retry is a gap a resolver's timeout could make; faster repeats (a forwarding
    # loop's storm of one ID) are DNS007's
    r = retry_table(tx, lookups)
    r = r[r["gap_s"].to_numpy() >= opts["retransmission_min_gap_s"]]
    if r.empty:
        return Scan(tables=asked)
    retries = pd.DataFrame(
        {
            ROW: r["before"].to_numpy(np.int64),
            "gap_s": r["gap_s"].to_numpy(float),
            "kind": r["kind"].astype(str).array,
            "server": r["server"].astype(str).array,
        }
    )
    rows = np.concatenate([r["before"].to_numpy(), r["after"].to_numpy()])
    hit = lookup_positions(lookups, np.asarray(rows, np.int64))
    if len(hit):
        got = lookups["outcome"].to_numpy()[hit].astype(str)
        lost = lookups["time_lost_to_retries"].to_numpy()[hit]
    else:  # a part with no lookups may have no lookups table either
        got, lost = np.zeros(0, str), np.zeros(0)
    found = pd.DataFrame(
        {
            LOOKUP: hit,
            "answered": np.isin(got, ("answered", "nxdomain", "no_data")),
            "lost": lost,
        }
    )
    return Scan(tables={**asked, "retries": retries, **evidence_tables(tx, rows), "lookups": found})


def _asked(tx: pd.DataFrame) -> pd.DataFrame:
    """Per server (as text), the transactions asked of it (at least one attempt)."""
    server = as_categorical(tx["server"])
    codes = np.asarray(server.codes, np.int64)
    counts = np.bincount(
        codes[(codes >= 0) & (tx["attempts"].to_numpy() > 0)], minlength=len(server.categories)
    )
    some = np.flatnonzero(counts)
    return pd.DataFrame(
        {"server": np.asarray(server.categories.astype(str))[some], "asked": counts[some]}
    )
