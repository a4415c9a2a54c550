"""Hypothesis strategies for DNS messages on the wire, record by record.

Built for comparing the kernel's exact decoder with :mod:`dnspcap.reading.dnswire`, so they go
after the corners where a presentation form or an error text could differ: labels with
dots, backslashes, quotes, spaces and bytes outside ASCII; the root name; names of
exactly 255 octets and of 256; compression pointers backwards, forwards, out of bounds
and into loops; every record type the decoder renders (A, AAAA, NS, CNAME, PTR, DNAME,
MX, SOA, SRV, TXT) and some it shows in the RFC 3597 form (SVCB and HTTPS with their
parameters, CAA, OPT, unknown types); RDATA of the wrong size; empty RDATA with class
ANY or NONE; counts that do not match the records.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

SPECIAL_LABELS = [b".", b"\\", b"a.b", b"a\\b", b'"', b" ", b"\x00", b"\x7f", b"\xff", b"*", b"-"]
labels = st.one_of(
    st.from_regex(rb"[a-z0-9-]{1,12}", fullmatch=True),
    st.sampled_from(SPECIAL_LABELS),
    st.binary(min_size=1, max_size=63),
)
# short enough that four of them and a question name of four stay within 255 octets
short_labels = st.one_of(
    st.from_regex(rb"[a-z0-9-]{1,12}", fullmatch=True),
    st.sampled_from(SPECIAL_LABELS),
    st.binary(min_size=1, max_size=20),
)

# Pointer targets: the question name (right after the header), the header itself,
# somewhere later (forwards, or into the middle of a record), the largest offset.
pointer_targets = st.one_of(st.just(12), st.sampled_from([0, 2, 0x3FFF]), st.integers(0, 300))


def pointer(target: int) -> bytes:
    return struct.pack(">H", 0xC000 | target)


def encode(parts: list[bytes], tail: bytes = b"\0") -> bytes:
    return b"".join(bytes([len(p)]) + p for p in parts) + tail


# 63 + 63 + 63 + 61 label bytes: 255 octets with the length bytes and the root
MAX_NAME = encode([b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 61])
LONG_NAME = encode([b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 62])  # 256 octets


@st.composite
def names(draw: st.DrawFn, pointers: bool = True, valid: bool = False) -> bytes:
    """A name on the wire: labels then the root or (when pointers) a pointer, or one of the
    edge cases. valid: only names that decode (pointers to the question name only)."""
    kinds = ["labels"] * 12 + ["root", "max"] + ([] if valid else ["long", "bad"])
    kind = draw(st.sampled_from(kinds))
    if kind == "root":
        return b"\0"
    if kind == "max":
        return MAX_NAME
    if kind == "long":
        return LONG_NAME
    if kind == "bad":  # a reserved label type, or a label cut by the record's end
        return draw(st.sampled_from([b"\x40abc\0", b"\x80\0", b"\x05ab"]))
    parts = draw(st.lists(short_labels if valid else labels, max_size=4))
    if pointers and draw(st.booleans()):
        return encode(parts, pointer(12 if valid else draw(pointer_targets)))
    return encode(parts)


@st.composite
def ipv6_bytes(draw: st.DrawFn) -> bytes:
    """16 bytes, often with runs of zero groups or IPv4-mapped (::ffff:a.b.c.d)."""
    groups = draw(
        st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x10, 0xABC]), min_size=8, max_size=8)
    )
    kind = draw(st.sampled_from(["groups", "random", "mapped", "v4-compatible"]))
    if kind == "random":
        return draw(st.binary(min_size=16, max_size=16))
    if kind == "mapped":
        return bytes(10) + b"\xff\xff" + draw(st.binary(min_size=4, max_size=4))
    if kind == "v4-compatible":
        return bytes(12) + draw(st.binary(min_size=4, max_size=4))
    return b"".join(struct.pack(">H", g) for g in groups)


def character_strings(strings: list[bytes]) -> bytes:
    return b"".join(bytes([len(s)]) + s for s in strings)


txt_strings = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"", b'"', b"\\", b'say "hi"', b"a\\b", b"\x00\x1f\x7f\x80\xff", b" "]),
    ),
    min_size=1,
    max_size=4,
)


@st.composite
def svcb_rdata(draw: st.DrawFn) -> bytes:
    """SVCB/HTTPS (RFC 9460): priority, target, then SvcParams (key, length, value)."""
    params = draw(
        st.lists(
            st.tuples(
                st.sampled_from([0, 1, 2, 3, 4, 5, 6, 65535]),
                st.sampled_from(
                    [b"\x02h2", b"\x02h2\x02h3", b"\x01\xbb", b"\xc0\x00\x02\x01", b""]
                ),
            ),
            max_size=4,
        )
    )
    target = draw(st.sampled_from([b"\0", encode([b"svc", b"example"])]))
    body = b"".join(struct.pack(">HH", k, len(v)) + v for k, v in params)
    return struct.pack(">H", draw(st.integers(0, 3))) + target + body


@st.composite
def rdata(draw: st.DrawFn, rtype: int, valid: bool = False) -> bytes:
    """RDATA of type rtype: usually well-formed (always, when valid), sometimes of the
    wrong size or anything at all."""
    if not valid and draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=24))
    name = names(valid=valid)
    if rtype == 1:
        return draw(st.binary(min_size=4, max_size=4))
    if rtype == 28:
        return draw(ipv6_bytes())
    if rtype in (2, 5, 12, 39):
        return draw(name)
    if rtype == 15:
        return struct.pack(">H", draw(st.integers(0, 65535))) + draw(name)
    if rtype == 6:
        extra = b"" if valid else draw(st.sampled_from([b"", b"", b"x"]))
        return draw(name) + draw(name) + draw(st.binary(min_size=20, max_size=20)) + extra
    if rtype == 33:
        return draw(st.binary(min_size=6, max_size=6)) + draw(name)
    if rtype == 16:
        return character_strings(draw(txt_strings))
    if rtype in (64, 65):
        return draw(svcb_rdata())
    if rtype == 41:
        options = draw(st.lists(st.tuples(st.integers(0, 25), st.binary(max_size=8)), max_size=3))
        return b"".join(struct.pack(">HH", c, len(v)) + v for c, v in options)
    return draw(st.binary(max_size=24))


RTYPES = [1, 28, 2, 5, 12, 39, 15, 6, 33, 16, 64, 65, 41, 257, 43, 46, 99, 255, 32769, 65535]
CLASSES = [1, 1, 1, 3, 4, 254, 255, 1232, 4096]


@st.composite
def records(draw: st.DrawFn) -> bytes:
    rtype = draw(st.sampled_from(RTYPES))
    rclass = draw(st.sampled_from(CLASSES))
    body = b"" if draw(st.integers(0, 9)) == 0 else draw(rdata(rtype))  # empty: updates
    owner = draw(st.sampled_from([b"\xc0\x0c", b"\0"])) if draw(st.booleans()) else draw(names())
    ttl = draw(st.sampled_from([0, 1, 300, 2**31, 2**32 - 1]))
    return owner + struct.pack(">HHIH", rtype, rclass, ttl, len(body)) + body


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A whole message: header, questions, three sections of records; counts usually right."""
    # a question's name rarely has a pointer (and then mostly one into itself: a loop)
    questions = [
        draw(names(pointers=draw(st.integers(0, 9)) == 0))
        + struct.pack(">HH", draw(st.sampled_from(RTYPES)), 1)
        for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2])))
    ]
    sections = [draw(st.lists(records(), max_size=4)) for _ in range(3)]
    counts = [len(questions), *map(len, sections)]
    if draw(st.integers(0, 7)) == 0:
        counts = draw(st.lists(st.sampled_from([0, 1, 2, 5, 65535]), min_size=4, max_size=4))
    flags = draw(st.sampled_from([0x0100, 0x8180, 0x8183, 0x8580, 0xFFFF, 0x7800]))
    header = struct.pack(">HH4H", draw(st.integers(0, 65535)), flags, *counts)
    body = header + b"".join(questions) + b"".join(b"".join(s) for s in sections)
    if draw(st.integers(0, 7)) == 0:
        body = body[: draw(st.integers(12, len(body)))]  # cut; shorter: arbitrary bytes' test
    return body


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    """A well-formed response: one question (no pointer), then answers of the types the
    decoder renders and others, owned by the question name, their names pointing only at
    it; sometimes an OPT record. Every one decodes without an error."""
    answers = []
    for _ in range(draw(st.integers(1, 6))):
        rtype = draw(st.sampled_from([*RTYPES[:12], 257, 99, 65535]))
        body = draw(rdata(rtype, valid=True))
        rclass = draw(st.sampled_from([1, 1, 1, 3, 4]))
        answers.append(b"\xc0\x0c" + struct.pack(">HHIH", rtype, rclass, 60, len(body)) + body)
    opt = []
    if draw(st.booleans()):
        body = draw(rdata(41, valid=True))
        opt = [b"\0" + struct.pack(">HHIH", 41, 1232, 0x8000, len(body)) + body]
    # names in the answers may point at it: short enough for a few labels more
    question = encode(draw(st.lists(short_labels, max_size=4))) + b"\x00\x01\x00\x01"
    header = struct.pack(
        ">HHHHHH", draw(st.integers(0, 65535)), 0x8180, 1, len(answers), 0, len(opt)
    )
    return header + question + b"".join(answers) + b"".join(opt)
