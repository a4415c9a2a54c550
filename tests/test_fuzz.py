r"""Property tests: no input makes dnspcap raise anything but CaptureError, and the engines agree.

(a) arbitrary bytes as a capture file; (b) arbitrary bytes as the UDP payload of a DNS
packet in a valid capture; (c) valid DNS messages (scapy's, field by field, and
tests.dnsgen's record sets of every type the kernel renders) mutated and cut; (d) valid
pcap and pcapng files with bytes flipped, inserted or cut. Every example is read with both
engines.

Memory checking of the kernel. The fast path's kernel is C (``dnspcap/_*.c``; it
replaced the numba kernel, so ``NUMBA_BOUNDSCHECK`` no longer applies) and bounds-checks
its reads by hand. To catch a read past a buffer, run these tests against a copy of the
tree whose kernel is built with AddressSanitizer and UBSan (nothing in the tree changes)::

    rm -rf /tmp/asan && mkdir /tmp/asan && cp -r dnspcap tests pyproject.toml /tmp/asan/
    cd /tmp/asan && rm -f dnspcap/_kernel*.so && gcc -shared -fPIC -O1 -g \
        -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
        $(python3-config --includes) dnspcap/_*.c \
        -o dnspcap/_kernel$(python3-config --extension-suffix)
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
        ASAN_OPTIONS=detect_leaks=0 DNSPCAP_FUZZ_SANITIZED=1 DNSPCAP_FUZZ_EXAMPLES=1000 \
        PYTHONPATH=. python -m pytest tests/test_fuzz.py

An out-of-bounds access then aborts the run with an AddressSanitizer report.
:func:`test_kernel_is_sanitized` (run only with ``DNSPCAP_FUZZ_SANITIZED=1``) checks that
the instrumented kernel really is the one loaded.

``DNSPCAP_FUZZ_EXAMPLES`` sets the number of examples per property (default 60, which
keeps this file well under a minute).
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, currently_in_test_context, given, settings
from hypothesis import event as _hypothesis_event
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRROPT, EDNS0TLV

import dnspcap
from dnspcap.errors import CaptureError
from dnspcap.reading.dnswire import decode_message, flags_text
from dnspcap.reading.iana import class_name, opcode_name, rcode_name, type_name
from tests import craft, dnsgen
from tests.craft import (
    CLIENT4,
    LINK_ETHERNET,
    LINK_RAW,
    LINK_SLL2,
    MS,
    SEC,
    SERVER4,
    T0,
    Rec,
    dns_query,
    dns_response,
    epb,
    frame,
    idb,
    shb,
    tcp4,
    tcp_framed,
    udp4,
    udp6,
    units,
)

EXAMPLES = int(os.environ.get("DNSPCAP_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# one read of a few kilobytes; generous, so that only a hang or a blow-up trips it
SLOW_READ_S = 5.0


# ---- reading with both engines -----------------------------------------------------------


class KnownBug(Exception):
    """An example that hits a library bug already pinned by a strict-xfail test."""


# Library bugs the properties keep hitting, by the exception they raise. Each is pinned by
# a strict-xfail test in test_formats.py; an example that only hits one of them is recorded
# with hypothesis.event() and passes, so that the search goes on for other bugs. Remove an
# entry when its xfail test starts to pass.
KNOWN_EXCEPTIONS: list[tuple[type[BaseException], str, str]] = []


def event(value: str) -> None:
    """hypothesis.event(), also callable from a plain test (the saved cases below), where
    it does nothing."""
    if currently_in_test_context():
        _hypothesis_event(value)


def _read(path: Path, engine: str) -> pd.DataFrame | CaptureError:
    """The table, or the CaptureError; any other exception fails the test."""
    start = time.perf_counter()
    try:
        result: pd.DataFrame | CaptureError = dnspcap.read_messages(path, engine=engine)  # type: ignore[arg-type]
    except CaptureError as e:
        result = e
    except Exception as e:
        for kind, text, label in KNOWN_EXCEPTIONS:
            if isinstance(e, kind) and text in str(e):
                raise KnownBug(label) from e
        raise
    took = time.perf_counter() - start
    assert took < SLOW_READ_S, f"engine={engine} took {took:.1f} s on {path.stat().st_size} bytes"
    return result


def read_both(path: Path) -> pd.DataFrame | CaptureError | None:
    """Read with both engines, check they agree exactly, and return the outcome (None for
    an example that hits a known bug)."""
    try:
        auto = _read(path, "auto")
        exact = _read(path, "python")
    except KnownBug as bug:
        event(f"known bug: {bug}")
        return None
    if isinstance(exact, CaptureError) or isinstance(auto, CaptureError):
        assert isinstance(auto, CaptureError) and isinstance(exact, CaptureError), (
            f"auto: {auto!r}, python: {exact!r}"
        )
        assert str(auto) == str(exact)
        assert auto.file == str(path)
        event("CaptureError")
        return exact
    pd.testing.assert_frame_equal(auto, exact)
    assert auto.attrs == exact.attrs
    event(f"{len(exact)} rows" if len(exact) < 3 else "3+ rows")
    return exact


@pytest.fixture(autouse=True, scope="module")
def _compiled_kernel(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One read before any read is timed, so that first-use costs (imports, loading the
    kernel, a JIT compile if there is one) do not count against SLOW_READ_S."""
    path = tmp_path_factory.mktemp("warm") / "warm.pcap"
    path.write_bytes(craft.pcap([Rec(frame(LINK_ETHERNET, udp4(dns_query("warm.up"))), T0)]))
    dnspcap.read_messages(path)


