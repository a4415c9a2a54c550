"""DNS008 truncation: a TC=1 answer that no TCP retry followed.

**What it detects.** A response with the TC bit set (the answer did not fit in the
UDP payload size) and no query for the same question over TCP from the same client
in the next seconds.

**Why it matters.** The client got at most the records that fit in the truncated
answer. glibc and Go retry over TCP; musl before 1.2.4 does not and uses what fit
(the lab saw musl 1.2.3 return 29 of 40 A records), so large answers are cut short or
fail on Alpine; a NetworkPolicy or firewall that blocks TCP/53 fails every client.

**Wire pattern.** ``Q`` over UDP, ``R tc=1``, then no ``SYN`` to port 53.

**Known false positives.** None known: a TC answer in the capture's last
``truncation_retry_window_s`` is not judged, since its retry could not be seen, nor
one to no query in the capture (a reflection or a scan's reply).

**Fix.** Allow TCP/53 to the DNS Service (NetworkPolicy egress rules usually list
UDP only); musl ≥ 1.2.4 or a glibc image; smaller answers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..finding import Finding
from ..registry import Option, detector
from ..scan import LOOKUP, ROW, Scan
from ._evidence import EVIDENCE_TRANSACTIONS, evidence_of, frame_rows, unique_ints
from ._util import lookup_of, ns

WINDOW = Option("truncation_retry_window_s", 5.0, "resolvers retry over TCP at once")


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """Truncated answers not followed by the same question over TCP, but for those in
    the capture's last seconds (its end: the latest time of any part)."""
    tc = s.table("tc")
    if not len(tc):
        return []
    window = int(opts["truncation_retry_window_s"] * 1e9)
    # a TC answer in the capture's last seconds: whether a retry came cannot be seen
    end = int(s.table("end")["end"].to_numpy(np.int64).max())
    tc = tc[tc["r_ns"].to_numpy(np.int64) + window <= end]
    if tc.empty:
        return []
    lost = tc[~tc["retried"].to_numpy(bool)]
    if lost.empty:
        return []
    names = lost["qname"].value_counts().head(10).to_dict()
    shown = lost[ROW].to_numpy(np.int64)
    who = s.table("evidence")
    frames = s.table("evidence_frames")
    part = Scan(
        {"evidence": who[np.isin(who[ROW].to_numpy(np.int64), shown)],
         "evidence_frames": frames[np.isin(frames[ROW].to_numpy(np.int64), shown)]}
    )  # fmt: skip
    looked = lost[LOOKUP].to_numpy(np.int64)
    return [
        Finding(
            code="DNS008",
            name="truncation.no_tcp_retry",
            severity="error",
            confidence="medium",
            summary=(
                f"{len(lost)} of {len(tc)} truncated (TC=1) answers were not retried over TCP: "
                "those clients got at most the records that fit"
            ),
            **evidence_of(part),
            occurrences=len(lost),
            seen=len(tc),
            lookups=tuple(unique_ints(looked[looked >= 0]).tolist()),
            seconds_lost=0.0,
            remediation=(
                "Allow TCP/53 to the DNS Service (NetworkPolicy egress often lists only UDP); "
                "for Alpine images use musl 1.2.4+ (TCP fallback) or a glibc-based image."
            ),
            details={"names": names},
        )
    ]


@detector("DNS008", "truncation.no_tcp_retry", "error", [WINDOW], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The truncated answers, each with whether its client asked the same question over
    TCP within the window (a client's own), and the part's last time: which answers came
    too late to judge depends on the whole capture's end."""
    # an answer to no query seen (a reflection, a scan's reply, a capture that began
    # after the query) was not what a client in the capture waited for: no retry is due
    tc = tx[
        tx["tc"].to_numpy(bool)
        & (tx["transport"] == "udp").to_numpy()
        & (tx["attempts"] > 0).to_numpy()
    ]
    if tx.empty:
        return Scan()
    # every part's end, with TC answers or not: the whole's is the latest of them
    end = max(int(ns(tx["query_ts"]).max()), int(ns(tx["response_ts"]).max()))
    ends = pd.DataFrame({"end": [end]})
    if tc.empty:
        return Scan(tables={"end": ends})
    window = int(opts["truncation_retry_window_s"] * 1e9)
    tcp = tx[(tx["transport"] == "tcp") & (tx["attempts"] > 0)]
    key = ["client", "qname", "qtype"]
    cand = tc.assign(r_ns=ns(tc["response_ts"]), row=tc.index).merge(
        tcp.assign(t_ns=ns(tcp["query_ts"]))[[*key, "t_ns"]], on=key, how="left"
    )
    retried = (cand["t_ns"] >= cand["r_ns"]) & (cand["t_ns"] - cand["r_ns"] <= window)
    ok_rows = set(cand.loc[retried.to_numpy(bool), "row"])
    labels = tc.index.to_numpy(np.int64)
    r_ns = ns(tc["response_ts"])
    ok = tc.index.isin(list(ok_rows))
    table = pd.DataFrame(
        {ROW: labels, LOOKUP: lookup_of(tc, lookups), "r_ns": r_ns, "retried": ok,
         "qname": tc["qname"].astype(str).to_numpy()}
    )  # fmt: skip
    # the evidence of the unretried: who, for all; frames, for the first of those surely
    # judged (answered a window before this part's end, so before the whole's) and for
    # all that the whole's later end may bring in
    lost = labels[~ok]
    who = tx.loc[lost, ["client", "server", "query_ts", "response_ts"]].reset_index(drop=True)
    who.insert(0, ROW, lost)
    sure = lost[(r_ns[~ok] + window <= end)]
    maybe = lost[(r_ns[~ok] + window > end)]
    framed = np.union1d(sure[:EVIDENCE_TRANSACTIONS], maybe)
    return Scan(
        tables={"tc": table, "end": ends, "evidence": who,
                "evidence_frames": frame_rows(tx, framed)},
    )  # fmt: skip
