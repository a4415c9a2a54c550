"""Reassembly of IP fragments and of DNS messages carried over TCP, in pure Python.

Used by the exact decode path. The caller parses link, IP, UDP and TCP headers and hands
over payloads; nothing here looks at a header. Captures can be hostile, so memory is
bounded per datagram and per flow, and every loop is paid for by bytes or segments the
caller already handed over.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Hashable
from dataclasses import dataclass, field

# The IP total-length field is 16 bits, so no datagram payload can reach past this offset.
MAX_DATAGRAM = 65_535

GAP_ERROR = "TCP stream gap inside this message"
SNAPLEN_ERROR = "TCP segment cut short by the capture's snaplen"
ENDED_ERROR = "TCP stream ended inside a message"
ZERO_LENGTH_ERROR = "zero-length DNS message on TCP"

_SEQ_MOD = 1 << 32
# A DNS header alone is 12 bytes, so a smaller length prefix cannot start a real message.
_MIN_PLAUSIBLE_LENGTH = 12
# Charged per buffered segment on top of its bytes, so a flood of 1-byte segments hits
# max_buffer long before the heap and dict holding them become a problem.
_SEGMENT_OVERHEAD = 64


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A complete datagram; frame/ts are those of the fragment that completed it."""

    payload: bytes
    frame: int
    ts_ns: int
    truncated: bool
    first_frame: int


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A datagram that never completed; frame/ts are those of its latest fragment."""

    key: Hashable
    frame: int
    ts_ns: int
    reason: str


@dataclass(slots=True)
class _Datagram:
    first_frame: int
    first_ts: int
    frame: int
    ts_ns: int
    data: bytearray = field(default_factory=bytearray)
    # Byte ranges [starts[i], ends[i]) present so far: sorted, disjoint and never touching,
    # so both lists are sorted and can be bisected.
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    end: int | None = None
    truncated: bool = False


class FragmentReassembler:
    """Reassembles fragmented IPv4/IPv6 datagrams keyed by whatever the caller chooses.

    Counters: ``completed``, ``incomplete`` (flushed or evicted), ``overlaps`` (a fragment
    overlapping bytes already held; the first copy wins), ``duplicates`` (an exact copy of
    bytes already held), ``evicted`` and ``invalid`` (fragments ignored as impossible).
    """

    def __init__(
        self,
        timeout_ns: int = 30_000_000_000,
        max_pending: int = 4096,
        max_bytes: int = 64 << 20,
    ) -> None:
        self.timeout_ns = timeout_ns
        self.max_pending = max_pending
        # max_pending alone would still allow 4096 x 64 KiB; this caps the total as well.
        self.max_bytes = max_bytes
        self.completed = 0
        self.incomplete = 0
        self.overlaps = 0
        self.duplicates = 0
        self.evicted = 0
        self.invalid = 0
        # Insertion order is creation order, so the first entry is always the oldest.
        self._pending: dict[Hashable, _Datagram] = {}
        self._evictions: list[Incomplete] = []
        self._bytes = 0

    def add(
        self,
        key: Hashable,
        offset: int,
        more_fragments: bool,
        payload: bytes,
        frame: int,
        ts_ns: int,
        truncated: bool,
    ) -> Reassembled | None:
        """Hold a fragment; return the datagram once every byte up to its end is held.

        A snaplen-cut fragment leaves a hole where its tail was: the datagram completes
        (flagged truncated) only if another copy fills it. Evictions surface in flush().
        """
        self._expire(ts_ns)
        stop = offset + len(payload)
        if offset < 0 or stop > MAX_DATAGRAM:
            self.invalid += 1
            return None
        dg = self._pending.get(key)
        if dg is None:
            while len(self._pending) >= max(self.max_pending, 1):
                self._evict_oldest("too many datagrams pending reassembly")
            dg = self._pending[key] = _Datagram(frame, ts_ns, frame, ts_ns)
        if not _agrees_with_end(dg, stop, more_fragments, truncated):
            self.invalid += 1
            return None
        dg.frame, dg.ts_ns = frame, ts_ns
        dg.truncated |= truncated
        self._bytes += self._store(dg, offset, payload)
        while self._bytes > self.max_bytes and next(iter(self._pending.values())) is not dg:
            self._evict_oldest("reassembly memory limit reached")
        if dg.end is None or (dg.end > 0 and (dg.starts != [0] or dg.ends[0] != dg.end)):
            return None
        del self._pending[key]
        self._bytes -= len(dg.data)
        self.completed += 1
        return Reassembled(bytes(dg.data), frame, ts_ns, dg.truncated, dg.first_frame)

    def flush(self) -> list[Incomplete]:
        """Everything that never completed, evictions included, ordered by frame."""
        out = self._evictions
        for key, dg in self._pending.items():
            reason = "missing fragments"
            if dg.truncated:
                reason = "fragment cut short by the capture's snaplen"
            out.append(Incomplete(key, dg.frame, dg.ts_ns, reason))
        self.incomplete += len(self._pending)
        self._pending, self._evictions, self._bytes = {}, [], 0
        out.sort(key=lambda inc: inc.frame)
        return out

    def _expire(self, now_ns: int) -> None:
        # Stops at the first live entry: with timestamps that go backwards an older
        # entry may survive a little longer, which is harmless and keeps this O(1).
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if now_ns - oldest.first_ts <= self.timeout_ns:
                return
            self._evict_oldest("reassembly timed out")

    def _evict_oldest(self, reason: str) -> None:
        key = next(iter(self._pending))
        dg = self._pending.pop(key)
        self._bytes -= len(dg.data)
        self.evicted += 1
        self.incomplete += 1
        self._evictions.append(Incomplete(key, dg.frame, dg.ts_ns, reason))

    def _store(self, dg: _Datagram, start: int, payload: bytes) -> int:
        """Copy the bytes not yet held (first copy wins); return how much `data` grew."""
        stop = start + len(payload)
        if stop == start:
            return 0
        grown = max(0, stop - len(dg.data))
        dg.data.extend(bytes(grown))
        # Ranges that overlap or touch [start, stop) are merged into one below.
        i, j = bisect_left(dg.ends, start), bisect_right(dg.starts, stop)
        cursor, held, same, wrote = start, False, True, False
        for k in range(i, j):
            lo, hi = max(dg.starts[k], start), min(dg.ends[k], stop)
            if lo < hi:
                held = True
                same = same and dg.data[lo:hi] == payload[lo - start : hi - start]
            if cursor < lo:
                dg.data[cursor:lo] = payload[cursor - start : lo - start]
                wrote = True
            cursor = max(cursor, hi)
        if cursor < stop:
            dg.data[cursor:stop] = payload[cursor - start :]
            wrote = True
        if held and same and not wrote:
            self.duplicates += 1
        elif held:
            self.overlaps += 1
        lo = min(start, dg.starts[i]) if i < j else start
        hi = max(stop, dg.ends[j - 1]) if i < j else stop
        dg.starts[i:j], dg.ends[i:j] = [lo], [hi]
        return grown


def _agrees_with_end(dg: _Datagram, stop: int, more_fragments: bool, truncated: bool) -> bool:
    """Check a fragment against the datagram's end, fixing the end from a last fragment."""
    if more_fragments or truncated:
        # A truncated last fragment hides where the datagram really ends, so it cannot
        # fix the end; only an intact copy of it can.
        return dg.end is None or stop <= dg.end
    if dg.end is None:
        if dg.ends and dg.ends[-1] > stop:
            return False
        dg.end = stop
        return True
    return dg.end == stop


