"""The whole analysis of a capture: :func:`analyze` runs the stages in turn.

read (:mod:`dnspcap.reading`) → pair (:mod:`dnspcap.pairing`) → group into lookups
(:mod:`dnspcap.grouping`) → detect (:mod:`dnspcap.findings`) → a
:class:`~dnspcap.report.Report` (:mod:`dnspcap.report`) that writes itself in any format.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from ..arrays import memory
from ..arrays.categorical import as_categorical, counts_of
from ..arrays.frames import concat, split
from ..findings import detect
from ..findings.detection import judge_scans
from ..findings.scan import Part, combine
from ..forked import processors
from ..grouping import lookups
from ..native import client_parts, group_order
from ..pairing import SKEW_ALLOWANCE_S, pair
from ..reading import read_messages
from ..reading.survey import survey
from ..report import Findings, Report
from ..report.plotdata import Plots
from ..report.summary import NAME as SUMMARY
from ..report.summary import (
    evidence_messages,
    frames_scanned,
    frames_wanted,
    of_frames,
    summarize,
)
from .parts import address_shares, analyze_part, several_clients_apart, shares
from .side import BESIDE_FROM, Summarized, detect_beside, side_by_side

Source = str | os.PathLike[str] | BinaryIO
# one vantage point's DNS messages analysed in parts of whole clients of at most this many
# (from 1.5 times as many: parts_of): the transactions and lookups of a part, not of the
# whole capture, are in memory at once, and analyze()'s messages are split into the
# parts' and let go part by part (in_parts). Measured (README, "The whole command"),
# many-clients capture: at 10M packets 6 parts peak at 0.94x the file (1.05x in 4; 1.45x
# before the split), in the same time.
PART_MESSAGES = 1_700_000
# with several processors (``workers``), DNS messages from this many on are analysed in
# parts side by side, each part in a forked process (dnspcap/forked.py): ``workers``
# parts where one would do, ``workers`` times as many of the memory's. Measured (README,
# "The whole command"): two parts of a 2M capture take as long as the whole, one after
# the other; side by side, about half.
PARALLEL_FROM = 600_000
Stage = Callable[[str], None]
Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def analyze(
    source: Source | Iterable[Source],
    *,
    ports: Iterable[int] = (53,),
    multicast: bool = False,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
    stage: Stage | None = None,
    vantages: Mapping[str, Iterable[str]] | None = None,
    capture_end: pd.Timestamp | str | None = None,
    skew: float = SKEW_ALLOWANCE_S,
    progress: Callable[[int], None] | None = None,
    part_messages: int | None = PART_MESSAGES,
    plots: Callable[[Plots], None] | None = None,
    workers: int = 1,
) -> Report:
    """Read the capture(s), pair, group into lookups, run the detectors.

    Several files are one capture set (see :func:`dnspcap.read_messages`: a rotated set
    is one recording; ``vantages`` names vantage points). ``capture_end`` says when the
    capture stopped, when the files do not (pcap records no stop time): a query without
    an answer is *pending* only within a resolver timeout of it. ``skew``: how much
    earlier than its query a response may be stamped and still answer it (s).

    ``stage`` is called with the name of each step as it starts (``reading``,
    ``pairing``, ``grouping lookups``, ``detecting``) and ``progress`` with the bytes
    of each read: the command line shows them. ``plots`` is called with the figures'
    data as soon as it is known, before the detectors judge: the command line starts
    drawing the figures then (:class:`~dnspcap.report.drawing.Painter`).

    ``workers``: how many processors may analyse parts of the clients side by side
    (``0``: every processor this process may use; the command line's default). A
    capture of at least ``PARALLEL_FROM`` DNS messages is then analysed in parts, with
    the same report, and its tables are made again when asked for
    (``report.transactions``): 1, the default here, keeps them.
    """
    say = stage or (lambda _: None)
    say("reading")
    ports = tuple(ports)  # read here, noted in the report and read again if asked
    read = dict(ports=ports, multicast=multicast, vantages=vantages)
    box = [read_messages(source, progress=progress, **read)]  # type: ignore[arg-type]
    paths = _paths(source)

    def again() -> Tables:  # the whole's tables, read again from the files
        m = read_messages(paths, **read)  # type: ignore[arg-type]
        m.attrs["dnspcap"]["ports"] = sorted(set(ports))
        return _tables(m, multicast, capture_end, skew)

    return _analyze(
        box, ports=ports, multicast=multicast, select=select, ignore=ignore,
        options=options, stage=stage, capture_end=capture_end, skew=skew,
        held=lambda: survey(paths), part_messages=part_messages,
        again=again if all(_named(p) for p in paths) else None, plots=plots,
        workers=workers,
    )  # fmt: skip


def analyze_messages(
    messages: pd.DataFrame,
    *,
    ports: Iterable[int] = (53,),
    held: Callable[[], dict[str, object]] | None = None,
    multicast: bool = False,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
    stage: Stage | None = None,
    capture_end: pd.Timestamp | str | None = None,
    skew: float = SKEW_ALLOWANCE_S,
    part_messages: int | None = PART_MESSAGES,
    workers: int = 1,
) -> Report:
    """:func:`analyze` from the messages table on: pair, group, detect. A cluster run
    (:mod:`dnspcap.fleet`) reads on its workers and goes on from here. ``ports``: those
    read; ``held``: what the capture holds (:func:`~dnspcap.reading.survey.survey` of its
    files), asked only when it holds no DNS message (the verdict's first question).

    More than 1.5 times ``part_messages`` DNS messages of one vantage point are analysed
    in parts of whole clients of about that many, one after another (:mod:`.parts`,
    :func:`parts_of`): the same report, without the whole capture's transactions and
    lookups in memory at once (they are made again if asked for: ``report.transactions``;
    the figures do not need them). None: never. ``workers``: as :func:`analyze`'s."""
    return _analyze(
        [messages], ports=ports, held=held, multicast=multicast, select=select,
        ignore=ignore, options=options, stage=stage, capture_end=capture_end, skew=skew,
        part_messages=part_messages, again=None, workers=workers,
    )  # fmt: skip


def _analyze(
    box: list[pd.DataFrame],
    *,
    ports: Iterable[int],
    held: Callable[[], dict[str, object]] | None,
    multicast: bool,
    select: Iterable[str] | None,
    ignore: Iterable[str],
    options: Mapping[str, float] | None,
    stage: Stage | None,
    capture_end: pd.Timestamp | str | None,
    skew: float,
    part_messages: int | None,
    again: Callable[[], Tables] | None,
    plots: Callable[[Plots], None] | None = None,
    workers: int = 1,
) -> Report:
    """analyze_messages() of the table in ``box``. With ``again`` (how to read the whole
    again), the table is the analysis's own: in parts, it is split into the parts' tables
    and let go, each part's after its analysis (:func:`in_parts`)."""
    say = stage or (lambda _: None)
    messages = box[0]
    stats = messages.attrs["dnspcap"]
    stats["ports"] = sorted(set(ports))
    is_dns = (messages["service"] == "dns").to_numpy() if multicast else None  # else all
    n = int(is_dns.sum()) if is_dns is not None else len(messages)
    if not n and held is not None:
        stats["survey"] = held()
    workers = workers if workers > 0 else processors()
    k = parts_of(n, part_messages, workers)
    share, at = client_shares(messages, k) if k > 1 else (None, [])
    if sum(len(w) > 0 for w in at) > 1:  # several clients' shares
        side = f", {min(workers, k)} at a time" if workers > 1 else ""
        say(f"pairing, grouping, detecting ({k} parts of the clients{side})")
        del messages, is_dns
        settings = dict(select=select, ignore=ignore, options=options, capture_end=capture_end,
                        skew=skew)  # fmt: skip
        return in_parts(box, at, multicast=multicast, again=again, plots=plots, workers=workers,
                        share=share, **settings)  # type: ignore[arg-type]  # fmt: skip
    dns = messages[is_dns] if is_dns is not None else messages
    say("pairing")
    tx = pair(dns, capture_end=capture_end, skew=skew)
    say("grouping lookups")
    lk = lookups(tx)
    summary = None
    if plots is not None:  # the summary a report makes anyway, made before the detectors
        summary = summarize(messages, tx, lk)
        plots(Plots.of(summary))
    say("detecting")
    judged = detect_beside if workers > 1 and len(tx) >= BESIDE_FROM else detect
    found = judged(tx, lk, select=select, ignore=ignore, options=options)
    return Report(messages, tx, lk, Findings(found), summary=summary)


def in_parts(
    box: list[pd.DataFrame],
    at: list[np.ndarray],
    *,
    multicast: bool,
    again: Callable[[], Tables] | None,
    plots: Callable[[Plots], None] | None = None,
    workers: int = 1,
    share: np.ndarray | None = None,
    **settings: Any,
) -> Report:
    """The report of the messages in ``box`` analysed in parts (each part's positions in
    them: ``at``; each message's part, when known: ``share``), ``workers`` at a time:
    this process analyses every ``workers``-th part, a child forked at the start each
    other series (:mod:`.side`; a child that fails, or where there is no fork, leaves
    its parts to this process).

    Without ``again``, the messages are the caller's: each part's are taken from them,
    and the report keeps them. With it, they are split into the parts' tables and let
    go (:func:`~dnspcap.arrays.frames.split`); each part's table is let go once that
    part is analysed, but for the messages of the frames its scans name, among which
    are the findings' evidence. The whole's tables are then made ``again`` if asked for.
    At 10M packets this keeps the parts' messages, not the whole's and a part's copy,
    in memory beside a part's work."""
    stats = box[0].attrs["dnspcap"]
    whole = None if again is not None else box[0]
    pieces: list[pd.DataFrame | None] = []
    if whole is None:
        pieces.extend(split(box, at, workers, share))
    del share
    kept: list[tuple[pd.DataFrame, np.ndarray]] = []

    def run(j: int, summarized: Summarized | None) -> tuple[Part, np.ndarray | None]:
        """Part j analysed: its scans, and which of its messages its scans name (None
        when the messages are the caller's)."""
        m = whole.take(at[j]) if whole is not None else pieces[j]
        assert m is not None
        done = analyze_part(m, positions=at[j], multicast=multicast, summarized=summarized,
                            **settings)  # fmt: skip
        mine = of_frames(m, frames_scanned(done.part.scans)) if whole is None else None
        return done.part, mine

    def analysed(j: int, mine: np.ndarray | None) -> None:
        if whole is None:
            m, pieces[j] = pieces[j], None  # the part's own table: let go after the part
            assert m is not None and mine is not None
            kept.append((m[mine], at[j][mine]))
        memory.give_back()  # the part's tables are gone: their pages go back too

    def drop(j: int) -> None:  # in a child: a part's table it need not keep
        pieces[j] = None

    parts, told = side_by_side(run, len(at), workers, done=analysed, plots=plots,
                               drop=drop if whole is None else None)  # fmt: skip
    scans = combine(parts)
    if plots is not None and not told:
        plots(Plots.of(scans[SUMMARY]))
    keep = {k: v for k, v in settings.items() if k in ("select", "ignore", "options")}
    found = judge_scans(scans, **keep)
    if whole is not None:
        shown = evidence_messages(whole, frames_wanted(found))

        def tables() -> Tables:
            return _tables(whole, multicast, settings.get("capture_end"), settings["skew"])

    else:
        named = concat([m for m, _ in kept])
        order = np.argsort(np.concatenate([w for _, w in kept]), kind="stable")
        shown = evidence_messages(named.take(order).reset_index(drop=True), frames_wanted(found))
    return Report(
        whole, None, None, Findings(found), summary=scans[SUMMARY], evidence=shown,
        stats=stats, gather=tables if whole is not None else again,
    )  # fmt: skip


def parts_of(n: int, part_messages: int | None, workers: int = 1) -> int:
    """How many parts n DNS messages are analysed in: parts of at most ``part_messages``,
    once they hold more than one and a half parts' worth (a part's fixed work costs
    more than the memory a remainder saves: at 2M messages, 2 parts one after the other
    took 8-19% longer to save a quarter of the peak). With ``workers`` processors, from
    ``PARALLEL_FROM`` messages on, ``workers`` times as many: as many parts in memory
    at once as there are processors, each no bigger than the memory's parts."""
    k = 1 if not part_messages or 2 * n <= 3 * part_messages else -(-n // part_messages)
    return k * workers if workers > 1 and n >= PARALLEL_FROM else k


def _tables(
    messages: pd.DataFrame, multicast: bool, capture_end: pd.Timestamp | str | None, skew: float
) -> Tables:
    """The whole's three tables made from its messages."""
    dns = messages[messages["service"] == "dns"] if multicast else messages
    tx = pair(dns, capture_end=capture_end, skew=skew)
    return messages, tx, lookups(tx)


def client_shares(messages: pd.DataFrame, k: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`~.parts.shares` of the messages, and :func:`positions_of` them, made in one
    C pass over the address codes and a counting sort (``client_parts``): 10M messages
    in 12 shares took 0.2 s for the shares and 0.16 s for the positions, with numpy's
    temporaries (a full-length array for each step, the int32 copy group_order needed)."""
    n = len(messages)
    if not several_clients_apart(messages, k) or k >= 2**15 or n >= 2**31:
        share = shares(messages, k)
        return share, positions_of(share, k)
    src, dst = (as_categorical(messages[c]) for c in ("src", "dst"))
    share, order = np.empty(n, np.int16), np.empty(n, np.int32)
    counts = np.empty(k, np.int64)
    client_parts(
        messages["qr"].to_numpy(bool), np.asarray(src.codes), np.asarray(dst.codes),
        address_shares(src, k).view(np.uint16), address_shares(dst, k).view(np.uint16),
        share.view(np.uint16), order, counts,
    )  # fmt: skip
    bounds = np.cumsum(np.r_[0, counts])
    return share, [order[a:b] for a, b in itertools.pairwise(bounds)]


def positions_of(share: np.ndarray, k: int) -> list[np.ndarray]:
    """Each of the k shares' positions, ascending: one counting sort (``group_order``),
    not a pass over the shares for each (10M messages in 12 shares: 0.07 s, not 0.19),
    as int32 where they fit (a 10M capture's parts hold 40 MB of them, not 80); the
    shares counted in C, not by np.bincount's int64 copy of them (0.1 s of page faults)."""
    if len(share) >= 2**31:
        return [np.flatnonzero(share == j) for j in range(k)]
    order = group_order(share.astype(np.int32), k)
    bounds = np.cumsum(np.r_[0, counts_of(share, k)])
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


def _named(source: Source) -> bool:
    """Whether the source can be read again: a file's path, not a stream (``"-"``: stdin)."""
    return isinstance(source, (str, os.PathLike)) and os.fspath(source) != "-"


def _paths(source: Source | Iterable[Source]) -> list[Source]:
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
        return [source]  # type: ignore[list-item]
    return list(source)  # type: ignore[arg-type]
