"""A finding's evidence as scapy packets, for a closer look in a notebook.

The capture is walked again with dnspcap's own reader (pcap or pcapng, gzip'd or
not) and the records with the wanted frame numbers are handed to scapy, which
decodes them from their link layer up. scapy is only imported here: it is an
optional dependency (``pip install 'dnspcap[inspect]'``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import CaptureError, DnspcapError
from .containers import iter_records, open_source, parse_file_header, read_exact

MAX_PACKETS = 10_000


def read_frames(frames: Mapping[str, Iterable[int]], *, limit: int = MAX_PACKETS) -> list[Any]:
    """The packets with these frame numbers (1-based, as Wireshark counts them in each
    file), per file, as scapy packets.

    Each packet carries ``frame``, ``file`` and ``time`` (seconds) attributes.
    """
    try:
        import scapy.layers.all  # noqa: F401 - registers the link types
        from scapy.config import conf
        from scapy.packet import Raw
    except ImportError:  # pragma: no cover - depends on the environment
        raise DnspcapError("opening packets needs scapy: pip install 'dnspcap[inspect]'") from None
    out: list[Any] = []
    for path, numbers in frames.items():
        wanted = set(int(f) for f in numbers)
        name = os.fspath(path)
        if name == "-":
            raise CaptureError(name, "the capture was read from standard input and is gone; "
                                     "save it to a file to open its packets")  # fmt: skip
        source, stream = open_source(name)
        try:
            state, hlen = parse_file_header(source, head := read_exact(stream, 24))
            for rec in iter_records(state, stream, head[hlen:]):
                if rec.frame not in wanted:
                    continue
                cls: Any = conf.l2types.get(rec.linktype, Raw)
                try:
                    pkt = cls(rec.data)
                except Exception:  # scapy's own decoders can fail on odd bytes
                    pkt = Raw(rec.data)
                pkt.time = rec.ts_ns / 1e9
                pkt.frame, pkt.file = rec.frame, source
                out.append(pkt)
                if len(out) >= limit:
                    return out
        finally:
            stream.close()
    return out
