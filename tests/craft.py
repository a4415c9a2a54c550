"""Builders of capture files, as bytes, for the tests.

Everything here is written by hand from the format specifications, not by a capture
library, so the tests control every field:

* classic pcap (https://www.tcpdump.org/manpages/pcap-savefile.5.txt): µs and ns magic,
  either byte order, any snaplen and link type, records cut by the snaplen and a last
  record cut mid-write;
* pcapng (draft-ietf-opsawg-pcapng): section header, interface description (with
  ``if_tsresol`` / ``if_tsoffset``), enhanced, simple and obsolete packet blocks, and the
  blocks a reader must skip (name resolution, interface statistics, custom);
* gzip'd variants and rotated sets of files.

Packets are built with scapy; :func:`frame` wraps an IP packet in the link layer of a
given link type. Timestamps are integers in nanoseconds since the epoch, UTC.
"""

from __future__ import annotations

import gzip
import itertools
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.packet import Packet, Raw

# 2023-11-14T22:13:20Z: a round second, so expected timestamps are easy to write down.
T0 = 1_700_000_000 * 1_000_000_000
MS = 1_000_000
SEC = 1_000_000_000

# link types (https://www.tcpdump.org/linktypes.html)
LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_LOOP = 108
LINK_SLL = 113
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_SLL2 = 276

CLIENT4, SERVER4 = "10.0.0.1", "10.0.0.53"
CLIENT6, SERVER6 = "2001:db8::1", "2001:db8::53"
MAC_CLIENT, MAC_SERVER = "02:00:00:00:00:01", "02:00:00:00:00:02"

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_MAGIC_KUZNETZOV = 0xA1B2CD34

# pcapng block types
BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_OPB = 0x00000002
BT_SPB = 0x00000003
BT_NRB = 0x00000004
BT_ISB = 0x00000005
BT_EPB = 0x00000006
BT_CUSTOM = 0x00000BAD


# ---- DNS messages ------------------------------------------------------------------------


def dns_query(qname: str, qtype: str | int = "A", *, id: int = 0x1234, rd: bool = True) -> bytes:
    """A DNS query with one question."""
    return bytes(DNS(id=id, rd=int(rd), qd=DNSQR(qname=qname, qtype=qtype)))


def dns_response(
    qname: str,
    qtype: str | int = "A",
    answers: Sequence[tuple[str, str | int, str | bytes, int]] = (),
    *,
    id: int = 0x1234,
    rcode: int = 0,
) -> bytes:
    """A response to :func:`dns_query`; ``answers`` are ``(name, type, rdata, ttl)``."""
    an = [DNSRR(rrname=n, type=t, rdata=r, ttl=ttl) for n, t, r, ttl in answers]
    return bytes(
        DNS(
            id=id,
            qr=1,
            rd=1,
            ra=1,
            rcode=rcode,
            qd=DNSQR(qname=qname, qtype=qtype),
            an=an,
        )
    )


def big_txt_response(qname: str, size: int, *, id: int = 0x4242) -> bytes:
    """A TXT response of at least ``size`` bytes (for fragmentation and TCP tests)."""
    strings: list[bytes] = []
    left = size
    while left > 0:
        strings.append(bytes([0x61 + len(strings) % 26]) * min(200, left))
        left -= 201
    return bytes(
        DNS(
            id=id,
            qr=1,
            rd=1,
            ra=1,
            qd=DNSQR(qname=qname, qtype="TXT"),
            an=DNSRR(rrname=qname, type="TXT", rdata=strings, ttl=60),
        )
    )


# ---- IP / transport ----------------------------------------------------------------------


def udp4(
    payload: bytes,
    *,
    src: str = CLIENT4,
    dst: str = SERVER4,
    sport: int = 40000,
    dport: int = 53,
    ident: int = 1,
) -> Packet:
    return IP(src=src, dst=dst, id=ident) / UDP(sport=sport, dport=dport) / Raw(payload)


def udp6(
    payload: bytes,
    *,
    src: str = CLIENT6,
    dst: str = SERVER6,
    sport: int = 40000,
    dport: int = 53,
    ext: Sequence[Packet] = (),
) -> Packet:
    """An IPv6/UDP packet; ``ext`` are extension headers placed between IPv6 and UDP."""
    pkt: Packet = IPv6(src=src, dst=dst)
    for header in ext:
        pkt = pkt / header
    return pkt / UDP(sport=sport, dport=dport) / Raw(payload)


def ipv6_ext_headers() -> list[Packet]:
    """Hop-by-hop, destination options and (type 0, no addresses left) routing headers."""
    return [IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting()]