def write_tmp(tmp_path: Path, data: bytes, name: str = "fuzz.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---- (a) arbitrary bytes as a capture file -------------------------------------------------

PREFIXES = [
    b"",
    craft.pcap_header(),
    craft.pcap_header(big_endian=True, nanos=True),
    craft.pcap_header(linktype=LINK_RAW, snaplen=64),
    shb(),
    shb(big_endian=True),
    shb() + idb(LINK_ETHERNET),
    shb() + idb(LINK_SLL2, tsresol=0x80 | 20, tsoffset=5),
]

any_file = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda p, b: p + b, st.sampled_from(PREFIXES), st.binary(max_size=2048)),
    st.builds(lambda p, b: craft.gz(p + b), st.sampled_from(PREFIXES), st.binary(max_size=2048)),
)


@FUZZ
@given(data=any_file)
def test_arbitrary_bytes_as_file(tmp_path: Path, data: bytes) -> None:
    outcome = read_both(write_tmp(tmp_path, data))
    if isinstance(outcome, pd.DataFrame):
        assert outcome.attrs["dnspcap"]["messages"] == len(outcome)


# ---- (b) arbitrary bytes as a DNS payload --------------------------------------------------


def _container(kind: str, packets: list[bytes], linktype: int) -> bytes:
    recs = [Rec(p, T0 + i * MS + 7) for i, p in enumerate(packets)]
    if kind == "pcap":
        return craft.pcap(recs, linktype=linktype, nanos=True)
    return shb() + idb(linktype, tsresol=9) + b"".join(epb(0, r.ts_ns, r.data) for r in recs)


def _udp_packet(payload: bytes, variant: int) -> tuple[bytes, int, int]:
    """A UDP DNS packet carrying ``payload``: (frame bytes, link type, IP version)."""
    if variant == 0:
        return frame(LINK_ETHERNET, udp4(payload)), LINK_ETHERNET, 4
    if variant == 1:
        pkt = udp6(payload, src="2001:db8::53", dst="2001:db8::1", sport=53, dport=40000)
        return frame(LINK_RAW, pkt), LINK_RAW, 6
    pkt = udp4(payload, src=SERVER4, dst=CLIENT4, sport=53, dport=40000)
    return frame(LINK_SLL2, pkt), LINK_SLL2, 4


