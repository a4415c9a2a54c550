#!/usr/bin/env python3
"""Write two captures that stress the DNS decoding of ``read_messages``.

* :func:`varied_capture`: query/response pairs from many clients about many names,
  where one response in ten carries an answer set not seen before (fresh addresses,
  TXT strings, targets). Answer sections hold A, AAAA, CNAME chains with compression
  pointers, PTR, NS, MX, SRV, TXT (quotes, backslashes, bytes outside ASCII), SOA in
  NXDOMAIN responses and HTTPS records, so that every record type the kernel renders
  appears, and many distinct answer texts must be rendered.
* :func:`hostile_capture`: UDP packets to port 53 none of whose payloads is a
  well-formed DNS message: random bytes, a question that is a compression pointer to
  itself, headers claiming 65,535 records, reserved label types, names over 255
  octets, pointers forward or out of bounds, records cut short, RDATA that does not
  match its type, OPT options past their record.

Both are classic pcaps (Ethernet, IPv4 and some IPv6, no checksums) built from byte
templates with ``struct``; the same seed gives the same bytes. ``benchmarks/bench_decode.py``
times ``read_messages`` on them; ``tests/test_kernel_decode.py`` reads small ones.

    python benchmarks/decode_captures.py varied --packets 2000000 -o varied.pcap
    python benchmarks/decode_captures.py hostile --packets 300000 -o hostile.pcap
"""

from __future__ import annotations

import argparse
import random
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

START_TS = 1_710_234_000
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 1)
_REC = struct.Struct("<IIII")
_ETH4 = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
_ETH6 = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x86\xdd"
SERVER4 = bytes([10, 96, 0, 10])
SERVER6 = bytes.fromhex("fd00001000960000000000000000000a")

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, HTTPS = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 65


def _udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    """An Ethernet frame carrying a UDP datagram over IPv4 or IPv6 (by address length)."""
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    if len(src) == 4:
        ip = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0)
        return _ETH4 + ip + src + dst + udp
    return _ETH6 + struct.pack(">IHBB", 0x60000000, len(udp), 17, 64) + src + dst + udp


