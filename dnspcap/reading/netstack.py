"""The exact, pure-Python network stack: link layer → IP → UDP/TCP → DNS payloads.

The link layers and tunnels are in :mod:`~dnspcap.reading.links`; IP, fragments, UDP,
TCP and ICMP here.

Every packet the compiled fast path does not take (fragments, TCP, IPv6
extension headers, tunnels, rarer link types, truncated packets) comes through
here, and the whole capture can be run through here alone
(``engine="python"``) to check the fast path.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import NamedTuple

from .links import MAX_TUNNEL_DEPTH, TUNNEL_PORTS, LinkLayers
from .reassembly import FragmentReassembler, TcpMessage, TcpStreams

MDNS_PORT = 5353
LLMNR_PORT = 5355
SERVICE_DNS, SERVICE_MDNS, SERVICE_LLMNR = 0, 1, 2
SERVICE_NAMES = ("dns", "mdns", "llmnr")
SKIPPED = -1  # mDNS/LLMNR when not asked for: counted, not decoded
UDP, TCP = 0, 1

# The reader shares one stack among the files of a rotated set (a TCP message may straddle
# two files), so the frame numbers it gives carry their file's index above these bits; the
# stack only hands them back.
FRAME_BITS = 40


class RawMessage(NamedTuple):
    """One DNS message found in the capture, before DNS decoding."""

    frame: int
    ts_ns: int
    src: bytes  # 4 or 16 bytes
    dst: bytes
    sport: int
    dport: int
    transport: int  # UDP or TCP
    ip_version: int
    service: int
    payload: bytes
    truncated: bool
    error: str | None


# ICMP destination-unreachable codes (RFC 792, RFC 1812; RFC 4443 for ICMPv6)
ICMP4_UNREACHABLE = {0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable",
                     3: "port unreachable", 9: "net prohibited", 10: "host prohibited",
                     13: "administratively prohibited"}  # fmt: skip
ICMP6_UNREACHABLE = {0: "no route", 1: "administratively prohibited", 3: "address unreachable",
                     4: "port unreachable", 5: "source address failed policy",
                     6: "reject route"}  # fmt: skip
MAX_ICMP_ERRORS = 10_000  # kept per file; all are counted


class IcmpError(NamedTuple):
    """An ICMP error that quotes a DNS query: who sent it, why, and which query."""

    frame: int
    ts_ns: int
    reporter: bytes
    reason: str
    quotes_query: bool  # else it quotes a response
    client: bytes
    client_port: int
    server: bytes
    server_port: int
    id: int  # -1 when the quote stops before the DNS ID


def _quoted_udp(q: bytes) -> tuple[bytes, int, bytes, int, int] | None:
    """(source, source port, destination, destination port, DNS ID) of a quoted UDP datagram."""
    if not q:
        return None
    if q[0] >> 4 == 4 and len(q) >= 20:
        ihl = (q[0] & 0x0F) * 4
        if q[9] != 17 or ihl < 20 or len(q) < ihl + 8:
            return None
        src, dst, udp = q[12:16], q[16:20], ihl
    elif q[0] >> 4 == 6 and len(q) >= 48:
        if q[6] != 17:
            return None
        src, dst, udp = q[8:24], q[24:40], 40
    else:
        return None
    sport, dport = struct.unpack_from(">HH", q, udp)
    dns_id = struct.unpack_from(">H", q, udp + 8)[0] if len(q) >= udp + 10 else -1
    return src, sport, dst, dport, dns_id


class NetStack(LinkLayers):
    """Decodes packets of one capture file; keeps reassembly state between packets."""

    def __init__(self, ports: frozenset[int], multicast: bool) -> None:
        self.ports = ports
        self.multicast = multicast
        self.fragments = FragmentReassembler()
        self.streams = TcpStreams()
        self.counts: Counter[str] = Counter()
        self.icmp: list[IcmpError] = []
        # per packet: the frame, time and whether the capture cut it short
        self._frame = 0
        self._ts = 0
        self._cut = False
        self._out: list[RawMessage] = []

    # -- entry points -------------------------------------------------------------------------

    def packet(
        self, frame: int, ts_ns: int, linktype: int, data: bytes, orig_len: int
    ) -> list[RawMessage]:
        self._frame, self._ts = frame, ts_ns
        self._cut = orig_len > len(data)
        self._out = []
        self._link(linktype, data, 0)
        return self._out

    def tcp(
        self, frame: int, ts_ns: int, src: bytes, dst: bytes, ver: int, segment: bytes
    ) -> list[RawMessage]:
        """A TCP segment the compiled kernel found in a plain IPv4/IPv6 packet that the
        capture did not cut: what packet() would do once past the IP header."""
        self._frame, self._ts = frame, ts_ns
        self._cut = False
        self._out = []
        self._tcp(src, dst, ver, segment, False)
        return self._out

    def finish(self) -> list[RawMessage]:
        """End of file: what reassembly still holds becomes rows, so nothing is dropped."""
        out: list[RawMessage] = []
        self.counts["fragments_incomplete"] += len(self.fragments.flush())
        for m in self.streams.flush():
            out.append(self._tcp_row(m))
        return out

    # -- IP -----------------------------------------------------------------------------------

    def _ip(self, d: bytes, off: int, depth: int) -> None:
        if len(d) <= off:
            self.counts["not_ip"] += 1
            return
        version = d[off] >> 4
        if version == 4:
            self._ipv4(d, off, depth)
        elif version == 6:
            self._ipv6(d, off, depth)
        else:
            self.counts["not_ip"] += 1

    def _ipv4(self, d: bytes, off: int, depth: int) -> None:
        if len(d) < off + 20:
            self.counts["bad_ip"] += 1
            return
        ihl = (d[off] & 0x0F) * 4
        (total,) = struct.unpack_from(">H", d, off + 2)
        (ident, frag) = struct.unpack_from(">HH", d, off + 4)
        proto = d[off + 9]
        src, dst = d[off + 12 : off + 16], d[off + 16 : off + 20]
        if ihl < 20 or len(d) < off + ihl:
            self.counts["bad_ip"] += 1
            return
        # total == 0 happens with TCP segmentation offload: the capture holds the truth.
        # Otherwise only bytes missing inside the datagram make it cut short: a snaplen that
        # cut only the Ethernet trailer or padding lost nothing of ours.
        end = off + total if total >= ihl else len(d)
        cut = end > len(d) or (total < ihl and self._cut)
        payload = d[off + ihl : end]
        more, frag_off = bool(frag & 0x2000), (frag & 0x1FFF) * 8
        if more or frag_off:
            self.counts["fragments"] += 1
            done = self.fragments.add(
                (4, src, dst, proto, ident), frag_off, more, payload, self._frame, self._ts, cut
            )
            if done is None:
                return
            self.counts["reassembled"] += 1
            saved = self._frame, self._ts
            self._frame, self._ts = done.frame, done.ts_ns
            self._transport(proto, src, dst, 4, done.payload, done.truncated, depth)
            self._frame, self._ts = saved
            return
        self._transport(proto, src, dst, 4, payload, cut, depth)

    def _ipv6(self, d: bytes, off: int, depth: int) -> None:
        if len(d) < off + 40:
            self.counts["bad_ip"] += 1
            return
        (plen,) = struct.unpack_from(">H", d, off + 4)
        nxt = d[off + 6]
        src, dst = d[off + 8 : off + 24], d[off + 24 : off + 40]
        pos = off + 40
        end = pos + plen if plen else len(d)  # 0: jumbogram or TSO
        cut = end > len(d) or (plen == 0 and self._cut)
        frag: tuple[int, bool, int] | None = None
        # Walk extension headers (RFC 8200 §4): hop-by-hop, routing, destination, fragment, AH.
        for _ in range(16):
            if nxt in (0, 43, 60, 135, 139, 140):
                if len(d) < pos + 2:
                    return
                nxt, hlen = d[pos], (d[pos + 1] + 1) * 8
            elif nxt == 51:
                if len(d) < pos + 2:
                    return
                nxt, hlen = d[pos], (d[pos + 1] + 2) * 4
            elif nxt == 44:
                if len(d) < pos + 8:
                    return
                (fo, ident) = struct.unpack_from(">HI", d, pos + 2)
                frag = (fo & 0xFFF8, bool(fo & 1), ident)
                nxt, hlen = d[pos], 8
            else:
                break
            pos += hlen
        payload = d[pos:end]
        if frag is not None and (frag[0] or frag[1]):
            self.counts["fragments"] += 1
            done = self.fragments.add(
                (6, src, dst, frag[2]), frag[0], frag[1], payload, self._frame, self._ts, cut
            )
            if done is None:
                return
            self.counts["reassembled"] += 1
            saved = self._frame, self._ts
            self._frame, self._ts = done.frame, done.ts_ns
            self._transport(nxt, src, dst, 6, done.payload, done.truncated, depth)
            self._frame, self._ts = saved
            return
        self._transport(nxt, src, dst, 6, payload, cut, depth)

    # -- transport ----------------------------------------------------------------------------

    def _transport(
        self, proto: int, src: bytes, dst: bytes, ver: int, p: bytes, cut: bool, depth: int
    ) -> None:
        if proto == 17:
            self._udp(src, dst, ver, p, cut, depth)
        elif proto == 6:
            self._tcp(src, dst, ver, p, cut)
        elif proto in (4, 41) and depth < MAX_TUNNEL_DEPTH:  # IP-in-IP, 6in4
            self._ip(p, 0, depth + 1)
        elif proto == 47 and depth < MAX_TUNNEL_DEPTH:
            self._gre(p, depth + 1)
        elif proto in (1, 58):
            self._icmp(proto, src, p)
        else:
            self.counts["not_dns"] += 1

    def _icmp(self, proto: int, reporter: bytes, p: bytes) -> None:
        """An ICMP destination-unreachable error that quotes a DNS query (RFC 792/4443).

        A Service without endpoints, or a DNS pod gone, answers queries this way
        (kube-proxy rejects with port unreachable); glibc gives up at once, musl
        ignores it and times out.
        """
        unreachable = len(p) >= 8 and p[0] == (3 if proto == 1 else 1)
        quoted = _quoted_udp(p[8:]) if unreachable else None
        if quoted is None or not (quoted[3] in self.ports or quoted[1] in self.ports):
            self.counts["not_dns"] += 1
            return
        src, sport, dst, dport, dns_id = quoted
        # a quoted query: the server side is unreachable; a quoted response: the client
        # had gone (its socket closed after a timeout) when the answer came
        is_query = dport in self.ports
        client, client_port, server, server_port = (
            (src, sport, dst, dport) if is_query else (dst, dport, src, sport)
        )
        self.counts["icmp_unreachable"] += 1
        names = ICMP4_UNREACHABLE if proto == 1 else ICMP6_UNREACHABLE
        if len(self.icmp) < MAX_ICMP_ERRORS:
            self.icmp.append(
                IcmpError(
                    self._frame, self._ts, reporter, names.get(p[1], f"code {p[1]}"), is_query,
                    client, client_port, server, server_port, dns_id,
                )
            )  # fmt: skip

    def _service(self, sport: int, dport: int) -> int | None:
        """The service of a port pair; SKIPPED (already counted) for multicast left out."""
        if sport in self.ports or dport in self.ports:
            return SERVICE_DNS
        for port, service, name in (
            (MDNS_PORT, SERVICE_MDNS, "mdns"),
            (LLMNR_PORT, SERVICE_LLMNR, "llmnr"),
        ):
            if port in (sport, dport):
                if self.multicast:
                    return service
                self.counts[f"{name}_skipped"] += 1
                return SKIPPED
        return None

    def _udp(self, src: bytes, dst: bytes, ver: int, p: bytes, cut: bool, depth: int) -> None:
        if len(p) < 8:
            self.counts["bad_udp"] += 1
            return
        sport, dport, ulen = struct.unpack_from(">HHH", p, 0)
        service = self._service(sport, dport)
        if service == SKIPPED:
            return
        if service is None:
            # as Wireshark does, a tunnel port at either end (GTP-U uses 2152 both ways)
            port = dport if dport in TUNNEL_PORTS else sport if sport in TUNNEL_PORTS else 0
            if depth < MAX_TUNNEL_DEPTH and port:
                self._overlay(port, p[8:], depth + 1)
            else:
                self.counts["not_dns"] += 1
            return
        end = ulen if ulen >= 8 else len(p)
        payload = p[8:end]
        cut = cut or end > len(p)
        self._out.append(
            RawMessage(
                self._frame, self._ts, src, dst, sport, dport, UDP, ver, service, payload, cut, None
            )
        )

    def _tcp(self, src: bytes, dst: bytes, ver: int, p: bytes, cut: bool) -> None:
        if len(p) < 20:
            self.counts["bad_tcp"] += 1
            return
        sport, dport, seq = struct.unpack_from(">HHI", p, 0)
        service = self._service(sport, dport)
        if service == SKIPPED:
            return
        if service is None:
            self.counts["not_dns"] += 1
            return
        doff = (p[12] >> 4) * 4
        flags = p[13]
        if doff < 20:
            self.counts["bad_tcp"] += 1
            return
        self.counts["tcp_segments"] += 1
        msgs = self.streams.segment(
            (src, sport, dst, dport, ver, service),
            seq,
            bool(flags & 0x02),
            bool(flags & 0x01),
            bool(flags & 0x04),
            p[doff:],
            self._frame,
            self._ts,
            cut,
        )
        self._out.extend(self._tcp_row(m) for m in msgs)

    def _tcp_row(self, m: TcpMessage) -> RawMessage:
        flow: tuple[bytes, int, bytes, int, int, int] = m.flow  # type: ignore[assignment]
        src, sport, dst, dport, ver, service = flow
        return RawMessage(
            m.frame, m.ts_ns, src, dst, sport, dport, TCP, ver, service, m.payload, m.truncated,
            m.error,
        )  # fmt: skip