def expected_fields(payload: bytes) -> dict[str, Any]:
    """What a row must show for this UDP payload, from the pure decoder."""
    d = decode_message(payload)
    flags = d.flags_word or 0
    return {
        "id": d.id or 0,
        "qr": bool(flags & 0x8000),
        "opcode": opcode_name(d.opcode or 0),
        "rcode": rcode_name(d.rcode or 0),
        "flags": flags_text(flags),
        "tc": bool(flags & 0x0200),
        "qdcount": d.qdcount,
        "ancount": d.ancount,
        "nscount": d.nscount,
        "arcount": d.arcount,
        "qname": d.qname,
        "qtype": type_name(d.qtype) if d.qtype is not None else "",
        "qclass": class_name(d.qclass) if d.qclass is not None else "",
        "answers": d.answers,
        "min_ttl": d.min_ttl,
        "edns_size": d.edns_size,
        "edns_do": d.edns_do,
        "edns_options": d.edns_options,
        "size": len(payload),
        "error": d.error or "",
    }


def check_rows(df: pd.DataFrame, payloads: list[bytes]) -> None:
    assert len(df) == len(payloads)
    for (_, row), payload in zip(df.iterrows(), payloads, strict=True):
        want = expected_fields(payload)
        got = {k: row[k] for k in want}
        got["min_ttl"] = None if pd.isna(got["min_ttl"]) else int(got["min_ttl"])
        got["edns_size"] = None if pd.isna(got["edns_size"]) else int(got["edns_size"])
        assert got == want
        event("a message decoded cleanly" if row["error"] == "" else "a message with an error")
        if row["error"] == "":
            # decoded: at least a header, and the question when the header counts one
            assert len(payload) >= 12
            assert row["qdcount"] == 0 or row["qname"] != ""
        assert not row["truncated"]


@FUZZ
@given(
    payload=st.binary(max_size=600),
    variant=st.integers(0, 2),
    kind=st.sampled_from(["pcap", "pcapng"]),
)
def test_arbitrary_dns_payload(tmp_path: Path, payload: bytes, variant: int, kind: str) -> None:
    packet, linktype, version = _udp_packet(payload, variant)
    df = read_both(write_tmp(tmp_path, _container(kind, [packet], linktype)))
    assert isinstance(df, pd.DataFrame)
    check_rows(df, [payload])
    assert df["frame"].tolist() == [1]
    assert df["ts"].iloc[0].value == T0 + 7
    assert df["ip_version"].tolist() == [version]
    assert df.attrs["dnspcap"]["decode_errors"] == int(df["error"].iloc[0] != "")


# ---- (c) valid DNS messages, mutated ------------------------------------------------------

names = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){0,3}", fullmatch=True)
ttls = st.integers(0, 2**32 - 1)


@st.composite
def dns_messages(draw: st.DrawFn) -> bytes:
    qname = draw(names)
    records: list[Any] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["A", "AAAA", "CNAME", "TXT", "MX", "NULL"]))
        ttl = draw(ttls)
        if kind == "A":
            rdata: Any = draw(st.ip_addresses(v=4)).exploded
        elif kind == "AAAA":
            rdata = draw(st.ip_addresses(v=6)).exploded
        elif kind in ("CNAME", "MX"):
            rdata = draw(names)
        elif kind == "TXT":
            rdata = [draw(st.binary(max_size=40))]
        else:
            rdata = draw(st.binary(max_size=20))
        if kind == "MX":
            records.append(
                DNSRR(rrname=qname, type="MX", ttl=ttl, rdata=b"\x00\x0a" + _wire_name(rdata))
            )
        else:
            records.append(DNSRR(rrname=qname, type=kind, ttl=ttl, rdata=rdata))
    opt = None
    if draw(st.booleans()):
        opts = [
            EDNS0TLV(optcode=c, optdata=b"\x01\x02")
            for c in draw(st.lists(st.integers(0, 20), max_size=2))
        ]
        opt = DNSRROPT(
            rclass=draw(st.integers(512, 4096)), z=0x8000 if draw(st.booleans()) else 0, rdata=opts
        )
    msg = DNS(
        id=draw(st.integers(0, 0xFFFF)),
        qr=int(draw(st.booleans())),
        rd=1,
        rcode=draw(st.integers(0, 5)),
        qd=DNSQR(qname=qname, qtype=draw(st.sampled_from(["A", "AAAA", "TXT", "MX", 65]))),
        an=records,
        ar=[opt] if opt is not None else [],
    )
    return bytes(msg)