def _write(path: Path, frames: Iterator[bytes]) -> int:
    """Write the frames 50 us apart; returns how many."""
    n = 0
    with open(path, "wb") as f:
        f.write(PCAP_HEADER)
        chunk: list[bytes] = []
        for data in frames:
            us = n * 50
            chunk.append(
                _REC.pack(START_TS + us // 1_000_000, us % 1_000_000, len(data), len(data))
            )
            chunk.append(data)
            n += 1
            if len(chunk) >= 20_000:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
    return n


def wire_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def _rr(owner: bytes, rtype: int, ttl: int, rdata: bytes, rclass: int = 1) -> bytes:
    return owner + struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def _header(ident: int, flags: int, qd: int, an: int, ns: int, ar: int) -> bytes:
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


# ---- varied answers ----------------------------------------------------------------------

_QNAME_PTR = b"\xc0\x0c"  # the question name, right after the header


def _txt_string(rng: random.Random) -> bytes:
    alphabet = b'abcdefghijklmnopqrstuvwxyz0123456789 =;"\\' + bytes([0, 9, 200, 255])
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


class _Names:
    """The names the clients ask about, each with a kind that decides its answers."""

    KINDS = ("a", "a", "a", "aaaa", "cname", "txt", "mx", "srv", "ptr", "nx", "https", "ns")

    def __init__(self, rng: random.Random, count: int) -> None:
        self.rng = rng
        self.names: list[tuple[str, str]] = []
        for i in range(count):
            kind = rng.choice(self.KINDS)
            if kind == "ptr":
                name = f"{i % 256}.{i // 256 % 256}.{rng.randint(0, 255)}.10.in-addr.arpa"
            elif kind == "srv":
                name = f"_grpc._tcp.svc-{i}.ns-{i % 37}.svc.cluster.local"
            else:
                name = f"host-{i}.zone-{i % 101}.example.com"
            self.names.append((name, kind))
        # each name's usual answer section (without the TTLs), made on first use
        self.usual: dict[int, list[tuple[int, bytes, bytes]]] = {}

    def qtype(self, kind: str) -> int:
        return {"aaaa": AAAA, "cname": A, "txt": TXT, "mx": MX, "srv": SRV, "ptr": PTR}.get(
            kind, {"nx": A, "https": HTTPS, "ns": NS}.get(kind, A)
        )

    def answers(self, k: int, qlen: int) -> list[tuple[int, bytes, bytes]]:
        """Fresh answers of name k: (type, owner, rdata); qlen: the question name's length."""
        rng = self.rng
        name, kind = self.names[k]
        if kind == "a":
            return [(A, _QNAME_PTR, rng.randbytes(4)) for _ in range(rng.randint(1, 4))]
        if kind == "aaaa":
            out = []
            for _ in range(rng.randint(1, 2)):
                addr = bytearray(rng.randbytes(16))
                if rng.random() < 0.5:
                    addr[4:12] = bytes(8)  # runs of zero hextets: the :: form
                out.append((AAAA, _QNAME_PTR, bytes(addr)))
            return out
        if kind == "cname":
            target = wire_name(f"edge-{rng.randint(0, 99999)}.cdn.example.net")
            # the A records' owner points at the CNAME target (header 12 + question + RR 12)
            target_ptr = struct.pack(">H", 0xC000 | (12 + qlen + 4 + 12))
            return [(CNAME, _QNAME_PTR, target)] + [
                (A, target_ptr, rng.randbytes(4)) for _ in range(rng.randint(1, 3))
            ]
        if kind == "txt":
            strings = [_txt_string(rng) for _ in range(rng.randint(1, 3))]
            return [(TXT, _QNAME_PTR, b"".join(bytes([len(s)]) + s for s in strings))]
        if kind == "mx":
            # the exchange's name ends with a pointer into the question (its zone)
            suffix = 12 + 1 + len(name.split(".")[0])
            return [
                (MX, _QNAME_PTR, struct.pack(">H", 10 * p) + b"\x03mx" + bytes([48 + p])
                 + struct.pack(">H", 0xC000 | suffix))
                for p in range(1, rng.randint(2, 3))
            ]  # fmt: skip
        if kind == "srv":
            port = rng.randint(1024, 65535)
            return [
                (SRV, _QNAME_PTR, struct.pack(">HHH", 0, 100, port)
                 + wire_name(f"pod-{rng.randint(0, 9999)}.svc.cluster.local"))
            ]  # fmt: skip
        if kind == "ptr":
            return [(PTR, _QNAME_PTR, wire_name(f"pod-{rng.randint(0, 99999)}.cluster.local"))]
        if kind == "https":
            params = struct.pack(">HH", 1, 3) + b"\x02h2" + struct.pack(">HH", 4, 4)
            return [(HTTPS, _QNAME_PTR, b"\x00\x01\x00" + params + rng.randbytes(4))]
        if kind == "ns":
            return [
                (NS, _QNAME_PTR, wire_name(f"ns{j}.dns-{rng.randint(0, 999)}.example.org"))
                for j in range(2)
            ]
        return []  # nx: SOA in the authority section


_SOA = _rr(
    b"\xc0\x0c",
    SOA,
    30,
    wire_name("ns.dns.example.com") + wire_name("hostmaster.example.com")
    + struct.pack(">IIIII", 2024031201, 7200, 1800, 86400, 30),
)  # fmt: skip


def _varied_frames(packets: int, seed: int, clients: int, names: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    table = _Names(rng, names)
    hosts: list[tuple[bytes, bytes]] = []
    for i in range(clients):
        if i % 10 == 9:
            hosts.append((bytes.fromhex("fd000010024400") + rng.randbytes(9), SERVER6))
        else:
            hosts.append((bytes([10, 244]) + struct.pack(">H", i), SERVER4))
    for _ in range(packets // 2):
        client, server = rng.choice(hosts)
        k = rng.randrange(names)
        name, kind = table.names[k]
        qname = wire_name(name)
        qtype = table.qtype(kind)
        ident = rng.randrange(65536)
        port = rng.randint(32768, 60999)
        edns = rng.random() < 0.3
        opt = _rr(b"\0", OPT, 0, b"", rclass=1232) if edns else b""
        question = qname + struct.pack(">HH", qtype, 1)
        yield _udp(
            client, server, port, 53, _header(ident, 0x0100, 1, 0, 0, int(edns)) + question + opt
        )
        answers = table.usual.get(k)
        if answers is None or rng.random() < 0.1:
            answers = table.answers(k, len(qname))
            table.usual.setdefault(k, answers)
        ttl = rng.randint(5, 300)
        records = b"".join(_rr(owner, t, ttl, rdata) for t, owner, rdata in answers)
        nx = kind == "nx"
        flags = 0x8183 if nx else 0x8180
        head = _header(ident, flags, 1, len(answers), int(nx), int(edns))
        body = head + question + records + (_SOA if nx else b"") + opt
        yield _udp(server, client, 53, port, body)


def varied_capture(path: Path, packets: int, seed: int = 1, clients: int = 21_000,
                   names: int = 10_000) -> int:  # fmt: skip
    """Write the varied-answers capture; returns the number of packets (all DNS)."""
    return _write(path, _varied_frames(packets, seed, clients, names))


# ---- hostile traffic ---------------------------------------------------------------------


def _random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(
        rng.choice([rng.randint(0, 11), rng.randint(12, 120), rng.randint(120, 600)])
    )


def _self_pointer(rng: random.Random) -> bytes:
    return _header(rng.randrange(65536), 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"


def _claims_65535(rng: random.Random) -> bytes:
    body = wire_name(f"x{rng.randrange(10**6)}.example") + b"\x00\x01\x00\x01"
    body += _rr(b"\xc0\x0c", A, 60, rng.randbytes(4)) * rng.randint(0, 3)
    return _header(rng.randrange(65536), 0x8180, 65535, 65535, 65535, 65535) + body


def _reserved_label(rng: random.Random) -> bytes:
    return (
        _header(rng.randrange(65536), 0x0100, 1, 0, 0, 0)
        + bytes([rng.choice([0x40, 0x80, 0x7F])])
        + rng.randbytes(8)
    )


def _name_too_long(rng: random.Random) -> bytes:
    labels = b"".join(b"\x3f" + rng.randbytes(63) for _ in range(5)) + b"\0"
    return _header(rng.randrange(65536), 0x0100, 1, 0, 0, 0) + labels + b"\x00\x01\x00\x01"


def _bad_pointer(rng: random.Random) -> bytes:
    target = rng.choice([0x3FFF, 200, 40])  # out of bounds, or forward
    return (
        _header(rng.randrange(65536), 0x0100, 1, 0, 0, 0)
        + struct.pack(">H", 0xC000 | target)
        + b"\x00\x01\x00\x01"
    )


def _truncated_rr(rng: random.Random) -> bytes:
    q = wire_name(f"t{rng.randrange(10**6)}.example") + b"\x00\x01\x00\x01"
    rr = _rr(b"\xc0\x0c", A, 60, rng.randbytes(4))
    return (
        _header(rng.randrange(65536), 0x8180, 1, 2, 0, 0)
        + q
        + rr
        + rr[: rng.randint(1, len(rr) - 1)]
    )


def _bad_rdata(rng: random.Random) -> bytes:
    q = wire_name(f"r{rng.randrange(10**6)}.example") + b"\x00\x01\x00\x01"
    loop = struct.pack(">H", 0xC000 | (12 + len(q) + 12))  # the RDATA points at itself
    rr = rng.choice([
        _rr(b"\xc0\x0c", A, 60, rng.randbytes(rng.choice([3, 5, 6]))),
        _rr(b"\xc0\x0c", TXT, 60, b""),
        _rr(b"\xc0\x0c", TXT, 60, b"\x09abc"),
        _rr(b"\xc0\x0c", CNAME, 60, loop),
        _rr(b"\xc0\x0c", MX, 60, b"\x00"),
    ])  # fmt: skip
    return _header(rng.randrange(65536), 0x8180, 1, 1, 0, 0) + q + rr


def _bad_option(rng: random.Random) -> bytes:
    q = wire_name(f"o{rng.randrange(10**6)}.example") + b"\x00\x01\x00\x01"
    opt = _rr(b"\0", OPT, 0, struct.pack(">HH", 10, 16) + rng.randbytes(8), rclass=1232)
    return _header(rng.randrange(65536), 0x0100, 1, 0, 0, 1) + q + opt


HOSTILE_KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "random bytes": _random_bytes,
    "question points at itself": _self_pointer,
    "claims 65535 records": _claims_65535,
    "reserved label type": _reserved_label,
    "name over 255 octets": _name_too_long,
    "pointer forward or out of bounds": _bad_pointer,
    "record cut short": _truncated_rr,
    "rdata does not match its type": _bad_rdata,
    "OPT option past its record": _bad_option,
}


def hostile_message(rng: random.Random) -> bytes:
    """One malformed DNS message, of a kind drawn at random (random bytes most often)."""
    kinds = list(HOSTILE_KINDS.values())
    make = kinds[0] if rng.random() < 0.4 else rng.choice(kinds)
    return make(rng)


def _hostile_frames(packets: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(packets):
        client = bytes([10, 244]) + struct.pack(">H", rng.randrange(65536))
        yield _udp(client, SERVER4, rng.randint(1024, 65535), 53, hostile_message(rng))


def hostile_capture(path: Path, packets: int, seed: int = 1) -> int:
    """Write the hostile capture; returns the number of packets (each a malformed message)."""
    return _write(path, _hostile_frames(packets, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("varied", "hostile"))
    parser.add_argument("--packets", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    make = varied_capture if args.kind == "varied" else hostile_capture
    print(f"{args.output}: {make(args.output, args.packets, args.seed):,} packets")


if __name__ == "__main__":
    main()
