"""DNS001 (the conntrack race) over a watch, and its line as soon as a race is certain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...findings import Finding, frame_filter
from ...findings.detectors._util import same_socket_pairs
from ...findings.detectors.conntrack_race import Race, race_facts, race_finding
from ..evidence import Evidence
from ..window import Window
from .base import Event, State

Key = tuple[int, int, int]


@dataclass
class RaceState(State):
    code = "DNS001"
    early_only = True
    pairs: int = 0
    # per race, by the place of its pair's A row: the loser's type, first retry gap,
    # where it was dropped ("" if not seen so), and the pair's socket
    races: list[tuple[Key, str, float, str, str]] = field(default_factory=list)
    several: bool = False
    evidence: Evidence = field(default_factory=Evidence)
    lookups: set[int] = field(default_factory=set)

    def observe(self, w: Window, opts: Mapping[str, float]) -> None:
        pairs = same_socket_pairs(w.tx, opts["pair_window_s"])
        if pairs.empty:
            return
        done = w.final[pairs["row_a"].to_numpy(np.int64)]
        pairs = pairs[done]
        r, race, losers = race_facts(w.tx, pairs)
        self.pairs += r.pairs
        self.several |= r.several
        if race.empty:
            return
        keys = w.keys(race["row_a"].to_numpy(np.int64))
        dropped = _dropped(w.tx, losers, r.dropped_at)
        for i, (qtype, gap, flow) in enumerate(
            zip(r.lost_qtypes, r.gaps, _flows(race), strict=True)
        ):
            self.races.append((_key(keys[i]), qtype, gap, dropped[i], flow))
        self.evidence.add(w, np.concatenate([race["row_a"], race["row_b"]]))
        self.lookups.update(w.lookup_ids(losers))

    def merge(self, other: State) -> None:
        assert isinstance(other, RaceState)
        self.pairs += other.pairs
        self.races += other.races
        self.several |= other.several
        self.evidence.merge(other.evidence)
        self.lookups |= other.lookups

    def findings(self, opts: Mapping[str, float], found: Sequence[Finding]) -> list[Finding]:
        if not self.races:
            return []
        races = sorted(self.races, key=lambda r: r[0])
        r = Race(
            occurrences=len(races),
            pairs=self.pairs,
            lost_qtypes=[x[1] for x in races],
            gaps=[x[2] for x in races],
            dropped_at=[x[3] for x in races if x[3]],
            several=self.several,
            flows={x[4] for x in races},
        )
        return [race_finding(r, self.evidence.fields(), tuple(sorted(self.lookups)))]

    def early(self, w: Window, opts: Mapping[str, float]) -> list[Event]:
        """A race is certain once the loser was resent or its timeout passed: pairing
        says so of rows that are not final yet; each is printed once, keyed by its
        pair's A row."""
        pairs = same_socket_pairs(w.tx, opts["pair_window_s"])
        if pairs.empty:
            return []
        r, race, losers = race_facts(w.tx, pairs)
        out = []
        keys = w.keys(race["row_a"].to_numpy(np.int64)) if len(race) else []
        for i, loser in enumerate(losers):
            row = w.tx.loc[loser]
            gap = r.gaps[i]
            how = f"resent after {gap:.1f} s" if not np.isnan(gap) else "never answered"
            pair = race.iloc[i]
            frames = [f for lab in (pair["row_a"], pair["row_b"]) for _, f in w.frames(int(lab))]
            out.append(
                Event(
                    "DNS001", "error", _confirmed_at(row),
                    f"conntrack race: the {row['qtype']} of {row['qname']} from "
                    f"{row['client']}:{row['client_port']} to {row['server']}:"
                    f"{row['server_port']} was lost; {how}",
                    frame_filter(frames),
                    ("DNS001", *_key(keys[i])),
                )  # fmt: skip
            )
        return out


def _key(k: np.ndarray) -> Key:
    return (int(k[0]), int(k[1]), int(k[2]))


def _flows(race: pd.DataFrame) -> list[str]:
    from ...findings.detectors.conntrack_race import flows

    return flows(race)


def _dropped(tx: pd.DataFrame, losers: list[int], where: list[str]) -> list[str]:
    """Per loser, where it was dropped ("" where the capture does not show it)."""
    if not where:
        return [""] * len(losers)
    lost = tx.loc[losers, "lost_at"].astype(str).tolist()
    it = iter(where)
    return [next(it) if t.startswith("between ") and t.endswith(" after DNAT") else "" for t in lost]


def _confirmed_at(row: pd.Series) -> int:
    """When a race became certain: the loser's retry, else its timeout."""
    if row["attempts"] > 1 and len(row["retry_gaps"]):
        return int(pd.Timestamp(row["query_ts"]).value + row["retry_gaps"][0] * 1e9)
    return int(pd.Timestamp(row["last_query_ts"]).value + 5e9)
