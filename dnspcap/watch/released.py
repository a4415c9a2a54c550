"""What a watch's step lets go, as a part of the whole capture: the final transactions and
lookups, their messages, and every detector's scan of them (:mod:`dnspcap.findings.scan`).

Each message is let go once, in the step where its transaction is final (or at once, if
it belongs to none): the parts of a watch are a partition of the capture's messages,
transactions and lookups, each paired and grouped with everything that could change it
(:mod:`dnspcap.watch.window`). Judging their scans together is therefore judging the
whole capture's: the report at the end of a watch is ``analyze``'s, made of the scans,
without the messages (``tests/test_watch_report.py``), but for what a step cannot know
yet: a client's search list, which ``analyze`` learns from the whole capture and a step
from what it holds (docs/watch.md).

A part's rows and lookups are numbered as the whole's would be: a transaction by its
first message's time and arrival number, a lookup by its start and client
(:class:`~dnspcap.findings.scan.Part`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from ..findings.detection import scan as scan_tables
from ..findings.scan import Part
from ..native import group_order
from ..pipeline.parts import client_texts
from ..report.summary import NAME as SUMMARY
from ..report.summary import summarize
from .window import Window

ROW_COLUMNS = ("copy_of", "nat_peer")  # transactions-table labels inside the table


def released(
    messages: pd.DataFrame,
    dns: np.ndarray,
    txn: np.ndarray,
    w: Window,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> tuple[Part, np.ndarray]:
    """The part a step lets go, and which of the held ``messages`` it keeps (a mask).

    ``dns``: the positions in ``messages`` of those paired (``txn``: each one's
    transaction, a position in ``w.full``). The messages' index is their arrival number."""
    full, lk = w.full, w.lk
    keep = np.zeros(len(messages), bool)
    paired = txn >= 0
    keep[dns[paired]] = ~w.final[txn[paired]]
    final = np.flatnonzero(w.final)
    new = np.full(len(full) + 1, -1, np.int64)  # a label's new label; -1 stays -1
    new[final] = np.arange(len(final))
    tx = full.take(final).reset_index(drop=True)
    for col in ROW_COLUMNS:
        if col in tx.columns:
            tx[col] = new[tx[col].to_numpy(np.int64)]
    attrs = dict(full.attrs.get("dnspcap", {}))
    attrs["straddling"] = {int(new[k]): v for k, v in attrs.get("straddling", {}).items()
                           if new[k] >= 0}  # fmt: skip
    tx.attrs["dnspcap"] = attrs
    lk = _relabelled(lk.take(np.flatnonzero(w.lk_final)).reset_index(drop=True), new)
    part = scan_tables(tx, lk, select=select, ignore=ignore, options=options)
    gone = messages[~keep]
    part.scans[SUMMARY] = summarize(gone, tx, lk, whole_clients=False)
    part.row_keys = _first_messages(messages, dns, txn, final)
    start = lk["start"].to_numpy("datetime64[ns]").view(np.int64)
    part.lookup_keys = (start, client_texts(lk["client"]))
    return part, keep


def _first_messages(
    messages: pd.DataFrame, dns: np.ndarray, txn: np.ndarray, final: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per final transaction, the time and arrival number of its first message (in time
    order, ties by arrival): what ``pair`` numbers transactions by."""
    ts = messages["ts"].to_numpy("datetime64[ns]").view(np.int64)[dns]
    seq = np.asarray(messages.index, np.int64)[dns]
    order = np.lexsort((seq, ts))
    order = order[txn[order] >= 0]
    by_txn = order[group_order(txn[order].astype(np.int32), int(txn.max(initial=-1)) + 1)]
    sizes = np.bincount(txn[order], minlength=int(txn.max(initial=-1)) + 1)
    first = by_txn[np.cumsum(sizes) - sizes]
    return ts[first[final]], seq[first[final]]


def _relabelled(lk: pd.DataFrame, new: np.ndarray) -> pd.DataFrame:
    """Lookups with their transactions_index through ``new`` (old label: new label)."""
    if not len(lk):
        return lk
    col = lk["transactions_index"]
    arr = pa.chunked_array(col.array._pa_array).combine_chunks()  # type: ignore[attr-defined]
    values = np.asarray(arr.flatten().to_numpy(zero_copy_only=False), np.int64)
    offsets = np.asarray(arr.offsets)  # a taken array's may not start at 0
    at = pa.array(offsets - offsets[0], arr.offsets.type)
    mapped = type(arr).from_arrays(at, pa.array(new[values], pa.int64()))
    out = lk.copy(deep=False)
    out["transactions_index"] = pd.arrays.ArrowExtensionArray(mapped)
    return out
