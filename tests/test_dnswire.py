"""The pure-Python DNS decoder (dnspcap.reading.dnswire) and the name tables (reading.iana).

Messages are built byte by byte so each test shows exactly which wire
feature it exercises; scapy builds the realistic ones for the property tests.
"""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRMX
from scapy.packet import Packet

from dnspcap.reading.dnswire import HEADER_SHORT, decode_message, flags_text
from dnspcap.reading.iana import (
    class_name,
    edns_option_name,
    opcode_name,
    rcode_name,
    type_code,
    type_name,
)

# ---------------------------------------------------------------------------
# Builders


def header(
    qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, flags: int = 0x8180, msg_id: int = 0x1234
) -> bytes:
    return struct.pack("!HHHHHH", msg_id, flags, qd, an, ns, ar)


def name(*labels: bytes | str) -> bytes:
    """Wire form of a name from its labels; the terminating zero is added."""
    out = b""
    for label in labels:
        raw = label.encode() if isinstance(label, str) else label
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def dotted(text: str) -> bytes:
    return name(*text.split("."))


def ptr(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def question(owner: bytes, qtype: int = 1, qclass: int = 1) -> bytes:
    return owner + struct.pack("!HH", qtype, qclass)


def rr(
    owner: bytes,
    rtype: int,
    rdata: bytes,
    ttl: int = 300,
    rclass: int = 1,
    rdlength: int | None = None,
) -> bytes:
    size = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, size) + rdata


def opt(
    size: int = 1232, ext_rcode: int = 0, do: bool = False, options: bytes = b"", version: int = 0
) -> bytes:
    ttl = ext_rcode << 24 | version << 16 | (0x8000 if do else 0)
    return rr(b"\x00", 41, options, ttl=ttl, rclass=size)