def _wire_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


@st.composite
def mutated(draw: st.DrawFn, message: bytes) -> bytes:
    data = bytearray(message)
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0x00, 0x3F, 0x40, 0x80, 0xC0, 0xC0 | 12 >> 8, 0xFF]))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        else:
            del data[i : i + draw(st.integers(1, 4))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


labels = st.lists(st.binary(min_size=1, max_size=12), max_size=4)


def _name(parts: list[bytes], pointer: int | None) -> bytes:
    """A name on the wire: labels, then a compression pointer or the root."""
    body = b"".join(bytes([len(p)]) + p for p in parts)
    return body + (struct.pack(">H", 0xC000 | pointer) if pointer is not None else b"\0")


@st.composite
def wire_names(draw: st.DrawFn) -> bytes:
    # pointer 12: the question name, right after the header
    return _name(draw(labels), draw(st.sampled_from([None, None, 12])))


@st.composite
def rdata_for(draw: st.DrawFn, rtype: int) -> bytes:
    if rtype == 1:
        return draw(st.binary(min_size=4, max_size=4))
    if rtype == 28:
        return draw(st.binary(min_size=16, max_size=16))
    if rtype in (2, 5, 12, 39):  # NS, CNAME, PTR, DNAME
        return draw(wire_names())
    if rtype == 15:
        return draw(st.binary(min_size=2, max_size=2)) + draw(wire_names())
    if rtype == 6:
        return draw(wire_names()) + draw(wire_names()) + draw(st.binary(min_size=20, max_size=20))
    if rtype == 33:
        return draw(st.binary(min_size=6, max_size=6)) + draw(wire_names())
    if rtype == 16:
        strings = draw(st.lists(st.binary(max_size=30), min_size=1, max_size=3))
        return b"".join(bytes([len(x)]) + x for x in strings)
    if rtype == 41:
        options = draw(st.lists(st.tuples(st.integers(0, 20), st.binary(max_size=8)), max_size=3))
        return b"".join(struct.pack(">HH", c, len(v)) + v for c, v in options)
    return draw(st.binary(max_size=24))


RTYPES = [1, 28, 2, 5, 12, 39, 15, 6, 33, 16, 41, 43, 46, 65, 255, 65535]


WireSpec = tuple[bytes, list[bytes], list[tuple[bytes, int, int, bytes]]]


@st.composite
def wire_specs(draw: st.DrawFn) -> WireSpec:
    """A DNS message assembled field by field, all but its ID and TTLs: any flags, names
    with arbitrary label bytes and compression pointers, records of many types, OPT
    records; counts usually right. Rendered by :func:`render`."""
    records: list[tuple[bytes, int, int, bytes]] = []  # owner, type, class, rdata
    sizes = []
    for _ in range(3):
        sizes.append(draw(st.integers(0, 3)))
        for _ in range(sizes[-1]):
            rtype = draw(st.sampled_from(RTYPES))
            rdata = draw(rdata_for(rtype))
            owner = b"\0" if rtype == 41 else draw(wire_names())
            rclass = draw(st.sampled_from([1, 1, 3, 254, 255, 1232, 4096]))
            records.append((owner, rtype, rclass, rdata))
    questions = [
        _name(draw(labels), None) + struct.pack(">HH", draw(st.sampled_from(RTYPES)), 1)
        for _ in range(draw(st.integers(0, 2)))
    ]
    counts = [len(questions), *sizes]
    if draw(st.integers(0, 4)) == 0:
        counts = draw(st.lists(st.integers(0, 5), min_size=4, max_size=4))
    header_tail = struct.pack(">H4H", draw(st.integers(0, 0xFFFF)), *counts)
    return header_tail, questions, records


def render(spec: WireSpec, ident: int, ttls: list[int]) -> bytes:
    header_tail, questions, records = spec
    rrs = [
        owner + struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata
        for (owner, rtype, rclass, rdata), ttl in zip(records, ttls, strict=True)
    ]
    return struct.pack(">H", ident) + header_tail + b"".join(questions) + b"".join(rrs)


@st.composite
def message_families(draw: st.DrawFn) -> list[bytes]:
    """A message, copies of it with other IDs and TTLs, and mutants of it."""
    kind = draw(st.sampled_from(["wire", "scapy", "dnsgen"]))
    if kind == "wire":
        return draw(wire_families())
    if kind == "scapy":
        return draw(scapy_families())
    return draw(dnsgen_families())


@st.composite
def dnsgen_families(draw: st.DrawFn) -> list[bytes]:
    """A message of tests.dnsgen (a well-formed response with answers of every type the
    kernel renders, or anything), copies of it with another ID, and mutants of it."""
    base = draw(st.one_of(dnsgen.responses(), dnsgen.messages()))
    out = [base]
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()) and len(base) >= 2:
            # the same answers from another transaction: the kernel renders them once
            out.append(struct.pack(">H", draw(st.integers(0, 0xFFFF))) + base[2:])
        else:
            out.append(draw(mutated(base)))
    return out


