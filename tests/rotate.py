"""Cut a capture into a rotated set, as `tcpdump -C` or `dumpcap -b` would have written it.

Classic pcap: each part is the file header and a run of records. pcapng: each part
repeats the section header and the interface blocks seen so far, then a run of packet
blocks (dumpcap writes every file of a ring buffer that way). Cuts fall between packet
records only, as a rotating capture's do.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

PCAP_HEADER = 24
SHB, IDB, SPB, EPB, OPB = 0x0A0D0D0A, 1, 3, 6, 2


def packet_count(path: Path) -> int:
    return len(_records(_bytes(path))[1])


def split(path: Path, cuts: list[int], out: Path, name: str | None = None) -> list[Path]:
    """Write the capture as len(cuts) + 1 files ``<name>.pcap0``, ``.pcap1``, … (pcapng:
    ``<name>_0000N.pcapng``); cuts are packet counts: part k holds the packets
    [cuts[k-1], cuts[k]). Returns the files in order."""
    data = _bytes(path)
    head, records = _records(data)
    bounds = [0, *sorted(cuts), len(records)]
    out.mkdir(parents=True, exist_ok=True)
    stem = name or path.name.split(".")[0]
    files = []
    for k in range(len(bounds) - 1):
        part = records[bounds[k] : bounds[k + 1]]
        if head is None:  # pcapng: each packet preceded by its section, where it changes
            blob, section = b"", None
            for blocks, sec in part or [(b"", records[-1][1] if records else b"")]:
                if sec is not section:
                    blob += sec
                    section = sec
                blob += blocks
            target = out / f"{stem}_{k + 1:05d}.pcapng"
        else:
            blob = head + b"".join(rec for rec, _ in part)
            target = out / f"{stem}.pcap{k}"
        target.write_bytes(blob)
        files.append(target)
    return files


def _bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _records(data: bytes) -> tuple[bytes | None, list[tuple[bytes, bytes]]]:
    """The file header (None for pcapng) and per packet: its record bytes, and (pcapng)
    the section and interface blocks a file starting with it must repeat."""
    magic = struct.unpack("<I", data[:4])[0]
    if magic != SHB:
        big = data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
        e = ">" if big else "<"
        rechdr = 24 if data[:4] in (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34") else 16
        out, pos = [], PCAP_HEADER
        while pos + rechdr <= len(data):
            caplen = struct.unpack(e + "I", data[pos + 8 : pos + 12])[0]
            end = pos + rechdr + caplen
            out.append((data[pos:end], b""))
            pos = end
        return data[:PCAP_HEADER], out
    return None, _pcapng_records(data)


def _pcapng_records(data: bytes) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    pos, e = 0, "<"
    section = b""  # the current section header and its interface blocks
    pending = b""  # non-packet blocks since the last packet (kept with the next one)
    while pos + 12 <= len(data):
        btype = struct.unpack(e + "I", data[pos : pos + 4])[0]
        if btype == SHB:
            e = ">" if data[pos + 8 : pos + 12] == b"\x1a\x2b\x3c\x4d" else "<"
        blen = struct.unpack(e + "I", data[pos + 4 : pos + 8])[0]
        block = data[pos : pos + blen]
        pos += blen
        if btype == SHB:
            section, pending = block, b""
        elif btype == IDB:
            section += block
        elif btype in (EPB, SPB, OPB):
            out.append((pending + block, section))
            pending = b""
        else:
            pending += block
    if pending and out:
        last, sec = out[-1]
        out[-1] = (last + pending, sec)
    return out