def option(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


QNAME = dotted("www.example.com")  # at offset 12 in every message built with one question
Q = question(QNAME)


RDATA_AT = 12 + len(Q) + 2 + 10  # where the first answer's rdata starts, its owner a pointer


def response(*answers: bytes, ns: tuple[bytes, ...] = (), ar: tuple[bytes, ...] = ()) -> bytes:
    return header(1, len(answers), len(ns), len(ar)) + Q + b"".join((*answers, *ns, *ar))


# ---------------------------------------------------------------------------
# dnstypes


def test_type_names() -> None:
    assert [type_name(n) for n in (1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 43, 46, 64, 65)] == [
        "A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "OPT", "DS", "RRSIG",
        "SVCB", "HTTPS",
    ]  # fmt: skip
    assert [type_name(n) for n in (250, 251, 252, 255, 256, 257, 99, 52, 35)] == [
        "TSIG", "IXFR", "AXFR", "ANY", "URI", "CAA", "SPF", "TLSA", "NAPTR",
    ]  # fmt: skip
    assert type_name(65534) == "TYPE65534"
    assert type_name(0) == "TYPE0"


def test_type_code_is_the_inverse_of_type_name() -> None:
    assert type_code("AAAA") == 28
    assert type_code("https") == 65
    assert type_code("TYPE65534") == 65534
    assert type_code("type1") == 1
    assert type_code("NSAP-PTR") == 23
    assert all(type_code(type_name(n)) == n for n in range(0x10000))
    for bad in ("BOGUS", "TYPE", "TYPE65536", "TYPE-1", "TYPE+1", "TYPE١", ""):
        with pytest.raises(ValueError):
            type_code(bad)


def test_class_rcode_opcode_option_names() -> None:
    assert [class_name(n) for n in (1, 3, 4, 254, 255, 5, 2)] == [
        "IN", "CH", "HS", "NONE", "ANY", "CLASS5", "CLASS2",
    ]  # fmt: skip
    assert [rcode_name(n) for n in range(12)] == [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
        "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI",
    ]  # fmt: skip
    assert [rcode_name(n) for n in (16, 17, 18, 19, 20, 21, 22, 23, 12, 4095)] == [
        "BADVERS", "BADKEY", "BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC",
        "BADCOOKIE", "RCODE12", "RCODE4095",
    ]  # fmt: skip
    assert [opcode_name(n) for n in range(8)] == [
        "QUERY", "IQUERY", "STATUS", "OPCODE3", "NOTIFY", "UPDATE", "DSO", "OPCODE7",
    ]  # fmt: skip
    assert [edns_option_name(n) for n in (3, 8, 10, 12, 14, 15, 18, 19, 4, 65001)] == [
        "NSID", "ECS", "COOKIE", "PADDING", "KEY-TAG", "EDE", "REPORT-CHANNEL", "ZONEVERSION",
        "OPT4", "OPT65001",
    ]  # fmt: skip


# ---------------------------------------------------------------------------
# Header


def test_flags_text() -> None:
    assert flags_text(0x8180) == "qr rd ra"
    assert flags_text(0) == ""
    assert flags_text(0x0040) == "z"
    assert flags_text(0xFFFF) == "qr aa tc rd ra z ad cd"
    # Opcode and rcode bits are not flags.
    assert flags_text(0x7800 | 0x000F) == ""


@pytest.mark.parametrize(
    ("payload", "msg_id", "flags", "counts"),
    [
        (b"", None, None, (0, 0, 0, 0)),
        (b"\x12", None, None, (0, 0, 0, 0)),
        (b"\x12\x34", 0x1234, None, (0, 0, 0, 0)),
        (b"\x12\x34\x81", 0x1234, None, (0, 0, 0, 0)),
        (b"\x12\x34\x81\x83", 0x1234, 0x8183, (0, 0, 0, 0)),
        # the counts that were captured are reported (as tshark does): QDCOUNT=1 here
        (header()[:11], 0x1234, 0x8180, (1, 0, 0, 0)),
        (b"\x12\x34\x81\x80\x00\x01\x90\x44\x00", 0x1234, 0x8180, (1, 0x9044, 0, 0)),
    ],
)
def test_short_header(
    payload: bytes, msg_id: int | None, flags: int | None, counts: tuple[int, ...]
) -> None:
    d = decode_message(payload)
    assert (d.id, d.flags_word) == (msg_id, flags)
    assert (d.qdcount, d.ancount, d.nscount, d.arcount) == counts
    assert d.error == HEADER_SHORT == "message shorter than the 12-byte DNS header"
    assert (d.qname, d.qtype, d.answers, d.min_ttl, d.edns_size) == ("", None, "", None, None)
    if flags is None:
        assert (d.opcode, d.rcode) == (None, None)
    else:
        assert (d.opcode, d.rcode) == (0, flags & 0xF)


def test_header_fields() -> None:
    # opcode UPDATE (5), AA, rcode NXDOMAIN (3); counts all zero.
    d = decode_message(header(0, flags=0x8000 | 5 << 11 | 0x0400 | 3, msg_id=0xBEEF))
    assert (d.id, d.opcode, d.rcode, d.flags_word) == (0xBEEF, 5, 3, 0xAC03)
    assert (d.qname, d.qtype, d.qclass, d.error) == ("", None, None, None)


def test_accepts_bytearray_and_memoryview() -> None:
    msg = header(1) + Q
    assert decode_message(bytearray(msg)) == decode_message(msg)  # type: ignore[arg-type]
    assert decode_message(memoryview(msg)).qname == "www.example.com"  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Questions and names


def test_query() -> None:
    d = decode_message(header(1, flags=0x0100) + question(QNAME, 28, 1))
    assert (d.qname, d.qtype, d.qclass, d.qdcount) == ("www.example.com", 28, 1, 1)
    assert (d.answers, d.min_ttl, d.error, d.edns_size, d.edns_do) == ("", None, None, None, False)


def test_every_question_is_walked_but_only_the_first_reported() -> None:
    msg = header(2) + Q + question(dotted("other.example"), 16, 3)
    d = decode_message(msg)
    assert (d.qname, d.qtype, d.qclass, d.error) == ("www.example.com", 1, 1, None)
    d = decode_message(header(2) + Q + question(ptr(500)))
    assert d.error == "name pointer out of bounds in question 2"
    assert (d.qname, d.qtype) == ("www.example.com", 1)


def test_root_name_and_case() -> None:
    assert decode_message(header(1) + question(b"\x00", 2)).qname == "."
    assert decode_message(header(1) + question(dotted("WwW.ExAmPlE"))).qname == "WwW.ExAmPlE"


@pytest.mark.parametrize(
    ("label", "text"),
    [
        (b"a.b", "a\\.b"),
        (b"a\\b", "a\\\\b"),
        (b"a b", "a\\032b"),
        (b"\x00\x7f\xff", "\\000\\127\\255"),
        (b"!~_-*", "!~_-*"),
        (b'"@;', '"@;'),
    ],
)
def test_name_escapes(label: bytes, text: str) -> None:
    d = decode_message(header(1) + question(name(label, "example")))
    assert d.qname == f"{text}.example"
    assert d.error is None


def test_name_of_255_octets_is_accepted_and_256_refused() -> None:
    ok = name("a" * 63, "b" * 63, "c" * 63, "d" * 61)
    assert len(ok) == 255
    d = decode_message(header(1) + question(ok))
    assert d.error is None
    assert d.qname == ".".join(("a" * 63, "b" * 63, "c" * 63, "d" * 61))
    too_long = name("a" * 63, "b" * 63, "c" * 63, "d" * 62)
    d = decode_message(header(1) + question(too_long))
    assert d.error == "name longer than 255 octets in question 1"
    assert (d.qname, d.qtype) == ("", None)


def test_name_length_counts_octets_reached_through_pointers() -> None:
    # 200 octets in the question, then an answer adding 60 more in front of a pointer to it.
    long_q = name("a" * 63, "b" * 63, "c" * 63, "d" * 6)
    owner = bytes([59]) + b"e" * 59 + ptr(12)
    msg = header(1, 1) + question(long_q) + rr(owner, 1, bytes(4))
    assert decode_message(msg).error == "name longer than 255 octets in answer record 1"


@pytest.mark.parametrize("bits", [0x40, 0x80])
def test_reserved_label_types(bits: int) -> None:
    d = decode_message(header(1) + question(bytes([bits | 1]) + b"a\x00"))
    assert d.error == f"reserved label type {bits:#04x} in question 1"
    d = decode_message(response(rr(bytes([bits]) + b"\x00", 1, bytes(4))))
    assert d.error == f"reserved label type {bits:#04x} in answer record 1"


def test_backward_pointers_and_pointer_to_a_suffix() -> None:
    # 12 = www.example.com, 16 = example.com, 24 = com
    cname = rr(ptr(12), 5, b"\x03web" + ptr(16))
    a = rr(b"\x03web" + ptr(16), 1, bytes([192, 0, 2, 1]), ttl=60)
    ns = rr(ptr(24), 2, b"\x02ns" + ptr(24), ttl=7)
    d = decode_message(response(cname, a, ns))
    assert d.answers == "CNAME web.example.com; A 192.0.2.1; NS ns.com"
    assert (d.min_ttl, d.error) == (7, None)


def test_forward_pointer() -> None:
    # The question's name points at the answer's CNAME target, later in the message.
    target_at = 12 + 2 + 4 + 11  # header, pointer, qtype/qclass, answer owner (root) + fixed part
    msg = header(1, 1) + question(ptr(target_at)) + rr(b"\x00", 5, dotted("fwd.example"))
    d = decode_message(msg)
    assert (d.qname, d.answers, d.error) == ("fwd.example", "CNAME fwd.example", None)


def test_pointer_at_the_last_byte_is_in_bounds() -> None:
    last = 12 + 2 + 4  # the trailing zero byte, after the question
    msg = header(1) + question(ptr(last)) + b"\x00"
    assert decode_message(msg).qname == "."
    msg = header(1) + question(ptr(last + 1)) + b"\x00"
    assert decode_message(msg).error == "name pointer out of bounds in question 1"


@pytest.mark.parametrize(
    "qname_bytes",
    [
        ptr(12),  # points at itself
        b"\x01a" + ptr(12),  # a label, then back to the start
        ptr(14) + ptr(12),  # 12 -> 14 -> 12
    ],
)
def test_pointer_loops(qname_bytes: bytes) -> None:
    d = decode_message(header(1) + question(qname_bytes))
    assert d.error == "name pointer loop in question 1"
    assert (d.qname, d.qtype) == ("", None)


def test_pointer_jump_limit() -> None:
    def message(jumps: int) -> bytes:
        """Answer 2's owner takes ``jumps`` jumps through a chain carried by answer 1."""
        root_at = 12 + 5 + 11  # header + root question + answer owner and fixed part
        chain = b""
        prev = root_at
        for _ in range(jumps - 1):
            here = root_at + 1 + len(chain)
            chain += ptr(prev)
            prev = here
        rdata = b"\x00" + chain
        last = root_at + 1 + len(chain) - 2 if jumps > 1 else root_at
        filler = rr(b"\x00", 10, rdata)  # NULL record carrying the chain
        return header(1, 2) + question(b"\x00") + filler + rr(ptr(last), 1, bytes(4))

    assert decode_message(message(1)).error is None
    assert decode_message(message(126)).error is None
    assert decode_message(message(127)).error == "more than 126 name pointers in answer record 2"


def test_question_runs_past_the_end() -> None:
    d = decode_message(header(1) + QNAME[:-1])
    assert (d.error, d.qname) == ("question 1 runs past the end of the message", "")
    d = decode_message(header(1) + QNAME + b"\x00")  # qtype/qclass cut short
    assert (d.error, d.qname, d.qtype) == (
        "question 1 runs past the end of the message",
        "www.example.com",
        None,
    )
    d = decode_message(header(2) + Q)
    assert d.error == "question 2 runs past the end of the message"
    assert decode_message(header(1) + b"\x03ab").error == (
        "question 1 runs past the end of the message"
    )
    assert decode_message(header(1) + b"\xc0").error == (
        "question 1 runs past the end of the message"
    )


# ---------------------------------------------------------------------------
# Records


def test_rdata_rendering() -> None:
    soa = (
        dotted("ns1.example")
        + ptr(16)
        + struct.pack("!IIIII", 2024010101, 7200, 900, 4294967295, 60)
    )
    srv = struct.pack("!HHH", 10, 60, 5060) + dotted("sip.example")
    records = [
        rr(QNAME, 1, bytes([10, 0, 0, 255])),
        rr(QNAME, 28, bytes.fromhex("20010db8000000000000000000000001")),
        rr(QNAME, 5, dotted("alias.example")),
        rr(QNAME, 2, dotted("ns.example")),
        rr(QNAME, 12, dotted("host.example")),
        rr(QNAME, 39, dotted("other.example")),
        rr(QNAME, 15, struct.pack("!H", 10) + dotted("mx.example")),
        rr(QNAME, 15, struct.pack("!H", 0) + b"\x00"),
        rr(QNAME, 6, soa),
        rr(QNAME, 33, srv),
        rr(QNAME, 65534, bytes.fromhex("abcdef")),
        rr(QNAME, 43, bytes.fromhex("DEADBEEF")),
        rr(QNAME, 10, b""),
    ]
    d = decode_message(response(*records))
    assert d.error is None
    assert d.answers.split("; ") == [
        "A 10.0.0.255",
        "AAAA 2001:db8::1",
        "CNAME alias.example",
        "NS ns.example",
        "PTR host.example",
        "DNAME other.example",
        "MX 10 mx.example",
        "MX 0 .",
        "SOA ns1.example example.com 2024010101 7200 900 4294967295 60",
        "SRV 10 60 5060 sip.example",
        "TYPE65534 \\# 3 abcdef",
        "DS \\# 4 deadbeef",
        "NULL \\# 0",
    ]


def test_txt_escaping() -> None:
    strings = [b"hello world", b'say "hi"', b"back\\slash", b"\x00\x7f\xff\t", b""]
    rdata = b"".join(bytes([len(s)]) + s for s in strings)
    d = decode_message(response(rr(QNAME, 16, rdata)))
    assert d.answers == (
        'TXT "hello world" "say \\"hi\\"" "back\\\\slash" "\\000\\127\\255\\009" ""'
    )
    assert d.error is None


def test_min_ttl_covers_answers_only_and_all_types() -> None:
    msg = response(
        rr(QNAME, 5, dotted("a.example"), ttl=30),
        rr(dotted("a.example"), 1, bytes(4), ttl=4294967295),
        ns=(rr(QNAME, 2, dotted("ns.example"), ttl=1),),
        ar=(rr(dotted("ns.example"), 1, bytes(4), ttl=2), opt()),
    )
    d = decode_message(msg)
    assert (d.min_ttl, d.error) == (30, None)
    assert d.answers == "CNAME a.example; A 0.0.0.0"


def test_answers_empty_without_answer_records() -> None:
    d = decode_message(response(ns=(rr(QNAME, 6, bytes(22)),)))
    assert (d.answers, d.min_ttl, d.nscount) == ("", None, 1)


def test_counts_larger_than_the_data() -> None:
    msg = header(1, 3) + Q + rr(ptr(12), 1, bytes(4), ttl=50) + rr(ptr(12), 1, bytes(4), ttl=40)
    d = decode_message(msg)
    assert d.error == "answer record 3 runs past the end of the message"
    assert (d.answers, d.min_ttl) == ("A 0.0.0.0; A 0.0.0.0", 40)
    assert (d.qdcount, d.ancount) == (1, 3)
    for section, counts in (("authority", (0, 1, 0)), ("additional", (0, 0, 1))):
        d = decode_message(header(1, *counts) + Q)
        assert d.error == f"{section} record 1 runs past the end of the message"


def test_rdata_running_past_the_end_keeps_the_ttl() -> None:
    msg = response(rr(ptr(12), 1, bytes(4), ttl=99, rdlength=5))
    d = decode_message(msg)
    assert d.error == "answer record 1 runs past the end of the message"
    assert (d.min_ttl, d.answers) == (99, "")
    # A fixed part cut short: no TTL.
    d = decode_message(response(rr(ptr(12), 1, bytes(4), ttl=99))[:-8])
    assert d.error == "answer record 1 runs past the end of the message"
    assert d.min_ttl is None


def test_trailing_bytes_are_ignored() -> None:
    d = decode_message(response(rr(ptr(12), 1, bytes(4))) + b"\xc0\xff garbage")
    assert (d.error, d.answers) == (None, "A 0.0.0.0")


def test_content_errors_do_not_stop_the_walk() -> None:
    msg = response(
        rr(ptr(12), 1, bytes(4), ttl=300),
        rr(ptr(12), 1, bytes(5), ttl=50),
        rr(ptr(12), 28, bytes(4), ttl=40),
        rr(ptr(12), 1, bytes(4), ttl=20),
    )
    d = decode_message(msg)
    assert d.error == "answer record 2: A rdata is 5 bytes, expected 4"
    assert d.min_ttl == 20
    assert d.answers == "A 0.0.0.0; A \\# 5 0000000000; AAAA \\# 4 00000000; A 0.0.0.0"


def test_a_content_error_comes_before_a_later_structural_error() -> None:
    msg = header(1, 2) + Q + rr(ptr(12), 1, bytes(3), ttl=8)
    d = decode_message(msg)
    assert d.error == "answer record 1: A rdata is 3 bytes, expected 4"
    assert d.min_ttl == 8


@pytest.mark.parametrize(
    ("rtype", "rdata", "error"),
    [
        (28, bytes(17), "AAAA rdata is 17 bytes, expected 16"),
        (5, ptr(2000), "CNAME rdata: name pointer out of bounds"),
        (5, b"\x01a" + ptr(RDATA_AT), "CNAME rdata: name pointer loop"),
        (5, dotted("a.example") + b"\x00", "CNAME rdata has 1 extra bytes"),
        (5, b"\x05ab", "CNAME rdata: name runs past the record"),
        (5, b"", "CNAME rdata: name runs past the record"),
        (12, b"\x41\x00", "PTR rdata: reserved label type 0x40"),
        (15, b"\x00", "MX rdata is too short"),
        (6, b"\x00\x00" + bytes(19), "SOA rdata is too short"),
        (6, b"\x00\x00" + bytes(21), "SOA rdata has 1 extra bytes"),
        (33, bytes(5), "SRV rdata is too short"),
        (16, b"\x05abc", "TXT rdata: character-string runs past the record"),
        (16, b"", "TXT rdata is empty"),
        (1, b"", "A rdata is 0 bytes, expected 4"),
    ],
)
def test_malformed_rdata(rtype: int, rdata: bytes, error: str) -> None:
    msg = response(rr(ptr(12), rtype, rdata, ttl=77), rr(ptr(12), 1, bytes(4), ttl=5))
    d = decode_message(msg)
    assert d.error == f"answer record 1: {error}"
    expected = f"\\# {len(rdata)} {rdata.hex()}" if rdata else "\\# 0"
    assert d.answers == f"{type_name(rtype)} {expected}; A 0.0.0.0"
    assert d.min_ttl == 5


def test_name_in_rdata_running_off_the_message_after_a_pointer() -> None:
    # The pointer target, a trailing byte, starts a label that runs off the message.
    last = RDATA_AT + 2
    msg = response(rr(ptr(12), 5, ptr(last))) + b"\x05"
    assert len(msg) == last + 1
    d = decode_message(msg)
    assert d.error == "answer record 1: CNAME rdata: name runs past the end of the message"


def test_content_errors_in_other_sections_are_reported() -> None:
    d = decode_message(response(rr(ptr(12), 1, bytes(4)), ar=(rr(dotted("ns.x"), 1, bytes(3)),)))
    assert d.error == "additional record 1: A rdata is 3 bytes, expected 4"
    assert d.answers == "A 0.0.0.0"


def test_empty_rdata_with_class_any_or_none_is_an_update_not_an_error() -> None:
    # RFC 2136: in an UPDATE the answer section holds prerequisites like these.
    msg = header(1, 2, flags=5 << 11) + question(dotted("example"), 6)
    msg += rr(dotted("a.example"), 1, b"", ttl=0, rclass=255)
    msg += rr(dotted("b.example"), 28, b"", ttl=0, rclass=254)
    d = decode_message(msg)
    assert (d.error, d.answers, d.opcode) == (None, "A \\# 0; AAAA \\# 0", 5)


# ---------------------------------------------------------------------------
# EDNS


def test_opt_record() -> None:
    options = option(10, bytes(8)) + option(8, bytes(7)) + option(65001, b"") + option(12, bytes(9))
    d = decode_message(
        response(rr(ptr(12), 1, bytes(4)), ar=(opt(1232, do=True, options=options),))
    )
    assert (d.edns_size, d.edns_do, d.edns_options) == (1232, True, "COOKIE,ECS,OPT65001,PADDING")
    assert (d.rcode, d.error, d.min_ttl, d.answers) == (0, None, 300, "A 0.0.0.0")


def test_opt_without_options_or_do() -> None:
    d = decode_message(header(1, 0, 0, 1, flags=0x0100) + Q + opt(4096))
    assert (d.edns_size, d.edns_do, d.edns_options, d.rcode) == (4096, False, "", 0)


def test_extended_rcode() -> None:
    # BADVERS = 16: upper bits 1 in the OPT TTL, lower bits 0 in the header.
    d = decode_message(header(1, 0, 0, 1, flags=0x8180) + Q + opt(ext_rcode=1, version=1))
    assert d.rcode == 16
    assert rcode_name(d.rcode) == "BADVERS"
    d = decode_message(header(1, 0, 0, 1, flags=0x8183) + Q + opt(ext_rcode=0))
    assert d.rcode == 3
    d = decode_message(header(1, 0, 0, 1, flags=0x8187) + Q + opt(ext_rcode=255))
    assert d.rcode == 0xFF7
    # Without OPT the header rcode is all there is.
    assert decode_message(header(1, flags=0x8183) + Q).rcode == 3


def test_only_the_first_opt_counts() -> None:
    msg = response(ar=(opt(512, options=option(3, b"")), opt(4096, ext_rcode=1, do=True)))
    d = decode_message(msg)
    assert (d.edns_size, d.edns_do, d.edns_options, d.rcode, d.error) == (
        512,
        False,
        "NSID",
        0,
        None,
    )


def test_opt_in_the_answer_section_is_not_edns() -> None:
    d = decode_message(response(opt(1232, do=True)))
    assert (d.edns_size, d.edns_do, d.answers) == (None, False, "OPT \\# 0")


@pytest.mark.parametrize(
    "options",
    [
        option(10, bytes(8)) + struct.pack("!HH", 12, 5) + bytes(4),
        option(10, bytes(8)) + b"\x00\x0c",
    ],
)
def test_opt_option_running_past_the_record(options: bytes) -> None:
    msg = response(rr(ptr(12), 1, bytes(4), ttl=9), ar=(opt(1400, do=True, options=options), opt()))
    d = decode_message(msg)
    assert d.error == "additional record 1: OPT option runs past the record"
    assert (d.edns_size, d.edns_do, d.edns_options, d.min_ttl) == (1400, True, "COOKIE", 9)


def test_opt_fixed_part_is_used_even_if_its_rdata_is_cut() -> None:
    d = decode_message(
        response(ar=(opt(1232, ext_rcode=1, do=True, options=option(10, bytes(8))),))[:-3]
    )
    assert d.error == "additional record 1 runs past the end of the message"
    assert (d.edns_size, d.edns_do, d.edns_options, d.rcode) == (1232, True, "", 16)


# ---------------------------------------------------------------------------
# Hostile input and properties


def test_hostile_pointer_chains_are_bounded() -> None:
    # A 255-octet name, a 125-pointer chain ending at it, and as many answers as
    # fit whose owner and CNAME target both take the full chain: the worst case.
    body = name(*(["a"] * 127))
    base = 12 + 1 + 10  # header, then the carrier record's root owner and fixed part
    prev = base
    for _ in range(125):
        here = base + len(body)
        body += ptr(prev)
        prev = here
    count = (65000 - base - len(body)) // 14
    answers = rr(ptr(prev), 5, ptr(prev), ttl=3) * count
    msg = header(0, count + 1) + rr(b"\x00", 10, body) + answers
    started = time.perf_counter()
    d = decode_message(msg)
    elapsed = time.perf_counter() - started
    assert d.error is None
    assert d.answers.count("CNAME " + ".".join(["a"] * 127)) == count
    assert d.min_ttl == 3
    assert elapsed < 10, elapsed


def test_many_loops_are_cheap() -> None:
    # Loops inside rdata are content errors, so the walk visits every one of them.
    carrier = rr(ptr(12), 10, b"\x01a" + ptr(RDATA_AT))
    answers = rr(ptr(12), 5, ptr(RDATA_AT), ttl=4) * 5000
    msg = header(1, 5001) + Q + carrier + answers
    started = time.perf_counter()
    d = decode_message(msg)
    assert time.perf_counter() - started < 5
    assert d.error == "answer record 2: CNAME rdata: name pointer loop"
    assert d.min_ttl == 4
    assert d.answers.count("CNAME \\# 2 ") == 5000


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    started = time.perf_counter()
    d = decode_message(payload)
    assert time.perf_counter() - started < 1
    assert d.error is None or not d.error.startswith("internal")
    if len(payload) < 12:
        assert d.error == HEADER_SHORT
    else:
        assert d.id == payload[0] << 8 | payload[1]
        assert d.ancount == payload[6] << 8 | payload[7]
    if d.ancount == 0:
        assert (d.answers, d.min_ttl) == ("", None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=12, max_size=2048).map(lambda b: header(8, 50, 50, 50) + b))
