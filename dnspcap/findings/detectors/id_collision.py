"""DNS002 id-collision: two queries in flight on one socket with the same ID.

**What it detects.** Two transactions on one 5-tuple with one DNS ID and different
questions (A and AAAA) overlapping in time: musl's clock-derived IDs on a coarse
clock source (the Tencent Cloud TKE article "DNS 解析异常"), busybox nslookup, lima-vm/lima#738.

**Why it matters.** musl matches answers on the ID bytes alone, so it takes the first
answer for both queries. If the AAAA's empty NODATA answer comes first, the name
"does not resolve"; if AAAA records come first, an IPv4-only pod gets an IPv6
address and cannot connect. The summary counts the pairs whose first answer was not
the A record's: the harmful order DNS003 only notes. Wireshark calls the second query
a "retransmission".

**Wire pattern.** ``A id=x`` and ``AAAA id=x`` from one port ~60 µs apart.

**Known false positives.** None known on one socket within one resolver timeout.

**Fix.** A glibc-based image (debian-slim, distroless), a static Go binary
(``CGO_ENABLED=0``), or a newer musl (1.2.4+ bumps the second ID).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ...arrays.categorical import strings_of
from ..finding import Finding
from ..registry import detector
from ..scan import Scan
from ._evidence import evidence_of, evidence_tables, lookup_table, lookups_in
from ._util import ns


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """All ID collisions, with how many had the answer order that breaks an ID-only matcher."""
    n = int(s.count("pairs"))
    if not n:
        return []
    broken = int(s.count("broken"))
    ids = np.unique(s.table("ids")["id"].to_numpy(np.int64))
    return [
        Finding(
            code="DNS002",
            name="id.collision",
            severity="error",
            confidence="high",
            summary=(
                f"{n} pair{'s' if n != 1 else ''} of queries shared one ID on one socket; "
                f"in {broken} the first answer "
                "was not the A record's, which an ID-only matcher (musl) takes for both"
            ),
            **evidence_of(s),
            occurrences=n,
            seen=int(s.count("seen")),
            lookups=lookups_in(s),
            seconds_lost=0.0,
            remediation=(
                "Use a glibc-based image (debian-slim, distroless) or a static Go binary "
                "(CGO_ENABLED=0), or upgrade musl to 1.2.4 or later."
            ),
            details={
                "answer_order_breaks_id_matching": broken,
                "ids": [f"{int(i):#06x}" for i in ids[:20]],
            },
        )
    ]


@detector("DNS002", "id.collision", "error", judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The colliding queries, per socket and ID (a client's own: the pairs and the
    harmful answer orders add up across parts)."""
    seen = int((tx["attempts"] > 0).sum())
    hit = tx[tx["id_collision"]]
    if hit.empty:
        return Scan(counts={"seen": seen})
    key = ["client", "client_port", "server", "server_port", "id"]
    gb = hit.groupby(key, observed=True, sort=False)
    n = gb.ngroups
    # the first answer is taken for both: harmful when it is not the A's; each socket
    # and ID's answers in time order (in table order at equal times), by one sort
    group = gb.ngroup().fillna(-1).to_numpy(np.int64)  # -1: a key with a missing part
    answer = ns(hit["response_ts"])
    rows = np.flatnonzero((answer != np.iinfo(np.int64).min) & (group >= 0))
    rows = rows[np.lexsort((rows, answer[rows], group[rows]))]
    g = group[rows]
    first = rows[np.r_[True, g[1:] != g[:-1]]] if len(rows) else rows
    answers = np.bincount(g, minlength=n)[group[first]]
    broken = int(((answers >= 2) & (strings_of(hit["qtype"])[first] != "A")).sum())
    ids = np.unique(np.asarray(hit["id"], np.int64))
    return Scan(
        tables={**evidence_tables(tx, hit.index), "lookups": lookup_table(lookups, hit.index),
                "ids": pd.DataFrame({"id": ids})},
        counts={"seen": seen, "pairs": n, "broken": broken},
    )  # fmt: skip