@st.composite
def wire_families(draw: st.DrawFn) -> list[bytes]:
    spec = draw(wire_specs())
    n = len(spec[2])

    def copy() -> bytes:
        ident = draw(st.integers(0, 0xFFFF))
        return render(spec, ident, draw(st.lists(ttls, min_size=n, max_size=n)))

    base = copy()
    out = [base]
    for _ in range(draw(st.integers(1, 5))):
        # the same body with another ID and other TTLs: the kernel shares one decode
        out.append(copy() if draw(st.booleans()) else draw(mutated(base)))
    return out


@st.composite
def scapy_families(draw: st.DrawFn) -> list[bytes]:
    """A valid message built by scapy, copies with other IDs and TTLs, and mutants."""
    base = draw(dns_messages())
    out = [base]
    for _ in range(draw(st.integers(1, 5))):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            # same body, another ID and other TTLs: the kernel shares one decode
            d = DNS(base)
            d.id = draw(st.integers(0, 0xFFFF))
            for rr in _records(d.an):
                rr.ttl = draw(ttls)
            out.append(bytes(d))
        else:
            out.append(draw(mutated(base)))
    return out


def _records(section: Any) -> list[Any]:
    if section is None:
        return []
    if isinstance(section, list):
        return section
    return [section]


@FUZZ
@given(
    payloads=message_families(), variant=st.integers(0, 2), kind=st.sampled_from(["pcap", "pcapng"])
)
def test_mutated_dns_messages(
    tmp_path: Path, payloads: list[bytes], variant: int, kind: str
) -> None:
    packets = [_udp_packet(p, variant) for p in payloads]
    data = _container(kind, [p for p, _, _ in packets], packets[0][1])
    df = read_both(write_tmp(tmp_path, data))
    assert isinstance(df, pd.DataFrame)
    check_rows(df, payloads)
    assert df["frame"].tolist() == list(range(1, len(payloads) + 1))


# ---- (d) valid captures, damaged -----------------------------------------------------------


