"""The exact, pure-Python DNS message decoder.

:func:`decode_message` turns one DNS message (the UDP payload, or a TCP
message without its 2-byte length prefix) into a :class:`Decoded` row. It
never raises and does bounded work on any input, because captures contain
whatever the network carried, including hostile or corrupt messages.

The structural walk is a contract shared with the compiled fast path, whose exact
decoder (``dnspcap/csrc/reading/decode.c``) is a port of this module and must reach the same
fields, texts and error. In order:

1. Header, 12 bytes. Shorter: ``id`` from 2 bytes, ``flags_word`` from 4,
   each count from its two bytes if they are there (else 0), error
   ``message shorter than the 12-byte DNS header``.
2. QDCOUNT questions (name, TYPE, CLASS); only the first is reported.
3. ANCOUNT, NSCOUNT, ARCOUNT records: name, then TYPE CLASS TTL RDLENGTH
   (10 bytes), then RDLENGTH bytes of RDATA that must lie inside the message.
   A record's TTL counts towards ``min_ttl`` (answers only) and an OPT record's
   fixed part sets the EDNS fields as soon as those 10 bytes are read, before
   the RDATA bounds check.
4. The first structural error stops the walk; bytes after the last counted
   record are ignored.

A name is read one step at a time at ``pos`` (never recursively). Until the
first pointer is followed, ``pos`` must stay below the name's ``limit``
(the message end for owner names, the RDATA end for names inside RDATA);
afterwards below the message end. Each step, checks in this order:

- ``pos`` at or past the bound: runs past the end.
- Top bits 0x40 or 0x80: ``reserved label type 0x40`` / ``0x80``.
- Zero length byte: end of name.
- Label (top bits 00): its bytes past the bound: runs past the end; then the
  wire length so far (length bytes + label bytes + the final zero) over 255:
  ``name longer than 255 octets``.
- Pointer (top bits 11): its second byte past the bound: runs past the end;
  target at or past the message end: ``name pointer out of bounds``; target
  already jumped to in this name: ``name pointer loop``; already 126 jumps:
  ``more than 126 name pointers``.

Content errors (an RDATA that does not match its type, an OPT option running
past its record) are recorded only if no error was recorded before, and the
walk goes on. Both kinds of error share ``error``: the first one met wins.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

from dnspcap.reading.iana import edns_option_name, type_name

HEADER_SHORT = "message shorter than the 12-byte DNS header"

MAX_NAME_OCTETS = 255
MAX_POINTER_JUMPS = 126

_OPT = 41
_CLASS_NONE = 254
_CLASS_ANY = 255

_HEADER = struct.Struct("!HHHHHH")
_FIXED = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_SOA_TAIL = struct.Struct("!IIIII")
_SRV_HEAD = struct.Struct("!HHH")
_TWO_U16 = struct.Struct("!HH")

_FLAG_BITS: tuple[tuple[str, int], ...] = (
    ("qr", 0x8000),
    ("aa", 0x0400),
    ("tc", 0x0200),
    ("rd", 0x0100),
    ("ra", 0x0080),
    ("z", 0x0040),
    ("ad", 0x0020),
    ("cd", 0x0010),
)

# str.translate tables over latin-1 decoded bytes: one C-level pass per label
# instead of a Python loop per byte matters with thousands of records.
_LABEL_ESCAPES: dict[int, str] = {b: f"\\{b:03d}" for b in range(256) if not 0x21 <= b <= 0x7E}
_LABEL_ESCAPES[ord(".")] = "\\."
_LABEL_ESCAPES[ord("\\")] = "\\\\"

# Inside quotes a space is unambiguous, so TXT keeps it literal.
_TXT_ESCAPES: dict[int, str] = {b: f"\\{b:03d}" for b in range(256) if not 0x20 <= b <= 0x7E}
_TXT_ESCAPES[ord('"')] = '\\"'
_TXT_ESCAPES[ord("\\")] = "\\\\"

_NAME_RDATA_TYPES = {2: "NS", 5: "CNAME", 12: "PTR", 39: "DNAME"}


class Decoded(NamedTuple):
    """The fields of one DNS message; see the module docstring for how they are read."""

    id: int | None
    flags_word: int | None
    opcode: int | None
    rcode: int | None
    qdcount: int
    ancount: int
    nscount: int
    arcount: int
    qname: str
    qtype: int | None
    qclass: int | None
    answers: str
    min_ttl: int | None
    edns_size: int | None
    edns_do: bool
    edns_options: str
    error: str | None


def flags_text(flags_word: int) -> str:
    """The header bits set in ``flags_word``, e.g. ``qr rd ra`` (``z`` is bit 0x0040)."""
    return " ".join(name for name, bit in _FLAG_BITS if flags_word & bit)


class _BadName(Exception):
    def __init__(self, phrase: str, past_end: bool = False) -> None:
        super().__init__(phrase)
        self.phrase = phrase
        # Owner names word this one as "<where> runs past the end of the message".
        self.past_end = past_end


class _BadRdata(Exception):
    pass


class _Stop(Exception):
    pass


def _read_name(msg: bytes, pos: int, limit: int, text: bool = True) -> tuple[str, int]:
    """Read the name at ``pos``; return its text ('' unless ``text``) and where it ends.

    ``limit`` bounds the bytes read before the first pointer is followed.
    Raises :class:`_BadName`.
    """
    n = len(msg)
    bound = limit
    labels: list[str] = []
    octets = 1  # the terminating zero
    visited: set[int] = set()
    end = -1
    while True:
        if pos >= bound:
            raise _BadName(_past_end_phrase(visited), past_end=True)
        length = msg[pos]
        kind = length & 0xC0
        if kind == 0:
            if length == 0:
                break
            stop = pos + 1 + length
            if stop > bound:
                raise _BadName(_past_end_phrase(visited), past_end=True)
            octets += 1 + length
            if octets > MAX_NAME_OCTETS:
                raise _BadName("name longer than 255 octets")
            if text:
                labels.append(msg[pos + 1 : stop].decode("latin-1").translate(_LABEL_ESCAPES))
            pos = stop
        elif kind == 0xC0:
            if pos + 2 > bound:
                raise _BadName(_past_end_phrase(visited), past_end=True)
            if end < 0:
                end = pos + 2
            target = (length & 0x3F) << 8 | msg[pos + 1]
            if target >= n:
                raise _BadName("name pointer out of bounds")
            if target in visited:
                raise _BadName("name pointer loop")
            if len(visited) == MAX_POINTER_JUMPS:
                raise _BadName("more than 126 name pointers")
            visited.add(target)
            pos = target
            bound = n
        else:
            raise _BadName(f"reserved label type {kind:#04x}")
    if end < 0:
        end = pos + 1
    if not text:
        return "", end
    return (".".join(labels) if labels else "."), end


def _past_end_phrase(visited: set[int]) -> str:
    # Before any jump the bound is the record's end; after one, the message's.
    return "name runs past the end of the message" if visited else "name runs past the record"


def _generic(msg: bytes, start: int, end: int) -> str:
    if start == end:
        return "\\# 0"
    return f"\\# {end - start} {msg[start:end].hex()}"


def _rdata_name(msg: bytes, pos: int, end: int, tname: str) -> tuple[str, int]:
    try:
        return _read_name(msg, pos, end)
    except _BadName as exc:
        raise _BadRdata(f"{tname} rdata: {exc.phrase}") from None


def _fixed(msg: bytes, pos: int, end: int, fmt: struct.Struct, tname: str) -> tuple[int, ...]:
    if end - pos < fmt.size:
        raise _BadRdata(f"{tname} rdata is too short")
    return fmt.unpack_from(msg, pos)


def _check_end(pos: int, end: int, tname: str) -> None:
    if pos != end:
        raise _BadRdata(f"{tname} rdata has {end - pos} extra bytes")


def _txt(msg: bytes, start: int, end: int) -> str:
    if start == end:
        raise _BadRdata("TXT rdata is empty")
    strings: list[str] = []
    pos = start
    while pos < end:
        stop = pos + 1 + msg[pos]
        if stop > end:
            raise _BadRdata("TXT rdata: character-string runs past the record")
        body = msg[pos + 1 : stop].decode("latin-1").translate(_TXT_ESCAPES)
        strings.append(f'"{body}"')
        pos = stop
    return " ".join(strings)


def _rdata_text(
    msg: bytes, rtype: int, rclass: int, start: int, end: int
) -> tuple[str, str | None]:
    """Presentation form of one RDATA, and the content problem found, if any.

    A malformed RDATA of a known type falls back to the RFC 3597 form, so the
    answers column always shows what was on the wire.
    """
    size = end - start
    # RFC 2136 updates and prerequisites use empty RDATA with class ANY or NONE.
    if size == 0 and rclass in (_CLASS_ANY, _CLASS_NONE):
        return _generic(msg, start, end), None
    try:
        if rtype == 1:
            if size != 4:
                raise _BadRdata(f"A rdata is {size} bytes, expected 4")
            return ".".join(str(b) for b in msg[start:end]), None
        if rtype == 28:
            if size != 16:
                raise _BadRdata(f"AAAA rdata is {size} bytes, expected 16")
            return str(ipaddress.IPv6Address(msg[start:end])), None
        tname = _NAME_RDATA_TYPES.get(rtype)
        if tname is not None:
            name, pos = _rdata_name(msg, start, end, tname)
            _check_end(pos, end, tname)
            return name, None
        if rtype == 15:
            (pref,) = _fixed(msg, start, end, _U16, "MX")
            name, pos = _rdata_name(msg, start + 2, end, "MX")
            _check_end(pos, end, "MX")
            return f"{pref} {name}", None
        if rtype == 6:
            mname, pos = _rdata_name(msg, start, end, "SOA")
            rname, pos = _rdata_name(msg, pos, end, "SOA")
            numbers = _fixed(msg, pos, end, _SOA_TAIL, "SOA")
            _check_end(pos + _SOA_TAIL.size, end, "SOA")
            return " ".join([mname, rname, *map(str, numbers)]), None
        if rtype == 33:
            prio, weight, port = _fixed(msg, start, end, _SRV_HEAD, "SRV")
            target, pos = _rdata_name(msg, start + _SRV_HEAD.size, end, "SRV")
            _check_end(pos, end, "SRV")
            return f"{prio} {weight} {port} {target}", None
        if rtype == 16:
            return _txt(msg, start, end), None
    except _BadRdata as exc:
        return _generic(msg, start, end), str(exc)
    return _generic(msg, start, end), None


class _Walk:
    """Mutable state of one decode, so fields read before a stop are kept."""

    def __init__(self, msg: bytes) -> None:
        self.msg = msg
        self.qname = ""
        self.qtype: int | None = None
        self.qclass: int | None = None
        self.answers: list[str] = []
        self.min_ttl: int | None = None
        self.opt_ttl: int | None = None
        self.edns_size: int | None = None
        self.edns_options: list[str] = []
        self.error: str | None = None

    def note(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def owner(self, pos: int, where: str, text: bool = False) -> tuple[str, int]:
        try:
            return _read_name(self.msg, pos, len(self.msg), text)
        except _BadName as exc:
            if exc.past_end:
                raise _Stop(f"{where} runs past the end of the message") from None
            raise _Stop(f"{exc.phrase} in {where}") from None

    def questions(self, count: int, pos: int) -> int:
        n = len(self.msg)
        for i in range(1, count + 1):
            where = f"question {i}"
            name, pos = self.owner(pos, where, text=i == 1)
            if i == 1:
                self.qname = name
            if pos + 4 > n:
                raise _Stop(f"{where} runs past the end of the message")
            if i == 1:
                self.qtype, self.qclass = _TWO_U16.unpack_from(self.msg, pos)
            pos += 4
        return pos

    def records(self, section: str, count: int, pos: int) -> int:
        msg = self.msg
        n = len(msg)
        answer = section == "answer record"
        additional = section == "additional record"
        for i in range(1, count + 1):
            _, pos = self.owner(pos, f"{section} {i}")
            if pos + 10 > n:
                raise _Stop(f"{section} {i} runs past the end of the message")
            rtype, rclass, ttl, rdlength = _FIXED.unpack_from(msg, pos)
            pos += 10
            if answer and (self.min_ttl is None or ttl < self.min_ttl):
                self.min_ttl = ttl
            # Only the first OPT counts (RFC 6891 makes more than one a FORMERR).
            is_opt = additional and rtype == _OPT and self.opt_ttl is None
            if is_opt:
                self.opt_ttl = ttl
                self.edns_size = rclass
            end = pos + rdlength
            if end > n:
                raise _Stop(f"{section} {i} runs past the end of the message")
            if is_opt:
                self.options(pos, end, f"{section} {i}")
            else:
                text, problem = _rdata_text(msg, rtype, rclass, pos, end)
                if problem is not None:
                    self.note(f"{section} {i}: {problem}")
                if answer:
                    self.answers.append(f"{type_name(rtype)} {text}")
            pos = end
        return pos

    def options(self, pos: int, end: int, where: str) -> None:
        while pos < end:
            if pos + 4 > end:
                self.note(f"{where}: OPT option runs past the record")
                return
            code, length = _TWO_U16.unpack_from(self.msg, pos)
            pos += 4 + length
            if pos > end:
                self.note(f"{where}: OPT option runs past the record")
                return
            self.edns_options.append(edns_option_name(code))


def decode_message(payload: bytes) -> Decoded:
    """Decode one DNS message; never raises, see the module docstring for the rules."""
    msg = payload if type(payload) is bytes else bytes(payload)
    n = len(msg)
    msg_id = _U16.unpack_from(msg, 0)[0] if n >= 2 else None
    flags = _U16.unpack_from(msg, 2)[0] if n >= 4 else None
    counts = (0, 0, 0, 0)
    walk = _Walk(msg)
    if n < 12:
        walk.note(HEADER_SHORT)
        # the counts that were captured are still the message's counts (RFC 1035 §4.1.1)
        counts = tuple(  # type: ignore[assignment]
            _U16.unpack_from(msg, off)[0] if n >= off + 2 else 0 for off in (4, 6, 8, 10)
        )
    else:
        counts = _HEADER.unpack_from(msg, 0)[2:]
        try:
            pos = walk.questions(counts[0], 12)
            pos = walk.records("answer record", counts[1], pos)
            pos = walk.records("authority record", counts[2], pos)
            walk.records("additional record", counts[3], pos)
        except _Stop as exc:
            walk.note(str(exc))
        except Exception as exc:
            # A decoder bug must not lose a whole capture; the tests assert this never fires.
            walk.note(f"internal decoder error ({type(exc).__name__})")

    opcode = rcode = None
    if flags is not None:
        opcode = (flags >> 11) & 0xF
        rcode = flags & 0xF
        if walk.opt_ttl is not None:
            rcode |= (walk.opt_ttl >> 24) << 4
    opt_ttl = walk.opt_ttl or 0
    return Decoded(
        id=msg_id,
        flags_word=flags,
        opcode=opcode,
        rcode=rcode,
        qdcount=counts[0],
        ancount=counts[1],
        nscount=counts[2],
        arcount=counts[3],
        qname=walk.qname,
        qtype=walk.qtype,
        qclass=walk.qclass,
        answers="; ".join(walk.answers),
        min_ttl=walk.min_ttl,
        edns_size=walk.edns_size,
        edns_do=bool(opt_ttl & 0x8000),
        edns_options=",".join(walk.edns_options),
        error=walk.error,
    )


def read_name(msg: bytes, pos: int) -> str:
    """The presentation form of the name at ``pos``; raises ValueError when it is malformed."""
    try:
        return _read_name(msg, pos, len(msg))[0]
    except _BadName as exc:
        raise ValueError(exc.phrase) from None
