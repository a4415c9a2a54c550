"""DNS001 conntrack-race: one of a same-socket A/AAAA pair lost, then a 5 s retry.

**What it detects.** A and AAAA sent from one socket (same 5-tuple, two IDs)
within a millisecond, exactly one of them answered, the other resent from the
same port after the resolver's timeout (5 s glibc, 2.5 s musl) or never answered.

**Why it matters.** Both packets miss the conntrack table at once; both get an
entry, the loser is dropped at confirm (``insert_failed`` in ``conntrack -S``).
Every hit costs the lookup a full resolver timeout: the 5-second DNS delays of
kubernetes/kubernetes#56903.

**Wire pattern.** ``A id=x`` and ``AAAA id=y`` ~60 µs apart from port p; one
reply; at +5 s the unanswered ID again from port p (glibc resends both, now in
turn: it switched itself to single-request).

**Known false positives.** A reply lost on the way back for another reason
looks the same on the pod side; a node-side capture shows the query before DNAT
and never after it, which pins the drop on conntrack (reported as
``dropped_before_dnat``).

**Fix.** NodeLocal DNSCache (no DNAT, TCP upstream); ``options
single-request-reopen`` (glibc) in the pod's ``dnsConfig``; ``use-vc``; a kernel
with the 5.0/5.6 clash fixes. musl has no such option: use a glibc-based image.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ...arrays.categorical import as_categorical
from ...pairing.sightings import AFTER_DNAT
from ..finding import Finding
from ..registry import detector
from ._util import (
    PAIR_WINDOW,
    evidence,
    lookups_of,
    pair_population,
    same_socket_pairs,
    typical_gaps,
)


@detector("DNS001", "conntrack.race", "error", [PAIR_WINDOW])
def run(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> list[Finding]:
    """Same-socket A/AAAA pairs of which exactly one was answered at the first try."""
    pairs = same_socket_pairs(tx, opts["pair_window_s"])
    if pairs.empty:
        return []
    race, loser_rows = _races(pairs)
    if race.empty:
        return []
    losers = tx.loc[loser_rows]
    gaps = [float(g[0]) if len(g) else np.nan for g in losers["retry_gaps"]]
    retried = [g for g in gaps if not np.isnan(g)]
    lost_s = float(sum(retried)) + 5.0 * sum(1 for g in gaps if np.isnan(g))
    types = losers["qtype"].astype(str).value_counts().to_dict()
    usual = typical_gaps(np.asarray(retried))
    typical = usual[0][0] if usual else float("nan")
    where = _dropped_on_node(tx, loser_rows)
    dropped = len(where)
    # the counted rows are one vantage point's; the table knows every one of them
    several = "vantage" in tx.columns and len(as_categorical(tx["vantage"]).categories) > 1
    node = ", ".join(sorted(set(where))) if several else "this node"
    resent = " or ".join(f"{g:.1f} s" for g, _ in usual[:2])
    summary = (
        f"{len(race)} of {pair_population(len(pairs))} lost one query "
        f"({', '.join(f'{n} {t}' for t, n in types.items())}); "
        + (f"resent after {resent}" if retried else "never answered")
        + (f"; {dropped} seen before DNAT and not after it: dropped on {node}" if dropped else "")
    )
    involved = tx.loc[sorted(set(race["row_a"]) | set(race["row_b"]))]
    return [
        Finding(
            code="DNS001",
            name="conntrack.race",
            severity="error",
            confidence="high" if len(race) > 1 or retried or dropped else "medium",
            summary=summary,
            **evidence(involved, tx),
            occurrences=len(race),
            seen=len(pairs),
            lookups=lookups_of(lookups, loser_rows),
            seconds_lost=round(lost_s, 6),
            remediation=(
                "Deploy NodeLocal DNSCache, or add `options: [{name: single-request-reopen}]` "
                "to the pod's dnsConfig (glibc images; musl/Alpine has no equivalent: use a "
                "glibc-based image); check `conntrack -S` for insert_failed on the node."
            ),
            details={
                "lost_qtypes": types,
                "dropped_before_dnat": dropped,
                # with several vantage points, which one saw it (one: "this node")
                **({"dropped_at": sorted(set(where))} if several else {}),
                "typical_retry_s": None if np.isnan(typical) else round(typical, 3),
                "flows": _flows(race),
            },
        )
    ]


def _races(pairs: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """The pairs (two IDs: one ID for both is a collision, DNS002) of which one query was
    answered at the first try and the other resent or never answered; and the
    transactions table's row of each lost query. Numpy masks: the table is large."""
    distinct = pairs["id_a"].to_numpy() != pairs["id_b"].to_numpy()

    def first_try(side: str) -> np.ndarray:
        return np.asarray(
            (pairs[f"status_{side}"] == "answered").to_numpy()
            & (pairs[f"attempts_{side}"].to_numpy() == 1)
        )

    def lost(side: str) -> np.ndarray:
        return np.asarray(
            (pairs[f"attempts_{side}"].to_numpy() > 1)
            | (pairs[f"status_{side}"] == "unanswered").to_numpy()
        )

    a_ok, b_ok = first_try("a"), first_try("b")
    hit = distinct & ((a_ok & lost("b")) | (b_ok & lost("a")))
    race = pairs.iloc[np.flatnonzero(hit)]
    loser_rows = np.where(a_ok[hit], race["row_b"].to_numpy(), race["row_a"].to_numpy())
    return race, [int(r) for r in loser_rows]


def _flows(race: pd.DataFrame) -> list[str]:
    """The sockets the races happened on, client to server."""
    return sorted(
        {
            f"{c}:{p} -> {s}:{sp}"
            for c, p, s, sp in zip(
                race["client"].astype(str),
                race["client_port"],
                race["server"].astype(str),
                race["server_port"],
                strict=True,
            )
        }
    )


def _dropped_on_node(tx: pd.DataFrame, loser_rows: list[int]) -> list[str]:
    """Where each lost query a capture saw before kube-proxy's DNAT but not after (all
    its attempts, or the first: only the retry made it through) was dropped: the node's
    vantage point, the drop point of the race (pairing's lost_at)."""
    lost = tx.loc[loser_rows, "lost_at"].astype(str)
    at = lost[lost.str.startswith("between ") & lost.str.endswith(AFTER_DNAT)]
    return [text.removeprefix("between ").split(" and ")[0] for text in at]
