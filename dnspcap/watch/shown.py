"""The evidence a watch's report will show, kept as the watch goes: per step, the
messages of the frames its part's scans name (:func:`~dnspcap.report.summary.
frames_scanned`), a few in a hundred; once the findings of the whole are judged, those
of their evidence frames are the report's (as ``analyze`` keeps them part by part,
:func:`dnspcap.pipeline.in_parts`).

A watch of a stream thus writes its report without reading the stream's bytes again.
Given a folder, each step's are written there at once, so memory holds none of them.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..findings.scan import Part
from ..report.summary import evidence_messages, frames_scanned, of_frames
from .compact import compacted
from .messages import concat, prune

_numbers = itertools.count()


class Shown:
    """Per step, the messages its part's scans name (in memory, or in ``spill``)."""

    def __init__(self, spill: Path | None = None, *, keep: bool = True) -> None:
        self.spill, self.keep = spill, keep
        self.steps: list[pd.DataFrame | Path] = []
        self.empty: pd.DataFrame | None = None  # the table's columns, no row

    def like(self, chunk: pd.DataFrame) -> None:
        """The messages table's columns, from a chunk fed (the evidence when none)."""
        if self.empty is None:
            self.empty = chunk.iloc[:0]

    def taken(self, held: pd.DataFrame) -> Callable[[Part], pd.DataFrame | Path | None]:
        """What a step keeps, given its part (done where the part is scanned; named
        here: :mod:`.aside`): of the messages it held (their index: their arrival
        number), those of the frames its part's scans name once compacted (a finding
        shows the first few hundred transactions of a table: those of the whole are
        among each part's first, :mod:`dnspcap.watch.compact`); written to the
        folder, if there is one."""
        path = None if self.spill is None else self.spill / f"shown-{next(_numbers):08d}.pickle"
        keep = self.keep

        def take(part: Part) -> pd.DataFrame | Path | None:
            if not keep:
                return None
            scans = {code: compacted(s) for code, s in part.scans.items()}
            named = of_frames(held, frames_scanned(scans))
            if not named.any():
                return None
            got = prune(held[named])
            got.attrs = {}
            if path is None:
                return got
            with path.open("wb") as f:
                pickle.dump(got, f, protocol=pickle.HIGHEST_PROTOCOL)
            return path

        return take

    def add(self, step: pd.DataFrame | Path | None) -> None:
        """A step's, as :meth:`taken` took it."""
        if step is not None:
            self.steps.append(step)

    def drop(self) -> None:
        """Let go of what was kept (the evidence is read from the files instead)."""
        for step in self.steps:
            if isinstance(step, Path):
                step.unlink(missing_ok=True)
        self.steps = []

    def evidence(self, frames: dict[str, set[int]], stats: dict[str, object]) -> pd.DataFrame:
        """The messages of these frames (per file), in arrival order, each once (a
        message held over several steps may be named in more than one); ``stats`` in
        their ``attrs``. The files written are read once, and go: what is kept of them
        is these frames' messages."""
        kept = [evidence_messages(_loaded(s), frames) for s in self.steps]
        kept = [k for k in kept if len(k)]
        self.steps = list(kept)
        if kept:
            out = concat(kept)
            labels = out.index.to_numpy(np.int64)
            order = np.argsort(labels, kind="stable")
            first = np.ones(len(order), bool)
            first[1:] = labels[order][1:] != labels[order][:-1]
            out = out.take(order[first])
        else:
            out = self.empty if self.empty is not None else pd.DataFrame()
        out = out.reset_index(drop=True)
        out.attrs = {"dnspcap": dict(stats)}
        return out


def _loaded(step: pd.DataFrame | Path) -> pd.DataFrame:
    if isinstance(step, pd.DataFrame):
        return step
    with step.open("rb") as f:
        got: pd.DataFrame = pickle.load(f)
    step.unlink()
    return got
