"""Stage 1 of the pipeline: capture files → one row per DNS message (`read_messages`).

Drives the two decode paths: the compiled kernel (:mod:`dnspcap.reading.engine`) over
large buffers, and the exact pure-Python path (:mod:`dnspcap.reading.containers`,
:mod:`dnspcap.reading.netstack`) for what the kernel hands back, or for everything with
``engine="python"``. Both feed one accumulator, so a row looks the same
whichever path produced it; a test proves they agree on every corpus capture.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Literal

import numpy as np
import pandas as pd

from ..errors import CaptureError, UnknownLinkTypeError
from ..forked import processors
from . import engine
from .accumulator import Accumulator
from .buffers import KernelBuffers
from .captureset import Vantage, overlaps, plan, unique_names
from .columnstore import anon_array
from .containers import (
    MAX_RECORD,
    PCAPNG_SHB,
    CorruptBlock,
    FileState,
    Interface,
    Record,
    iter_records,
    open_source,
    parse_file_header,
    parse_pcapng_block,
    read_exact,
)
from .links import SUPPORTED_LINKTYPES, TUNNEL_PORTS
from .netstack import FRAME_BITS, NetStack, RawMessage

Source = str | os.PathLike[str] | BinaryIO
Engine = Literal["auto", "python"]

DEFAULT_PORTS = (53,)
CHUNK_BYTES = 8 << 20  # kernel buffer; large enough to amortise calls, small next to RAM
# When walks overlap, the file is read on into the buffer not being walked while the
# walk runs (it lets Python run), after this many bytes kept for the record the walk
# leaves cut at its buffer's end: a read between walks left the walk idle, 0.5 s of a
# 10M-packet capture's 2.6 s read. A longer cut record is moved with what was read
# ahead, as a cut record was before.
HEAD_ROOM = 64 << 10
FAST_LINKTYPES = frozenset({0, 1, 12, 14, 101, 108, 113, 228, 229, 276})
FRAME_MASK = (1 << FRAME_BITS) - 1
# counts[C_FIRST_TS] and counts[C_LAST_TS] before the kernel saw a packet
NO_TIME_FIRST, NO_TIME_LAST = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def read_messages(
    source: Source | Iterable[Source],
    *,
    ports: Iterable[int] = DEFAULT_PORTS,
    multicast: bool = False,
    engine: Engine = "auto",
    vantages: Mapping[str, Iterable[str]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Read one or more captures and return one row per DNS message.

    ``source`` is a path, ``"-"`` for standard input, an open binary file, or a
    list of those. Several files are a *capture set* (:mod:`dnspcap.reading.captureset`):
    a rotated set (``x.pcap0 … x.pcap9``, some gzip'd) is read as the one recording it
    is, in time order; files from different places are *vantage points* (the
    ``vantage`` column), which ``vantages`` can name (``{"node": ["node-*.pcap"]}``)
    where the file names do not tell. One vantage point's rows are in capture order
    (file, then frame); several are merged in time order. The columns are documented
    in :mod:`dnspcap.columns`. Read statistics (packets, decode errors,
    snaplen-truncated packets, warnings such as a last record cut mid-write, the
    vantage points and how the files were grouped) are in ``df.attrs["dnspcap"]``.

    DNS is recognised on ``ports`` (UDP and TCP). mDNS (5353) and LLMNR (5355)
    are counted and skipped unless ``multicast=True``. ``progress`` is told how many
    bytes of the files each read took (the command line draws a progress bar with it).

    Raises :class:`~dnspcap.errors.CaptureError` naming the file when a file
    cannot be read at all, ``ValueError`` for a port outside 1-65535; a bad packet
    inside a good file becomes a row with an ``error`` instead.
    """
    wanted = check_ports(ports)
    sources = _sources(source)
    sets = plan(sources, vantages)
    acc = _read(sets, wanted, multicast, engine, progress)
    split = not_rotated(sets, acc.spans)
    if split is not None:
        sets = split
        acc = _read(sets, wanted, multicast, engine, progress)
    return acc.frame(merge_by_time=len(sets) > 1)


