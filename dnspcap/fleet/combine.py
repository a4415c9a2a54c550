"""The messages of several capture sets, read apart, as the one table read together gives.

In process, one reader reads every set in turn (:func:`dnspcap.read_messages`): one set's
rows are in capture order, several sets' rows are merged in time order (ties by file,
then frame), and the statistics add up. Here each set was read by a worker on its own;
this puts their frames together the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..arrays.frames import columns_of, concat

__all__ = ["combine", "concat", "stats"]


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One messages table of the frames of the capture sets, in the order of the plan."""
    if len(frames) == 1:
        out = frames[0]
        out.attrs["dnspcap"].pop("spans", None)
        return out
    cols = columns_of(frames)
    # time order, ties broken by file (in the order of the plan), then frame
    files = [str(f) for fr in frames for f in fr.attrs["dnspcap"]["files"]]
    position = {f: i for i, f in enumerate(files)}
    file_rank = np.asarray([position[str(f)] for f in cols["file"].categories], np.int64)
    file = file_rank[np.asarray(cols["file"].codes, np.int64)]
    ts = cols["ts"].to_numpy("datetime64[ns]").view(np.int64)
    order = np.lexsort((cols["frame"].to_numpy(), file, ts))
    out = pd.DataFrame({k: v.take(order) for k, v in cols.items()}, copy=False)
    out.attrs["dnspcap"] = stats([f.attrs["dnspcap"] for f in frames], out)
    return out


def stats(parts: list[dict[str, Any]], df: pd.DataFrame | None = None) -> dict[str, Any]:
    """The read statistics of the sets read apart, as one read of them all says them
    (``df``: the messages read, or None: each part's own counts of them add up)."""
    counts: dict[str, int] = {}
    for p in parts:
        for k, v in p["counts"].items():
            counts[k] = counts.get(k, 0) + int(v)
    return {
        "files": list(dict.fromkeys(f for p in parts for f in p["files"])),
        "vantages": [v for p in parts for v in p["vantages"]],
        "capture_end": {k: v for p in parts for k, v in p["capture_end"].items()},
        "time_digits": max(p["time_digits"] for p in parts),
        "packets": sum(int(p["packets"]) for p in parts),
        **(
            messages_counts(df)
            if df is not None
            else {
                k: sum(int(p[k]) for p in parts) for k in ("messages", "decode_errors", "truncated")
            }
        ),
        "counts": dict(sorted(counts.items())),
        "warnings": [w for p in parts for w in p["warnings"]],
        "icmp_errors": [e for p in parts for e in p["icmp_errors"]],
    }


def messages_counts(df: pd.DataFrame) -> dict[str, int]:
    """What the statistics count of a messages table: its messages, decode errors and
    messages cut short by the capture."""
    return {
        "messages": len(df),
        "decode_errors": int((df["error"] != "").sum()),
        "truncated": int(df["truncated"].sum()),
    }