def tcp4(
    payload: bytes,
    seq: int,
    *,
    flags: str = "PA",
    src: str = CLIENT4,
    dst: str = SERVER4,
    sport: int = 40001,
    dport: int = 53,
    ack: int = 1,
) -> Packet:
    pkt = IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags)
    return pkt / Raw(payload) if payload else pkt


def tcp6(
    payload: bytes,
    seq: int,
    *,
    flags: str = "PA",
    src: str = CLIENT6,
    dst: str = SERVER6,
    sport: int = 40001,
    dport: int = 53,
) -> Packet:
    pkt = IPv6(src=src, dst=dst) / TCP(sport=sport, dport=dport, seq=seq, ack=1, flags=flags)
    return pkt / Raw(payload) if payload else pkt


def tcp_framed(*messages: bytes) -> bytes:
    """DNS messages as they travel over TCP: each behind a 2-byte length (RFC 1035 §4.2.2)."""
    return b"".join(len(m).to_bytes(2, "big") + m for m in messages)


def split_at(data: bytes, *cuts: int) -> list[bytes]:
    """``data`` cut at the given offsets."""
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def ipv4_fragments(pkt: Packet, fragsize: int = 256) -> list[bytes]:
    """The IPv4 fragments of ``pkt`` (``fragsize`` bytes of payload each, a multiple of 8)."""
    return [bytes(f) for f in fragment(pkt, fragsize=fragsize)]  # type: ignore[no-untyped-call]


def ipv6_fragments(pkt: Packet, fragsize: int = 400) -> list[bytes]:
    """The IPv6 fragments of ``pkt`` (which needs an ``IPv6ExtHdrFragment``), ≤ fragsize each."""
    return [bytes(f) for f in fragment6(pkt, fragsize)]  # type: ignore[no-untyped-call]


def udp6_fragmentable(payload: bytes, *, ident: int = 77, **kw: object) -> Packet:
    """An IPv6/UDP packet with a fragment header, ready for :func:`ipv6_fragments`."""
    return udp6(payload, ext=[IPv6ExtHdrFragment(id=ident)], **kw)  # type: ignore[arg-type]


# ---- link layers -------------------------------------------------------------------------


def frame(
    linktype: int,
    ip: Packet | bytes,
    *,
    vlans: Sequence[int] = (),
    qinq: bool = False,
    family: int | None = None,
    null_big_endian: bool = False,
) -> bytes:
    """``ip`` (an IPv4 or IPv6 packet) behind the link-layer header of ``linktype``.

    Ethernet: ``vlans`` adds 802.1Q tags (outermost first); with ``qinq`` the outer tag is
    an 802.1ad (0x88a8) service tag. SLL / SLL2: ``vlans`` adds 802.1Q tags after the
    cooked header. NULL / LOOP: ``family`` is the address family in the
    4-byte header (default AF_INET = 2, or 24 for IPv6); NULL writes it in the capturing
    host's byte order, little endian unless ``null_big_endian``; LOOP always big endian.
    """
    data = bytes(ip)
    version = data[0] >> 4
    etype = 0x0800 if version == 4 else 0x86DD
    if linktype == LINK_ETHERNET:
        pkt: Packet = Ether(src=MAC_CLIENT, dst=MAC_SERVER)
        for i, vid in enumerate(vlans):
            pkt = pkt / (Dot1AD(vlan=vid) if qinq and i == 0 else Dot1Q(vlan=vid))
        if pkt.lastlayer() is pkt:
            pkt.type = etype
        else:
            pkt.lastlayer().type = etype
        return bytes(pkt / Raw(data))
    if linktype in (LINK_RAW, LINK_IPV4, LINK_IPV6):
        return data
    if linktype in (LINK_SLL, LINK_SLL2):
        # cooked captures keep 802.1Q tags when the interface does not strip them
        tags = b"".join(
            struct.pack(">HH", vid, 0x8100 if i + 1 < len(vlans) else etype)
            for i, vid in enumerate(vlans)
        )
        proto = 0x8100 if vlans else etype
        mac = b"\x02\0\0\0\0\x01\0\0"
        cooked: Packet
        if linktype == LINK_SLL:
            cooked = CookedLinux(pkttype=4, lladdrtype=1, lladdrlen=6, src=mac, proto=proto)
        else:
            cooked = CookedLinuxV2(
                proto=proto, ifindex=3, lladdrtype=1, pkttype=4, lladdrlen=6, src=mac
            )
        return bytes(cooked) + tags + data
    fam = family if family is not None else (2 if version == 4 else 24)
    if linktype == LINK_NULL:
        if null_big_endian:
            return struct.pack(">I", fam) + data
        # scapy's Loopback writes the family in the host's order
        little = bytes(Loopback(type=fam)) if sys.byteorder == "little" else struct.pack("<I", fam)
        return little + data
    if linktype == LINK_LOOP:
        return struct.pack(">I", fam) + data
    raise ValueError(f"no link-layer builder for link type {linktype}")