def test_arbitrary_bodies_behind_a_plausible_header_never_raise(payload: bytes) -> None:
    d = decode_message(payload)
    assert d.error is None or not d.error.startswith("internal")


LABELS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
NAMES = st.lists(LABELS, min_size=1, max_size=4).map(".".join)
ADDRESSES = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


@st.composite
def scapy_messages(draw: st.DrawFn) -> tuple[bytes, str, str, int | None]:
    """A valid response built by scapy, and the qname, answers and min_ttl it must decode to."""
    qname = draw(NAMES)
    answers: list[Packet] = []
    texts: list[str] = []
    ttls: list[int] = []
    for _ in range(draw(st.integers(0, 5))):
        ttl = draw(st.integers(0, 2**31 - 1))
        kind = draw(st.sampled_from(["A", "CNAME", "TXT", "MX"]))
        if kind == "A":
            addr = draw(ADDRESSES)
            answers.append(DNSRR(rrname=qname, type="A", ttl=ttl, rdata=addr))
            texts.append(f"A {addr}")
        elif kind == "CNAME":
            target = draw(NAMES)
            answers.append(DNSRR(rrname=qname, type="CNAME", ttl=ttl, rdata=target))
            texts.append(f"CNAME {target}")
        elif kind == "TXT":
            words = draw(st.lists(st.binary(max_size=20), min_size=1, max_size=3))
            answers.append(DNSRR(rrname=qname, type="TXT", ttl=ttl, rdata=words))
            texts.append("TXT " + " ".join(_txt_text(w) for w in words))
        else:
            pref, exchange = draw(st.integers(0, 65535)), draw(NAMES)
            answers.append(DNSRRMX(rrname=qname, ttl=ttl, preference=pref, exchange=exchange))
            texts.append(f"MX {pref} {exchange}")
        ttls.append(ttl)
    pkt = DNS(id=draw(st.integers(0, 65535)), qr=1, qd=[DNSQR(qname=qname)], an=answers)
    if draw(st.booleans()):
        pkt = pkt.compress()  # type: ignore[no-untyped-call]
    return bytes(pkt), qname, "; ".join(texts), min(ttls, default=None)


def _txt_text(raw: bytes) -> str:
    out = []
    for b in raw:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scapy_messages())
def test_scapy_messages_decode_exactly(built: tuple[bytes, str, str, int | None]) -> None:
    wire, qname, answers, min_ttl = built
    d = decode_message(wire)
    assert (d.error, d.qname, d.qtype, d.answers, d.min_ttl) == (None, qname, 1, answers, min_ttl)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scapy_messages(), st.data())
def test_truncated_or_mutated_scapy_messages_never_raise(
    built: tuple[bytes, str, str, int | None], data: st.DataObject
) -> None:
    wire = built[0]
    cut = data.draw(st.integers(0, len(wire) - 1), label="cut")
    d = decode_message(wire[:cut])
    # Every byte of a scapy message belongs to a counted section, so any cut shows.
    assert d.error is not None
    assert not d.error.startswith("internal")
    mutated = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        at = data.draw(st.integers(0, len(wire) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    d = decode_message(bytes(mutated))
    assert d.error is None or not d.error.startswith("internal")
