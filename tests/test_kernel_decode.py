"""The kernel's exact decoder (dnspcap/csrc/reading/decode.c, text.c) writes what the exact
Python decoder (dnspcap.reading.dnswire) writes.

The C decoder renders every answer set and every malformed message the fast path reads,
so each text it writes must equal the pure-Python decoder's to the byte: answers of each
record type, question names, option lists, error texts, the numbers. Compared directly
(``_kernel.decode`` against ``decode_message``) on generated and arbitrary messages, then
through ``read_messages`` (both engines) on a crafted message of each malformed kind and
on a small hostile capture, where every message must stay a row with its error.
"""

from __future__ import annotations

import ipaddress
import struct
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import dnspcap
from dnspcap.native import kernel as _kernel
from dnspcap.reading import engine
from dnspcap.reading.dnswire import Decoded, decode_message
from dnspcap.reading.iana import type_name
from tests import craft, dnsgen
from tests.craft import LINK_ETHERNET, T0, Rec, frame, udp4

MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
try:
    from decode_captures import hostile_capture, varied_capture
finally:
    sys.path.pop(0)


def c_decode(payload: bytes) -> Decoded:
    return Decoded(*_kernel.decode(np.frombuffer(payload, np.uint8)))


def assert_same(payload: bytes) -> None:
    assert c_decode(payload) == decode_message(payload), payload.hex()


# ---- the decoders, directly ----------------------------------------------------------------


@MANY
@given(dnsgen.responses())
def test_c_decoder_equals_python_on_well_formed_responses(payload: bytes) -> None:
    assert decode_message(payload).error is None
    assert_same(payload)


@MANY
@given(dnsgen.messages())
def test_c_decoder_equals_python_on_generated_messages(payload: bytes) -> None:
    assert_same(payload)


@MANY
@given(st.binary(max_size=600))
@example(b"")
@example(b"\x12")
@example(b"\x12\x34\x81\x80\x00\x01\x00")
def test_c_decoder_equals_python_on_arbitrary_bytes(payload: bytes) -> None:
    assert_same(payload)


@MANY
@given(dnsgen.messages(), st.data())
def test_c_decoder_equals_python_on_mutated_messages(payload: bytes, data: st.DataObject) -> None:
    msg = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 6))):
        if not msg:
            break
        at = data.draw(st.integers(0, len(msg) - 1))
        msg[at] = data.draw(st.sampled_from([0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xFF]))
    assert_same(bytes(msg))


def _one_answer_each(types: range) -> bytes:
    """One answer per type, class ANY and empty RDATA (rendered as `TYPE \\# 0`)."""
    rr = b"".join(b"\0" + struct.pack(">HHIH", t, 255, 0, 0) for t in types)
    return struct.pack(">HHHHHH", 1, 0x8180, 0, len(types), 0, 0) + rr


def test_every_type_mnemonic_is_the_python_one() -> None:
    for types in (range(0, 32768), range(32768, 65536)):
        d = c_decode(_one_answer_each(types))
        assert d == decode_message(_one_answer_each(types))
        assert d.answers.split("; ")[1] == f"{type_name(types[1])} \\# 0"


def test_every_option_mnemonic_is_the_python_one() -> None:
    options = b"".join(struct.pack(">HH", code, 0) for code in range(40))
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, len(options)) + options
    msg = struct.pack(">HHHHHH", 1, 0x8180, 0, 0, 0, 1) + opt
    assert c_decode(msg) == decode_message(msg)
    assert c_decode(msg).edns_options.startswith("OPT0,LLQ,UL,NSID,OPT4,DAU,")


def _answers(*records: tuple[int, bytes], cls: int = 1) -> bytes:
    question = dnsgen.encode([b"q", b"example"]) + b"\x00\x01\x00\x01"
    rr = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", t, cls, 60, len(d)) + d for t, d in records)
    return struct.pack(">HHHHHH", 7, 0x8180, 1, len(records), 0, 0) + question + rr


