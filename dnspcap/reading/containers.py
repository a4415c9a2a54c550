"""Capture containers: classic pcap and pcapng, plain or gzip'd, from files or stdin.

This module knows file formats only. It turns a source into a stream of
bytes (gunzipping by magic, not by name), parses file and block headers, and
walks packet records in pure Python (:func:`iter_records`). The compiled fast
path in :mod:`dnspcap.reading.engine` walks the same records itself and comes back here
for everything that is not a packet record (section and interface blocks).

Formats: https://www.tcpdump.org/manpages/pcap-savefile.5.txt and
draft-ietf-opsawg-pcapng.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

from ..errors import CaptureError

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_MAGIC_KUZNETZOV = 0xA1B2CD34  # "modified pcap": 8 more bytes per record header
PCAPNG_SHB = 0x0A0D0D0A

# pcapng block types
BT_IDB = 0x00000001
BT_OPB = 0x00000002  # obsolete packet block, still written by old tools
BT_SPB = 0x00000003
BT_ISB = 0x00000005  # interface statistics: when the capture of an interface ended
BT_EPB = 0x00000006
ISB_ENDTIME = 3  # the isb_endtime option

# A record or block larger than this cannot be a real packet; it means the file is corrupt.
MAX_RECORD = 1 << 26


class CorruptBlock(Exception):
    """A pcapng block whose fields do not fit in its own length.

    Its framing is then not to be trusted either: both walkers stop at it and keep what
    they read before, with a warning (as Wireshark does: "appears to be damaged or
    corrupt"). Raised before the block changes the file's state.
    """


class Record(NamedTuple):
    """One packet record as the file stores it."""

    frame: int  # 1-based, counting packet records across the file as Wireshark does
    ts_ns: int
    linktype: int
    interface: int
    orig_len: int
    data: bytes
    cut: bool  # the file ended inside this record: data is shorter than the record said


@dataclass(slots=True)
class Interface:
    linktype: int
    snaplen: int
    # timestamp unit: 10**-n seconds (decimal) or 2**-n seconds (binary)
    tsresol_binary: bool = False
    tsresol_exp: int = 6
    tsoffset_s: int = 0

    def ts_ns(self, units: int) -> int:
        if self.tsresol_binary:
            ns = (units * 1_000_000_000) >> self.tsresol_exp
        elif self.tsresol_exp <= 9:
            ns = units * 10 ** (9 - self.tsresol_exp)
        else:
            ns = units // 10 ** (self.tsresol_exp - 9)
        return ns + self.tsoffset_s * 1_000_000_000

    def digits(self) -> int:
        """How many digits of a second its timestamps carry (at most the 9 we keep): its
        unit is 10**-n or 2**-n seconds, and 2**-n needs ceil(n * log10(2)) digits."""
        if self.tsresol_binary:
            return min(9, -(-self.tsresol_exp * 30103 // 100000))
        return min(9, self.tsresol_exp)


@dataclass(slots=True)
class FileState:
    """What the reader knows about one capture file while walking it."""

    name: str
    format: str  # "pcap" or "pcapng"
    big_endian: bool
    interfaces: list[Interface] = field(default_factory=list)
    ts_mul: int = 1000  # classic pcap: ns per fractional unit (1000 for µs, 1 for ns)
    record_header: int = 16  # classic pcap: 24 for the modified (Kuznetzov) format
    frames: int = 0
    idbs: int = 0  # interface blocks parsed so far, in all sections
    # the reader's key for this file's frames (its index in the capture set, shifted)
    key: int = 0
    # the first and last packet's time, and when the capture ended as its interface
    # statistics say (pcapng isb_endtime), in ns since the epoch
    first_ns: int | None = None
    last_ns: int | None = None
    end_ns: int | None = None
    warnings: list[str] = field(default_factory=list)
    # Called with each interface as its block is parsed, by both walkers alike (the reader
    # rejects link types it cannot decode here, whether or not packets follow).
    on_interface: Callable[[FileState, Interface], None] | None = None

    def saw(self, ts_ns: int) -> None:
        """A packet of this time was read (SPBs, which carry no time, are at 0: not counted)."""
        if ts_ns:
            self.first_ns = ts_ns if self.first_ns is None else min(self.first_ns, ts_ns)
            self.last_ns = ts_ns if self.last_ns is None else max(self.last_ns, ts_ns)


def open_source(
    source: str | os.PathLike[str] | BinaryIO, progress: Callable[[int], None] | None = None
) -> tuple[str, BinaryIO]:
    """Open a path, ``-`` (stdin) or a binary file object; gunzip when the bytes say gzip.

    ``progress`` is told how many bytes of the source (compressed, for a gzip'd file)
    each read took."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if name == "-":
            raw: BinaryIO = sys.stdin.buffer
        elif is_url(name):
            raw = _open_url(name)
        else:
            try:
                raw = open(name, "rb")  # noqa: SIM115 - closed by the caller
            except OSError as e:
                raise CaptureError(name, e.strerror or str(e)) from None
    else:
        name = str(getattr(source, "name", "<stream>"))
        raw = source
    stream = _PeekStream(raw, progress)
    if stream.peek(2) == b"\x1f\x8b":
        gz = gzip.GzipFile(fileobj=stream, mode="rb")
        return name, _GzipStream(name, gz)  # type: ignore[return-value]
    return name, stream  # type: ignore[return-value]


def is_url(name: str) -> bool:
    """Whether a source names a file through fsspec (``s3://bucket/node-1.pcap``): a
    scheme of two or more letters (``C:\\x`` is a Windows path), not ``file:``."""
    scheme, sep, _ = name.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.isalnum() and scheme != "file"


def _open_url(name: str) -> BinaryIO:
    """A capture named by URL, opened through fsspec with the filesystem package its
    scheme needs (s3fs, gcsfs, adlfs ...); a clear error when one is missing."""
    try:
        import fsspec  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise CaptureError(name, "reading URLs needs fsspec (pip install fsspec)") from None
    try:
        raw: BinaryIO = fsspec.open(name, "rb").open()
    except ImportError as e:  # the scheme's filesystem package is not installed
        raise CaptureError(name, str(e).split("\n")[0]) from None
    except FileNotFoundError:  # fsspec's carry the path, not the reason
        raise CaptureError(name, os.strerror(errno.ENOENT)) from None
    except (OSError, ValueError) as e:
        raise CaptureError(name, getattr(e, "strerror", None) or str(e)) from None
    return raw


class _PeekStream(io.RawIOBase):
    """A non-seekable stream (stdin) that can look at its first bytes without losing them."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None] | None = None) -> None:
        self._raw = raw
        self._head = b""
        self._progress = progress

    def peek(self, n: int) -> bytes:
        while len(self._head) < n:
            more = self._raw.read(n - len(self._head))
            if not more:
                break
            self._head += more
            if self._progress is not None:
                self._progress(len(more))
        return self._head[:n]

    def readable(self) -> bool:
        return True

    @property
    def live(self) -> bool:
        """The source hands over bytes as they arrive (``dnspcap watch``)."""
        return bool(getattr(self._raw, "live", False))

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        mv = memoryview(b)
        if self._head:
            n = min(len(mv), len(self._head))
            mv[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._raw, "readinto", None)
        if readinto is not None:
            # straight into the caller's buffer: no intermediate bytes object
            n = int(readinto(mv) or 0)
        else:
            data = self._raw.read(len(mv))
            mv[: len(data)] = data
            n = len(data)
        if self._progress is not None:
            self._progress(n)
        return n

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()
        super().close()


class _GzipStream(io.RawIOBase):
    """Gzip reading that turns a corrupt or cut gzip stream into end of data plus a note.

    Decompressed data is buffered here in the pieces gzip itself produces, so what is
    recovered before damage does not depend on how much a caller asks for at once
    (the fast path reads megabytes, the exact path a record at a time).
    """

    def __init__(self, name: str, gz: gzip.GzipFile) -> None:
        self._gz = gz
        self._buf = b""
        self.name = name
        self.problem: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        mv = memoryview(b).cast("B")
        while len(self._buf) < len(mv) and self.problem is None:
            try:
                piece = self._gz.read1(1 << 16)
            except (EOFError, OSError, zlib.error) as e:
                self.problem = f"gzip stream is damaged or cut short ({e})"
                break
            if not piece:
                break
            self._buf += piece
        n = min(len(mv), len(self._buf))
        mv[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        self._gz.close()
        super().close()


def read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read up to n bytes, looping over short reads (pipes, gzip)."""
    parts = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def parse_file_header(name: str, head: bytes) -> tuple[FileState, int]:
    """Recognise the format from the first bytes; return the state and the header length.

    For pcapng only the section header block's first 12 bytes are checked here;
    the block itself is parsed by :func:`parse_pcapng_block` like any other.
    """
    if len(head) < 4:
        what = "is empty" if not head else f"is only {len(head)} bytes long"
        raise CaptureError(name, f"not a capture file: it {what}")
    (m_le,) = struct.unpack("<I", head[:4])
    (m_be,) = struct.unpack(">I", head[:4])
    for magic, big in ((m_le, False), (m_be, True)):
        if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_KUZNETZOV):
            if len(head) < 24:
                raise CaptureError(name, "pcap file header is cut short (fewer than 24 bytes)")
            e = ">" if big else "<"
            _maj, _min, _zone, _sig, snaplen, network = struct.unpack(e + "HHiIII", head[4:24])
            state = FileState(name, "pcap", big)
            state.ts_mul = 1 if magic == PCAP_MAGIC_NS else 1000
            state.record_header = 24 if magic == PCAP_MAGIC_KUZNETZOV else 16
            # Only the low 16 bits are the link type; the upper ones carry FCS information
            # (pcap-savefile(5), libpcap's LT_LINKTYPE).
            state.interfaces.append(Interface(network & 0xFFFF, snaplen))
            return state, 24
    if m_le == PCAPNG_SHB:
        if len(head) < 12:
            raise CaptureError(name, "pcapng section header block is cut short")
        return FileState(name, "pcapng", _shb_big_endian(name, head)), 0
    raise CaptureError(
        name,
        f"not a pcap or pcapng file (first bytes {head[:4].hex()}; expected a pcap magic "
        "a1b2c3d4/a1b23c4d or the pcapng section header 0a0d0d0a)",
    )


def _shb_big_endian(name: str, head: bytes) -> bool:
    bom = head[8:12]
    if bom == b"\x1a\x2b\x3c\x4d":
        return True
    if bom == b"\x4d\x3c\x2b\x1a":
        return False
    raise CaptureError(name, f"pcapng section header has a bad byte-order magic {bom.hex()}")


def parse_idb(state: FileState, body: bytes) -> None:
    """Add the interface an Interface Description Block describes (body = after type+length)."""
    e = ">" if state.big_endian else "<"
    if len(body) < 8:
        raise CorruptBlock(
            f"an interface description block of {len(body) + 12} bytes is shorter than "
            "its fixed fields (20 bytes)"
        )
    linktype, _res, snaplen = struct.unpack(e + "HHI", body[:8])
    iface = Interface(linktype, snaplen)
    for code, value in _options(body[8:], e, "an interface description block"):
        if code == 9 and value:  # if_tsresol
            iface.tsresol_binary = bool(value[0] & 0x80)
            iface.tsresol_exp = value[0] & 0x7F
        elif code == 14 and len(value) == 8:  # if_tsoffset, seconds
            (iface.tsoffset_s,) = struct.unpack(e + "q", value)
    state.interfaces.append(iface)
    state.idbs += 1
    if state.on_interface is not None:
        state.on_interface(state, iface)


def _options(data: bytes, e: str, block: str) -> Iterator[tuple[int, bytes]]:
    """The options of a block, up to opt_endofopt or the end of the block.

    An option whose value (padded to 32 bits) runs past the end of the block is
    :class:`CorruptBlock`, as in Wireshark.
    """
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise CorruptBlock(f"{block} ends inside an option header")
        code, length = struct.unpack(e + "HH", data[pos : pos + 4])
        if code == 0:
            return
        end = pos + 4 + ((length + 3) & ~3)
        if end > len(data):
            raise CorruptBlock(
                f"{block} has an option (code {code}) of {length} bytes that runs past "
                "the end of the block"
            )
        yield code, data[pos + 4 : pos + 4 + length]
        pos = end


def iter_records(state: FileState, stream: BinaryIO, head: bytes = b"") -> Iterator[Record]:
    """Walk every packet record of one file in pure Python.

    ``head`` holds bytes already read from the stream past the file header.
    A file that ends inside a record yields that record with ``cut=True``.
    """
    buf = _Buffered(stream, head)
    if state.format == "pcap":
        yield from _pcap_records(state, buf)
    else:
        yield from _pcapng_records(state, buf)


class _Buffered:
    def __init__(self, stream: BinaryIO, head: bytes) -> None:
        self.stream = stream
        self.head = head

    def read(self, n: int) -> bytes:
        if self.head:
            out, self.head = self.head[:n], self.head[n:]
            if len(out) < n:
                out += read_exact(self.stream, n - len(out))
        else:
            out = read_exact(self.stream, n)
        return out


def _pcap_records(state: FileState, buf: _Buffered) -> Iterator[Record]:
    e = ">" if state.big_endian else "<"
    iface = state.interfaces[0]
    hlen = state.record_header
    while True:
        hdr = buf.read(hlen)
        if not hdr:
            return
        if len(hdr) < hlen:
            state.warnings.append(
                f"the file ends inside a record header after frame {state.frames} "
                "(capture killed mid-write?)"
            )
            return
        sec, frac, caplen, orig_len = struct.unpack(e + "IIII", hdr[:16])
        if caplen > MAX_RECORD:
            state.warnings.append(
                f"stopped reading at frame {state.frames + 1}: its record claims "
                f"{caplen} bytes, so the file is corrupt from there on"
            )
            return
        data = buf.read(caplen)
        state.frames += 1
        ts = sec * 1_000_000_000 + frac * state.ts_mul
        cut = len(data) < caplen
        if cut:
            state.warnings.append(
                f"frame {state.frames} is cut short: the file ends {caplen - len(data)} bytes "
                "into it (capture killed mid-write?)"
            )
        yield Record(state.frames, ts, iface.linktype, 0, max(orig_len, caplen), data, cut)
        if cut:
            return


def parse_pcapng_block(state: FileState, btype: int, body: bytes) -> Record | None:
    """Interpret one pcapng block (body = bytes between the length fields).

    Updates the section/interface state; returns a Record for packet blocks.
    """
    e = ">" if state.big_endian else "<"
    if btype == PCAPNG_SHB:
        # A new section: interfaces are numbered afresh (pcapng §4.1).
        state.big_endian = body[:4] == b"\x1a\x2b\x3c\x4d"
        state.interfaces = []
        return None
    if btype == BT_IDB:
        parse_idb(state, body)
        return None
    if btype in (BT_EPB, BT_OPB):
        if len(body) < 20:
            state.warnings.append(f"a packet block after frame {state.frames} is cut short")
            return None
        if btype == BT_EPB:
            iface_id, hi, lo, caplen, orig_len = struct.unpack(e + "IIIII", body[:20])
        else:
            iface_id, _drops, hi, lo, caplen, orig_len = struct.unpack(e + "HHIIII", body[:20])
        state.frames += 1
        data = body[20 : 20 + caplen]
        return _packet(state, iface_id, (hi << 32) | lo, orig_len, data, len(data) < caplen)
    if btype == BT_SPB:
        if len(body) < 4:
            return None
        (orig_len,) = struct.unpack(e + "I", body[:4])
        state.frames += 1
        snap = state.interfaces[0].snaplen if state.interfaces else 0
        caplen = min(orig_len, snap) if snap else orig_len
        data = body[4 : 4 + caplen]
        # SPBs carry no timestamp; Wireshark shows them at time 0.
        return _packet(state, 0, None, orig_len, data, len(data) < caplen)
    if btype == BT_ISB:
        _parse_isb(state, body)
        return None
    return None  # name resolution, secrets, custom blocks: nothing for us


def _parse_isb(state: FileState, body: bytes) -> None:
    """Note when the capture ended, from an interface statistics block's isb_endtime.

    Only a hint (the capture's end decides whether an unanswered query timed out), so a
    damaged statistics block is left aside with a warning rather than stopping the read.
    """
    e = ">" if state.big_endian else "<"
    if len(body) < 12:
        return
    (iface_id,) = struct.unpack(e + "I", body[:4])
    if iface_id >= len(state.interfaces):
        return
    try:
        for code, value in _options(body[12:], e, "interface statistics"):
            if code == ISB_ENDTIME and len(value) == 8:
                hi, lo = struct.unpack(e + "II", value)
                end = state.interfaces[iface_id].ts_ns((hi << 32) | lo)
                state.end_ns = end if state.end_ns is None else max(state.end_ns, end)
    except CorruptBlock:
        state.warnings.append(
            f"an interface statistics block after frame {state.frames} is damaged; its end "
            "time is not used"
        )


def _packet(
    state: FileState, iface_id: int, units: int | None, orig_len: int, data: bytes, cut: bool
) -> Record:
    if iface_id >= len(state.interfaces):
        raise CaptureError(
            state.name,
            f"frame {state.frames} refers to interface {iface_id}, but the section "
            f"describes only {len(state.interfaces)}",
        )
    iface = state.interfaces[iface_id]
    ts = iface.ts_ns(units) if units is not None else 0
    return Record(state.frames, ts, iface.linktype, iface_id, max(orig_len, len(data)), data, cut)


def _pcapng_records(state: FileState, buf: _Buffered) -> Iterator[Record]:
    while True:
        hdr = buf.read(8)
        if not hdr:
            return
        if len(hdr) < 8:
            state.warnings.append(f"the file ends inside a block header after frame {state.frames}")
            return
        e = ">" if state.big_endian else "<"
        btype, blen = struct.unpack(e + "II", hdr)
        if btype == PCAPNG_SHB:
            # the byte order of a new section is only known from its own byte-order magic
            rest = buf.read(4)
            big = rest == b"\x1a\x2b\x3c\x4d"
            (blen,) = struct.unpack(">I" if big else "<I", hdr[4:8])
            if blen < 28 or blen > MAX_RECORD or blen % 4:
                state.warnings.append(f"bad section header block length {blen}; stopped")
                return
            body = rest + buf.read(blen - 16)
            buf.read(4)
            parse_pcapng_block(state, btype, body)
            continue
        if blen < 12 or blen > MAX_RECORD or blen % 4:
            state.warnings.append(
                f"stopped reading after frame {state.frames}: a block claims length {blen}, "
                "so the file is corrupt from there on"
            )
            return
        body = buf.read(blen - 12)
        trailer = buf.read(4)
        if len(body) < blen - 12 or len(trailer) < 4:
            rec = None
            with contextlib.suppress(CorruptBlock):  # cut rather than corrupt: said below
                rec = parse_pcapng_block(state, btype, body) if len(body) >= 20 else None
            state.warnings.append(
                f"the file ends inside a block after frame {state.frames - (rec is not None)} "
                "(capture killed mid-write?)"
            )
            if rec is not None:
                yield rec._replace(cut=True)
            return
        try:
            rec = parse_pcapng_block(state, btype, body)
        except CorruptBlock as bad:
            state.warnings.append(
                f"stopped reading after frame {state.frames}: {bad}, so the file is corrupt "
                "from there on"
            )
            return
        if rec is not None:
            yield rec
