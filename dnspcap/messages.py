"""Stage 1 of the pipeline: capture files → one row per DNS message (`read_messages`).

Drives the two decode paths: the compiled kernel (:mod:`dnspcap.fast`) over
large buffers, and the exact pure-Python path (:mod:`dnspcap.capture`,
:mod:`dnspcap.netstack`) for what the kernel hands back, or for everything with
``engine="python"``. Both feed one accumulator, so a row looks the same
whichever path produced it; a test proves they agree on every corpus capture.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Literal

import numpy as np
import pandas as pd

from . import fast
from .capture import (
    MAX_RECORD,
    PCAPNG_SHB,
    CorruptBlock,
    FileState,
    Interface,
    iter_records,
    open_source,
    parse_file_header,
    parse_pcapng_block,
    read_exact,
)
from .errors import CaptureError, UnknownLinkTypeError
from .kernelio import KernelBuffers
from .netstack import SUPPORTED_LINKTYPES, TUNNEL_PORTS, NetStack, RawMessage
from .rowstore import anon_array
from .table import Accumulator

Source = str | os.PathLike[str] | BinaryIO
Engine = Literal["auto", "python"]

DEFAULT_PORTS = (53,)
CHUNK_BYTES = 8 << 20  # kernel buffer; large enough to amortise calls, small next to RAM
FAST_LINKTYPES = frozenset({0, 1, 12, 14, 101, 108, 113, 228, 229, 276})


def read_messages(
    source: Source | Iterable[Source],
    *,
    ports: Iterable[int] = DEFAULT_PORTS,
    multicast: bool = False,
    engine: Engine = "auto",
) -> pd.DataFrame:
    """Read one or more captures and return one row per DNS message.

    ``source`` is a path, ``"-"`` for standard input, an open binary file, or a
    list of those (a rotated set ``x.pcap0 … x.pcap9``, some gzip'd): rows of
    several files are merged in time order and the ``file`` column tells them
    apart. The columns are documented in :mod:`dnspcap.columns`. Read
    statistics (packets, decode errors, snaplen-truncated packets, warnings
    such as a last record cut mid-write) are in ``df.attrs["dnspcap"]``.

    DNS is recognised on ``ports`` (UDP and TCP). mDNS (5353) and LLMNR (5355)
    are counted and skipped unless ``multicast=True``.

    Raises :class:`~dnspcap.errors.CaptureError` naming the file when a file
    cannot be read at all; a bad packet inside a good file becomes a row with
    an ``error`` instead.
    """
    acc = Accumulator(kernel_dns=engine != "python")
    sources = _sources(source)
    for i, src in enumerate(sources):
        for _ in _read_one_iter(src, i, acc, frozenset(ports), multicast, engine):
            pass
    return acc.frame(merge_by_time=len(sources) > 1)


def iter_messages(
    source: Source | Iterable[Source],
    *,
    ports: Iterable[int] = DEFAULT_PORTS,
    multicast: bool = False,
    engine: Engine = "auto",
    chunk_messages: int = 1_000_000,
) -> Iterator[pd.DataFrame]:
    """Like :func:`read_messages`, in chunks of about ``chunk_messages`` rows.

    For captures bigger than memory: only one chunk's rows are held at a time.
    Files are read one after another (not merged by time); within a chunk rows
    are in frame order. Each chunk's ``attrs["dnspcap"]`` holds the statistics
    so far.
    """
    acc = Accumulator(kernel_dns=engine != "python")
    for i, src in enumerate(_sources(source)):
        for _ in _read_one_iter(src, i, acc, frozenset(ports), multicast, engine):
            if acc.rows >= chunk_messages:
                yield acc.frame(merge_by_time=False)
    if acc.rows or not acc.yielded:
        yield acc.frame(merge_by_time=False)


def _sources(source: Source | Iterable[Source]) -> list[Source]:
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
        return [source]  # type: ignore[list-item]
    out = list(source)  # type: ignore[arg-type]
    if not out:
        raise CaptureError("<no input>", "no capture file was given")
    return out


def _read_one_iter(
    src: Source,
    index: int,
    acc: Accumulator,
    ports: frozenset[int],
    multicast: bool,
    engine: Engine,
) -> Iterator[None]:
    name, stream = open_source(src)
    acc.add_file(index, name)
    try:
        head = read_exact(stream, 24)
        state, hlen = parse_file_header(name, head)
        stack = NetStack(ports, multicast)
        # Every interface's link type is checked as soon as it is described, by both
        # engines at the same point (a pcapng IDB), whether or not any packet uses it.
        for iface in state.interfaces:  # classic pcap: the file header's
            _check_interface(state, iface)
        state.on_interface = _check_interface
        if engine == "python":
            yield from _pure(state, stream, head[hlen:], stack, acc, index)
        else:
            yield from _fast(state, stream, head[hlen:], stack, acc, index, ports, multicast)
        _add_raw(acc, index, stack.finish())
        acc.add_icmp(index, stack.icmp)
        acc.counts.update(stack.counts)
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
        acc.counts["packets"] += state.frames
        yield None
    finally:
        stream.close()


def _check_interface(state: FileState, iface: Interface) -> None:
    if iface.linktype not in SUPPORTED_LINKTYPES:
        raise UnknownLinkTypeError(state.name, iface.linktype)


def _pure(
    state: FileState, stream: BinaryIO, head: bytes, stack: NetStack, acc: Accumulator, index: int
) -> Iterator[None]:
    raws: list[RawMessage] = []
    for n, rec in enumerate(iter_records(state, stream, head)):
        raws += _packet(stack, rec.frame, rec.ts_ns, rec.linktype, rec.data, rec.orig_len, rec.cut)
        if n % 100_000 == 99_999:
            _add_raw(acc, index, raws)
            raws = []
            yield None
    _add_raw(acc, index, raws)


def _add_raw(acc: Accumulator, index: int, raws: list[RawMessage]) -> None:
    """Rows of the exact path, put in frame order among the file's rows."""
    mark = acc.rows
    acc.add_raw(index, raws)
    acc.settle(mark)


def _packet(
    stack: NetStack, frame: int, ts: int, linktype: int, data: bytes, orig_len: int, cut: bool
) -> list[RawMessage]:
    # a record cut by the end of the file is as incomplete as a snaplen-truncated one
    return stack.packet(frame, ts, linktype, data, orig_len + (1 if cut else 0))


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
        table[p] = fast.P_TUNNEL
    table[5353] = fast.P_MDNS if multicast else fast.P_MDNS_SKIP
    table[5355] = fast.P_LLMNR if multicast else fast.P_LLMNR_SKIP
    for p in ports:
        table[p] = fast.P_DNS
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
) -> Iterator[None]:
    table = _port_table(ports, multicast)
    out = KernelBuffers(CHUNK_BYTES // 48)
    buf = anon_array(CHUNK_BYTES, np.uint8)
    filled = len(head)
    buf[:filled] = np.frombuffer(head, np.uint8)
    eof = False
    pos = 0
    ifs = _Interfaces(state)
    counts = np.zeros(len(fast.COUNTERS), np.int64)
    while True:
        if not eof and filled < len(buf):
            got = stream.readinto(memoryview(buf)[filled:])  # type: ignore[attr-defined,arg-type]
            if not got:
                eof = True
            filled += got or 0
            if not eof and filled < len(buf):
                continue
        status, pos, frame, nm, ns, nkey, nip = fast.walk(  # type: ignore[call-arg]
            buf,
            filled,
            pos,
            state.frames,
            state.format == "pcapng",
            state.big_endian,
            state.record_header,
            state.ts_mul,
            ifs.link,
            ifs.tsmul,
            ifs.tsdiv,
            ifs.tsoff,
            table,
            *acc.kernel_arrays(out),
            counts,
        )
        state.frames = frame
        acc.add_fast(index, buf, out, nm, nkey, nip)
        _add_raw(acc, index, _slow(out, ns, buf, state, stack, frame) if ns else [])
        if status == fast.FULL:
            yield None
            continue
        if status == fast.BLOCK:
            blen = _block_len(buf, pos, state)
            btype = int.from_bytes(
                bytes(buf[pos : pos + 4]), "big" if state.big_endian else "little"
            )
            try:
                parse_pcapng_block(state, btype, bytes(buf[pos + 8 : pos + blen - 4]))
            except CorruptBlock:
                status = fast.CORRUPT  # the state is unchanged: the exact walker says why
            else:
                ifs = _Interfaces(state)
                pos += blen
                continue
        if status == fast.CORRUPT or (status == fast.NEED_MORE and eof):
            # The exact walker finishes the file: it reports the corrupt or cut record.
            rest = _Prefixed(bytes(buf[pos:filled]), stream)
            yield from _pure(state, rest, b"", stack, acc, index)  # type: ignore[arg-type]
            break
        # NEED_MORE: keep the unread tail, read on
        tail = filled - pos
        if tail >= len(buf) // 2:
            need = max(len(buf) * 2, MAX_RECORD + 64)
            bigger = anon_array(min(need, 2 * MAX_RECORD), np.uint8)
            bigger[:tail] = buf[pos:filled]
            buf = bigger
        else:
            buf[:tail] = buf[pos:filled]
        filled, pos = tail, 0
        yield None
    for name, value in zip(fast.COUNTERS, counts.tolist(), strict=True):
        if name != "packets":
            acc.counts[name] += value


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
        if iface <= fast.TCP_SEGMENT:
            # a TCP segment the kernel took apart: off/caplen are the segment, orig where
            # the addresses are
            ver, width = (4, 4) if iface == fast.TCP_SEGMENT else (6, 16)
            src, dst = bytes(mv[orig : orig + width]), bytes(mv[orig + width : orig + 2 * width])
            raws += stack.tcp(frame, ts, src, dst, ver, bytes(mv[off : off + caplen]))
        elif iface < 0:
            # a whole pcapng block (SPB, OPB, or an EPB with odd fields): off/caplen are the
            # block, orig its type
            state.frames = frame - 1
            rec = parse_pcapng_block(state, orig, bytes(mv[off + 8 : off + caplen - 4]))
            state.frames = last_frame
            if rec is None:
                continue
            raws += _packet(
                stack, rec.frame, rec.ts_ns, rec.linktype, rec.data, rec.orig_len, rec.cut
            )
        else:
            link = state.interfaces[iface].linktype
            raws += _packet(stack, frame, ts, link, bytes(mv[off : off + caplen]), orig, False)
    return raws


def _block_len(buf: np.ndarray, pos: int, state: FileState) -> int:
    big = state.big_endian
    if int.from_bytes(bytes(buf[pos : pos + 4]), "big") == PCAPNG_SHB:
        big = bytes(buf[pos + 8 : pos + 12]) == b"\x1a\x2b\x3c\x4d"  # as capture.py reads it
    return int.from_bytes(bytes(buf[pos + 4 : pos + 8]), "big" if big else "little")


class _Prefixed:
    """A stream that first returns some bytes already read, then the rest of another."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self._first = first
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._first:
            out, self._first = self._first[:n], self._first[n:]
            return out
        return self._rest.read(n)


__all__ = ["iter_messages", "read_messages"]