@dataclass(frozen=True, slots=True)
class TcpMessage:
    payload: bytes
    frame: int
    ts_ns: int
    flow: Hashable
    error: str | None = None
    truncated: bool = False


@dataclass(slots=True)
class _Segment:
    offset: int  # position in the flow's unwrapped byte stream
    data: bytes
    frame: int
    ts_ns: int
    truncated: bool


@dataclass(slots=True)
class _Flow:
    key: Hashable  # the caller's flow, echoed in every TcpMessage
    nxt_seq: int  # sequence number of the next in-order byte, modulo 2**32
    isn: int | None  # None when the capture started after the SYN
    # Unwrapped stream position of nxt_seq; buffered segments are keyed by such positions
    # because, unlike raw sequence numbers, they keep their order across the 2**32 wrap.
    nxt_off: int = 0
    # True while `buf` starts on a message boundary. Once a gap loses that, the next
    # plausible segment start is waited for, and nothing is buffered meanwhile.
    synced: bool = True
    buf: bytearray = field(default_factory=bytearray)
    frame: int = 0  # latest segment whose bytes went into buf
    ts_ns: int = 0
    pending: dict[int, _Segment] = field(default_factory=dict)
    heap: list[int] = field(default_factory=list)
    buffered: int = 0
    closed: bool = False


