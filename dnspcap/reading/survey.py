"""What a capture holds when it holds no DNS: `survey`.

A capture without a single DNS message is not a healthy one: it was taken on the wrong
interface, in the wrong network namespace, with a capture filter that let no DNS
through, or before anything resolved a name. To say which, the report tells what the
file did hold: its link types, the protocols of its packets and their busiest ports.
Only the first ``limit`` packets are looked at (a big capture without DNS says what it
is soon enough).
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Iterable
from typing import Any, BinaryIO

from ..errors import DnspcapError
from .containers import iter_records, open_source, parse_file_header, read_exact

Source = str | os.PathLike[str] | BinaryIO
LINK_NAMES = {0: "NULL", 1: "Ethernet", 101: "raw IP", 108: "LOOP", 113: "Linux cooked (SLL)",
              228: "raw IPv4", 229: "raw IPv6", 276: "Linux cooked v2 (SLL2)"}  # fmt: skip
IP_PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP", 47: "GRE", 50: "ESP"}
ETHERTYPES = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x8100: "802.1Q"}


def survey(sources: Iterable[Source], limit: int = 100_000) -> dict[str, Any]:
    """Counts of link types, protocols and TCP/UDP ports in the first `limit` packets of
    these captures (files only: standard input has been read already)."""
    links: Counter[str] = Counter()
    protocols: Counter[str] = Counter()
    ports: Counter[str] = Counter()
    seen = 0
    for src in sources:
        if not isinstance(src, (str, os.PathLike)) or os.fspath(src) == "-":
            continue
        try:
            name, stream = open_source(src)
        except DnspcapError:
            continue
        try:
            state, hlen = parse_file_header(name, head := read_exact(stream, 24))
            for rec in iter_records(state, stream, head[hlen:]):
                links[LINK_NAMES.get(rec.linktype, f"link type {rec.linktype}")] += 1
                proto, port = _classify(rec.linktype, rec.data)
                protocols[proto] += 1
                if port:
                    ports[port] += 1
                seen += 1
                if seen >= limit:
                    break
        except DnspcapError:
            pass
        finally:
            stream.close()
        if seen >= limit:
            break
    return {
        "packets_looked_at": seen,
        "link_types": dict(links.most_common()),
        "protocols": dict(protocols.most_common()),
        "ports": dict(ports.most_common(8)),
    }


def describe(found: dict[str, Any]) -> str:
    """The survey in one line: 'TCP 1,204, UDP 31, ARP 4; busiest ports: tcp/443 (1,100)'."""
    if not found.get("packets_looked_at"):
        return "the file holds no packets at all"
    protocols = ", ".join(f"{p} {n:,}" for p, n in list(found["protocols"].items())[:5])
    ports = ", ".join(f"{p} ({n:,})" for p, n in list(found["ports"].items())[:5])
    return f"{protocols}" + (f"; busiest ports: {ports}" if ports else "")


def _classify(linktype: int, d: bytes) -> tuple[str, str]:
    """(protocol, 'udp/port' or 'tcp/port' of the lower port) of one packet."""
    ethertype, off = _link(linktype, d)
    if ethertype is None:
        return "other", ""
    if ethertype not in (0x0800, 0x86DD):
        return ETHERTYPES.get(ethertype, f"ethertype 0x{ethertype:04x}"), ""
    if ethertype == 0x0800 and len(d) >= off + 20:
        proto, ihl = d[off + 9], (d[off] & 0x0F) * 4
        l4 = off + ihl
    elif ethertype == 0x86DD and len(d) >= off + 40:
        proto, l4 = d[off + 6], off + 40
    else:
        return "truncated IP", ""
    name = IP_PROTOCOLS.get(proto, f"IP protocol {proto}")
    if proto in (6, 17) and len(d) >= l4 + 4:
        sport, dport = struct.unpack(">HH", d[l4 : l4 + 4])
        return name, f"{name.lower()}/{min(sport, dport)}"
    return name, ""


def _link(linktype: int, d: bytes) -> tuple[int | None, int]:
    """The ethertype and where the network layer starts, for the common link types."""
    if linktype == 1 and len(d) >= 14:
        ethertype, off = struct.unpack(">H", d[12:14])[0], 14
        while ethertype == 0x8100 and len(d) >= off + 4:  # VLAN tags
            ethertype, off = struct.unpack(">H", d[off + 2 : off + 4])[0], off + 4
        return ethertype, off
    if linktype == 113 and len(d) >= 16:
        return struct.unpack(">H", d[14:16])[0], 16
    if linktype == 276 and len(d) >= 20:
        return struct.unpack(">H", d[0:2])[0], 20
    if linktype in (101, 228, 229, 12, 14) and d:
        return (0x0800 if d[0] >> 4 == 4 else 0x86DD), 0
    if linktype in (0, 108) and len(d) >= 4:
        return (0x0800 if d[4] >> 4 == 4 else 0x86DD) if len(d) > 4 else None, 4
    return None, 0