# ---- classic pcap ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rec:
    """One packet to write: its bytes on the wire and its capture time (ns since the epoch)."""

    data: bytes
    ts_ns: int
    # the length on the wire when it differs from len(data) (None: len(data))
    orig_len: int | None = None


def pcap_header(
    *,
    linktype: int = LINK_ETHERNET,
    snaplen: int = 262_144,
    nanos: bool = False,
    big_endian: bool = False,
    kuznetzov: bool = False,
) -> bytes:
    e = ">" if big_endian else "<"
    magic = PCAP_MAGIC_NS if nanos else PCAP_MAGIC_US
    if kuznetzov:
        magic = PCAP_MAGIC_KUZNETZOV
    return struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap(
    records: Iterable[Rec],
    *,
    linktype: int = LINK_ETHERNET,
    snaplen: int = 262_144,
    nanos: bool = False,
    big_endian: bool = False,
    cut: int = 0,
    kuznetzov: bool = False,
) -> bytes:
    """A classic pcap file. Records longer than ``snaplen`` are stored cut to it (caplen <
    orig_len), as a capture with that snaplen would; ``cut`` drops that many bytes from the
    end of the file (a capture killed mid-write). ``kuznetzov`` writes the "modified pcap"
    format (magic a1b2cd34) whose record headers carry 8 more bytes."""
    e = ">" if big_endian else "<"
    out = [
        pcap_header(
            linktype=linktype,
            snaplen=snaplen,
            nanos=nanos,
            big_endian=big_endian,
            kuznetzov=kuznetzov,
        )
    ]
    for r in records:
        stored = r.data[:snaplen]
        orig = len(r.data) if r.orig_len is None else r.orig_len
        sec, rest = divmod(r.ts_ns, SEC)
        frac = rest if nanos else rest // 1000
        head = struct.pack(e + "IIII", sec, frac, len(stored), orig)
        if kuznetzov:  # ifindex, protocol, pkt_type, padding
            head += struct.pack(e + "IHBB", 2, 0x0800, 0, 0)
        out.append(head + stored)
    data = b"".join(out)
    return data[: len(data) - cut] if cut else data


# ---- pcapng ------------------------------------------------------------------------------


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def pcapng_options(opts: Sequence[tuple[int, bytes]], *, big_endian: bool = False) -> bytes:
    """An options list ending with opt_endofopt (empty when there is no option)."""
    if not opts:
        return b""
    e = ">" if big_endian else "<"
    body = b"".join(struct.pack(e + "HH", code, len(v)) + _pad4(v) for code, v in opts)
    return body + struct.pack(e + "HH", 0, 0)


def block(btype: int, body: bytes, *, big_endian: bool = False) -> bytes:
    """A pcapng block: type, total length, body padded to 32 bits, total length again."""
    e = ">" if big_endian else "<"
    body = _pad4(body)
    total = len(body) + 12
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


def shb(*, big_endian: bool = False, section_length: int = -1) -> bytes:
    """Section header block, version 1.0, with a byte-order magic for ``big_endian``."""
    e = ">" if big_endian else "<"
    body = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, section_length)
    body += pcapng_options([(4, b"dnspcap tests")], big_endian=big_endian)  # shb_userappl
    return block(BT_SHB, body, big_endian=big_endian)


def idb(
    linktype: int,
    *,
    snaplen: int = 0,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    name: str | None = None,
    big_endian: bool = False,
) -> bytes:
    """Interface description block. ``tsresol`` is the raw ``if_tsresol`` byte (6: µs, 9:
    ns, 0x80 | 20: 2**-20 s); ``tsoffset`` the ``if_tsoffset`` in seconds."""
    e = ">" if big_endian else "<"
    opts: list[tuple[int, bytes]] = []
    if name is not None:
        opts.append((2, name.encode()))  # if_name
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(e + "q", tsoffset)))
    body = struct.pack(e + "HHI", linktype, 0, snaplen)
    body += pcapng_options(opts, big_endian=big_endian)
    return block(BT_IDB, body, big_endian=big_endian)