class TcpStreams:
    """Splits each direction of each TCP connection into length-prefixed DNS messages.

    Counters: ``gaps`` (holes never filled, snaplen cuts included), ``retransmitted_segments``,
    ``out_of_order_segments`` and ``messages`` (every TcpMessage returned, errors included).
    """

    def __init__(self, max_buffer: int = 1 << 20) -> None:
        self.max_buffer = max_buffer
        self.gaps = 0
        self.retransmitted_segments = 0
        self.out_of_order_segments = 0
        self.messages = 0
        self._flows: dict[Hashable, _Flow] = {}

    def segment(
        self,
        flow: Hashable,
        seq: int,
        syn: bool,
        fin: bool,
        rst: bool,
        payload: bytes,
        frame: int,
        ts_ns: int,
        truncated: bool,
    ) -> list[TcpMessage]:
        """Take one segment of one direction; return the messages it completes, in order."""
        out: list[TcpMessage] = []
        seq %= _SEQ_MOD
        st = self._flows.get(flow)
        if syn and (st is None or st.isn != seq):
            if st is not None and not st.closed:
                # A new connection reusing the addresses and ports: the old one is over.
                self._close(st, out, None, None)
            st = self._flows[flow] = _Flow(flow, (seq + 1) % _SEQ_MOD, seq)
        elif st is None:
            if not payload and not truncated:
                return out
            st = self._flows[flow] = _Flow(flow, seq, None)
        elif st.closed:
            # Nothing may follow a FIN or RST; whatever does is a late retransmission.
            self.retransmitted_segments += bool(payload)
            return out
        start = (seq + 1) % _SEQ_MOD if syn else seq
        at = (frame, ts_ns)
        if payload or truncated:
            self._receive(st, _Segment(0, payload, frame, ts_ns, truncated), start, out, at)
        if fin or rst:
            fin_seq = (start + len(payload)) % _SEQ_MOD if fin and not truncated else None
            self._close(st, out, at, fin_seq)
            self._forget_if_both_closed(flow)
        return out

    def flush(self) -> list[TcpMessage]:
        """End of capture: everything still held, ordered by the frame of its last segment."""
        out: list[TcpMessage] = []
        for st in self._flows.values():
            if not st.closed:
                self._close(st, out, None, None)
        self._flows.clear()
        out.sort(key=lambda msg: msg.frame)
        return out

    def _receive(
        self,
        st: _Flow,
        seg: _Segment,
        start: int,
        out: list[TcpMessage],
        at: tuple[int, int],
    ) -> None:
        delta = _signed(start - st.nxt_seq)
        seg.offset = st.nxt_off + delta
        if delta < 0:
            self.retransmitted_segments += 1
            if not st.synced or len(seg.data) <= -delta:
                return
            seg.offset, seg.data = st.nxt_off, seg.data[-delta:]
        elif delta > 0 and st.synced:
            self.out_of_order_segments += 1
            self._buffer(st, seg)
            while st.buffered > self.max_buffer:
                # Giving up on a hole: what lay buffered behind it was complete when its
                # own segments arrived, so it keeps their frames (None), as tshark shows it.
                self._gap(st, out, None, GAP_ERROR, False)
                self._drain(st, out, None)
            return
        elif delta > 0:
            # Out of sync nothing is buffered, so the first segment past the gap is the
            # candidate to resynchronise on, even if an earlier one is still on its way.
            st.nxt_off, st.nxt_seq = seg.offset, start
        self._feed(st, seg, out, at)
        self._drain(st, out, at)

    def _buffer(self, st: _Flow, seg: _Segment) -> None:
        old = st.pending.get(seg.offset)
        if old is not None:
            self.retransmitted_segments += 1
            if len(old.data) >= len(seg.data):
                return
            st.buffered -= len(old.data)  # replaced by a longer copy, keeps its heap slot
        else:
            heapq.heappush(st.heap, seg.offset)
            st.buffered += _SEGMENT_OVERHEAD
        st.pending[seg.offset] = seg
        st.buffered += len(seg.data)

    def _drain(self, st: _Flow, out: list[TcpMessage], at: tuple[int, int] | None) -> None:
        """Deliver buffered segments up to the next hole (if synced) or resynchronise."""
        while st.heap:
            offset = st.heap[0]
            delta = offset - st.nxt_off
            if st.synced and delta > 0:
                return
            heapq.heappop(st.heap)
            seg = st.pending.pop(offset)
            st.buffered -= len(seg.data) + _SEGMENT_OVERHEAD
            if delta < 0:
                if not st.synced or len(seg.data) <= -delta:
                    continue  # all seen, or its start lies inside data given up on
                seg.offset, seg.data = st.nxt_off, seg.data[-delta:]
            elif delta > 0:
                st.nxt_off, st.nxt_seq = offset, (st.nxt_seq + delta) % _SEQ_MOD
            self._feed(st, seg, out, at)

    def _feed(
        self,
        st: _Flow,
        seg: _Segment,
        out: list[TcpMessage],
        at: tuple[int, int] | None,
    ) -> None:
        """Append the segment that starts exactly at nxt and emit what it completes.

        `at` is the frame/ts to stamp completed messages with: the current call's while
        capturing (that is when they completed), None at flush for each segment's own.
        """
        data = seg.data
        st.nxt_off += len(data)
        st.nxt_seq = (st.nxt_seq + len(data)) % _SEQ_MOD
        if not st.synced:
            # Resynchronisation heuristic: after a gap we cannot know where messages
            # start, so a segment is taken to start one only if its first two bytes read
            # as a length of at least a DNS header. Otherwise its bytes join the gap and
            # the next segment gets the same test. A wrong guess costs garbage messages
            # until the next gap, and DNS clients rarely keep connections that long.
            st.synced = len(data) >= 2 and int.from_bytes(data[:2], "big") >= _MIN_PLAUSIBLE_LENGTH
        if st.synced:
            st.buf += data
            st.frame, st.ts_ns = seg.frame, seg.ts_ns
            self._split(st, out, at or (seg.frame, seg.ts_ns))
        if seg.truncated:
            self._gap(st, out, at, SNAPLEN_ERROR, True)

    def _split(self, st: _Flow, out: list[TcpMessage], at: tuple[int, int]) -> None:
        buf, pos = st.buf, 0
        # One deletion at the end: deleting per message is quadratic on a segment
        # packed with tiny messages.
        while len(buf) - pos >= 2:
            length = int.from_bytes(buf[pos : pos + 2], "big")
            if length == 0:
                self._emit(out, st, b"", at, ZERO_LENGTH_ERROR, False)
            elif len(buf) - pos - 2 >= length:
                self._emit(out, st, bytes(buf[pos + 2 : pos + 2 + length]), at, None, False)
            else:
                break
            pos += 2 + length
        del buf[:pos]

    def _gap(
        self,
        st: _Flow,
        out: list[TcpMessage],
        at: tuple[int, int] | None,
        error: str,
        truncated: bool,
    ) -> None:
        """Give up on the hole at nxt: emit the message spanning it and lose sync."""
        self.gaps += 1
        if st.synced and st.buf:
            self._emit(out, st, bytes(st.buf[2:]), at or (st.frame, st.ts_ns), error, truncated)
        st.buf.clear()
        st.synced = False

    def _close(
        self,
        st: _Flow,
        out: list[TcpMessage],
        at: tuple[int, int] | None,
        fin_seq: int | None,
    ) -> None:
        while st.heap:
            # see _receive: data behind an abandoned hole keeps its own segments' frames
            self._gap(st, out, None, GAP_ERROR, False)
            self._drain(st, out, None)
        if fin_seq is not None and st.synced and _signed(fin_seq - st.nxt_seq) > 0:
            self._gap(st, out, at, GAP_ERROR, False)  # data before the FIN never seen
        if st.synced and st.buf:
            self._emit(out, st, bytes(st.buf[2:]), at or (st.frame, st.ts_ns), ENDED_ERROR, False)
        st.buf = bytearray()
        st.closed = True

    def _forget_if_both_closed(self, flow: Hashable) -> None:
        # The reverse direction can only be derived from a (src, sport, dst, dport, ...)
        # tuple whose further items do not depend on direction; flows keyed otherwise keep
        # their small closed state until flush.
        if not (isinstance(flow, tuple) and len(flow) >= 4):
            return
        reverse = (flow[2], flow[3], flow[0], flow[1], *flow[4:])
        other = self._flows.get(reverse)
        if other is not None and other.closed and self._flows[flow].closed:
            del self._flows[flow], self._flows[reverse]

    def _emit(
        self,
        out: list[TcpMessage],
        st: _Flow,
        payload: bytes,
        at: tuple[int, int],
        error: str | None,
        truncated: bool,
    ) -> None:
        self.messages += 1
        out.append(TcpMessage(payload, at[0], at[1], st.key, error, truncated))


def _signed(delta: int) -> int:
    """A sequence-number difference as a signed 32-bit value (RFC 1982 style)."""
    delta %= _SEQ_MOD
    return delta - _SEQ_MOD if delta >= 1 << 31 else delta
