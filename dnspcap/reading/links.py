"""The link layers and tunnels of the exact network stack: from a frame to its IP packet.

:class:`LinkLayers` takes a frame of any supported link type (Ethernet with VLAN, QinQ,
802.1ah, PPPoE or MPLS; Linux cooked captures; loopback; NFLOG; PKTAP; 802.11) and the
tunnels a node capture carries (GRE and ERSPAN, PPP, VXLAN, Geneve, VXLAN-GPE, GTP-U) down
to an IP packet, which it hands to ``_ip`` (the :class:`~dnspcap.reading.netstack.NetStack`
part that does IP, fragments, UDP, TCP and ICMP).
"""

from __future__ import annotations

import struct
from collections import Counter

# Link types this stack decodes (https://www.tcpdump.org/linktypes.html).
LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP = 0, 1, 101, 108
LINK_FDDI, LINK_IEEE802_11, LINK_RADIOTAP = 10, 105, 127
LINK_SLL, LINK_NFLOG, LINK_PKTAP, LINK_SLL2 = 113, 239, 258, 276
LINK_IPV4, LINK_IPV6 = 228, 229
RAW_IP_LINKS = frozenset({LINK_RAW, 12, 14, LINK_IPV4, LINK_IPV6})
SUPPORTED_LINKTYPES = frozenset(
    {LINK_NULL, LINK_ETHERNET, LINK_LOOP, LINK_FDDI, LINK_IEEE802_11, LINK_RADIOTAP}
    | {LINK_SLL, LINK_NFLOG, LINK_PKTAP, LINK_SLL2}
    | RAW_IP_LINKS
)

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
# BSD loopback address families: AF_INET is 2 everywhere, AF_INET6 differs by OS.
AF_INET6_VALUES = frozenset({10, 24, 28, 30})
VXLAN_PORTS = frozenset({4789, 8472})  # IANA, and Linux/flannel's historical default
GENEVE_PORT = 6081
VXLAN_GPE_PORT = 4790
GTPU_PORT = 2152
GRE_UDP_PORT = 4754  # RFC 8086
# UDP destination ports whose payload is another packet (node captures on overlays)
TUNNEL_PORTS = VXLAN_PORTS | {GENEVE_PORT, VXLAN_GPE_PORT, GTPU_PORT, GRE_UDP_PORT}
MAX_TUNNEL_DEPTH = 4