_SOA = b"\x02ns\xc0\x0e\x04host\xc0\x0e" + struct.pack(">IIIII", 2**32 - 1, 7200, 1, 0, 30)
_HTTPS = b"\x00\x01\x00" + struct.pack(">HH", 1, 3) + b"\x02h2"
_ODD_NAME = dnsgen.encode([b"a.b", b"c\\d", b'"q"', b"\x00 \xff"])
_TXT = b'\x00\x08say "hi"\x03a\\b\x03\x00\x7f\x80'
RENDERED = [
    ((1, b"\xc0\x00\x02\x01"), "A 192.0.2.1"),
    ((28, bytes(15) + b"\x01"), "AAAA ::1"),
    ((28, bytes.fromhex("20010db8000000010000000000000001")), "AAAA 2001:db8:0:1::1"),
    ((28, bytes.fromhex("20010db8000000000001000000000001")), "AAAA 2001:db8::1:0:0:1"),
    ((5, _ODD_NAME), r'CNAME a\.b.c\\d."q".\000\032\255'),
    ((12, b"\0"), "PTR ."),
    ((2, b"\xc0\x0c"), "NS q.example"),
    ((15, b"\x00\x0a\x02mx\xc0\x0e"), "MX 10 mx.example"),
    ((33, b"\x00\x01\x00\x02\x01\xbb\x00"), "SRV 1 2 443 ."),
    ((16, _TXT), r'TXT "" "say \"hi\"" "a\\b" "\000\127\128"'),
    ((6, _SOA), "SOA ns.example host.example 4294967295 7200 1 0 30"),
    ((65, _HTTPS), r"HTTPS \# 10 00010000010003026832"),
    ((64, b""), r"SVCB \# 0"),
    ((999, b"\xab"), r"TYPE999 \# 1 ab"),
]  # fmt: skip


@pytest.mark.parametrize(("record", "text"), RENDERED, ids=[t for _, t in RENDERED])
def test_answers_are_rendered_as_dnswire_renders_them(record: tuple[int, bytes], text: str) -> None:
    msg = _answers(record)
    assert decode_message(msg).answers == text  # the oracle says what a user sees
    assert c_decode(msg) == decode_message(msg)


def test_answers_are_joined_in_wire_order() -> None:
    msg = _answers(*(record for record, _ in RENDERED))
    assert c_decode(msg).answers == "; ".join(text for _, text in RENDERED)
    assert c_decode(msg) == decode_message(msg)


# ---- addresses ---------------------------------------------------------------------------


@MANY
@given(st.one_of(dnsgen.ipv6_bytes(), st.binary(min_size=4, max_size=4)), st.integers(0, 3))
@example(bytes(16), 0)
@example(bytes(10) + b"\xff\xff" + bytes(4), 0)
@example(bytes(10) + b"\xff\xff\x01\x02\x03\x04", 0)
@example(bytes(12) + b"\x01\x02\x03\x04", 0)
@example(bytes.fromhex("00010000000100000000000000000001"), 0)
def test_address_texts_equal_ipaddress(raw: bytes, copies: int) -> None:
    addresses = [raw] * (copies + 1)
    assert engine.address_texts(addresses) == [str(ipaddress.ip_address(a)) for a in addresses]


def test_address_texts_refuse_other_lengths() -> None:
    with pytest.raises(ValueError, match="item 1 is not 4 or 16 bytes"):
        engine.address_texts([b"\x01\x02\x03\x04", b"\x01\x02"])


def test_texts_refuse_messages_outside_the_buffer() -> None:
    buf = np.zeros(20, np.uint8)
    one = np.array([0], np.int64)
    with pytest.raises(ValueError, match="message 0 is not within b"):
        engine.texts(buf, one, np.array([21], np.int64), np.array([engine.K_ANSWERS], np.int64))
    with pytest.raises(ValueError, match="kind 5 is not a key kind"):
        engine.texts(buf, one, np.array([20], np.int64), np.array([5], np.int64))


# ---- each kind of malformed message, through read_messages -----------------------------------


def _header(qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, flags: int = 0x8180) -> bytes:
    return struct.pack(">HHHHHH", 0xBEEF, flags, qd, an, ns, ar)


Q = dnsgen.encode([b"www", b"example"]) + b"\x00\x01\x00\x01"


