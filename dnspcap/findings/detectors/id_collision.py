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
from typing import Any

import numpy as np
import pandas as pd

from ...arrays.categorical import strings_of
from ..finding import Finding
from ..registry import detector
from ._util import evidence, lookups_of, ns


@detector("DNS002", "id.collision", "error")
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """All ID collisions, with how many had the answer order that breaks an ID-only matcher."""
    hit = tx[tx["id_collision"]]
    if hit.empty:
        return []
    seen = int((tx["attempts"] > 0).sum())
    per = sockets(hit)
    ids = {int(i) for i in np.asarray(hit["id"])}
    shown = evidence(hit, tx)
    hit_lookups = lookups_of(lookups, hit.index)
    return [collision_finding(len(per), broken(per), seen, ids, shown, hit_lookups)]


SOCKET = ["client", "client_port", "server", "server_port", "id"]


def sockets(hit: pd.DataFrame) -> pd.DataFrame:
    """Per socket and ID of the colliding transactions (the rows of hit; a key with a
    missing part is none): ``answers``, and the first answer's time (``first_ns``, the
    minimum int64 for none), ``first_row`` (its row label: the table's order breaks a tie)
    and ``first_qtype``. The first answer is taken for both queries by an ID-only
    matcher."""
    key = hit[SOCKET].astype(object)
    complete = key.notna().all(axis=1).to_numpy()
    answer = ns(hit["response_ts"])
    got = complete & (answer != _NAT)
    # each socket and ID's answers in time order (in table order at equal times)
    rows = np.flatnonzero(got)
    rows = rows[np.lexsort((rows, answer[rows]))]
    firsts = pd.DataFrame(
        {"k": list(key.itertuples(index=False, name=None)), "first_ns": answer,
         "first_row": hit.index.to_numpy(), "first_qtype": strings_of(hit["qtype"])}
    )  # fmt: skip
    per = firsts.iloc[rows].drop_duplicates("k").set_index("k")
    answers = firsts.iloc[rows].groupby("k", sort=False).size()
    out = pd.DataFrame(index=pd.Index(firsts["k"][complete].unique(), tupleize_cols=False))
    out["answers"] = answers.reindex(out.index, fill_value=0).to_numpy(np.int64)
    out["first_ns"] = per["first_ns"].reindex(out.index, fill_value=_NAT).to_numpy(np.int64)
    out["first_row"] = per["first_row"].reindex(out.index, fill_value=-1).to_numpy(np.int64)
    out["first_qtype"] = per["first_qtype"].reindex(out.index, fill_value="").to_numpy(object)
    return out


def broken(per: pd.DataFrame) -> int:
    """How many sockets and IDs had a first answer that was not the A record's, with the
    other query's answer after it."""
    return int(((per["answers"] >= 2) & (per["first_qtype"] != "A")).sum())


def collision_finding(
    n: int, broken: int, seen: int, ids: set[int], shown: dict[str, Any], lookups: tuple[int, ...]
) -> Finding:
    """The DNS002 finding: ``n`` sockets and IDs with a collision, of ``seen`` queries."""
    return Finding(
        code="DNS002",
        name="id.collision",
        severity="error",
        confidence="high",
        summary=(
            f"{n} pair{'s' if n != 1 else ''} of queries shared one ID on one socket; "
            f"in {broken} the first answer "
            "was not the A record's, which an ID-only matcher (musl) takes for both"
        ),
        **shown,
        occurrences=n,
        seen=seen,
        lookups=lookups,
        seconds_lost=0.0,
        remediation=(
            "Use a glibc-based image (debian-slim, distroless) or a static Go binary "
            "(CGO_ENABLED=0), or upgrade musl to 1.2.4 or later."
        ),
        details={
            "answer_order_breaks_id_matching": broken,
            "ids": sorted({f"{i:#06x}" for i in ids})[:20],
        },
    )


_NAT = np.iinfo(np.int64).min