def _base_pcap() -> bytes:
    q = dns_query("www.example.com", id=1)
    r = dns_response("www.example.com", "A", [("www.example.com", "A", "192.0.2.1", 300)], id=1)
    big = craft.big_txt_response("big.example", 900, id=2)
    resp = udp4(big, src=SERVER4, dst=CLIENT4, sport=53, dport=40000, ident=9)
    recs = [
        Rec(frame(LINK_ETHERNET, udp4(q)), T0),
        Rec(
            frame(LINK_ETHERNET, udp4(r, src=SERVER4, dst=CLIENT4, sport=53, dport=40000)), T0 + MS
        ),
        Rec(frame(LINK_ETHERNET, tcp4(tcp_framed(q, q), 1000)), T0 + 2 * MS),
    ]
    recs += [
        Rec(frame(LINK_ETHERNET, f), T0 + (3 + i) * MS)
        for i, f in enumerate(craft.ipv4_fragments(resp, 512))
    ]
    recs.append(Rec(frame(LINK_ETHERNET, udp6(q)), T0 + 9 * MS))
    return craft.pcap(recs)


def _base_pcapng() -> bytes:
    q = dns_query("www.example.com", id=1)
    r = dns_response("www.example.com", "A", [("www.example.com", "A", "192.0.2.1", 300)], id=1)
    be = True
    return b"".join(
        [
            shb(),
            idb(LINK_ETHERNET, tsresol=9),
            idb(LINK_RAW, tsresol=0x80 | 20, tsoffset=100),
            epb(0, T0, frame(LINK_ETHERNET, udp4(q))),
            craft.nrb(),
            epb(
                1,
                units(T0 + SEC - 100 * SEC, 0x80 | 20),
                udp4(r, src=SERVER4, dst=CLIENT4, sport=53, dport=40000).build(),
            ),
            craft.opb(0, T0 + 2 * SEC, frame(LINK_ETHERNET, udp4(q))),
            craft.spb(
                frame(LINK_ETHERNET, udp4(r, src=SERVER4, dst=CLIENT4, sport=53, dport=40000))
            ),
            shb(big_endian=be),
            idb(LINK_SLL2, snaplen=80, big_endian=be),
            craft.isb(0, 0, big_endian=be),
            epb(0, units(T0 + 3 * SEC), frame(LINK_SLL2, udp4(r)), snaplen=80, big_endian=be),
            craft.custom_block(big_endian=be),
            epb(0, units(T0 + 4 * SEC), frame(LINK_SLL2, udp4(q)), big_endian=be),
        ]
    )


BASES = {"pcap": _base_pcap(), "pcapng": _base_pcapng()}
INTERESTING_U32 = [0, 1, 2, 3, 6, 12, 16, 20, 24, 28, 32, 60, 64, 65535, 2**31, 2**32 - 4]