def epb(
    iface: int,
    units: int,
    data: bytes,
    *,
    orig_len: int | None = None,
    snaplen: int = 0,
    big_endian: bool = False,
    flags: int | None = None,
) -> bytes:
    """Enhanced packet block; ``units`` is the timestamp in the interface's units.

    With ``snaplen`` the data is cut to it (caplen < orig_len)."""
    e = ">" if big_endian else "<"
    stored = data[:snaplen] if snaplen else data
    orig = len(data) if orig_len is None else orig_len
    body = struct.pack(e + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(stored), orig)
    body += _pad4(stored)
    if flags is not None:  # epb_flags: direction, reception type...
        body += pcapng_options([(2, struct.pack(e + "I", flags))], big_endian=big_endian)
    return block(BT_EPB, body, big_endian=big_endian)


def opb(
    iface: int,
    units: int,
    data: bytes,
    *,
    orig_len: int | None = None,
    big_endian: bool = False,
) -> bytes:
    """Obsolete packet block (pcapng 'Packet Block', type 2)."""
    e = ">" if big_endian else "<"
    orig = len(data) if orig_len is None else orig_len
    body = struct.pack(e + "HHIIII", iface, 0, units >> 32, units & 0xFFFFFFFF, len(data), orig)
    return block(BT_OPB, body + _pad4(data), big_endian=big_endian)


def spb(data: bytes, *, orig_len: int | None = None, big_endian: bool = False) -> bytes:
    """Simple packet block: no interface id (always 0) and no timestamp. With ``orig_len``
    larger than the data, the data must already be cut to interface 0's snaplen."""
    e = ">" if big_endian else "<"
    orig = len(data) if orig_len is None else orig_len
    return block(BT_SPB, struct.pack(e + "I", orig) + _pad4(data), big_endian=big_endian)


def nrb(*, big_endian: bool = False) -> bytes:
    """Name resolution block with one IPv4 record (10.0.0.53 → ns.example) and an option."""
    e = ">" if big_endian else "<"
    value = bytes([10, 0, 0, 53]) + b"ns.example\0"
    records = struct.pack(e + "HH", 1, len(value)) + _pad4(value) + struct.pack(e + "HH", 0, 0)
    return block(
        BT_NRB,
        records + pcapng_options([(2, b"dns server")], big_endian=big_endian),
        big_endian=big_endian,
    )


def isb(iface: int, units: int, *, big_endian: bool = False) -> bytes:
    """Interface statistics block with isb_ifrecv."""
    e = ">" if big_endian else "<"
    body = struct.pack(e + "III", iface, units >> 32, units & 0xFFFFFFFF)
    body += pcapng_options([(4, struct.pack(e + "Q", 12345))], big_endian=big_endian)
    return block(BT_ISB, body, big_endian=big_endian)


def custom_block(*, copyable: bool = True, big_endian: bool = False) -> bytes:
    """Custom block (0x00000BAD, or 0x40000BAD when not to be copied) with a private
    enterprise number and bytes that look like an EPB, to catch a reader that peeks inside."""
    e = ">" if big_endian else "<"
    fake = epb(0, 0, b"\xff" * 20, big_endian=big_endian)
    body = struct.pack(e + "I", 32473) + fake
    return block(BT_CUSTOM if copyable else 0x40000BAD, body, big_endian=big_endian)


# ---- timestamps in interface units -------------------------------------------------------


def units(ts_ns: int, tsresol: int | None = None) -> int:
    """``ts_ns`` in the units of an interface with this ``if_tsresol`` (exact or error)."""
    res = 6 if tsresol is None else tsresol
    if res & 0x80:
        num = ts_ns << (res & 0x7F)
        if num % SEC:
            raise ValueError(f"{ts_ns} ns is not a whole number of 2**-{res & 0x7F} s units")
        return num // SEC
    exp = res
    if exp <= 9:
        step = int(10 ** (9 - exp))
        if ts_ns % step:
            raise ValueError(f"{ts_ns} ns is not a whole number of 10**-{exp} s units")
        return ts_ns // step
    return ts_ns * int(10 ** (exp - 9))


# ---- files -------------------------------------------------------------------------------


def gz(data: bytes) -> bytes:
    """gzip'd, with a fixed mtime so the bytes are reproducible."""
    return gzip.compress(data, mtime=0)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def rotated(
    directory: Path, base: str, files: Sequence[bytes], *, gzipped: Iterable[int] = ()
) -> list[Path]:
    """A rotated set ``base0, base1, ...`` (tcpdump -C/-W naming); some files gzip'd."""
    zipped = set(gzipped)
    return [
        write(directory / f"{base}{i}", gz(data) if i in zipped else data)
        for i, data in enumerate(files)
    ]
