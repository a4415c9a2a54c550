"""Hostile traffic on port 53 for the ``hostile`` profile of make_capture.py.

What reaches a cluster's DNS port when someone is probing it, mixed into the pods'
ordinary lookups:

* ``random``: random bytes (1-512) in a UDP datagram to port 53, a quarter of them
  from port 53 (what a reflection attack or a broken middlebox sends back); every
  source a new address, so the readers see thousands of "servers";
* ``self_pointer``: a query whose question name is a compression pointer to itself
  (``0xc00c`` at offset 12), or two pointers pointing at each other; half of them
  answered FORMERR, as CoreDNS does, with the header alone;
* ``many_records``: a header claiming 65,535 answer, authority and additional records
  followed by a real question and a few stray bytes, as a query or as a response;
* ``scan``: well-formed queries from thousands of sources (random subdomains,
  ``version.bind CH TXT``, ``ANY`` for amplification), to the DNS Service, the
  CoreDNS pods and any pod; the DNS servers answer REFUSED or NXDOMAIN, a pod
  nothing.

Everything is IPv4 over Ethernet with valid checksums, so the bytes after the UDP
header are the only thing wrong. The packets have their own random stream: the pods'
traffic is the same whatever the share of hostile packets.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence
from typing import Any

KINDS = ("random", "self_pointer", "many_records", "scan")
WEIGHTS = (0.30, 0.15, 0.15, 0.40)  # per event
SOURCES = 20_000  # scanner addresses in 198.18.0.0/15 (RFC 2544 benchmarking range)

_V4UDP = struct.Struct("!HHHHH8sHHHH")  # IPv4 from the total length on, and UDP
_HEADER = struct.Struct("!HHHHHH")
SCANNER_MAC = bytes.fromhex("0a580af4fffe")
GATEWAY_MAC = bytes.fromhex("0a580af40001")

A, TXT, ANY = 1, 16, 255
IN, CH = 1, 3
FORMERR, NXDOMAIN, REFUSED = 1, 3, 5

# The name at offset 12 is "the name at offset 12"; two pointers, each to the other.
NAME_LOOPS = (b"\xc0\x0c", b"\xc0\x0e\xc0\x0c")

Push = Callable[[int, bytes, int], None]  # (time in us, Ethernet frame, tag)


def udp4(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, ipid: int) -> bytes:
    """An Ethernet frame with an IPv4 UDP datagram, checksums filled in."""
    ulen = 8 + len(payload)
    total = 20 + ulen
    addr_sum = int.from_bytes(src + dst, "big") % 0xFFFF
    psum = int.from_bytes(payload, "big")
    if ulen & 1:
        psum <<= 8  # the odd last byte is the high half of a zero-padded word
    # sums mod 0xFFFF are ones-complement sums: 2**16 = 1 (mod 0xFFFF)
    ucs = 0xFFFF - (addr_sum + 17 + 2 * ulen + sport + dport + psum) % 0xFFFF
    ipcs = 0xFFFF - (0x4500 + 0x4000 + 0x4011 + addr_sum + total + ipid) % 0xFFFF
    ip = _V4UDP.pack(total, ipid, 0x4000, 0x4011, ipcs, src + dst, sport, dport, ulen, ucs)
    return GATEWAY_MAC + SCANNER_MAC + b"\x08\x00\x45\x00" + ip + payload


def _name(name: str) -> bytes:
    out = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label)
    return out + b"\0"


class Hostile:
    """Adds hostile packets to a Generator's queue through its ``push``."""

    def __init__(
        self, seed: int, push: Push, pods: Sequence[bytes], servers: Sequence[bytes], tag: int
    ) -> None:
        self.rng = random.Random(seed * 7919 + 53)
        self.push = push
        self.pods = list(pods)
        self.servers = list(servers)
        self.tag = tag  # a hostile packet's tag is tag + its kind's index in KINDS
        self.debt = 0.0  # packets owed to reach the share

    def traffic(self, t0: int, span_us: float, packets: float) -> None:
        """About ``packets`` hostile packets (on average) between t0 and t0 + span_us."""
        self.debt += packets
        rng = self.rng
        while self.debt > 0:
            t = t0 + int(rng.random() * span_us)
            kind = rng.choices(range(len(KINDS)), WEIGHTS)[0]
            self.debt -= (self._random, self._self_pointer, self._many, self._scan)[kind](t)

    def _send(
        self, t: int, kind: str, src: bytes, dst: bytes, sport: int, dport: int, payload: bytes
    ) -> None:
        frame = udp4(src, dst, sport, dport, payload, self.rng.getrandbits(16))
        self.push(t, frame, self.tag + KINDS.index(kind))

    def _scanner(self) -> bytes:
        n = self.rng.randrange(SOURCES)
        return bytes((198, 18 + (n >> 16), (n >> 8) & 255, n & 255))

    def _port(self) -> int:
        return self.rng.randrange(1024, 65536)

    def _target(self) -> bytes:
        rng = self.rng
        return rng.choice(self.servers) if rng.random() < 0.7 else rng.choice(self.pods)

    def _random(self, t: int) -> int:
        rng = self.rng
        payload = rng.randbytes(rng.randint(1, 512))
        src = self._scanner()
        if rng.random() < 0.25:  # from port 53 to a pod: looks like a server's answer
            self._send(t, "random", src, rng.choice(self.pods), 53, self._port(), payload)
        else:
            self._send(t, "random", src, self._target(), self._port(), 53, payload)
        return 1

    def _self_pointer(self, t: int) -> int:
        rng = self.rng
        qid = rng.getrandbits(16)
        header = _HEADER.pack(qid, 0x0100, 1, 0, 0, 0)
        name = NAME_LOOPS[rng.random() >= 0.5]
        src, dst, port = self._scanner(), rng.choice(self.servers), self._port()
        self._send(t, "self_pointer", src, dst, port, 53, header + name + struct.pack("!HH", A, IN))
        if rng.random() < 0.5:
            return 1
        reply = _HEADER.pack(qid, 0x8100 | FORMERR, 0, 0, 0, 0)
        self._send(t + 80 + rng.randrange(200), "self_pointer", dst, src, 53, port, reply)
        return 2

    def _many(self, t: int) -> int:
        rng = self.rng
        qid = rng.getrandbits(16)
        question = _name(f"x{rng.getrandbits(32):08x}.example.com") + struct.pack("!HH", A, IN)
        stray = rng.randbytes(rng.randrange(41))
        if rng.random() < 0.5:
            payload = _HEADER.pack(qid, 0x0100, 1, 0xFFFF, 0xFFFF, 0xFFFF) + question + stray
            src, dst, sport, dport = self._scanner(), self._target(), self._port(), 53
        else:
            flags = 0x8180 | rng.choice((0, 2, 3, 5))
            payload = _HEADER.pack(qid, flags, 1, 0xFFFF, 0xFFFF, 0xFFFF) + question + stray
            src, dst = rng.choice(self.servers), rng.choice(self.pods)
            sport, dport = 53, self._port()
        self._send(t, "many_records", src, dst, sport, dport, payload)
        return 1

    def _scan(self, t: int) -> int:
        rng = self.rng
        qid = rng.getrandbits(16)
        probe = rng.random()
        if probe < 0.5:
            qname, qtype, qclass = f"{rng.getrandbits(40):010x}.example.com", A, IN
        elif probe < 0.7:
            qname, qtype, qclass = "version.bind", TXT, CH
        elif probe < 0.85:
            qname, qtype, qclass = "isc.org", ANY, IN
        else:
            qname, qtype, qclass = "", ANY, IN  # the root, ANY: the classic amplifier
        question = _name(qname) + struct.pack("!HH", qtype, qclass)
        src, dst, port = self._scanner(), self._target(), self._port()
        self._send(t, "scan", src, dst, port, 53, _HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + question)
        if dst not in self.servers or rng.random() < 0.2:
            return 1  # a pod runs no DNS server; a server under load drops some
        rcode = NXDOMAIN if qtype == A else REFUSED
        reply = _HEADER.pack(qid, 0x8180 | rcode, 1, 0, 0, 0) + question
        self._send(t + 100 + rng.randrange(900), "scan", dst, src, 53, port, reply)
        return 2

    def truth(self, tally: Sequence[int]) -> dict[str, Any]:
        """The ground truth of the hostile packets written (``tally``: packets per kind)."""
        counts = {f"hostile_{kind}": tally[i] for i, kind in enumerate(KINDS)}
        return {"hostile_packets": sum(tally[: len(KINDS)]), **counts}