def _record_starts(data: bytes) -> list[int]:
    """Offsets of the record headers (pcap) or blocks (pcapng) of a well-formed capture."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        starts, pos, order = [], 0, "<"
        while pos < len(data):
            if data[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
                order = ">" if data[pos + 8 : pos + 12] == b"\x1a\x2b\x3c\x4d" else "<"
            starts.append(pos)
            pos += struct.unpack_from(order + "I", data, pos + 4)[0]
        return starts
    starts, pos = [], 24
    while pos < len(data):
        starts.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return starts


STARTS = {name: _record_starts(data) for name, data in BASES.items()}


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(BASES)))
    data = bytearray(BASES[name])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "byte", "u32", "u32", "insert", "delete"]))
        where = draw(st.sampled_from(["record header", "record header", "anywhere", "file header"]))
        if where == "record header":
            i = draw(st.sampled_from(STARTS[name])) + draw(st.integers(0, 31))
        elif where == "anywhere":
            i = draw(st.integers(STARTS[name][1], len(data) - 1))
        else:
            i = draw(st.integers(0, STARTS[name][1] - 1))
        i = min(i, len(data) - 1)
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[i] = draw(st.integers(0, 255))
        elif op == "u32":
            # a length, type or count field: 32-bit aligned, a value near a boundary
            i -= i % 4
            value = draw(st.sampled_from(INTERESTING_U32)) + draw(st.sampled_from([0, 0, 4, -4]))
            order = draw(st.sampled_from(["<I", ">I"]))
            data[i : i + 4] = struct.pack(order, value % 2**32)
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[i : i + draw(st.integers(1, 16))]
    if draw(st.integers(0, 3)) == 0:
        # cut the file short, mostly past its header
        data = data[: len(data) - draw(st.integers(0, len(data)))]
    out = bytes(data)
    if draw(st.integers(0, 3)) == 0:
        out = craft.gz(out)
        if draw(st.booleans()):
            # damage the gzip stream too: cut it, or change a byte of the deflate data
            gz = bytearray(out)
            i = draw(st.integers(10, len(gz) - 1))
            if draw(st.booleans()):
                gz[i] ^= 1 << draw(st.integers(0, 7))
            else:
                del gz[i:]
            out = bytes(gz)
    return name, out


@FUZZ
@given(case=damaged())
def test_damaged_captures(tmp_path: Path, case: tuple[str, bytes]) -> None:
    name, data = case
    event(name)
    read_both(write_tmp(tmp_path, data))


# ---- memory checking ---------------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("DNSPCAP_FUZZ_SANITIZED") != "1", reason="only with DNSPCAP_FUZZ_SANITIZED=1"
)
def test_kernel_is_sanitized() -> None:
    """The kernel loaded is the AddressSanitizer build (see the module docstring)."""
    from dnspcap import _kernel

    assert b"__asan_report_load" in Path(_kernel.__file__).read_bytes(), _kernel.__file__
    assert "libasan" in Path("/proc/self/maps").read_text()


# ---- cases the fuzzer found -----------------------------------------------------------------

FOUND = Path(__file__).parent / "data" / "fuzz"


def test_damaged_pcapng_with_link_type_106_reads_the_same_with_both_engines() -> None:
    """A bit flip turned an SPB into an IDB whose link type (106) and options are the
    SPB's packet bytes, in a section that ends before any packet. The C path rejected the
    link type as the IDB was read; the exact path checked link types only when a packet
    came, by which time the next section had forgotten the interface, so it read on (5
    rows, no warning). Now both check each IDB as it is read, and first that its options
    fit in it: they do not (an option of 109 bytes runs past its end), so the read stops
    there with a warning and keeps frames 1-3, as Wireshark does ("appears to be damaged
    or corrupt", "Not enough data to handle option of length 109", after 3 packets)."""
    path = FOUND / "engines-disagree-linktype-106.pcapng.gz"
    outcome = read_both(path)
    assert isinstance(outcome, pd.DataFrame)
    assert outcome["frame"].tolist() == [1, 2, 3]
    assert outcome.attrs["dnspcap"]["warnings"] == [
        f"{path}: stopped reading after frame 3: an interface description block has an "
        "option (code 28515) of 109 bytes that runs past the end of the block, so the file "
        "is corrupt from there on"
    ]


def test_gzip_cut_after_a_bad_section_header_reads_the_same_with_both_engines() -> None:
    """Found once the fuzzer damaged gzip streams too: a second section header with a bad
    length (54, not a multiple of 4), then a gzip stream cut short. The read stops at the
    section header; the C path had already read ahead into the cut and warned about it,
    the exact path had not. Both now decompress the file to its end."""
    path = FOUND / "engines-disagree-gzip-cut-after-bad-shb.pcapng.gz"
    outcome = read_both(path)
    assert isinstance(outcome, pd.DataFrame)
    assert len(outcome) == 0
    warnings = outcome.attrs["dnspcap"]["warnings"]
    assert warnings[0] == f"{path}: bad section header block length 54; stopped"
    assert warnings[1].startswith(f"{path}: gzip stream is damaged or cut short")
    assert len(warnings) == 2
