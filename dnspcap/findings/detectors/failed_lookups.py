"""DNS011 lookup.failed: lookups that failed, where no specific signature says why.

**What it detects.** Every lookup that failed (it timed out, or got SERVFAIL, REFUSED or
an ICMP error) and that no other finding at error level or above concerns. It runs
after the other detectors, so that the verdict is never OK while a lookup in the
capture failed: where no known signature explains a failure, this finding shows it,
with the names, clients, servers and durations, and its evidence messages.

**Why it matters.** A failed lookup is an application error (``EAI_AGAIN``, ``no such
host``, ``i/o timeout``) whatever the cause.

**Wire pattern.** Any lookup whose outcome is ``timed_out`` or ``failed``.

**Known false positives.** None by construction; a less severe finding that concerns
the same lookups (a DNS004 warning of retries, say) is named beside it.

**Fix.** Read the evidence: timeouts point at the server or the path to it (the DNS
pods, NetworkPolicy egress to UDP and TCP port 53, ``conntrack -S`` on the node);
SERVFAIL at the server's upstream; REFUSED at its configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ...arrays.categorical import texts_in
from ..finding import Finding
from ..registry import catch_all
from ..scan import LOOKUP, ROW, Scan
from ._evidence import evidence_of, frame_table, unique_ints
from ._util import SEVERITY_RANK, also_in, flat_rows, plural, top


def judge(s: Scan, opts: Mapping[str, float], found: Sequence[Finding]) -> list[Finding]:
    """One finding for the failed lookups no error-level finding explains."""
    return judge_unexplained(s, found, "DNS011", "lookup.failed", "error")


@catch_all("DNS011", "lookup.failed", "error", judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The failed lookups (a client's own), with what the finding says of them: which
    the other detectors explain is known only once they have judged the whole."""
    if lookups.empty:
        return Scan()
    return candidates(tx, lookups, texts_in(lookups["outcome"], ("timed_out", "failed")))


def candidates(tx: pd.DataFrame, lookups: pd.DataFrame, bad: np.ndarray) -> Scan:
    """The scan of the lookups where ``bad`` holds, for judge_unexplained: per lookup
    (``lookups``) its outcome, name, client and duration; per transaction of them that
    detect() counts (``transactions``) its server, rcode, attempts and responses (as the
    tables hold them, categories: the judge makes text of those it counts); and
    the evidence of those transactions, frames and all (which of them a finding shows
    depends on the other findings)."""
    counts: dict[str, float] = {"lookups": len(lookups)}
    at = np.flatnonzero(bad)
    if not len(at):
        return Scan(counts=counts)
    lk = lookups[["outcome", "name", "client", "duration"]].iloc[at]
    table = pd.DataFrame(
        {LOOKUP: at, "outcome": lk["outcome"].array, "name": lk["name"].array,
         "client": lk["client"].array, "duration": lk["duration"].to_numpy(float)}
    )  # fmt: skip
    sizes = lookups["transactions"].to_numpy(np.int64)
    keep = np.repeat(np.asarray(bad, bool), sizes)
    rows = flat_rows(lookups["transactions_index"])[keep]
    owner = np.repeat(np.arange(len(lookups)), sizes)[keep]
    where = tx.index.get_indexer(pd.Index(rows))
    rows, owner, where = rows[where >= 0], owner[where >= 0], where[where >= 0]
    order = np.lexsort((owner, rows))
    rows, owner, where = rows[order], owner[order], where[order]
    part = tx[["server", "rcode", "attempts", "responses"]].iloc[where]
    txs = pd.DataFrame(
        {ROW: rows, LOOKUP: owner, "server": part["server"].array, "rcode": part["rcode"].array,
         "attempts": part["attempts"].to_numpy(), "responses": part["responses"].to_numpy()}
    )  # fmt: skip
    labels = unique_ints(rows)
    who = tx.loc[labels, ["client", "server", "query_ts", "response_ts"]].reset_index(drop=True)
    who.insert(0, ROW, labels)
    return Scan(
        tables={"lookups": table, "transactions": txs, "evidence": who,
                "evidence_frames": frame_table(tx, labels)},
        counts=counts,
    )  # fmt: skip


def judge_unexplained(
    s: Scan,
    found: Sequence[Finding],
    code: str,
    name: str,
    severity: str,
    what: str = "failed",
) -> list[Finding]:
    """A finding that names the lookups of a candidates() scan that no finding at least
    as severe as this one concerns: the failed (DNS011) or slow (DNS012) ones."""
    lk = s.table("lookups")
    if not len(lk):
        return []
    covered = unique_ints(np.concatenate([np.zeros(0, np.int64)] + [
        np.asarray(f.lookups, np.int64) for f in found
        if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[severity] and f.lookups
    ]))  # fmt: skip
    lk = lk[~np.isin(lk[LOOKUP].to_numpy(np.int64), covered)]
    if not len(lk):
        return []
    hit = lk[LOOKUP].to_numpy(np.int64)
    txs = s.table("transactions")
    involved = txs[np.isin(txs[LOOKUP].to_numpy(np.int64), hit)].drop_duplicates(ROW)
    shown = involved[ROW].to_numpy(np.int64)
    who, frames = s.table("evidence"), s.table("evidence_frames")
    part = Scan(
        {"evidence": who[np.isin(who[ROW].to_numpy(np.int64), shown)],
         "evidence_frames": frames[np.isin(frames[ROW].to_numpy(np.int64), shown)]}
    )  # fmt: skip
    # as text: the parts' categories need not be the same
    outcomes = lk["outcome"].astype(str).value_counts()
    names = lk["name"].astype(str).value_counts()
    clients = lk["client"].astype(str).value_counts()
    servers = involved["server"].astype(str).value_counts()
    durations = lk["duration"].to_numpy(float)
    others = [c for c in also_in(found, hit) if c != code]
    got = involved.loc[involved["responses"].to_numpy() > 0, "rcode"].astype(str)
    rcodes = got[got != "NOERROR"].value_counts()
    why = f"outcomes {top(outcomes)}" + (f", answers {top(rcodes)}" if len(rcodes) else "")
    summary = (
        f"{plural(len(hit), 'lookup')} {what} with no known signature found: "
        f"{top(names)}; from {top(clients)}; servers {top(servers)}; {why}; "
        f"took {np.median(durations):.1f} s (median), {durations.max():.1f} s at most"
        + (f" (see also {', '.join(others)})" if others else "")
    )
    silent = set(outcomes.index) == {"timed_out"} and not (involved["attempts"] > 1).any()
    if silent and not (involved["responses"] > 0).any():
        # no answer seen, and no resolver asked again: a capture of one direction looks so
        summary += "; no answer was seen and nobody asked again: does the capture see replies?"
    return [
        Finding(
            code=code,
            name=name,
            severity=severity,
            confidence="high",
            summary=summary,
            **evidence_of(part),
            occurrences=len(hit),
            seen=int(s.count("lookups")),
            lookups=tuple(hit.tolist()),
            seconds_lost=round(float(durations.sum()), 6),
            remediation=(
                "Read the evidence messages: timeouts point at the server or the path to it "
                "(the DNS pods, NetworkPolicy egress to UDP and TCP 53, `conntrack -S` on the "
                "node); SERVFAIL at the server's upstream; slow answers at its load or its "
                "upstream."
            ),
            details={
                "outcomes": outcomes.to_dict(),
                "names": names.head(20).to_dict(),
                "clients": clients.head(20).to_dict(),
                "servers": servers.head(20).to_dict(),
                "also_in": others,
            },
        )
    ]
