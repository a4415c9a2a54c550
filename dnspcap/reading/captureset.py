"""Capture sets: which files are one recording, and which are other vantage points.

Users hand us several files for two different reasons, and the analysis must not
depend on which:

- a **rotated set**: one recording cut into pieces (``tcpdump -C/-G/-W`` writes
  ``x.pcap``, ``x.pcap1``, ``x.pcap2`` or ``x.pcap0`` … ``x.pcap9``; ``dumpcap -b``
  writes ``x_00001_20250101120000.pcapng`` …). Its files are read in time order through
  one network stack (a TCP message or IP datagram may straddle two files) and paired as
  one capture: a query in one file and its answer or retry in the next are one
  transaction.
- **vantage points**: the same traffic recorded at several places at once (the pod's
  ``eth0``, the node's ``any``, the DNS pod). Each is paired on its own; the pairing
  stage then links the copies of one query across them.

A set is recognised by what the files say: the same link type and snapshot length,
names that differ only in their digits (the counter or the time stamp the rotation
adds), and first packets in order. Where guessing is not safe the user names the
vantage points (``vantages={"node": ["node-*.pcap"]}``, ``--vantage node=node-*.pcap``);
the plan says in words how the files were grouped.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import CaptureError
from .containers import iter_records, open_source, parse_file_header, read_exact

Source = str | os.PathLike[str] | BinaryIO

# Two files of one rotated set may overlap by this much: `-i any` stamps packets with
# per-CPU clocks, so the last packet of one file can be tens of µs later than the first
# of the next.
ROTATION_OVERLAP_NS = 1_000_000


@dataclass(frozen=True, slots=True)
class Vantage:
    """One vantage point: its name and its files, in the order they are read."""

    name: str
    sources: tuple[Source, ...]
    how: str  # how its files were recognised, in words ("one file", "a rotated set ...")


@dataclass(frozen=True, slots=True)
class _Peek:
    source: Source
    name: str
    link: tuple[int, ...]  # link types of the interfaces described before the first packet
    snaplen: int
    first_ns: int | None  # the first packet's time, None for a file without packets


def plan(
    sources: list[Source], vantages: Mapping[str, Iterable[str]] | None = None
) -> list[Vantage]:
    """Group the sources into vantage points (in the order of their first file).

    ``vantages`` maps a name to file names or shell patterns (matched against the path
    and against the file name); the files it names are that vantage point, read in time
    order. The other files are grouped by what they say (see the module docstring).
    """
    named: dict[str, list[Source]] = {}
    rest: list[Source] = []
    for src in sources:
        owner = _owner(src, vantages or {})
        if owner is None:
            rest.append(src)
        else:
            named.setdefault(owner, []).append(src)
    out = [
        Vantage(name, tuple(_in_time_order(files)), _named_how(len(files)))
        for name, files in named.items()
    ]
    out += _guess(rest)
    return unique_names(out)


def _owner(src: Source, vantages: Mapping[str, Iterable[str]]) -> str | None:
    if not isinstance(src, (str, os.PathLike)):
        return None
    path = os.fspath(src)
    for name, patterns in vantages.items():
        for p in patterns:
            if fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(os.path.basename(path), p):
                return name
    return None


def _named_how(n: int) -> str:
    return "named by the user" + ("" if n == 1 else f", {n} files read in time order")


def _guess(sources: list[Source]) -> list[Vantage]:
    """Rotated sets among the files; every other file its own vantage point."""
    groups: dict[tuple[str, tuple[int, ...], int], list[_Peek]] = {}
    alone: list[Vantage] = []
    for src in sources:
        if not isinstance(src, (str, os.PathLike)) or os.fspath(src) == "-":
            name = "stdin" if src == "-" else str(getattr(src, "name", "stream"))
            alone.append(Vantage(stem(name), (src,), "one stream"))
            continue
        p = _peek(src)
        groups.setdefault((stem(p.name), p.link, p.snaplen), []).append(p)
    out: list[Vantage] = []
    for (base, _link, _snap), peeks in groups.items():
        files = _in_time_order([p.source for p in peeks], {id(p.source): p for p in peeks})
        if len(files) == 1:
            out.append(Vantage(base, tuple(files), "one file"))
        else:
            out.append(
                Vantage(
                    base,
                    tuple(files),
                    f"a rotated set of {len(files)} files (same link type and snapshot "
                    "length, names that differ in their digits), read in time order",
                )
            )
    return out + alone


def _in_time_order(files: list[Source], peeks: Mapping[int, _Peek] | None = None) -> list[Source]:
    """Files by their first packet's time; files without packets, and ties, by name."""

    def key(src: Source) -> tuple[int, int, list[object]]:
        p = (peeks or {}).get(id(src)) or _peek(src)
        first = p.first_ns
        return (first is None, first or 0, _natural(p.name))

    return sorted(files, key=key)


def _natural(name: str) -> list[object]:
    """A sort key that puts x.pcap2 before x.pcap10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def stem(name: str) -> str:
    """A file name without folder, compression, capture suffix and rotation digits:
    ``/tmp/node.pcap3.gz`` → ``node``, ``cap_00001_20250101120000.pcapng`` → ``cap``."""
    base = os.path.basename(name)
    base = re.sub(r"\.gz$", "", base, flags=re.IGNORECASE)
    base = re.sub(r"\.(pcapng|pcap|cap|dmp)\d*$", "", base, flags=re.IGNORECASE)
    base = re.sub(r"\d+", "", base)
    base = base.strip("._- ")
    return base or "capture"


def _peek(src: Source) -> _Peek:
    """The link types, snapshot length and first packet's time of a capture file."""
    name, stream = open_source(src)
    try:
        head = read_exact(stream, 24)
        state, hlen = parse_file_header(name, head)
        first: int | None = None
        # A damaged file is reported by the reader itself, with the reason; here it only
        # has no first packet.
        try:
            for rec in iter_records(state, stream, head[hlen:]):
                first = rec.ts_ns
                break
        except CaptureError:
            pass
        link = tuple(i.linktype for i in state.interfaces)
        snaplen = max((i.snaplen for i in state.interfaces), default=0)
        return _Peek(src, name, link, snaplen, first)
    finally:
        stream.close()


def unique_names(vantages: list[Vantage]) -> list[Vantage]:
    """Vantage names made unique (two pods' captures may share a stem)."""
    seen: dict[str, int] = {}
    for v in vantages:
        seen[v.name] = seen.get(v.name, 0) + 1
    out = []
    for v in vantages:
        if seen[v.name] > 1 and v.sources and isinstance(v.sources[0], (str, os.PathLike)):
            base = os.path.basename(os.fspath(v.sources[0]))
            out.append(Vantage(base, v.sources, v.how))
        else:
            out.append(v)
    names = [v.name for v in out]
    for i, v in enumerate(out):
        if names.count(v.name) > 1:  # still equal (the same file given twice): number them
            out[i] = Vantage(f"{v.name}#{names[: i + 1].count(v.name)}", v.sources, v.how)
    return out


def overlaps(spans: list[tuple[int | None, int | None]]) -> list[int]:
    """Positions k where file k+1 starts before file k ended (beyond the allowance):
    the files were not one rotated recording."""
    out = []
    for k in range(len(spans) - 1):
        _, last = spans[k]
        first, _ = spans[k + 1]
        if last is not None and first is not None and first + ROTATION_OVERLAP_NS < last:
            out.append(k)
    return out
