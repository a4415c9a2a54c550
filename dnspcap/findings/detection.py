"""Running the detectors over the tables: :func:`detect`.

Pairing knows nothing of detectors; detectors only read the tables. A query seen
several times (before and after DNAT, at several vantage points) is counted once: the
detectors see its first sighting, and its other sightings join the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from .finding import SEVERITIES, Finding
from .registry import catalogue
from .tablecache import forget, remember

COPIES = "copies"  # what detect() keeps for the counted transactions: see copies_of


def copies_of(full: pd.DataFrame) -> pd.DataFrame | None:
    """The sightings of queries counted elsewhere (``copy_of`` >= 0), indexed by the row
    of the one counted: their file and frames, which join a finding's evidence."""
    if "copy_of" not in full.columns:
        return None
    copy_of = full["copy_of"].to_numpy()
    rows = np.flatnonzero(copy_of >= 0)
    copies = full.iloc[rows][["file", "query_frames", "response_frames"]]
    copies.insert(0, "row", full.index.to_numpy()[rows])
    copies.index = pd.Index(full.index.to_numpy()[copy_of[rows]], name="counted")
    return copies


def detect(
    transactions: pd.DataFrame,
    lookups: pd.DataFrame,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> list[Finding]:
    """Run the detectors (all, or those selected by code, minus those ignored).

    A query seen several times (before and after kube-proxy's DNAT in a node capture,
    or at several vantage points) is counted once: detectors see its first sighting only
    (``copy_of`` is -1), which says where it was seen and lost (``seen_at``, ``lost_at``).
    """
    if "copy_of" in transactions.columns and (transactions["copy_of"].to_numpy() >= 0).any():
        full = transactions
        transactions = transactions[transactions["copy_of"].to_numpy() < 0]
        remember(transactions, COPIES, copies_of(full))
    chosen = catalogue()
    known = {d.code for d in chosen}
    wanted = set(select) if select is not None else known
    unknown = (wanted | set(ignore)) - known
    if unknown:
        raise ValueError(f"unknown detector code(s): {', '.join(sorted(unknown))}")
    found: list[Finding] = []
    run = [d for d in chosen if d.code in wanted and d.code not in set(ignore)]
    try:
        for d in sorted(run, key=lambda d: d.after is not None):  # the catch-alls last
            opts = {o.name: float((options or {}).get(o.name, o.default)) for o in d.options}
            if d.after is not None:
                found.extend(d.after(transactions, lookups, opts, list(found)))
            elif d.run is not None:
                found.extend(d.run(transactions, lookups, opts))
    finally:
        # what the detectors derived from the tables (the A/AAAA pairs: ~400 MB at 10M
        # packets) goes now, not when the tables do
        forget(transactions)
        forget(lookups)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(
        found, key=lambda f: (-order[f.severity], f.code, f.first or pd.Timestamp(0, tz="UTC"))
    )
