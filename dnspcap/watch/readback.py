"""The end of a watch: the evidence of its findings read back from the capture.

A watch lets go of the messages of what is final (:mod:`dnspcap.watch.engine`); once the
findings of the whole are judged, the messages of their evidence frames are read again
from the followed files, a chunk at a time, keeping only those: the report needs them
and nothing else of the messages. The same read gives the statistics of the files as one
capture set, as ``analyze``'s read says them. (A watch of a stream kept its evidence as
it went, :mod:`dnspcap.watch.shown`; a stream's spool can be read here too, under the
stream's name.)
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from ..reading import iter_messages
from ..reading.arriving import read_arriving
from ..report.summary import evidence_messages
from .messages import concat

CHUNK_MESSAGES = 1_000_000


class _Named(io.RawIOBase):
    """A spooled stream's file, read under the name the watch knew the stream by."""

    live = False

    def __init__(self, path: str, name: str) -> None:
        self.raw = open(path, "rb")  # noqa: SIM115 (closed with the wrapper)
        self.name = name
        self.on_idle: Any = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        return self.raw.readinto(b)

    def close(self) -> None:
        self.raw.close()
        super().close()


def read_back(
    sources: Sequence[tuple[str, str]],
    frames: dict[str, set[int]],
    *,
    ports: Iterable[int],
    multicast: bool,
) -> pd.DataFrame:
    """The messages of these frames (per file), with the read statistics of the capture in
    its ``attrs`` (as ``read_messages`` gives them).

    ``sources``: (the name the watch read it by, its path) per file: a followed file is
    read as itself (its name is its path), a spooled stream under its stream's name."""
    kept: list[pd.DataFrame] = []
    last: list[pd.DataFrame] = []

    def take(chunk: pd.DataFrame) -> None:
        last[:] = [chunk]
        got = evidence_messages(chunk, frames)
        if len(got):
            kept.append(got)

    if all(name == path for name, path in sources):
        for chunk in iter_messages(
            [path for _, path in sources], ports=ports, multicast=multicast,
            chunk_messages=CHUNK_MESSAGES,
        ):  # fmt: skip
            take(chunk)
    else:
        for name, path in sources:
            with _Named(path, name) as stream:
                read_arriving(stream, take, ports=ports, multicast=multicast,
                              chunk_messages=CHUNK_MESSAGES, every_s=3600)  # fmt: skip
    stats = dict(last[0].attrs["dnspcap"]) if last else {}
    out = concat(kept) if kept else last[0].iloc[:0]
    out = out.reset_index(drop=True)
    out.attrs = {"dnspcap": stats}
    return out