def iter_messages(
    source: Source | Iterable[Source],
    *,
    ports: Iterable[int] = DEFAULT_PORTS,
    multicast: bool = False,
    engine: Engine = "auto",
    chunk_messages: int = 1_000_000,
    vantages: Mapping[str, Iterable[str]] | None = None,
) -> Iterator[pd.DataFrame]:
    """Like :func:`read_messages`, in chunks of about ``chunk_messages`` rows.

    For captures bigger than memory: only one chunk's rows are held at a time.
    Vantage points are read one after another (not merged by time), each in capture
    order. Each chunk's ``attrs["dnspcap"]`` holds the statistics so far.
    """
    wanted = check_ports(ports)
    acc = Accumulator(kernel_dns=engine != "python")
    for _ in _reading(plan(_sources(source), vantages), acc, wanted, multicast, engine):
        if acc.rows >= chunk_messages:
            yield acc.frame(merge_by_time=False)
    if acc.rows or not acc.yielded:
        yield acc.frame(merge_by_time=False)


def read_planned(
    sets: list[Vantage],
    *,
    ports: Iterable[int] = DEFAULT_PORTS,
    multicast: bool = False,
    engine: Engine = "auto",
    chunk_messages: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """Read capture sets grouped beforehand (:func:`~dnspcap.reading.captureset.plan`) as
    they are: a worker of a cluster run reads the ones it is given, neither regrouped nor
    checked to be one recording (:func:`not_rotated` does that with the spans).

    Yields the messages in chunks of about ``chunk_messages`` rows (``None``: one frame),
    in capture order; the last frame (empty if need be) carries the statistics of the
    whole read, and ``attrs["dnspcap"]["spans"]``: each file's first and last packet
    time (ns, ``None`` without packets). ``messages``, ``decode_errors`` and
    ``truncated`` in each frame's statistics count that frame's rows.
    """
    wanted = check_ports(ports)
    acc = Accumulator(kernel_dns=engine != "python")
    for _ in _reading(sets, acc, wanted, multicast, engine, progress):
        if chunk_messages is not None and acc.rows >= chunk_messages:
            yield acc.frame(merge_by_time=False)
    last = acc.frame(merge_by_time=chunk_messages is None and len(sets) > 1)
    last.attrs["dnspcap"]["spans"] = list(acc.spans)
    yield last


def check_ports(ports: Iterable[int]) -> frozenset[int]:
    """The DNS ports asked for, each checked to be a port number (1-65535)."""
    out = []
    for p in ports:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or not 1 <= p <= 65535:
            raise ValueError(f"not a port number (1-65535): {p!r}")
        out.append(int(p))
    if not out:
        raise ValueError("no DNS port given")
    return frozenset(out)


def _sources(source: Source | Iterable[Source]) -> list[Source]:
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
        return [source]  # type: ignore[list-item]
    out = list(source)  # type: ignore[arg-type]
    if not out:
        raise CaptureError("<no input>", "no capture file was given")
    return out


def _read(
    sets: list[Vantage],
    ports: frozenset[int],
    multicast: bool,
    engine: Engine,
    progress: Callable[[int], None] | None = None,
) -> Accumulator:
    acc = Accumulator(kernel_dns=engine != "python")
    # nothing reads the accumulator before the end: its walks may overlap
    for _ in _reading(sets, acc, ports, multicast, engine, progress, overlap=True):
        pass
    return acc


def not_rotated(
    sets: list[Vantage], spans: list[tuple[int | None, int | None]]
) -> list[Vantage] | None:
    """A guessed rotated set whose files overlap in time was several recordings: the plan
    with such a set split into one vantage point per file, or None when all is well.
    ``spans``: the first and last packet time of each file, in the order of the plan."""
    out, changed = [], False
    first = 0
    for v in sets:
        files = range(first, first + len(v.sources))
        first += len(v.sources)
        if v.how.startswith("a rotated set") and overlaps([spans[i] for i in files]):
            changed = True
            out += [
                Vantage(v.name, (src,), "one file (its times overlap those of a file with "
                        "a similar name: not one rotated recording)")
                for src in v.sources
            ]  # fmt: skip
            continue
        out.append(v)
    return unique_names(out) if changed else None


def _reading(
    sets: list[Vantage],
    acc: Accumulator,
    ports: frozenset[int],
    multicast: bool,
    engine: Engine,
    progress: Callable[[int], None] | None = None,
    overlap: bool = False,
) -> Iterator[None]:
    """Read every file of every vantage point into acc, yielding now and then. With
    ``overlap``, acc is read only at the end (its rows are not all made when it yields):
    the kernel's walks overlap the making of their rows (see _fast)."""
    index = 0
    for v_index, v in enumerate(sets):
        acc.add_vantage(v_index, v.name, v.how)
        # one network stack per vantage point: a TCP message or an IP datagram may
        # straddle two files of a rotated set
        stack = NetStack(ports, multicast)
        files = []
        for src in v.sources:
            files.append(index)
            # one file: the rows of the exact path merge into its own (files of a rotated set
            # share TCP streams, whose messages may carry an earlier file's frames)
            alone = overlap and len(v.sources) == 1
            yield from _read_one_iter(
                src, index, v_index, acc, stack, ports, multicast, engine, progress, alone
            )
            index += 1
        _add_raw(acc, stack.finish())
        acc.counts.update(stack.counts)
        yield None


def _read_one_iter(
    src: Source,
    index: int,
    vantage: int,
    acc: Accumulator,
    stack: NetStack,
    ports: frozenset[int],
    multicast: bool,
    engine: Engine,
    progress: Callable[[int], None] | None = None,
    overlap: bool = False,
) -> Iterator[None]:
    name, stream = open_source(src, progress)
    acc.add_file(index, name, vantage)
    try:
        head = read_exact(stream, 24)
        state, hlen = parse_file_header(name, head)
        state.key = index << FRAME_BITS
        # Every interface's link type is checked as soon as it is described, by both
        # engines at the same point (a pcapng IDB), whether or not any packet uses it.
        state.on_interface = _on_interface(acc)
        for iface in state.interfaces:  # classic pcap: the file header's
            state.on_interface(state, iface)
        if engine == "python":
            steps = _pure(state, stream, head[hlen:], stack, acc)
        else:
            steps = _fast(state, stream, head[hlen:], stack, acc, index, ports, multicast, overlap)
        for _ in steps:
            # the ICMP errors so far go with the rows so far (a watch pairs them)
            acc.add_icmp(stack.icmp)
            stack.icmp = []
            yield None
        acc.add_icmp(stack.icmp)
        stack.icmp = []
        if hasattr(stream, "problem"):
            # A gzip'd file is decompressed to its end even when the walker stopped early
            # at a corrupt record, so that damage to the gzip stream is reported whichever
            # engine read it (the fast path reads ahead, the exact path does not) and
            # wherever it is (deflate damage gives wrong bytes before zlib notices: it may
            # be why a record looked corrupt).
            while stream.read(1 << 20):
                pass
            if stream.problem:
                state.warnings.append(stream.problem)
        acc.add_warnings(name, state.warnings)
        acc.end_file(index, state.frames, state.first_ns, state.last_ns, state.end_ns)
        yield None
    finally:
        stream.close()


def _on_interface(acc: Accumulator) -> Callable[[FileState, Interface], None]:
    """What the reader does with each interface described: check its link type, and note
    how precise its timestamps are (times are written with that many digits)."""

    def seen(state: FileState, iface: Interface) -> None:
        _check_interface(state, iface)
        # a classic pcap says its precision by its magic, not by its one interface
        nano = state.format == "pcap" and state.ts_mul == 1
        acc.time_digits = max(acc.time_digits, 9 if nano else iface.digits())

    return seen


def _check_interface(state: FileState, iface: Interface) -> None:
    if iface.linktype not in SUPPORTED_LINKTYPES:
        raise UnknownLinkTypeError(state.name, iface.linktype, SUPPORTED_LINKTYPES)


def _pure(
    state: FileState, stream: BinaryIO, head: bytes, stack: NetStack, acc: Accumulator
) -> Iterator[None]:
    raws: list[RawMessage] = []
    for n, rec in enumerate(iter_records(state, stream, head)):
        raws += _packet(stack, state, rec)
        if n % 100_000 == 99_999:
            _add_raw(acc, raws)
            raws = []
            yield None
    _add_raw(acc, raws)


def _add_raw(acc: Accumulator, raws: list[RawMessage]) -> None:
    """Rows of the exact path (frames keyed by file, see _packet), each put in frame order
    among its file's rows."""
    by_file: dict[int, list[RawMessage]] = {}
    for r in raws:
        by_file.setdefault(r.frame >> FRAME_BITS, []).append(r._replace(frame=r.frame & FRAME_MASK))
    for index, rows in by_file.items():
        mark = acc.rows
        acc.add_raw(index, rows)
        acc.settle(mark)


def _packet(stack: NetStack, state: FileState, rec: Record) -> list[RawMessage]:
    """The messages a record completes. The network stack is shared by the files of a
    rotated set, so the frames it is given carry their file (state.key) in their high
    bits; _add_raw takes them apart."""
    state.saw(rec.ts_ns)
    # a record cut by the end of the file is as incomplete as a snaplen-truncated one
    orig = rec.orig_len + (1 if rec.cut else 0)
    return stack.packet(state.key | rec.frame, rec.ts_ns, rec.linktype, rec.data, orig)


class _Interfaces:
    """The kernel's view of the interfaces: arrays indexed by interface id."""

    def __init__(self, state: FileState) -> None:
        ifs = state.interfaces
        self.link = np.array(
            [i.linktype if i.linktype in FAST_LINKTYPES else -1 for i in ifs] or [-1], np.int64
        )
        mul, div, off = [], [], []
        for i in ifs:
            decimal = not i.tsresol_binary and i.tsresol_exp <= 9
            # an offset that does not fit in 64-bit nanoseconds: the exact path reports it
            fits = abs(i.tsoffset_s) < 9_000_000_000
            mul.append(10 ** (9 - i.tsresol_exp) if decimal and fits else 0)
            div.append(1)
            off.append(i.tsoffset_s * 1_000_000_000 if fits else 0)
        self.tsmul = np.array(mul or [0], np.int64)
        self.tsdiv = np.array(div or [1], np.int64)
        self.tsoff = np.array(off or [0], np.int64)
        if not ifs:
            self.link = self.link[:0]


def _port_table(ports: frozenset[int], multicast: bool) -> np.ndarray:
    table = np.zeros(65536, np.uint8)
    for p in TUNNEL_PORTS:
        table[p] = engine.P_TUNNEL
    table[5353] = engine.P_MDNS if multicast else engine.P_MDNS_SKIP
    table[5355] = engine.P_LLMNR if multicast else engine.P_LLMNR_SKIP
    for p in ports:
        table[p] = engine.P_DNS
    return table


def _fast(
    state: FileState,
    stream: BinaryIO,
    head: bytes,
    stack: NetStack,
    acc: Accumulator,
    index: int,
    ports: frozenset[int],
    multicast: bool,
    overlap: bool = False,
) -> Iterator[None]:
    """The kernel's walk over the file, a buffer at a time. With ``overlap`` (a whole read,
    more than one processor, not a live stream), each walk runs in a thread while this
    one makes the code columns of the walk before it and takes its TCP segments through
    the exact path (see :class:`_Walked`): the walk is C that lets Python run."""
    table = _port_table(ports, multicast)
    live = bool(getattr(stream, "live", False))
    pool = ThreadPoolExecutor(1) if overlap and not live and processors() > 1 else None
    two = 2 if pool is not None else 1
    outs = [KernelBuffers(CHUNK_BYTES // 48) for _ in range(two)]
    bufs = [anon_array(CHUNK_BYTES, np.uint8) for _ in range(two)]
    b = o = 0  # the buffer walked, the outputs written next
    buf = bufs[b]
    filled = len(head)
    buf[:filled] = np.frombuffer(head, np.uint8)
    eof = False
    pos = 0
    ifs = _Interfaces(state)
    counts = np.zeros(len(engine.COUNTERS), np.int64)
    counts[engine.C_FIRST_TS], counts[engine.C_LAST_TS] = NO_TIME_FIRST, NO_TIME_LAST
    pending: _Walked | None = None  # the last walk's rows, claimed but not yet made
    ahead: int | None = None  # bytes read into the other buffer, after HEAD_ROOM, during a walk

    def settle_pending() -> None:
        nonlocal pending
        if pending is not None:
            _add_raw(acc, pending.take(acc, stack, state))
            pending = None

    try:
        while True:
            # a stream that hands over bytes as they arrive (dnspcap watch): decode what
            # came rather than wait for a full buffer
            if not eof and filled < len(buf):
                got = stream.readinto(memoryview(buf)[filled:])  # type: ignore[attr-defined,arg-type]
                if not got:
                    eof = True
                filled += got or 0
                if not eof and filled < len(buf) and not live:
                    continue
            out = outs[o]
            o = (o + 1) % two
            box = [(
                buf, filled, pos, state.frames, state.format == "pcapng", state.big_endian,
                state.record_header, state.ts_mul, ifs.link, ifs.tsmul, ifs.tsdiv, ifs.tsoff,
                table, *acc.kernel_arrays(out), counts,
            )]  # fmt: skip
            if pool is not None and pending is not None:
                job = pool.submit(_walk, box)
                try:
                    raws = pending.take(acc, stack, state)
                    if ahead is None and not eof:  # the other buffer is free: read on into it
                        into = memoryview(bufs[1 - b])[_room(bufs[1 - b]) :]  # type: ignore[arg-type]
                        ahead = stream.readinto(into) or 0  # type: ignore[attr-defined]
                finally:
                    walked = job.result()  # never left running on an error here
            else:
                walked = _walk(box)
                raws = []
            status, pos, frame, nm, ns, nkey, nip = walked
            state.frames = frame
            start = acc.claim_fast(index, nm)
            if raws:
                # the last walk's messages of the exact path (TCP), added after this walk's
                # rows: settle() merges them into frame order, before these rows, whose
                # frames come after theirs (one file: see _reading)
                _add_raw(acc, raws)
                start += len(raws) if nm else 0
            pending = _Walked(buf, out, start, nm, nkey, nip, ns, frame)
            if pool is None:
                settle_pending()
            if status == engine.FULL:
                yield None
                continue
            if status != engine.NEED_MORE or eof:
                settle_pending()  # what follows may change the file's state
            if status == engine.BLOCK:
                blen = _block_len(buf, pos, state)
                btype = int.from_bytes(
                    bytes(buf[pos : pos + 4]), "big" if state.big_endian else "little"
                )
                try:
                    parse_pcapng_block(state, btype, bytes(buf[pos + 8 : pos + blen - 4]))
                except CorruptBlock:
                    status = engine.CORRUPT  # the state is unchanged: the exact walker says why
                else:
                    ifs = _Interfaces(state)
                    pos += blen
                    continue
            if status == engine.CORRUPT or (status == engine.NEED_MORE and eof):
                # The exact walker finishes the file: it reports the corrupt or cut record.
                rest = bytes(buf[pos:filled]) + _read_ahead(bufs, 1 - b, ahead)
                yield from _pure(state, stream, rest, stack, acc)
                break
            # NEED_MORE: the unread tail to the start of the next buffer (the other one when
            # walks overlap: the last walk's rows are still read from this one), before
            # what was read ahead into it, else read on
            b = (b + 1) % two
            tail = filled - pos
            eof = eof or ahead == 0
            if ahead is not None and tail <= (room := _room(bufs[b])):
                bufs[b][room - tail : room] = buf[pos:filled]
                buf, pos, filled = bufs[b], room - tail, room + ahead
            else:
                read = _read_ahead(bufs, b, ahead)
                if tail >= len(bufs[b]) // 2 or tail + len(read) > len(bufs[b]):
                    need = max(len(bufs[b]) * 2, MAX_RECORD + 64, tail + len(read))
                    bufs[b] = anon_array(min(need, 2 * MAX_RECORD + CHUNK_BYTES), np.uint8)
                bufs[b][:tail] = buf[pos:filled]
                bufs[b][tail : tail + len(read)] = np.frombuffer(read, np.uint8)
                buf = bufs[b]
                filled, pos = tail + len(read), 0
            ahead = None
            yield None
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    settle_pending()
    for name, value in zip(engine.COUNTERS, counts.tolist(), strict=True):
        if name in ("first_ts", "last_ts"):
            if value not in (NO_TIME_FIRST, NO_TIME_LAST):
                state.saw(value)
        elif name != "packets":
            acc.counts[name] += value


def _room(buf: np.ndarray) -> int:
    """Where a buffer's bytes read ahead start (see HEAD_ROOM; an eighth of a small one's)."""
    return min(HEAD_ROOM, len(buf) // 8)


def _read_ahead(bufs: list[np.ndarray], b: int, ahead: int | None) -> bytes:
    """What was read ahead into buffer b."""
    return b"" if ahead is None else bytes(bufs[b][_room(bufs[b]) :][:ahead])


def _walk(box: list[tuple[object, ...]]) -> tuple[int, int, int, int, int, int, int]:
    """engine.walk() of the arguments in ``box``, which it empties: no view of the store's
    columns outlives the walk (a column with a view exported cannot grow in place, and
    is copied: 56 ms of a 2M capture's read)."""
    walked: tuple[int, int, int, int, int, int, int] = engine.walk(*box.pop())  # type: ignore[call-arg,arg-type]
    return walked


class _Walked:
    """One walk's output: its rows are in the store, claimed (``start``), their code columns
    and its TCP segments still to do (:meth:`take`), from its own buffer and outputs."""

    def __init__(
        self, buf: np.ndarray, out: KernelBuffers, start: int, n: int, nkey: int, nip: int,
        ns: int, frame: int,
    ) -> None:  # fmt: skip
        self.buf, self.out, self.start, self.n = buf, out, start, n
        self.nkey, self.nip, self.ns, self.frame = nkey, nip, ns, frame

    def take(self, acc: Accumulator, stack: NetStack, state: FileState) -> list[RawMessage]:
        """Make the rows' code columns; the messages of the records handed back (added to
        the store by the caller, when no walk is writing to it)."""
        acc.fill_fast(self.start, self.buf, self.out, self.n, self.nkey, self.nip)
        if not self.ns:
            return []
        return _slow(self.out, self.ns, self.buf, state, stack, self.frame)


def _slow(
    out: KernelBuffers,
    ns: int,
    buf: np.ndarray,
    state: FileState,
    stack: NetStack,
    last_frame: int,
) -> list[RawMessage]:
    """Run the ns records the kernel handed back through the exact path."""
    raws: list[RawMessage] = []
    mv = memoryview(buf)  # type: ignore[arg-type]
    for frame, ts, iface, off, caplen, orig in zip(
        out.s_frame[:ns].tolist(), out.s_ts[:ns].tolist(), out.s_iface[:ns].tolist(),
        out.s_off[:ns].tolist(), out.s_caplen[:ns].tolist(), out.s_origlen[:ns].tolist(),
        strict=True,
    ):  # fmt: skip
        if iface <= engine.TCP_SEGMENT:
            # a TCP segment the kernel took apart: off/caplen are the segment, orig where
            # the addresses are
            ver, width = (4, 4) if iface == engine.TCP_SEGMENT else (6, 16)
            src, dst = bytes(mv[orig : orig + width]), bytes(mv[orig + width : orig + 2 * width])
            raws += stack.tcp(state.key | frame, ts, src, dst, ver, bytes(mv[off : off + caplen]))
        elif iface < 0:
            # a whole pcapng block (SPB, OPB, or an EPB with odd fields): off/caplen are the
            # block, orig its type
            state.frames = frame - 1
            rec = parse_pcapng_block(state, orig, bytes(mv[off + 8 : off + caplen - 4]))
            state.frames = last_frame
            if rec is None:
                continue
            raws += _packet(stack, state, rec)
        else:
            # (its time is among those the kernel saw: counts[C_FIRST_TS/C_LAST_TS])
            link = state.interfaces[iface].linktype
            data = bytes(mv[off : off + caplen])
            raws += stack.packet(state.key | frame, ts, link, data, orig)
    return raws


def _block_len(buf: np.ndarray, pos: int, state: FileState) -> int:
    big = state.big_endian
    if int.from_bytes(bytes(buf[pos : pos + 4]), "big") == PCAPNG_SHB:
        big = bytes(buf[pos + 8 : pos + 12]) == b"\x1a\x2b\x3c\x4d"  # as capture.py reads it
    return int.from_bytes(bytes(buf[pos + 4 : pos + 8]), "big" if big else "little")


__all__ = ["iter_messages", "not_rotated", "read_messages", "read_planned"]