def _rr(rtype: int, rdata: bytes, owner: bytes = b"\xc0\x0c", rdlength: int | None = None) -> bytes:
    size = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack(">HHIH", rtype, 1, 300, size) + rdata


# 127 pointers from offset 12 on, each to the next: the 127th jump is one too many
_POINTER_CHAIN = b"".join(dnsgen.pointer(12 + 2 * (k + 1)) for k in range(127)) + b"\0"
_RECORD_1 = 12 + len(Q)  # where the first record after the question starts

# (kind, message, the error both engines must show)
MALFORMED = [
    ("short header", b"\xbe\xef\x81", "message shorter than the 12-byte DNS header"),
    ("no header at all", b"", "message shorter than the 12-byte DNS header"),
    ("questions past the end", _header(qd=2) + Q, "question 2 runs past the end of the message"),
    ("question type cut", _header() + Q[:-2], "question 1 runs past the end of the message"),
    ("counts of 65535", _header(65535, 65535, 65535, 65535) + Q,
     "question 2 runs past the end of the message"),
    ("answer count past the end", _header(an=3) + Q + _rr(1, b"\x01\x02\x03\x04"),
     "answer record 2 runs past the end of the message"),
    ("question points at itself", _header() + b"\xc0\x0c\x00\x01\x00\x01",
     "name pointer loop in question 1"),
    ("pointer out of bounds", _header() + b"\xff\xff\x00\x01\x00\x01",
     "name pointer out of bounds in question 1"),
    ("127 pointers", _header() + _POINTER_CHAIN + b"\x00\x01\x00\x01",
     "more than 126 name pointers in question 1"),
    ("reserved label type 0x40", _header() + b"\x41abc\x00\x00\x01\x00\x01",
     "reserved label type 0x40 in question 1"),
    ("reserved label type 0x80", _header() + b"\x80\x00\x00\x01\x00\x01",
     "reserved label type 0x80 in question 1"),
    ("label past the end", _header() + b"\x3fabc", "question 1 runs past the end of the message"),
    ("name over 255 octets", _header() + dnsgen.LONG_NAME + b"\x00\x01\x00\x01",
     "name longer than 255 octets in question 1"),
    ("owner name loop",
     _header(an=1) + Q + _rr(1, b"\x01\x02\x03\x04", owner=dnsgen.pointer(_RECORD_1)),
     "name pointer loop in answer record 1"),
    ("record fixed part cut", _header(an=1) + Q + _rr(1, b"")[:8],
     "answer record 1 runs past the end of the message"),
    ("RDATA past the end", _header(an=1) + Q + _rr(1, b"\x01\x02", rdlength=4),
     "answer record 1 runs past the end of the message"),
    ("A of 5 bytes", _header(an=1) + Q + _rr(1, b"\x01\x02\x03\x04\x05"),
     "answer record 1: A rdata is 5 bytes, expected 4"),
    ("AAAA of 4 bytes", _header(an=1) + Q + _rr(28, b"\x01\x02\x03\x04"),
     "answer record 1: AAAA rdata is 4 bytes, expected 16"),
    ("CNAME points at itself", _header(an=1) + Q + _rr(5, dnsgen.pointer(_RECORD_1 + 12)),
     "answer record 1: CNAME rdata: name pointer loop"),
    ("CNAME past its record", _header(an=1) + Q + _rr(5, b"\x05ab"),
     "answer record 1: CNAME rdata: name runs past the record"),
    ("PTR with extra bytes", _header(an=1) + Q + _rr(12, b"\xc0\x0c\x00\x00"),
     "answer record 1: PTR rdata has 2 extra bytes"),
    ("MX too short", _header(an=1) + Q + _rr(15, b"\x00"),
     "answer record 1: MX rdata is too short"),
    ("SRV too short", _header(an=1) + Q + _rr(33, b"\x00\x01\x00\x02"),
     "answer record 1: SRV rdata is too short"),
    ("SOA too short", _header(an=1) + Q + _rr(6, b"\xc0\x0c\xc0\x0c" + bytes(19)),
     "answer record 1: SOA rdata is too short"),
    ("SOA with an extra byte", _header(an=1) + Q + _rr(6, b"\xc0\x0c\xc0\x0c" + bytes(21)),
     "answer record 1: SOA rdata has 1 extra bytes"),
    ("TXT empty", _header(an=1) + Q + _rr(16, b""), "answer record 1: TXT rdata is empty"),
    ("TXT string past its record", _header(an=1) + Q + _rr(16, b"\x09abc"),
     "answer record 1: TXT rdata: character-string runs past the record"),
    ("OPT option past its record",
     _header(ar=1) + Q + b"\0" + struct.pack(">HHIH", 41, 1232, 0, 6) + b"\x00\x0a\x00\x08ab",
     "additional record 1: OPT option runs past the record"),
    ("first error wins", _header(an=2) + Q + _rr(1, b"\x01\x02\x03") + _rr(1, b"")[:5],
     "answer record 1: A rdata is 3 bytes, expected 4"),
    ("error in the authority section", _header(ns=1) + Q + _rr(6, b"\xc0\x0c"),
     "authority record 1: SOA rdata: name runs past the record"),
]  # fmt: skip


