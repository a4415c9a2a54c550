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

from ...arrays.categorical import as_categorical, flatten
from ...pairing.sightings import AFTER_DNAT
from ..finding import Finding
from ..registry import detector
from ..scan import ROW, Scan
from ._evidence import evidence_of, evidence_tables, lookup_table, lookups_in
from ._util import PAIR_WINDOW, pair_population, same_socket_pairs, typical_gaps


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """Same-socket A/AAAA pairs of which exactly one was answered at the first try."""
    race = s.table("races")
    if not len(race):
        return []
    n_pairs = int(s.count("pairs"))
    gaps = race["gap_s"].to_numpy(float)
    retried = gaps[~np.isnan(gaps)].tolist()
    lost_s = float(sum(retried)) + 5.0 * int(np.isnan(gaps).sum())
    types = race["qtype"].astype(str).value_counts().to_dict()
    usual = typical_gaps(np.asarray(retried))
    typical = usual[0][0] if usual else float("nan")
    where = [str(w) for w in race["dropped_at"][race["dropped"].to_numpy(bool)]]
    dropped = len(where)
    # the counted rows are one vantage point's; the tables know every one of them
    vantages = s.table("vantages")
    several = len(vantages) > 0 and len(set(vantages["vantage"].astype(str))) > 1
    node = ", ".join(sorted(set(where))) if several else "this node"
    resent = " or ".join(f"{g:.1f} s" for g, _ in usual[:2])
    summary = (
        f"{len(race)} of {pair_population(n_pairs)} lost one query "
        f"({', '.join(f'{n} {t}' for t, n in types.items())}); "
        + (f"resent after {resent}" if retried else "never answered")
        + (f"; {dropped} seen before DNAT and not after it: dropped on {node}" if dropped else "")
    )
    return [
        Finding(
            code="DNS001",
            name="conntrack.race",
            severity="error",
            confidence="high" if len(race) > 1 or retried or dropped else "medium",
            summary=summary,
            **evidence_of(s),
            occurrences=len(race),
            seen=n_pairs,
            lookups=lookups_in(s),
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
                "flows": sorted(set(race["flow"].astype(str))),
            },
        )
    ]


@detector("DNS001", "conntrack.race", "error", [PAIR_WINDOW], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The races, one row each in the order of their A query's row: a pair is one
    socket's, so one client's; what the judge sums, counts and takes medians of (the
    lost query's first retry gap and type, where it was dropped, the socket) goes with it.
    """
    # the counted rows are one vantage point's; the table knows every one of them
    vantages = {}
    if "vantage" in tx.columns:
        known = as_categorical(tx["vantage"]).categories.astype(str)
        vantages["vantages"] = pd.DataFrame({"vantage": known})
    pairs = same_socket_pairs(tx, opts["pair_window_s"])
    if pairs.empty:
        return Scan(tables=vantages)
    race, loser_rows = _races(pairs)
    if race.empty:
        return Scan(tables=vantages, counts={"pairs": len(pairs)})
    order = np.argsort(race["row_a"].to_numpy(np.int64), kind="stable")  # the whole's order
    race, loser_rows = race.iloc[order], loser_rows[order]
    where = _dropped_on_node(tx, loser_rows)
    races = pd.DataFrame(
        {
            ROW: race["row_a"].to_numpy(np.int64),
            "gap_s": _first_gaps(tx, loser_rows),
            "qtype": tx.loc[loser_rows, "qtype"].astype(str).to_numpy(),
            "dropped": where.notna().to_numpy(),
            "dropped_at": where.fillna("").astype(str).to_numpy(),
            "flow": _flows(race),
        }
    )
    involved = np.concatenate([race["row_a"].to_numpy(), race["row_b"].to_numpy()])
    return Scan(
        tables={
            **vantages,
            "races": races,
            **evidence_tables(tx, involved),
            "lookups": lookup_table(lookups, loser_rows),
        },
        counts={"pairs": len(pairs)},
    )


def _races(pairs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
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
    return race, np.asarray(loser_rows, np.int64)


def _first_gaps(tx: pd.DataFrame, loser_rows: np.ndarray) -> np.ndarray:
    """Per lost query (row label), the gap to its first resend, NaN if never resent."""
    values, parent = flatten(tx["retry_gaps"], tx.index.get_indexer(pd.Index(loser_rows)))
    out = np.full(len(loser_rows), np.nan)
    first = np.r_[True, parent[1:] != parent[:-1]] if len(parent) else np.zeros(0, bool)
    out[parent[first]] = np.asarray(values, float)[first]
    return out


def _flows(race: pd.DataFrame) -> list[str]:
    """Per race, the socket it happened on, client to server."""
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


def _dropped_on_node(tx: pd.DataFrame, loser_rows: np.ndarray) -> pd.Series:
    """Per lost query, where a capture that saw it before kube-proxy's DNAT but not after
    (all its attempts, or the first: only the retry made it through) had it dropped: the
    node's vantage point, the drop point of the race (pairing's lost_at); else missing."""
    lost = tx.loc[loser_rows, "lost_at"].astype(str).reset_index(drop=True)
    at = lost.str.startswith("between ") & lost.str.endswith(AFTER_DNAT)
    node = lost.str.removeprefix("between ").str.split(" and ").str[0]
    out: pd.Series = node.where(at, None)
    return out
