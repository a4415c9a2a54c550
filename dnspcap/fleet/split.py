"""One capture set too big for a worker, read as several partitions by client address.

Each partition's task reads the whole set in chunks and keeps the messages of its share
of the clients: a query's source, a response's destination (so each client's sockets,
before and after DNAT, meet in one partition). A worker then holds about 1/k of the
set's messages, plus one chunk, at the cost of reading the set k times. The partitions
are put back into capture order with each message's position in the read.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from ..reading.captureset import Vantage
from ..reading.read import read_planned
from .combine import concat

CHUNK_MESSAGES = 250_000
ROW = "_row"  # each message's position in the read of its set, while the set is apart
# messages table bytes per capture byte (3 GB for a 1.24 GB capture, README), so a
# worker's memory limit bounds the capture bytes one partition may come from
MEMORY_PER_CAPTURE_BYTE = 3


def partitions(nbytes: int, split_bytes: int | None) -> int:
    """How many client partitions a set of ``nbytes`` of files is read as."""
    if not split_bytes or nbytes <= split_bytes:
        return 1
    return -(-nbytes // split_bytes)


def read_share(
    vantage: Vantage, ports: list[int], multicast: bool, share: int, of: int
) -> pd.DataFrame:
    """A worker's task: the messages of a capture set whose client falls in partition
    ``share`` of ``of``, with their positions in the read (column ``_row``)."""
    kept, seen, last = [], 0, None
    chunks = read_planned(
        [vantage], ports=ports, multicast=multicast, chunk_messages=CHUNK_MESSAGES
    )
    for frame in chunks:
        mine = np.flatnonzero(client_share(frame, of) == share)
        part = frame.take(mine)
        part.insert(len(part.columns), ROW, mine.astype(np.int64) + seen)
        kept.append(part)
        seen += len(frame)
        last = frame
    assert last is not None  # read_planned yields at least the frame with the statistics
    out = concat(kept)
    out.attrs["dnspcap"] = dict(last.attrs["dnspcap"])
    return out


def client_share(frame: pd.DataFrame, of: int) -> np.ndarray:
    """Per message, the partition of its client address (a stable hash of its text)."""
    shares = []
    for col in ("src", "dst"):
        cat = frame[col].cat
        table = np.asarray([zlib.crc32(str(a).encode()) % of for a in cat.categories], np.int64)
        shares.append(table[np.asarray(cat.codes, np.int64)] if len(table) else
                      np.zeros(len(frame), np.int64))  # fmt: skip
    src, dst = shares
    return np.where(frame["qr"].to_numpy(bool), dst, src)


def join(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The partitions of one capture set as the set read whole: its rows in capture order
    and its statistics (alike in every partition, but for what counts rows)."""
    df = concat(parts)
    order = np.argsort(df[ROW].to_numpy(), kind="stable")
    df = df.take(order).drop(columns=ROW).reset_index(drop=True)
    stats = dict(parts[0].attrs["dnspcap"])
    stats["messages"] = len(df)
    stats["decode_errors"] = int((df["error"] != "").sum())
    stats["truncated"] = int(df["truncated"].sum())
    df.attrs["dnspcap"] = stats
    return df
