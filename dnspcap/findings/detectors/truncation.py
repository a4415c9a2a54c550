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

import pandas as pd

from ..finding import Finding
from ..registry import Option, detector
from ._util import evidence, lookups_of, ns

WINDOW = Option("truncation_retry_window_s", 5.0, "resolvers retry over TCP at once")


@detector("DNS008", "truncation.no_tcp_retry", "error", [WINDOW])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """Truncated answers not followed by the same question over TCP."""
    # an answer to no query seen (a reflection, a scan's reply, a capture that began
    # after the query) was not what a client in the capture waited for: no retry is due
    tc = tx[
        tx["tc"].to_numpy(bool)
        & (tx["transport"] == "udp").to_numpy()
        & (tx["attempts"] > 0).to_numpy()
    ]
    if tc.empty:
        return []
    window = int(opts["truncation_retry_window_s"] * 1e9)
    # a TC answer in the capture's last seconds: whether a retry came cannot be seen
    end = max(int(ns(tx["query_ts"]).max()), int(ns(tx["response_ts"]).max()))
    tc = tc[ns(tc["response_ts"]) + window <= end]
    if tc.empty:
        return []
    tcp = tx[(tx["transport"] == "tcp") & (tx["attempts"] > 0)]
    key = ["client", "qname", "qtype"]
    cand = tc.assign(r_ns=ns(tc["response_ts"]), row=tc.index).merge(
        tcp.assign(t_ns=ns(tcp["query_ts"]))[[*key, "t_ns"]], on=key, how="left"
    )
    retried = (cand["t_ns"] >= cand["r_ns"]) & (cand["t_ns"] - cand["r_ns"] <= window)
    ok_rows = set(cand.loc[retried.to_numpy(bool), "row"])
    lost = tc[~tc.index.isin(list(ok_rows))]
    if lost.empty:
        return []
    names = lost["qname"].astype(str).value_counts().head(10).to_dict()
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
            **evidence(lost, tx),
            occurrences=len(lost),
            seen=len(tc),
            lookups=lookups_of(lookups, lost.index),
            seconds_lost=0.0,
            remediation=(
                "Allow TCP/53 to the DNS Service (NetworkPolicy egress often lists only UDP); "
                "for Alpine images use musl 1.2.4+ (TCP fallback) or a glibc-based image."
            ),
            details={"names": names},
        )
    ]
