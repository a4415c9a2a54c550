"""Unit and property tests for dnspcap.reading.reassembly (IP fragments and DNS over TCP)."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dnspcap.reading.reassembly import (
    ENDED_ERROR,
    GAP_ERROR,
    SNAPLEN_ERROR,
    ZERO_LENGTH_ERROR,
    FragmentReassembler,
    Incomplete,
    Reassembled,
    TcpMessage,
    TcpStreams,
)

FLOW = ("10.0.0.1", 40000, "10.0.0.53", 53)
REVERSE = ("10.0.0.53", 53, "10.0.0.1", 40000)
SEC = 1_000_000_000


def framed(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


def dns(n: int, size: int = 20) -> bytes:
    """A distinct fake DNS message of `size` bytes (only its length prefix matters here)."""
    return bytes([n % 256]) * size


class Feeder:
    """Feeds one flow, numbering frames 1, 2, ... and stamping ts = frame seconds."""

    def __init__(self, streams: TcpStreams | None = None, flow: object = FLOW) -> None:
        self.streams = streams or TcpStreams()
        self.flow = flow
        self.frame = 0

    def __call__(
        self,
        seq: int,
        payload: bytes = b"",
        *,
        syn: bool = False,
        fin: bool = False,
        rst: bool = False,
        truncated: bool = False,
    ) -> list[TcpMessage]:
        self.frame += 1
        return self.streams.segment(
            self.flow, seq, syn, fin, rst, payload, self.frame, self.frame * SEC, truncated
        )


def payloads(msgs: list[TcpMessage]) -> list[bytes]:
    return [m.payload for m in msgs]


# --- DNS over TCP ---------------------------------------------------------------------------


def test_one_message_in_one_segment_after_syn() -> None:
    feed = Feeder()
    assert feed(1000, syn=True) == []
    assert feed(1001, framed(dns(1))) == [TcpMessage(dns(1), 2, 2 * SEC, FLOW, None, False)]
    assert feed.streams.messages == 1


def test_length_prefix_split_across_segments() -> None:
    feed = Feeder()
    feed(0, syn=True)
    data = framed(dns(7, 30))
    assert feed(1, data[:1]) == []
    assert feed(2, data[1:]) == [TcpMessage(dns(7, 30), 3, 3 * SEC, FLOW)]


def test_three_messages_in_one_segment_share_its_frame() -> None:
    feed = Feeder()
    feed(0, syn=True)
    out = feed(1, framed(dns(1)) + framed(dns(2, 13)) + framed(dns(3, 40)))
    assert payloads(out) == [dns(1), dns(2, 13), dns(3, 40)]
    assert {(m.frame, m.ts_ns) for m in out} == {(2, 2 * SEC)}


def test_one_message_over_three_segments_takes_the_completing_frame() -> None:
    feed = Feeder()
    feed(0, syn=True)
    data = framed(dns(9, 100))
    assert feed(1, data[:40]) == []
    assert feed(41, data[40:80]) == []
    assert feed(81, data[80:]) == [TcpMessage(dns(9, 100), 4, 4 * SEC, FLOW)]


def test_message_tail_and_next_messages_in_one_segment() -> None:
    feed = Feeder()
    feed(0, syn=True)
    data = framed(dns(1)) + framed(dns(2)) + framed(dns(3))
    assert feed(1, data[:10]) == []
    out = feed(11, data[10:])
    assert payloads(out) == [dns(1), dns(2), dns(3)]
    assert [m.frame for m in out] == [3, 3, 3]


def test_retransmission_exact_and_partly_overlapping() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a, b = framed(dns(1)), framed(dns(2))
    assert payloads(feed(1, a)) == [dns(1)]
    assert feed(1, a) == []  # exact retransmission
    # A repacketised retransmission: the tail of `a` again plus the first half of `b`.
    assert feed(1 + len(a) - 5, a[-5:] + b[:10]) == []
    out = feed(1 + len(a) + 10, b[10:])
    assert out == [TcpMessage(dns(2), 5, 5 * SEC, FLOW)]
    assert feed.streams.retransmitted_segments == 2
    assert feed.streams.out_of_order_segments == 0


def test_out_of_order_segments_are_held_until_the_hole_fills() -> None:
    feed = Feeder()
    feed(0, syn=True)
    data = framed(dns(1)) + framed(dns(2)) + framed(dns(3))
    third, second, first = data[44:], data[20:44], data[:20]
    assert feed(45, third) == []
    assert feed(21, second) == []
    out = feed(1, first)
    assert payloads(out) == [dns(1), dns(2), dns(3)]
    assert [m.frame for m in out] == [4, 4, 4]  # completed when frame 4 filled the hole
    assert feed.streams.out_of_order_segments == 2
    assert feed.streams.gaps == 0
    assert feed.streams.flush() == []


def test_sequence_numbers_wrap_at_2_32() -> None:
    feed = Feeder()
    isn = 2**32 - 10
    feed(isn, syn=True)
    data = framed(dns(1)) + framed(dns(2))
    assert feed(isn + 1, data[:15]) == []
    out = feed((isn + 16) % 2**32, data[15:])
    assert payloads(out) == [dns(1), dns(2)]
    # Retransmission and reordering across the wrap are recognised too.
    assert feed(isn + 1, data[:15]) == []
    assert feed.streams.retransmitted_segments == 1
    later = framed(dns(3)) + framed(dns(4))
    nxt = (isn + 1 + len(data)) % 2**32
    assert feed(nxt + 22, later[22:]) == []
    assert payloads(feed(nxt, later[:22])) == [dns(3), dns(4)]


def test_syn_at_the_very_top_of_the_sequence_space() -> None:
    feed = Feeder()
    feed(2**32 - 1, syn=True)  # data starts at seq 0
    assert payloads(feed(0, framed(dns(5)))) == [dns(5)]


def test_without_syn_the_first_data_segment_starts_the_stream() -> None:
    feed = Feeder()
    data = framed(dns(1)) + framed(dns(2))
    assert payloads(feed(123456, data[:30])) == [dns(1)]
    assert payloads(feed(123486, data[30:])) == [dns(2)]


def test_pure_acks_without_state_create_nothing() -> None:
    feed = Feeder()
    assert feed(5, b"") == []
    assert feed(5, b"", fin=True) == []
    assert feed.streams._flows == {}


def test_gap_mid_message_then_resync_on_plausible_length() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a, b, c = framed(dns(1, 40)), framed(dns(2, 30)), framed(dns(3, 20))
    feed(1, a[:10])  # a[10:] is never captured
    assert feed(1 + len(a), b) == []  # held behind the hole
    assert feed(1 + len(a) + len(b), c) == []
    out = feed.streams.flush()
    assert out == [
        TcpMessage(a[2:10], 2, 2 * SEC, FLOW, GAP_ERROR, False),
        TcpMessage(dns(2, 30), 3, 3 * SEC, FLOW),
        TcpMessage(dns(3, 20), 4, 4 * SEC, FLOW),
    ]
    assert feed.streams.gaps == 1
    assert feed.streams._flows == {}


def test_resync_skips_a_segment_whose_first_bytes_are_not_a_plausible_length() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a = framed(dns(1, 40))
    feed(1, a[:10])
    # Resumes mid-message: b"\x00\x05" reads as length 5 < 12, so these bytes are skipped.
    tail = b"\x00\x05" + b"x" * 8
    feed(1 + 30, tail)
    feed(1 + 30 + len(tail), framed(dns(2)))
    out = feed.streams.flush()
    assert [(m.payload, m.error) for m in out] == [(a[2:10], GAP_ERROR), (dns(2), None)]
    assert feed.streams.gaps == 1


def test_gap_resolved_on_fin_and_later_data_is_a_retransmission() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a, b = framed(dns(1, 40)), framed(dns(2, 20))
    feed(1, a[:10])
    out = feed(1 + len(a), b, fin=True)
    # the abandoned message keeps the frame of its last segment, as tshark shows it
    assert out == [
        TcpMessage(a[2:10], 2, 2 * SEC, FLOW, GAP_ERROR, False),
        TcpMessage(dns(2, 20), 3, 3 * SEC, FLOW),
    ]
    assert feed(11, a[10:]) == []
    assert feed.streams.retransmitted_segments == 1
    assert feed.streams.flush() == []


def test_fin_after_missing_data_is_a_gap() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a = framed(dns(1, 40))
    feed(1, a[:10])
    out = feed(1 + len(a), fin=True)
    assert out == [TcpMessage(a[2:10], 3, 3 * SEC, FLOW, GAP_ERROR, False)]
    assert feed.streams.gaps == 1


def test_rst_ends_the_stream_inside_a_message() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a = framed(dns(1, 40))
    feed(1, a[:10])
    assert feed(11, rst=True) == [TcpMessage(a[2:10], 3, 3 * SEC, FLOW, ENDED_ERROR, False)]
    assert feed.streams.gaps == 0


def test_buffer_overflow_declares_the_gap() -> None:
    feed = Feeder(TcpStreams(max_buffer=200))
    feed(0, syn=True)
    a = framed(dns(1, 40))
    feed(1, a[:10])
    b = framed(dns(2, 100))
    assert feed(1 + len(a), b) == []  # 102 + overhead fits
    out = feed(1 + len(a) + len(b), framed(dns(3, 100)))
    assert [(m.payload, m.error, m.frame) for m in out] == [
        # behind an abandoned hole, each message keeps the frame that completed it
        (a[2:10], GAP_ERROR, 2),
        (dns(2, 100), None, 3),
        (dns(3, 100), None, 4),
    ]
    assert feed.streams._flows[FLOW].buffered == 0


def test_truncated_segment_is_a_hole() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a, b = framed(dns(1)), framed(dns(2, 300))
    # The segment held a and b whole, but the snaplen kept only 60 bytes of it.
    out = feed(1, (a + b)[:60], truncated=True)
    assert out == [
        TcpMessage(dns(1), 2, 2 * SEC, FLOW),
        TcpMessage(b[2:38], 2, 2 * SEC, FLOW, SNAPLEN_ERROR, True),
    ]
    assert feed.streams.gaps == 1
    # The next segment resynchronises on its plausible length prefix.
    assert payloads(feed(1 + len(a) + len(b), framed(dns(3)))) == [dns(3)]
    assert feed.streams.flush() == []


def test_truncated_segment_at_a_message_boundary_emits_nothing_partial() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a = framed(dns(1))
    assert feed(1, a, truncated=True) == [TcpMessage(dns(1), 2, 2 * SEC, FLOW)]
    assert feed.streams.gaps == 1


def test_zero_length_prefix() -> None:
    feed = Feeder()
    feed(0, syn=True)
    out = feed(1, b"\x00\x00" + framed(dns(1)))
    assert out == [
        TcpMessage(b"", 2, 2 * SEC, FLOW, ZERO_LENGTH_ERROR, False),
        TcpMessage(dns(1), 2, 2 * SEC, FLOW),
    ]


def test_flush_emits_incomplete_message_with_what_arrived() -> None:
    feed = Feeder()
    feed(0, syn=True)
    a = framed(dns(1, 50))
    feed(1, a[:20])
    feed(21, a[20:30])
    assert feed.streams.flush() == [TcpMessage(a[2:30], 3, 3 * SEC, FLOW, ENDED_ERROR, False)]
    assert feed.streams.flush() == []


def test_flush_of_a_lone_prefix_byte() -> None:
    feed = Feeder()
    feed(0, syn=True)
    feed(1, b"\x00")
    assert feed.streams.flush() == [TcpMessage(b"", 2, 2 * SEC, FLOW, ENDED_ERROR, False)]


def test_flush_orders_leftovers_by_frame_of_last_segment() -> None:
    streams = TcpStreams()
    first, second = Feeder(streams, FLOW), Feeder(streams, REVERSE)
    second.frame = 10
    second(0, framed(dns(2, 50))[:20])  # frame 11
    first(0, framed(dns(1, 50))[:20])  # frame 1
    out = streams.flush()
    assert [(m.flow, m.frame) for m in out] == [(FLOW, 1), (REVERSE, 11)]


def test_flows_are_independent_and_forgotten_after_both_fins() -> None:
    streams = TcpStreams()
    query, answer = Feeder(streams, FLOW), Feeder(streams, REVERSE)
    query(100, syn=True)
    answer(900, syn=True)
    assert payloads(query(101, framed(dns(1)), fin=True)) == [dns(1)]
    assert set(streams._flows) == {FLOW, REVERSE}
    assert payloads(answer(901, framed(dns(2)), fin=True)) == [dns(2)]
    assert streams._flows == {}


def test_longer_flow_keys_are_forgotten_too() -> None:
    streams = TcpStreams()
    query = Feeder(streams, (*FLOW, 4, "dns"))
    answer = Feeder(streams, (*REVERSE, 4, "dns"))
    query(1, framed(dns(1)), rst=True)
    answer(1, framed(dns(2)), fin=True)
    assert streams._flows == {}


def test_other_flow_keys_keep_closed_state_until_flush() -> None:
    feed = Feeder(flow="opaque")
    assert payloads(feed(1, framed(dns(1)), fin=True)) == [dns(1)]
    assert feed(1, framed(dns(1))) == []  # late retransmission, not a new stream
    assert feed.streams.retransmitted_segments == 1
    assert feed.streams.flush() == []


def test_new_syn_on_a_used_flow_starts_a_new_connection() -> None:
    feed = Feeder()
    feed(100, syn=True)
    a = framed(dns(1, 40))
    feed(101, a[:10])
    feed(100, syn=True)  # retransmitted SYN: same connection
    assert payloads(feed(111, a[10:])) == [dns(1, 40)]
    feed(101, a[:10])  # retransmission, ignored
    out = feed(5000, syn=True)
    assert out == []
    assert payloads(feed(5001, framed(dns(2)))) == [dns(2)]
    feed(5001 + 22, a[:10])
    # The old connection's leftover keeps the frame of its own last segment, as at flush.
    out = feed(7000, syn=True)
    assert out == [TcpMessage(a[2:10], 8, 8 * SEC, FLOW, ENDED_ERROR, False)]


def test_syn_carrying_data() -> None:
    feed = Feeder()
    assert payloads(feed(41, framed(dns(4)), syn=True)) == [dns(4)]


# --- IP fragments ---------------------------------------------------------------------------

DATAGRAM = bytes(range(256)) * 10  # 2560 bytes
KEY = ("10.0.0.1", "10.0.0.2", 17, 0x1234)


def fragments(data: bytes, size: int) -> list[tuple[int, bool, bytes]]:
    return [
        (off, off + size < len(data), data[off : off + size]) for off in range(0, len(data), size)
    ]


def test_fragments_in_order() -> None:
    r = FragmentReassembler()
    frags = fragments(DATAGRAM, 1000)
    results = [r.add(KEY, o, mf, p, i + 1, i * SEC, False) for i, (o, mf, p) in enumerate(frags)]
    assert results == [None, None, Reassembled(DATAGRAM, 3, 2 * SEC, False, 1)]
    assert (r.completed, r.overlaps, r.duplicates) == (1, 0, 0)
    assert r.flush() == []


def test_fragments_in_reverse_order() -> None:
    r = FragmentReassembler()
    frags = fragments(DATAGRAM, 512)[::-1]
    results = [r.add(KEY, o, mf, p, i + 1, i * SEC, False) for i, (o, mf, p) in enumerate(frags)]
    assert results[:-1] == [None] * 4
    assert results[-1] == Reassembled(DATAGRAM, 5, 4 * SEC, False, 1)


def test_duplicate_fragments_are_harmless() -> None:
    r = FragmentReassembler()
    (o1, mf1, p1), (o2, mf2, p2) = fragments(DATAGRAM[:1600], 800)
    assert r.add(KEY, o1, mf1, p1, 1, 0, False) is None
    assert r.add(KEY, o1, mf1, p1, 2, 0, False) is None
    assert r.add(KEY, o2, mf2, p2, 3, 0, False) == Reassembled(DATAGRAM[:1600], 3, 0, False, 1)
    assert (r.duplicates, r.overlaps) == (1, 0)


def test_overlapping_fragments_first_copy_wins() -> None:
    r = FragmentReassembler()
    assert r.add(KEY, 0, True, b"A" * 16, 1, 0, False) is None
    assert r.add(KEY, 8, True, b"B" * 16, 2, 0, False) is None  # bytes 8..16 already held
    done = r.add(KEY, 24, False, b"C" * 8, 3, 0, False)
    assert done == Reassembled(b"A" * 16 + b"B" * 8 + b"C" * 8, 3, 0, False, 1)
    assert r.overlaps == 1


def test_fragment_covering_a_hole_and_held_bytes() -> None:
    r = FragmentReassembler()
    r.add(KEY, 0, True, b"a" * 8, 1, 0, False)
    r.add(KEY, 16, True, b"c" * 8, 2, 0, False)
    done = r.add(KEY, 0, False, b"X" * 32, 3, 0, False)
    assert done is not None
    assert done.payload == b"a" * 8 + b"X" * 8 + b"c" * 8 + b"X" * 8
    assert r.overlaps == 1


def test_missing_middle_fragment_is_flushed_as_incomplete() -> None:
    r = FragmentReassembler()
    first, _middle, last = fragments(DATAGRAM[:2400], 800)
    assert r.add(KEY, *first, 1, 1 * SEC, False) is None
    assert r.add(KEY, *last, 2, 2 * SEC, False) is None
    assert r.flush() == [Incomplete(KEY, 2, 2 * SEC, "missing fragments")]
    assert r.incomplete == 1
    assert r.flush() == []


def test_truncated_fragment_never_completes() -> None:
    r = FragmentReassembler()
    assert r.add(KEY, 0, True, b"x" * 100, 1, 0, True) is None  # really 800 bytes
    assert r.add(KEY, 800, False, b"y" * 100, 2, 0, False) is None
    assert r.flush() == [Incomplete(KEY, 2, 0, "fragment cut short by the capture's snaplen")]


def test_truncated_last_fragment_does_not_fix_the_end() -> None:
    r = FragmentReassembler()
    assert r.add(KEY, 0, True, b"x" * 800, 1, 0, False) is None
    assert r.add(KEY, 800, False, b"y" * 40, 2, 0, True) is None
    assert r.flush()[0].reason == "fragment cut short by the capture's snaplen"


def test_hole_from_truncation_filled_by_an_intact_copy_completes_flagged() -> None:
    r = FragmentReassembler()
    r.add(KEY, 0, True, b"x" * 100, 1, 0, True)
    r.add(KEY, 0, True, b"x" * 800, 2, 0, False)
    done = r.add(KEY, 800, False, b"y" * 8, 3, 0, False)
    assert done == Reassembled(b"x" * 800 + b"y" * 8, 3, 0, True, 1)


def test_timeout_eviction() -> None:
    r = FragmentReassembler(timeout_ns=30 * SEC)
    r.add(KEY, 0, True, b"a" * 8, 1, 0, False)
    other = ("10.0.0.1", "10.0.0.2", 17, 0x9999)
    r.add(other, 0, True, b"b" * 8, 2, 20 * SEC, False)
    # 31 s after the first fragment: the first datagram expires, the second does not.
    assert r.add(KEY, 8, False, b"a" * 8, 3, 31 * SEC, False) is None
    assert r.evicted == 1
    assert r.add(other, 8, False, b"b" * 8, 4, 32 * SEC, False) == Reassembled(
        b"b" * 16, 4, 32 * SEC, False, 2
    )
    assert r.flush() == [
        Incomplete(KEY, 1, 0, "reassembly timed out"),
        Incomplete(KEY, 3, 31 * SEC, "missing fragments"),  # the late fragment started anew
    ]
    assert (r.incomplete, r.evicted, r.completed) == (2, 1, 1)


def test_max_pending_evicts_oldest() -> None:
    r = FragmentReassembler(max_pending=2)
    for ident in range(3):
        r.add(("a", "b", 17, ident), 0, True, b"z" * 8, ident + 1, 0, False)
    assert r.evicted == 1
    assert [inc.key for inc in r.flush()] == [
        ("a", "b", 17, 0),
        ("a", "b", 17, 1),
        ("a", "b", 17, 2),
    ]


def test_memory_limit_evicts_oldest() -> None:
    r = FragmentReassembler(max_bytes=100_000)
    r.add(("a", 1), 60_000, True, b"z" * 8, 1, 0, False)
    r.add(("a", 2), 60_000, True, b"z" * 8, 2, 0, False)
    assert r.evicted == 1
    assert r.flush()[0] == Incomplete(("a", 1), 1, 0, "reassembly memory limit reached")


def test_oversize_offset_is_invalid() -> None:
    r = FragmentReassembler()
    assert r.add(KEY, 65528, False, b"q" * 8, 1, 0, False) is None
    assert r.add(KEY, -8, True, b"q" * 8, 2, 0, False) is None
    assert r.invalid == 2
    assert r.flush() == []


def test_fragments_beyond_the_known_end_are_invalid() -> None:
    r = FragmentReassembler()
    r.add(KEY, 16, False, b"e" * 8, 1, 0, False)
    assert r.add(KEY, 24, True, b"f" * 8, 2, 0, False) is None  # past the end
    assert r.add(KEY, 8, False, b"g" * 8, 3, 0, False) is None  # a second, different end
    assert r.invalid == 2
    assert r.add(KEY, 0, True, b"h" * 16, 4, 0, False) == Reassembled(
        b"h" * 16 + b"e" * 8, 4, 0, False, 1
    )


def test_unfragmented_datagram_completes_at_once() -> None:
    r = FragmentReassembler()
    assert r.add(KEY, 0, False, b"dns", 7, 5, False) == Reassembled(b"dns", 7, 5, False, 7)


# --- properties -----------------------------------------------------------------------------


@st.composite
def shuffled_stream(draw: st.DrawFn) -> tuple[int, list[bytes], list[tuple[int, bytes]]]:
    """N framed messages, cut into segments, fed in any order with duplicates and overlaps."""
    messages = draw(st.lists(st.binary(min_size=1, max_size=80), min_size=1, max_size=8))
    stream = b"".join(framed(m) for m in messages)
    # Every message is at least 3 bytes framed, so there is always room for a cut.
    cuts = draw(st.sets(st.integers(1, len(stream) - 1), max_size=12))
    bounds = [0, *sorted(cuts), len(stream)]
    segs = [(a, stream[a:b]) for a, b in itertools.pairwise(bounds)]
    for _ in range(draw(st.integers(0, 4))):  # repacketised retransmissions
        a = draw(st.integers(0, len(stream) - 1))
        b = draw(st.integers(a + 1, len(stream)))
        segs.append((a, stream[a:b]))
    segs += draw(st.lists(st.sampled_from(segs), max_size=4))  # exact duplicates
    segs = draw(st.permutations(segs))
    isn = draw(st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 300, 2**32 - 1)))
    return isn, messages, segs


@settings(max_examples=300, deadline=None)
@given(shuffled_stream())
def test_any_order_of_segments_yields_the_messages_in_order(
    case: tuple[int, list[bytes], list[tuple[int, bytes]]],
) -> None:
    isn, messages, segs = case
    feed = Feeder()
    out = feed(isn, syn=True)
    for offset, data in segs:
        out += feed((isn + 1 + offset) % 2**32, data)
    assert [(m.payload, m.error) for m in out] == [(m, None) for m in messages]
    assert feed.streams.flush() == []
    assert feed.streams.gaps == 0


segment_soup = st.lists(
    st.tuples(
        st.sampled_from([FLOW, REVERSE, ("x", 1, "y", 2)]),
        st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 3000)),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.one_of(st.binary(max_size=300), st.just(b"\x00\x0c" + b"q" * 12)),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(segment_soup)
def test_segment_soup_never_raises_and_stays_bounded(
    soup: list[tuple[tuple[object, ...], int, bool, bool, bool, bytes, bool]],
) -> None:
    max_buffer = 1000
    streams = TcpStreams(max_buffer=max_buffer)
    out: list[TcpMessage] = []
    fed = 0
    for frame, (flow, seq, syn, fin, rst, payload, truncated) in enumerate(soup, 1):
        out += streams.segment(flow, seq, syn, fin, rst, payload, frame, frame, truncated)
        fed += len(payload)
        for state in streams._flows.values():
            assert 0 <= state.buffered <= max_buffer
            assert len(state.buf) <= 2 + 65_535
    out += streams.flush()
    assert streams._flows == {}
    assert streams.messages == len(out)
    # Nothing is invented: each message's bytes came from what was fed.
    assert sum(len(m.payload) for m in out) <= fed
    assert all(1 <= m.frame <= len(soup) for m in out)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=1, max_size=3000),
    st.integers(1, 200),
    st.randoms(use_true_random=False),
)
def test_fragments_in_any_order_with_duplicates_reassemble(
    data: bytes, units: int, rnd: random.Random
) -> None:
    frags = fragments(data, units * 8)
    frags += rnd.choices(frags, k=rnd.randint(0, 3))
    rnd.shuffle(frags)
    r = FragmentReassembler()
    done = [r.add(KEY, o, mf, p, i, i, False) for i, (o, mf, p) in enumerate(frags, 1)]
    completed = [d for d in done if d is not None]
    assert completed[0].payload == data
    assert r.overlaps == 0
