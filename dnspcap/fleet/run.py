"""analyze() and read_messages() with a Dask client: each capture set read on a worker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from ..errors import CaptureError, DnspcapError
from ..pairing import SKEW_ALLOWANCE_S
from ..pipeline import PART_MESSAGES, Source, Stage
from ..pipeline import analyze as analyze_here
from ..reading.captureset import Vantage, overlaps, plan
from ..reading.containers import is_url
from ..reading.read import DEFAULT_PORTS, check_ports, not_rotated, read_planned
from ..reading.survey import survey
from ..report import Report
from ..report.plotdata import Plots
from .cluster import distributed
from .combine import combine, messages_counts, stats
from .parts import analyze_sets
from .split import CHUNK_MESSAGES as CHUNK
from .split import MEMORY_PER_CAPTURE_BYTE, join, partitions, read_share

Progress = Callable[[int, int, int], None]  # capture sets read, of how many, bytes read


def analyze(
    source: Source | Iterable[Source],
    *,
    client: Any = None,
    ports: Iterable[int] = DEFAULT_PORTS,
    multicast: bool = False,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
    stage: Stage | None = None,
    vantages: Mapping[str, Iterable[str]] | None = None,
    capture_end: pd.Timestamp | str | None = None,
    skew: float = SKEW_ALLOWANCE_S,
    progress: Callable[[int], None] | None = None,
    sets_done: Progress | None = None,
    split_bytes: int | None = None,
    part_messages: int | None = PART_MESSAGES,
    plots: Callable[[Plots], None] | None = None,
    workers: int = 1,
) -> Report:
    """Read the capture(s), pair, group into lookups, run the detectors: see
    :func:`dnspcap.pipeline.analyze`. With ``client`` (a ``distributed.Client``) each
    capture set is read on the cluster's workers, where the files lie; the report is the
    one the in-process run gives. ``sets_done`` is told, as each set is read, how many
    are done, of how many, and the bytes read so far (the command line shows them).
    ``split_bytes``: see :func:`read_messages`; ``part_messages``: see
    :func:`dnspcap.pipeline.analyze_messages` (in process only: a cluster's parts are
    its capture sets and their client shares); ``plots``: see
    :func:`dnspcap.pipeline.analyze` (in process only: a cluster's report draws its
    figures when they are written); ``workers``: see :func:`dnspcap.pipeline.analyze`
    (in process only: a cluster's workers are its own)."""
    if client is None:
        return analyze_here(
            source, ports=ports, multicast=multicast, select=select, ignore=ignore,
            options=options, stage=stage, vantages=vantages, capture_end=capture_end,
            skew=skew, progress=progress, part_messages=part_messages, plots=plots,
            workers=workers,
        )  # fmt: skip
    say = stage or (lambda _: None)
    say("reading")
    wanted = sorted(check_ports(ports))
    sets, frames = _read(client, _sources(source), vantages, wanted, multicast, split_bytes,
                         sets_done)  # fmt: skip
    st = _stats(client, frames)
    st["ports"] = wanted
    say("pairing, grouping, detecting")
    return analyze_sets(
        client, frames, [str(f) for v in sets for f in v.sources], stats=st,
        multicast=multicast, select=select, ignore=ignore, options=options,
        capture_end=capture_end, skew=skew,
        # what the capture held instead of DNS, looked at where the files lie
        held=lambda: client.submit(survey, _sources(source), pure=False).result(),
    )  # fmt: skip


def read_messages(
    source: Source | Iterable[Source],
    *,
    client: Any,
    ports: Iterable[int] = DEFAULT_PORTS,
    multicast: bool = False,
    vantages: Mapping[str, Iterable[str]] | None = None,
    sets_done: Progress | None = None,
    split_bytes: int | None = None,
) -> pd.DataFrame:
    """:func:`dnspcap.read_messages` on a Dask cluster: the files are grouped into capture
    sets on a worker (peeking at them where they lie), each set is read on a worker, and
    the frames are put together into the table one read of them all gives.

    A set of more than ``split_bytes`` of files (default: what the smallest worker's
    memory limit allows, see :mod:`dnspcap.fleet.split`) is read as several partitions
    by client address, each by one task."""
    wanted = sorted(check_ports(ports))
    _, frames = _read(client, _sources(source), vantages, wanted, multicast, split_bytes,
                      sets_done)  # fmt: skip
    got = client.gather(frames)
    return combine([s[0] if len(s) == 1 else join(s) for s in got])


def _read(
    client: Any,
    sources: list[str],
    vantages: Mapping[str, Iterable[str]] | None,
    ports: list[int],
    multicast: bool,
    split_bytes: int | None,
    sets_done: Progress | None,
) -> tuple[list[Vantage], list[list[Any]]]:
    """The capture sets planned and read on the workers: the plan, and per set the futures
    of its frame (or of its client shares, when too big for a worker)."""
    sets: list[Vantage] = client.submit(plan, sources, vantages, pure=False).result()
    if split_bytes is None:
        split_bytes = worker_bytes(client)
    sets, ready = _rotated_or_not(client, sets, ports, multicast, split_bytes)
    frames = _read_sets(client, sets, ports, multicast, split_bytes, sets_done, ready)
    got = client.gather([client.submit(_spans, f[0], pure=False) for f in frames])  # at once
    spans = [s for one in got for s in one]
    split = not_rotated(sets, spans)  # a guessed rotated set that was several recordings
    if split is not None:
        sets = split
        frames = _read_sets(client, split, ports, multicast, split_bytes, sets_done)
    return sets, frames


def _spans(frame: pd.DataFrame) -> list[tuple[int | None, int | None]]:
    return list(frame.attrs["dnspcap"].get("spans", []))


def _stats(client: Any, frames: list[list[Any]]) -> dict[str, Any]:
    """The read statistics of every set, as one read of them all says them."""
    per = client.gather([[client.submit(_counted, f, pure=False) for f in s] for s in frames])
    sets = []
    for shares in per:
        st = dict(shares[0])
        for k in ("messages", "decode_errors", "truncated"):
            st[k] = sum(int(x[k]) for x in shares)
        sets.append(st)
    out = stats(sets) if len(sets) > 1 else sets[0]
    out.pop("spans", None)
    return out


def _counted(frame: pd.DataFrame) -> dict[str, Any]:
    """A worker's task: a frame's statistics, its messages counted in it."""
    return {**frame.attrs["dnspcap"], **messages_counts(frame)}


def read_set(vantage: Vantage, ports: list[int], multicast: bool) -> pd.DataFrame:
    """A worker's task: one capture set's messages, with its statistics and spans."""
    return next(iter(read_planned([vantage], ports=ports, multicast=multicast)))


def _rotated_or_not(
    client: Any, sets: list[Vantage], ports: list[int], multicast: bool, split_bytes: int | None
) -> tuple[list[Vantage], dict[int, Any]]:
    """The plan with each guessed rotated set whose files overlap in time split into its
    files, as :func:`dnspcap.read_messages` does after reading, and the frames of the
    sets so made (by their place in the plan).

    Node captures named alike (``node-1`` ... ``node-900``) are guessed to be one rotated
    set, which one worker would read all of: here each file of a guessed set is read on
    its own first, in parallel (only its span when it is too big for a worker). Split,
    those frames are the sets' own; if the set was one recording, it is read again whole.
    """
    rows = [(v.how.startswith("a rotated set") and len(v.sources) > 1, src)
            for v in sets for src in v.sources]  # fmt: skip
    if not any(guessed for guessed, _ in rows):
        return sets, {}
    sizes = client.submit(_set_sizes, [Vantage("", (src,), "") for _, src in rows]).result()
    futures = {
        i: client.submit(
            read_set if partitions(sizes[i], split_bytes) == 1 else file_span,
            Vantage("file", (src,), "one file"), ports, multicast, pure=False,
        )
        for i, (guessed, src) in enumerate(rows) if guessed
    }  # fmt: skip
    # only the spans come back: the frames stay on their workers
    spans: list[tuple[int | None, int | None]] = [(None, None)] * len(rows)
    probes = {i: client.submit(_first_span, f, pure=False) for i, f in futures.items()}
    for i, span in zip(probes, client.gather(list(probes.values())), strict=True):
        spans[i] = span
    final = not_rotated(sets, spans)
    if final is None:
        return sets, {}
    ready: dict[int, Any] = {}
    first = k = 0
    for v in sets:  # a split set became one set per file, in place and in order
        files = range(first, first + len(v.sources))
        first += len(v.sources)
        if v.how.startswith("a rotated set") and overlaps([spans[i] for i in files]):
            for i in files:
                if i in futures and partitions(sizes[i], split_bytes) == 1:  # read whole
                    ready[k] = client.submit(relabel, futures[i], final[k], pure=False)
                k += 1
        else:
            k += 1
    return final, ready


def _first_span(got: pd.DataFrame | tuple[int | None, int | None]) -> tuple[int | None, int | None]:
    """A read file's span (from its frame), or the span a span task found."""
    return _spans(got)[0] if isinstance(got, pd.DataFrame) else got


def relabel(got: pd.DataFrame, vantage: Vantage) -> pd.DataFrame:
    """A file's frame read alone, as the one-file capture set ``vantage`` reads."""
    assert isinstance(got, pd.DataFrame)
    frame = got.copy(deep=False)
    frame.attrs = {"dnspcap": dict(got.attrs["dnspcap"])}
    old = frame["vantage"].cat.categories[0]
    frame["vantage"] = frame["vantage"].cat.rename_categories([vantage.name])
    st = frame.attrs["dnspcap"]
    st["vantages"] = [dict(st["vantages"][0], name=vantage.name, how=vantage.how)]
    st["capture_end"] = {vantage.name if k == old else k: t for k, t in st["capture_end"].items()}
    return frame


def file_span(vantage: Vantage, ports: list[int], multicast: bool) -> tuple[int | None, int | None]:
    """A worker's task: the first and last packet time of a one-file set (ns)."""
    spans: list[tuple[int | None, int | None]] = []
    for frame in read_planned([vantage], ports=ports, multicast=multicast, chunk_messages=CHUNK):
        spans = frame.attrs["dnspcap"].get("spans", spans)
    return spans[0] if spans else (None, None)


def worker_bytes(client: Any) -> int | None:
    """The capture bytes one partition may come from, for the smallest worker's memory
    limit (None when the workers have none)."""
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info()["workers"].values()]
    if not limits or not min(limits):
        return None
    return int(min(limits) // MEMORY_PER_CAPTURE_BYTE)


def _read_sets(
    client: Any,
    sets: list[Vantage],
    ports: list[int],
    multicast: bool,
    split_bytes: int | None,
    done: Progress | None,
    ready: dict[int, Any] | None = None,
) -> list[list[Any]]:
    """Per set, the futures of its frame, or of its client shares (too big for a worker);
    ``ready``: sets already read (futures, by their place in the plan)."""
    d = distributed()
    ready = ready or {}
    sizes = client.submit(_set_sizes, sets, pure=False).result()  # where the files lie
    futures, owner = [], []
    for i, v in enumerate(sets):
        if i in ready:
            continue
        k = partitions(sizes[i], split_bytes)
        if k == 1:
            futures.append(client.submit(read_set, v, ports, multicast, pure=False))
        else:
            futures += [client.submit(read_share, v, ports, multicast, j, k, pure=False)
                        for j in range(k)]  # fmt: skip
        owner += [i] * k
    index = {f.key: n for n, f in enumerate(futures)}
    nbytes = 0
    for n, future in enumerate(d.as_completed([*futures, *ready.values()]), 1):
        if future.status == "error":
            future.result()  # a worker's CaptureError is raised here, as it was
        at = index.get(future.key)
        if at is not None:
            nbytes += sizes[owner[at]] // owner.count(owner[at])
        if done is not None:
            done(n, len(futures) + len(ready), nbytes)
    return [[ready[i]] if i in ready else [f for f, o in zip(futures, owner, strict=True) if o == i]
            for i in range(len(sets))]  # fmt: skip


def _set_sizes(sets: list[Vantage]) -> list[int]:
    return [sum(_size(s) for s in v.sources) for v in sets]


def _sources(source: Source | Iterable[Source]) -> list[str]:
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)  # type: ignore[arg-type]
    if not items:
        raise CaptureError("<no input>", "no capture file was given")
    out = []
    for s in items:
        if not isinstance(s, (str, os.PathLike)) or os.fspath(s) == "-":
            raise DnspcapError("a cluster run reads files by path or URL, not open streams")
        out.append(os.fspath(s))
    return out


def _size(src: object) -> int:
    """A file's size in bytes (0 when it cannot be told), on the worker that reads it."""
    if not isinstance(src, (str, os.PathLike)):
        return 0
    try:
        if is_url(os.fspath(src)):
            import fsspec  # type: ignore[import-untyped, unused-ignore]

            fs, path = fsspec.core.url_to_fs(os.fspath(src))
            return int(fs.size(path) or 0)
        return os.path.getsize(src)
    except (OSError, ImportError, ValueError):  # reading it says why
        return 0
