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
first message's time and arrival number (:func:`~dnspcap.pipeline.parts.first_messages`),
a lookup by its start and client
(:class:`~dnspcap.findings.scan.Part`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..findings.detection import scan as scan_tables
from ..findings.scan import Part
from ..pipeline.parts import client_texts, first_messages, relabelled
from ..report.summary import NAME as SUMMARY
from ..report.summary import summarize
from .window import Window

ROW_COLUMNS = ("copy_of", "nat_peer")  # transactions-table labels inside the table


def kept(n: int, dns: np.ndarray, txn: np.ndarray, w: Window) -> np.ndarray:
    """Which of the n held messages a step keeps: those of transactions not final."""
    keep = np.zeros(n, bool)
    paired = txn >= 0
    keep[dns[paired]] = ~w.final[txn[paired]]
    return keep


def part_of(
    messages: pd.DataFrame,
    dns: np.ndarray,
    txn: np.ndarray,
    w: Window,
    keep: np.ndarray,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> Part:
    """The part a step lets go: the final transactions and lookups of ``w``, scanned.
    ``dns``: the positions in ``messages`` of those paired (``txn``: each one's
    transaction, a position in ``w.full``; the messages' index is their arrival
    number); ``keep``: which messages the step keeps (:func:`kept`)."""
    full, lk = w.full, w.lk
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
    lk = relabelled(lk.take(np.flatnonzero(w.lk_final)).reset_index(drop=True), new)
    part = scan_tables(tx, lk, select=select, ignore=ignore, options=options)
    gone = messages[~keep]
    part.scans[SUMMARY] = summarize(gone, tx, lk, whole_clients=False)
    ts = messages["ts"].to_numpy("datetime64[ns]").view(np.int64)[dns]
    seq = np.asarray(messages.index, np.int64)[dns]
    first = first_messages(ts, seq, txn, len(full))[final]
    part.row_keys = (ts[first], seq[first])
    start = lk["start"].to_numpy("datetime64[ns]").view(np.int64)
    part.lookup_keys = (start, client_texts(lk["client"]))
    return part
