"""The end of a watch: the evidence of its findings read back from the capture.

A watch lets go of the messages of what is final (:mod:`dnspcap.watch.engine`); once the
findings of the whole are judged, the messages of their evidence frames are read again
from the followed files, a chunk at a time, keeping only those: the report needs them
and nothing else of the messages. The same read gives the statistics of the files as one
capture set, as ``analyze``'s read says them. (A watch of a stream keeps its evidence as
it goes, :mod:`dnspcap.watch.shown`.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from ..reading import iter_messages
from ..report.summary import evidence_messages
from .messages import concat

CHUNK_MESSAGES = 1_000_000


def read_back(
    paths: Sequence[str],
    frames: dict[str, set[int]],
    *,
    ports: Iterable[int],
    multicast: bool,
) -> pd.DataFrame:
    """The messages of these frames (per file) of the followed files read as one capture
    set, with its read statistics in their ``attrs`` (as ``read_messages`` gives them)."""
    kept: list[pd.DataFrame] = []
    last: pd.DataFrame | None = None
    for chunk in iter_messages(paths, ports=ports, multicast=multicast,
                               chunk_messages=CHUNK_MESSAGES):  # fmt: skip
        last = chunk
        got = evidence_messages(chunk, frames)
        if len(got):
            kept.append(got)
    assert last is not None  # a read yields its last chunk, empty or not
    out = concat(kept) if kept else last.iloc[:0]
    out = out.reset_index(drop=True)
    out.attrs = {"dnspcap": dict(last.attrs["dnspcap"])}
    return out