class LinkLayers:
    """Frames and tunnels down to IP; the subclass provides ``_ip``."""

    counts: Counter[str]

    def _ip(self, d: bytes, off: int, depth: int) -> None:
        raise NotImplementedError

    def _link(self, linktype: int, d: bytes, depth: int) -> None:
        if linktype == LINK_ETHERNET:
            self._ethernet(d, 0, depth)
        elif linktype in RAW_IP_LINKS:
            self._ip(d, 0, depth)
        elif linktype == LINK_SLL2:
            if len(d) >= 20:
                self._ethertype(struct.unpack_from(">H", d, 0)[0], d, 20, depth)
        elif linktype == LINK_SLL:
            if len(d) >= 16:
                self._ethertype(struct.unpack_from(">H", d, 14)[0], d, 16, depth)
        elif linktype in (LINK_NULL, LINK_LOOP):
            self._loopback(linktype, d)
        elif linktype == LINK_NFLOG:
            self._nflog(d)
        elif linktype == LINK_PKTAP:
            if len(d) >= 8:
                hdrlen, dlt = struct.unpack_from("<II", d, 0)
                if 8 <= hdrlen <= len(d) and dlt in SUPPORTED_LINKTYPES and dlt != LINK_PKTAP:
                    self._link(dlt, d[hdrlen:], depth)
        elif linktype == LINK_RADIOTAP:
            if len(d) >= 4:
                (rlen,) = struct.unpack_from("<H", d, 2)
                self._wifi(d, rlen)
        elif linktype == LINK_IEEE802_11:
            self._wifi(d, 0)
        elif linktype == LINK_FDDI:
            self._llc(d, 13, depth)
        else:
            self.counts["unsupported_link"] += 1

    def _ethernet(self, d: bytes, off: int, depth: int) -> None:
        if len(d) < off + 14:
            self.counts["not_ip"] += 1
            return
        (etype,) = struct.unpack_from(">H", d, off + 12)
        if etype < 0x0600:  # 802.3 length field: LLC follows
            self._llc(d, off + 14, depth)
        else:
            self._ethertype(etype, d, off + 14, depth)

    def _ethertype(self, etype: int, d: bytes, off: int, depth: int) -> None:
        while len(d) >= off + 4:
            if etype in VLAN_TAGS:  # 802.1Q, QinQ
                (etype,) = struct.unpack_from(">H", d, off + 2)
                off += 4
            elif etype == 0x88E7 and len(d) >= off + 18:
                # 802.1ah provider backbone bridging: I-TAG, then a whole customer
                # Ethernet header; nested ones are walked in this loop, not recursively
                (etype,) = struct.unpack_from(">H", d, off + 16)
                off += 18
            else:
                break
        if etype == 0x8864 and len(d) >= off + 8:  # PPPoE session: PPP protocol after 6 bytes
            (ppp,) = struct.unpack_from(">H", d, off + 6)
            etype = {0x0021: ETH_IPV4, 0x0057: ETH_IPV6}.get(ppp, 0)
            off += 8
        if etype == 0x8847 or etype == 0x8848:  # MPLS: pop labels, guess IP by version
            while len(d) >= off + 4:
                bottom = d[off + 2] & 1
                off += 4
                if bottom:
                    break
            self._ip(d, off, depth)
            return
        if etype in (ETH_IPV4, ETH_IPV6):
            self._ip(d, off, depth)
        else:
            self.counts["not_ip"] += 1

    def _llc(self, d: bytes, off: int, depth: int) -> None:
        if len(d) >= off + 8 and d[off] == 0xAA and d[off + 1] == 0xAA and d[off + 2] == 0x03:
            self._ethertype(struct.unpack_from(">H", d, off + 6)[0], d, off + 8, depth)
        else:
            self.counts["not_ip"] += 1

    def _wifi(self, d: bytes, off: int) -> None:
        if len(d) < off + 24:
            return
        fc = d[off]
        ftype, subtype = (fc >> 2) & 3, fc >> 4
        flags = d[off + 1]
        if ftype != 2 or flags & 0x40:  # not a data frame, or encrypted
            self.counts["not_ip"] += 1
            return
        hlen = 30 if (flags & 3) == 3 else 24
        if subtype & 0x8:  # QoS data
            hlen += 2
        self._llc(d, off + hlen, 0)

    def _loopback(self, linktype: int, d: bytes) -> None:
        if len(d) < 4:
            return
        if linktype == LINK_LOOP:
            (family,) = struct.unpack_from(">I", d, 0)
        else:
            # DLT_NULL stores the family in the capturing host's byte order.
            (family,) = struct.unpack_from("<I", d, 0)
            if family > 0xFFFF:
                (family,) = struct.unpack_from(">I", d, 0)
        if family == 2 or family in AF_INET6_VALUES:
            self._ip(d, 4, 0)
        elif struct.unpack_from(">H", d, 2)[0] in (ETH_IPV4, ETH_IPV6):
            # Some writers put an Ethertype in the upper half (here: bytes 2-3, big endian);
            # Wireshark's and PcapPlusPlus's null decoders accept it too.
            self._ip(d, 4, 0)
        else:
            self.counts["not_ip"] += 1

    def _nflog(self, d: bytes) -> None:
        # 4-byte header, then TLVs in host byte order (little endian in practice); the
        # packet is the NFULA_PAYLOAD (type 9) TLV.
        pos = 4
        while pos + 4 <= len(d):
            tlen, ttype = struct.unpack_from("<HH", d, pos)
            if tlen < 4:
                break
            if ttype == 9:
                self._ip(d[pos + 4 : pos + tlen], 0, 0)
                return
            pos += (tlen + 3) & ~3
        self.counts["not_ip"] += 1

    # -- tunnels ------------------------------------------------------------------------------

    def _gre(self, p: bytes, depth: int) -> None:
        if len(p) < 4:
            return
        flags, proto = struct.unpack_from(">HH", p, 0)
        off = 4 + 4 * bool(flags & 0x8000) + 4 * bool(flags & 0x2000) + 4 * bool(flags & 0x1000)
        if flags & 7 == 1:  # version 1, PPTP's enhanced GRE: an acknowledgment may follow
            off += 4 * bool(flags & 0x0080)
        if proto == 0x88BE:  # ERSPAN type II: 8-byte header, then Ethernet
            self._ethernet(p, off + 8, depth)
        elif proto == 0x22EB:  # ERSPAN type III: 12 bytes (+8 with the optional subheader)
            if len(p) >= off + 12:
                opt = p[off + 11] & 1
                self._ethernet(p, off + 12 + 8 * opt, depth)
        elif proto == 0x6558:  # transparent Ethernet bridging
            self._ethernet(p, off, depth)
        elif proto == 0x880B:  # PPP (PPTP)
            self._ppp(p, off, depth)
        else:
            self._ethertype(proto, p, off, depth)

    def _ppp(self, p: bytes, off: int, depth: int) -> None:
        if p[off : off + 2] == b"\xff\x03":  # address and control, unless compressed away
            off += 2
        if len(p) <= off:
            return
        if p[off] & 1:  # protocol field compression: one byte
            proto, off = p[off], off + 1
        elif len(p) >= off + 2:
            proto, off = struct.unpack_from(">H", p, off)[0], off + 2
        else:
            return
        if proto in (0x21, 0x57):  # IPv4, IPv6
            self._ip(p, off, depth)
        else:
            self.counts["not_ip"] += 1

    def _overlay(self, port: int, p: bytes, depth: int) -> None:
        if port == GENEVE_PORT:
            if len(p) < 8:
                return
            off = 8 + (p[0] & 0x3F) * 4
            (proto,) = struct.unpack_from(">H", p, 2)
            if proto == 0x6558:
                self._ethernet(p, off, depth)
            else:
                self._ethertype(proto, p, off, depth)
        elif port == VXLAN_GPE_PORT:
            if len(p) < 8:
                return
            nxt = p[3]  # next protocol: 1 IPv4, 2 IPv6, 3 Ethernet
            if nxt in (1, 2):
                self._ip(p, 8, depth)
            elif nxt == 3:
                self._ethernet(p, 8, depth)
        elif port == GTPU_PORT:
            self._gtpu(p, depth)
        elif port == GRE_UDP_PORT:
            self._gre(p, depth)
        else:
            self._ethernet(p, 8, depth)

    def _gtpu(self, p: bytes, depth: int) -> None:
        # 3GPP TS 29.281: version 1, message type 255 (G-PDU) carries a user packet
        if len(p) < 8 or p[0] >> 5 != 1 or p[1] != 0xFF:
            self.counts["not_dns"] += 1
            return
        off = 8
        if p[0] & 0x07:  # sequence number, N-PDU number, next extension header type
            if len(p) < 12:
                return
            nxt, off = p[11], 12
            while nxt and len(p) > off:  # extension headers: length in 4-byte units
                size = p[off] * 4
                if size == 0 or len(p) < off + size:
                    return
                nxt, off = p[off + size - 1], off + size
        self._ip(p, off, depth)
