"""DNS003 aaaa-first: the AAAA answer of a same-socket pair arrived before the A answer.

**What it detects.** A and AAAA asked together from one socket, both answered, the
AAAA's answer first.

**Why it matters.** Harmless for glibc and Go, which match an answer to its
question. With an ID-only matcher and a collision (DNS002) the A lookup gets the
AAAA's answer. On its own it shows reordering or a slower A path (an upstream
that is slow for A, or A and AAAA DNATed to different endpoints).

**Wire pattern.** ``A id=x``, ``AAAA id=y`` from port p; answer ``id=y`` before ``id=x``.

**Known false positives.** None: it is always reported as information. When the pair
also shares one ID, the order is harmful to an ID-only matcher (musl): DNS002 reports
that consequence, at error.

**Fix.** Nothing for glibc/Go clients; for musl clients see DNS002.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ...arrays.categorical import distinct
from ..finding import Finding
from ..registry import detector
from ..scan import Scan
from ._evidence import evidence_of, evidence_tables, lookup_table, lookups_in
from ._util import PAIR_WINDOW, pair_population, same_socket_pairs


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """Parallel pairs whose AAAA answer came first: information; the harm it does with an
    ID collision is DNS002's."""
    n = int(s.count("early"))
    if not n:
        return []
    pairs = int(s.count("pairs"))
    colliding = int(s.count("colliding"))
    return [
        Finding(
            code="DNS003",
            name="answer.aaaa_first",
            severity="info",
            confidence="high",
            summary=(
                f"in {n} of {pair_population(pairs)} the AAAA answer came first "
                "(harmless for glibc and Go, which match answers by question"
                + (f"; {colliding} had one ID for both: see DNS002" if colliding else "")
                + ")"
            ),
            **evidence_of(s),
            occurrences=n,
            seen=pairs,
            lookups=lookups_in(s),
            seconds_lost=0.0,
            remediation=(
                "Nothing to do for glibc and Go clients. For musl clients with colliding IDs "
                "see DNS002: a glibc-based image or a static Go binary."
            ),
            details={"with_id_collision": colliding},
        )
    ]


@detector("DNS003", "answer.aaaa_first", "info", [PAIR_WINDOW], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The same-socket pairs whose AAAA answer came first (a socket is one client's: the
    pairs, the early ones and their collisions add up across parts)."""
    pairs = same_socket_pairs(tx, opts["pair_window_s"])
    if pairs.empty:
        return Scan()
    # both answered (a missing answer is the minimum int64, which never comes "first")
    nat = np.iinfo(np.int64).min
    ra, rb = pairs["r_ns_a"].to_numpy(), pairs["r_ns_b"].to_numpy()
    first = np.flatnonzero((ra != nat) & (rb != nat) & (rb < ra))  # numpy masks: large table
    if not len(first):
        return Scan(counts={"pairs": len(pairs)})
    early = pairs.iloc[first]
    colliding = int((early["id_a"] == early["id_b"]).sum())
    rows = distinct(np.concatenate([early["row_a"].to_numpy(), early["row_b"].to_numpy()]))
    return Scan(
        tables={**evidence_tables(tx, rows), "lookups": lookup_table(lookups, rows)},
        counts={"pairs": len(pairs), "early": len(early), "colliding": colliding},
    )
