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
from dataclasses import dataclass
from typing import Any

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
    r, race, loser_rows = race_facts(tx, pairs)
    if race.empty:
        return []
    involved = tx.loc[sorted(set(race["row_a"]) | set(race["row_b"]))]
    return [race_finding(r, evidence(involved, tx), lookups_of(lookups, loser_rows))]


def race_facts(tx: pd.DataFrame, pairs: pd.DataFrame) -> tuple[Race, pd.DataFrame, list[int]]:
    """What the finding says of these pairs (rows of same_socket_pairs of tx); the pairs
    that raced, and the row of each one's loser."""
    race, loser_rows = racing(pairs)
    losers = tx.loc[loser_rows]
    # the counted rows are one vantage point's; the table knows every one of them
    several = "vantage" in tx.columns and len(as_categorical(tx["vantage"]).categories) > 1
    r = Race(
        occurrences=len(race),
        pairs=len(pairs),
        lost_qtypes=losers["qtype"].astype(str).tolist(),
        gaps=[float(g[0]) if len(g) else np.nan for g in losers["retry_gaps"]],
        dropped_at=_dropped_on_node(tx, loser_rows),
        several=several,
        flows=set(flows(race)) if len(race) else set(),
    )
    return r, race, loser_rows


def racing(pairs: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """The pairs (from same_socket_pairs) that raced: exactly one answered at the first
    try, the other resent or never answered; and the row of each one's loser."""
    if pairs.empty:
        return pairs, []
    # one ID for both is a collision (DNS002), not this; numpy masks: the table is large
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
    loser = np.where(a_ok[hit], race["row_b"], race["row_a"])
    return race, [int(r) for r in loser]


@dataclass
class Race:
    """What the finding says, from its races: mergeable over parts of a capture (the
    lists in the order of the losers' transactions)."""

    occurrences: int  # racing pairs
    pairs: int  # same-socket A/AAAA pairs in all
    lost_qtypes: list[str]  # per race, the type of the query lost
    gaps: list[float]  # per race, the loser's first retry gap (NaN: never resent)
    dropped_at: list[str]  # per loser seen before DNAT and not after, where
    several: bool  # several vantage points
    flows: set[str]


def flows(race: pd.DataFrame) -> list[str]:
    """Each racing pair's socket, as the details name it."""
    return [
        f"{c}:{p} -> {s}:{sp}"
        for c, p, s, sp in zip(
            race["client"].astype(str),
            race["client_port"],
            race["server"].astype(str),
            race["server_port"],
            strict=True,
        )
    ]


def race_finding(r: Race, shown: dict[str, Any], lookups: tuple[int, ...]) -> Finding:
    """The DNS001 finding of these races (``shown``: its evidence fields)."""
    retried = [g for g in r.gaps if not np.isnan(g)]
    lost_s = float(sum(retried)) + 5.0 * sum(1 for g in r.gaps if np.isnan(g))
    types = pd.Series(r.lost_qtypes, dtype=object).value_counts().to_dict()
    usual = typical_gaps(np.asarray(retried))
    typical = usual[0][0] if usual else float("nan")
    where = r.dropped_at
    dropped = len(where)
    node = ", ".join(sorted(set(where))) if r.several else "this node"
    summary = (
        f"{r.occurrences} of {pair_population(r.pairs)} lost one query "
        f"({', '.join(f'{n} {t}' for t, n in types.items())}); "
        + (
            "resent after " + " or ".join(f"{g:.1f} s" for g, _ in usual[:2])
            if retried
            else "never answered"
        )
        + (f"; {dropped} seen before DNAT and not after it: dropped on {node}" if dropped else "")
    )
    return Finding(
        code="DNS001",
        name="conntrack.race",
        severity="error",
        confidence="high" if r.occurrences > 1 or retried or dropped else "medium",
        summary=summary,
        **shown,
        occurrences=r.occurrences,
        seen=r.pairs,
        lookups=lookups,
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
            **({"dropped_at": sorted(set(where))} if r.several else {}),
            "typical_retry_s": None if np.isnan(typical) else round(typical, 3),
            "flows": sorted(r.flows),
        },
    )


def _dropped_on_node(tx: pd.DataFrame, loser_rows: list[int]) -> list[str]:
    """Where each lost query a capture saw before kube-proxy's DNAT but not after (all
    its attempts, or the first: only the retry made it through) was dropped: the node's
    vantage point, the drop point of the race (pairing's lost_at)."""
    lost = tx.loc[loser_rows, "lost_at"].astype(str)
    at = lost[lost.str.startswith("between ") & lost.str.endswith(AFTER_DNAT)]
    return [text.removeprefix("between ").split(" and ")[0] for text in at]