def test_malformed_messages_are_crafted_as_their_kind_says() -> None:
    for kind, payload, error in MALFORMED:
        assert decode_message(payload).error == error, kind


def _capture(tmp_path: Path, payloads: list[bytes]) -> Path:
    recs = [Rec(frame(LINK_ETHERNET, udp4(p)), T0 + i * 1000) for i, p in enumerate(payloads)]
    path = tmp_path / "crafted.pcap"
    path.write_bytes(craft.pcap(recs))
    return path


def test_each_malformed_kind_is_the_same_row_from_both_engines(tmp_path: Path) -> None:
    good = _answers((1, b"\xc0\x00\x02\x01"))
    # each kind twice (the second meets its texts' keys again), between well-formed ones
    payloads = [good] + [p for _, p, _ in MALFORMED for _ in range(2)] + [good]
    path = _capture(tmp_path, payloads)
    fast_df = dnspcap.read_messages(path)
    exact_df = dnspcap.read_messages(path, engine="python")
    pd.testing.assert_frame_equal(fast_df, exact_df)
    assert fast_df.attrs == exact_df.attrs
    errors = ["", *[e for _, _, e in MALFORMED for _ in range(2)], ""]
    assert fast_df["error"].tolist() == errors
    assert fast_df.attrs["dnspcap"]["decode_errors"] == 2 * len(MALFORMED)
    # what was read before the error is shown: the question, and answers up to the bad one
    row = fast_df.iloc[1 + 2 * [k for k, _, _ in MALFORMED].index("answer count past the end")]
    assert (row["qname"], row["answers"], row["min_ttl"]) == ("www.example", "A 1.2.3.4", 300)
    row = fast_df.iloc[1 + 2 * [k for k, _, _ in MALFORMED].index("A of 5 bytes")]
    assert row["answers"] == r"A \# 5 0102030405"


def test_a_hostile_capture_keeps_every_message_with_its_error(tmp_path: Path) -> None:
    path = tmp_path / "hostile.pcap"
    packets = hostile_capture(path, 3000, seed=7)
    fast_df = dnspcap.read_messages(path)
    exact_df = dnspcap.read_messages(path, engine="python")
    pd.testing.assert_frame_equal(fast_df, exact_df)
    assert fast_df.attrs == exact_df.attrs
    assert len(fast_df) == packets
    assert (fast_df["error"] != "").all()
    assert fast_df.attrs["dnspcap"]["decode_errors"] == packets


def test_a_varied_capture_reads_the_same_with_both_engines(tmp_path: Path) -> None:
    path = tmp_path / "varied.pcap"
    packets = varied_capture(path, 6000, seed=3, clients=400, names=300)
    fast_df = dnspcap.read_messages(path)
    exact_df = dnspcap.read_messages(path, engine="python")
    pd.testing.assert_frame_equal(fast_df, exact_df)
    assert len(fast_df) == packets
    assert fast_df.attrs["dnspcap"]["decode_errors"] == 0
    kinds = {a.split(" ", 1)[0] for a in fast_df["answers"].unique() if a}
    assert kinds >= {"A", "AAAA", "CNAME", "TXT", "MX", "SRV", "PTR", "NS", "HTTPS"}
