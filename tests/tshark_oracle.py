"""Wireshark's view of the DNS messages in a capture: the oracle of the differential tests.

:func:`tshark_messages` runs ``tshark -2 -T pdml`` on a capture and returns one row per DNS
message as Wireshark's dissector sees it, on the given ports, over UDP and TCP, with the
same meaning of ``frame`` as ours (Wireshark's frame number; for DNS over TCP or a
fragmented datagram, the frame that completed reassembly).

Why PDML and not ``-T fields``: with ``-T fields`` every field of a frame is aggregated into
one cell, so a frame with several DNS messages (DNS over TCP, several PDUs in one segment)
cannot be split back into messages when one of them has no question, and nothing tells a
DNS message quoted inside an ICMP error from the real one. PDML keeps the tree: each DNS
message is its own ``<proto name="dns">`` element, and the ``ip``/``udp`` headers quoted by
an ICMP error are nested inside the ``icmp`` element (the quoted DNS itself is not, it
follows at top level, so the enclosing transport is the last ``udp``/``tcp`` element met in
document order).

What tshark 4.0 does that matters here (found on the corpus):

* mDNS (UDP 5353) and LLMNR (UDP 5355) are separate protocols (``mdns``, ``llmnr``);
  TCP 5353 is decoded as plain ``dns``. ``sctp.port == 53`` is ``dns`` too.
* ``dns.flags.rcode`` is only present in responses; for a query the oracle takes the low
  four bits of ``dns.flags`` (the header RCODE field), which is the same number.
* A question whose name runs past the end of the message has no ``dns.qry.name`` at all
  (tshark raises an exception while dissecting it): ``qname`` is then ``''``, ``qtype`` -1,
  and ``malformed`` is true.
* A payload too short for the DNS dissector to build a tree (shorter than the 12-byte
  header) leaves only ``[Malformed Packet: DNS]`` after the ``udp``/``tcp`` element; the
  oracle still reports that message, with ``id``, ``opcode``, ``rcode``, ``qdcount`` and
  ``ancount`` -1 and ``malformed`` true. An empty UDP payload gets no DNS at all.
* Names tshark could not follow are shown as a sentence in angle brackets, e.g.
  ``<Name contains a pointer that loops>``; see the "names" section below.
* DNS inside tunnels (GRE, ERSPAN, IP-in-IP, 6in4, 4in6, VXLAN, VXLAN-GPE, Geneve, Teredo,
  GTP-U, GRE-in-UDP) is decoded; such rows carry ``tunneled=True`` and the tunnel chain,
  outermost first, in ``tunnel`` (``gre``, ``ip-in-ip:gre``, ``geneve:vxlan``...). A
  message is tunneled when a second IP header or a tunnel protocol precedes it; link-layer
  encapsulations (VLAN, QinQ, PPPoE, MPLS, 802.1ah) do not count as tunnels.
* UDP 5353 <-> 53 is mDNS for tshark (``category`` ``mdns``), whatever the direction.

Results are cached per (file content, tshark version, ports, oracle version) as JSON in
``$DNSPCAP_ORACLE_CACHE`` or ``~/.cache/dnspcap-oracle``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

#: Bump when the parsing below changes, so cached results are recomputed.
ORACLE_VERSION = 2

TSHARK = os.environ.get("DNSPCAP_TSHARK", "tshark")

#: Protocol names tshark gives DNS-shaped messages.
DNS_PROTOCOLS = frozenset({"dns", "mdns", "llmnr"})
MDNS_PORT = 5353
LLMNR_PORT = 5355

#: Protocols whose presence before the DNS message means it was carried in a tunnel.
TUNNEL_PROTOCOLS = frozenset({"gre", "erspan", "vxlan", "geneve", "gtp", "teredo", "l2tp"})
ICMP_PROTOCOLS = frozenset({"icmp", "icmpv6"})
IP_PROTOCOLS = frozenset({"ip", "ipv6"})
TRANSPORT_PROTOCOLS = frozenset({"udp", "tcp", "sctp"})

#: Columns of :func:`tshark_messages`, in order, with their dtypes.
COLUMNS: dict[str, str] = {
    "frame": "int64",  # Wireshark frame number (reassembling frame for TCP / fragments)
    "pos": "int64",  # 0-based position among the returned messages of the same frame
    "id": "int64",  # -1 when tshark shows no DNS tree (payload shorter than the header)
    "qr": "bool",  # False when absent
    "opcode": "int64",  # -1 when absent
    "rcode": "int64",  # header RCODE (4 bits), -1 when absent
    "qname": "object",  # normalised to our rendering, '' when there is no question
    "qname_tshark": "object",  # as tshark shows it (dns.qry.name 'show')
    "qtype": "int64",  # -1 when there is no question
    "qdcount": "int64",  # -1 when absent
    "ancount": "int64",  # -1 when absent
    "transport": "object",  # 'udp', 'tcp' or 'sctp'
    "sport": "int64",
    "dport": "int64",
    "tunneled": "bool",
    "tunnel": "object",  # e.g. 'gre', 'udp:vxlan', 'ip-in-ip'; '' when not tunneled
    "malformed": "bool",  # tshark flagged the message as malformed
    "protocols": "object",  # frame.protocols, e.g. 'eth:ethertype:ip:udp:dns'
}

#: Extra columns of :func:`tshark_all_messages`.
ALL_COLUMNS: dict[str, str] = {
    **COLUMNS,
    "protocol": "object",  # 'dns', 'mdns' or 'llmnr', as tshark names it
    "icmp_quoted": "bool",  # the message is the payload quoted by an ICMP/ICMPv6 error
    "category": "object",  # see message_category()
}


@dataclass(slots=True)
class _Message:
    frame: int
    pos: int
    id: int
    qr: bool
    opcode: int
    rcode: int
    qname: str
    qname_tshark: str
    qtype: int
    qdcount: int
    ancount: int
    transport: str
    sport: int
    dport: int
    tunneled: bool
    tunnel: str
    malformed: bool
    protocols: str
    protocol: str
    icmp_quoted: bool
    category: str


# --------------------------------------------------------------------------- names
#
# How tshark 4.0 prints a DNS name (dns.qry.name 'show'), found on the corpus and on a
# synthetic capture with every byte value in a label:
#
# * labels joined by '.', no trailing dot; the root name is ``<Root>``;
# * printable ASCII 0x20-0x7E as itself, *including* space, ``.`` and ``\`` inside a
#   label (not escaped, so ``a.b`` may be one label or two, and ``\001`` may be four
#   literal characters);
# * 0x07-0x0D as C escapes ``\a \b \t \n \v \f \r``; other bytes below 0x20 and 0x7F
#   as three octal digits (``\000``, ``\037``, ``\177``);
# * bytes >= 0x80 are read as UTF-8, leniently: a complete sequence is shown as its
#   character even when overlong (``c0 af`` is ``/``); an invalid or cut sequence is one
#   U+FFFD; characters that are not printable (C1 controls, format characters such as
#   U+FEFF) as ``\uXXXX``;
# * a name tshark cannot build is a sentence in angle brackets
#   (:data:`TSHARK_NAME_PLACEHOLDERS`); a name cut by the end of the message has no
#   dns.qry.name at all.
#
# Ours (dnspcap/columns.py): no trailing dot, root ``.``, bytes outside 0x21-0x7E (space
# included) as ``\DDD`` decimal, ``.`` and ``\`` inside a label as ``\.`` and ``\\``.
# The exact comparison is ``tshark_render_name(ours) == shown``: rendering our name the
# tshark way is deterministic, the way back (:func:`normalise_tshark_name`) is not.

#: What tshark 4.0 prints instead of a name when it cannot build one (packet-dns.c).
TSHARK_NAME_PLACEHOLDERS: tuple[str, ...] = (
    "<Name contains a pointer that loops>",
    "<Unknown extended label>",
    "<Name too long>",
    "<Name contains invalid characters>",
)
_C_ESCAPES: dict[int, str] = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r"}
_C_UNESCAPES: dict[str, int] = {v: k for k, v in _C_ESCAPES.items()}
_OCTAL = re.compile(r"\\([0-3][0-7]{2})")
_DDD = re.compile(r"[0-9]{3}")
_UNICODE = re.compile(r"\\u([0-9A-Fa-f]{4})")


def parse_our_name(name: str) -> list[bytes]:
    """The labels of a name in our rendering (``\\DDD``, ``\\.``, ``\\\\``); root is ``[]``."""
    if name in (".", ""):
        return []
    labels: list[bytes] = []
    cur = bytearray()
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\" and _DDD.fullmatch(name[i + 1 : i + 4]):
            cur.append(int(name[i + 1 : i + 4]) & 0xFF)
            i += 4
        elif ch == "\\" and i + 1 < len(name):
            cur.extend(name[i + 1].encode())
            i += 2
        elif ch == ".":
            labels.append(bytes(cur))
            cur = bytearray()
            i += 1
        else:
            cur.extend(ch.encode())
            i += 1
    labels.append(bytes(cur))
    return labels


def render_our_name(labels: list[bytes]) -> str:
    """Labels in our rendering (the inverse of :func:`parse_our_name`)."""
    if not labels:
        return "."
    out = []
    for label in labels:
        parts = []
        for b in label:
            if b == 0x2E:
                parts.append("\\.")
            elif b == 0x5C:
                parts.append("\\\\")
            elif 0x21 <= b <= 0x7E:
                parts.append(chr(b))
            else:
                parts.append(f"\\{b:03d}")
        out.append("".join(parts))
    return ".".join(out)


def _lenient_utf8(data: bytes) -> str:
    """Decode like Wireshark 4.0's format_text: overlong forms accepted, one U+FFFD per bad run."""
    out: list[str] = []
    i = 0
    while i < len(data):
        b = data[i]
        if b < 0x80:
            out.append(chr(b))
            i += 1
            continue
        if 0xC0 <= b <= 0xDF:
            need, value = 1, b & 0x1F
        elif 0xE0 <= b <= 0xEF:
            need, value = 2, b & 0x0F
        elif 0xF0 <= b <= 0xF7:
            need, value = 3, b & 0x07
        else:
            out.append("\ufffd")
            i += 1
            continue
        j = i + 1
        while j < len(data) and j <= i + need and data[j] & 0xC0 == 0x80:
            value = (value << 6) | (data[j] & 0x3F)
            j += 1
        if j - i - 1 == need and not 0xD800 <= value <= 0xDFFF and value <= 0x10FFFF:
            out.append(chr(value))
        else:
            out.append("\ufffd")
        i = j
    return "".join(out)


def _tshark_char(ch: str) -> str:
    o = ord(ch)
    if o < 0x20 or o == 0x7F:
        return "\\" + _C_ESCAPES[o] if o in _C_ESCAPES else f"\\{o:03o}"
    if o < 0x7F:
        return ch
    if unicodedata.category(ch) in ("Cc", "Cf", "Cn", "Co", "Cs") and ch != "\ufffd":
        return f"\\u{o:04X}" if o <= 0xFFFF else f"\\U{o:08X}"
    return ch


def tshark_render_name(ours: str) -> str:
    """How tshark 4.0 would show the name that we render as ``ours``."""
    labels = parse_our_name(ours)
    if not labels:
        return "<Root>"
    return "".join(_tshark_char(c) for c in _lenient_utf8(b".".join(labels)))


def normalise_tshark_name(shown: str) -> str:
    """Best-effort rewrite of a name as tshark shows it into our rendering.

    Lossy where tshark is ambiguous: a ``.`` is taken as a label separator, a backslash
    escape as an escape, U+FFFD stays as its UTF-8 bytes. Placeholders in angle brackets
    (:data:`TSHARK_NAME_PLACEHOLDERS`) are returned unchanged. For an exact comparison use
    ``tshark_render_name(ours) == shown``.
    """
    if shown == "<Root>":
        return "."
    if shown.startswith("<") and shown.endswith(">"):
        return shown
    raw = bytearray()
    i = 0
    while i < len(shown):
        ch = shown[i]
        if ch == "\\":
            m = _OCTAL.match(shown, i) or _UNICODE.match(shown, i)
            if m:
                base = 8 if m.re is _OCTAL else 16
                raw.extend(chr(int(m.group(1), base)).encode("utf-8", "surrogatepass"))
                i = m.end()
                continue
            if i + 1 < len(shown) and shown[i + 1] in _C_UNESCAPES:
                raw.append(_C_UNESCAPES[shown[i + 1]])
                i += 2
                continue
        raw.extend(ch.encode("utf-8", "surrogatepass"))
        i += 1
    return render_our_name(bytes(raw).split(b"."))


def wire_name_from_hex(value: str) -> str | None:
    """Our rendering of an uncompressed wire name given as hex (PDML ``value``), or None.

    For cross-checks only: None when the name is compressed, cut short or over 255 bytes.
    """
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    labels: list[bytes] = []
    i = 0
    while i < min(len(raw), 255):
        n = raw[i]
        if n == 0:
            return render_our_name(labels)
        if n & 0xC0 or i + 1 + n > len(raw):
            return None
        labels.append(raw[i + 1 : i + 1 + n])
        i += 1 + n
    return None


# --------------------------------------------------------------------------- tshark


@functools.cache
def tshark_version() -> str:
    """First line of ``tshark --version`` (part of the cache key)."""
    out = subprocess.run(
        [TSHARK, "--version"], capture_output=True, text=True, check=True, env=_tshark_env()
    ).stdout
    return out.splitlines()[0].strip()


@functools.cache
def _empty_config_dir() -> str:
    return tempfile.mkdtemp(prefix="dnspcap-oracle-wsconfig-")


def _tshark_env() -> dict[str, str]:
    env = dict(os.environ)
    # An empty profile: a user's preferences (decode-as, disabled protocols) must not
    # change the oracle.
    env["WIRESHARK_CONFIG_DIR"] = _empty_config_dir()
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


#: Frames worth parsing; ``_ws.malformed`` for DNS payloads too short to get a ``dns`` tree.
_DISPLAY_FILTER = "dns || mdns || llmnr || _ws.malformed"


def tshark_command(path: str | os.PathLike[str], ports: Iterable[int] = (53,)) -> list[str]:
    """The tshark command line the oracle runs."""
    cmd = [TSHARK, "-n", "-r", os.fspath(path), "-2", "-T", "pdml", "-Y", _DISPLAY_FILTER]
    # Defaults of tshark 4.0, spelled out so the oracle does not depend on them.
    for pref in (
        "ip.defragment:TRUE",
        "ipv6.defragment:TRUE",
        "tcp.desegment_tcp_streams:TRUE",
        "dns.desegment_dns_messages:TRUE",
    ):
        cmd += ["-o", pref]
    for port in sorted(set(ports)):
        if port not in (53, MDNS_PORT, LLMNR_PORT):
            cmd += ["-d", f"udp.port=={port},dns", "-d", f"tcp.port=={port},dns"]
    return cmd


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("DNSPCAP_ORACLE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "dnspcap-oracle"


def _cache_path(path: Path, ports: tuple[int, ...]) -> Path:
    key = json.dumps(
        [_file_sha256(path), tshark_version(), list(ports), ORACLE_VERSION], sort_keys=True
    )
    return cache_dir() / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def _run_tshark(path: Path, ports: tuple[int, ...]) -> list[_Message]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            tshark_command(path, ports), stdout=out, stderr=err, env=_tshark_env(), check=False
        )
        out.seek(0)
        messages = list(_parse_pdml(out))
        if proc.returncode not in (0, 2) and not messages:
            # 2: "appears to have been cut short" and similar warnings; output is still good.
            err.seek(0)
            detail = err.read().decode(errors="replace")
            raise RuntimeError(f"tshark failed on {path} ({proc.returncode}): {detail}")
    return messages


def _parse_pdml(stream: IO[bytes]) -> Iterator[_Message]:
    parser = ET.iterparse(stream, events=("end",))
    try:
        for _event, elem in parser:
            if elem.tag == "packet":
                yield from _packet_messages(elem)
                elem.clear()
    except ET.ParseError:
        # tshark stopped mid-document (a crash or a cut capture): keep what was complete.
        return


def _show(elem: ET.Element | None) -> str | None:
    return None if elem is None else elem.get("show")


def _int(text: str | None, default: int = -1) -> int:
    if text is None:
        return default
    try:
        return int(text, 0)
    except ValueError:
        return default


def _packet_messages(packet: ET.Element) -> Iterator[_Message]:
    frame = -1
    # Walk the tree in document order, remembering the last transport header seen (and
    # whether it was quoted by an ICMP error), the IP headers and tunnel protocols met.
    state: dict[str, Any] = {
        "transport": None,
        "ips": 0,
        "tunnels": [],
        "last": None,
        "protocols": "",
        "prev_ip": False,
    }
    found: list[_Message] = []

    def walk(elem: ET.Element, in_icmp: bool) -> None:
        nonlocal frame
        for child in elem:
            if child.tag == "proto":
                name = child.get("name", "")
                if not name.startswith(("ip.", "ipv6.")):  # extension headers stay "in IP"
                    state["prev_ip"] = state["prev_ip"] and name in IP_PROTOCOLS
                if name == "frame":
                    for f in child.iter("field"):
                        if f.get("name") == "frame.number":
                            frame = _int(f.get("show"))
                        elif f.get("name") == "frame.protocols":
                            state["protocols"] = f.get("show", "")
                elif name in IP_PROTOCOLS and not in_icmp:
                    state["ips"] += 1
                    if state["prev_ip"]:  # IP directly in IP: IP-in-IP, 6in4, 4in6
                        state["tunnels"].append("ip-in-ip")
                    state["prev_ip"] = True
                    walk(child, in_icmp)
                    continue
                elif name in TUNNEL_PROTOCOLS and not in_icmp:
                    state["tunnels"].append(name)
                elif name in TRANSPORT_PROTOCOLS:
                    state["transport"] = (name, _ports(child, name), in_icmp, state["ips"])
                    state["last"] = None
                elif name in DNS_PROTOCOLS:
                    found.append(_message(child, name, frame, state))
                    state["last"] = found[-1]
                    continue  # nothing of interest nested inside a DNS message
                elif name == "_ws.malformed":
                    if state["last"] is not None:
                        state["last"].malformed = True
                    else:
                        # The DNS dissector threw before adding its tree (a payload shorter
                        # than the 12-byte header): tshark still saw a DNS message there,
                        # it says "[Malformed Packet: DNS]".
                        m = _MALFORMED.fullmatch(child.get("showname", ""))
                        if m and m.group(1).lower() in DNS_PROTOCOLS:
                            found.append(_message(None, m.group(1).lower(), frame, state))
                            state["last"] = found[-1]
                    continue
                walk(child, in_icmp or name in ICMP_PROTOCOLS)
            else:
                walk(child, in_icmp)

    walk(packet, False)
    yield from found


_MALFORMED = re.compile(r"\[Malformed Packet: (\w+)\]")


def _ports(proto: ET.Element, name: str) -> tuple[int, int]:
    sport = dport = -1
    for f in proto:
        fname = f.get("name")
        if fname == f"{name}.srcport":
            sport = _int(f.get("show"))
        elif fname == f"{name}.dstport":
            dport = _int(f.get("show"))
    return sport, dport


def _message(proto: ET.Element | None, name: str, frame: int, state: dict[str, Any]) -> _Message:
    """The row for one DNS message; ``proto`` None for one tshark shows no tree for."""
    fields: dict[str, ET.Element] = {}
    malformed = proto is None
    for f in proto.iter("field") if proto is not None else ():
        fname = f.get("name", "")
        if fname not in fields:
            fields[fname] = f
        if fname.startswith("_ws.malformed"):
            malformed = True
    flags = _int(("0x" + fields["dns.flags"].get("value", "")) if "dns.flags" in fields else None)
    rcode = _int(_show(fields.get("dns.flags.rcode")))
    if rcode == -1 and flags != -1:
        rcode = flags & 0xF
    qr_text = _show(fields.get("dns.flags.response"))
    qname_elem = fields.get("dns.qry.name")
    qname_shown = _show(qname_elem) or ""
    transport = state["transport"]
    if transport is None:
        tname, (sport, dport), icmp, ips = "", (-1, -1), False, state["ips"]
    else:
        tname, (sport, dport), icmp, ips = transport
    tunnels: list[str] = list(state["tunnels"])
    tunneled = bool(tunnels) or ips > 1
    id_elem = fields.get("dns.id")
    msg = _Message(
        frame=frame,
        pos=0,
        id=_int("0x" + id_elem.get("value", "")) if id_elem is not None else -1,
        qr=qr_text in ("1", "True", "true"),
        opcode=_int(_show(fields.get("dns.flags.opcode"))),
        rcode=rcode,
        qname=normalise_tshark_name(qname_shown) if qname_elem is not None else "",
        qname_tshark=qname_shown,
        qtype=_int(_show(fields.get("dns.qry.type"))) if qname_elem is not None else -1,
        qdcount=_int(_show(fields.get("dns.count.queries"))),
        ancount=_int(_show(fields.get("dns.count.answers"))),
        transport=tname,
        sport=sport,
        dport=dport,
        tunneled=tunneled,
        tunnel=":".join(tunnels) if tunneled else "",
        malformed=malformed,
        protocols=state["protocols"],
        protocol=name,
        icmp_quoted=icmp,
        category="",
    )
    msg.category = message_category(msg.protocol, msg.sport, msg.dport, icmp, tunneled)
    return msg


def message_category(protocol: str, sport: int, dport: int, icmp: bool, tunneled: bool) -> str:
    """Where a DNS-shaped message tshark found belongs, for the corpus counts.

    ``icmp`` (quoted in an ICMP error), ``mdns``, ``llmnr`` (by protocol or port),
    ``port53`` / ``port53-tunneled`` (UDP or TCP port 53 on either side), ``other-port``
    (anything else: DoH, decode-as ports, SCTP...).
    """
    if icmp:
        return "icmp"
    if protocol == "mdns" or MDNS_PORT in (sport, dport):
        return "mdns"
    if protocol == "llmnr" or LLMNR_PORT in (sport, dport):
        return "llmnr"
    if 53 in (sport, dport):
        return "port53-tunneled" if tunneled else "port53"
    return "other-port"


# --------------------------------------------------------------------------- public API


def _frame(messages: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame(messages, columns=list(columns))
    return df.astype(columns)


def tshark_all_messages(
    path: str | os.PathLike[str], ports: Iterable[int] = (53,), *, use_cache: bool = True
) -> pd.DataFrame:
    """Every DNS, mDNS and LLMNR message tshark finds in the capture, on any port.

    ICMP-quoted messages included (``icmp_quoted``), ``category`` says where each belongs.
    ``pos`` counts all of them within a frame. ``ports`` only adds decode-as rules.
    """
    p = Path(path)
    ports_t = tuple(sorted(set(ports)))
    cache = _cache_path(p, ports_t) if use_cache else None
    if cache is not None and cache.exists():
        try:
            rows = json.loads(cache.read_text())
            return _frame(rows, ALL_COLUMNS)
        except (ValueError, KeyError):
            pass
    messages = _run_tshark(p, ports_t)
    counter: dict[int, int] = {}
    for m in messages:
        m.pos = counter.get(m.frame, 0)
        counter[m.frame] = m.pos + 1
    rows = [asdict(m) for m in messages]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rows))
        tmp.replace(cache)
    return _frame(rows, ALL_COLUMNS)


def tshark_messages(
    path: str | os.PathLike[str], ports: Iterable[int] = (53,), *, use_cache: bool = True
) -> pd.DataFrame:
    """One row per DNS message Wireshark decodes on ``ports`` (UDP, TCP), as in :data:`COLUMNS`.

    Excluded: DNS quoted in ICMP/ICMPv6 errors, mDNS (5353) and LLMNR (5355), DNS on
    other ports. Tunneled messages are included with ``tunneled=True``. ``pos`` is the
    0-based position of the message among the returned ones of its frame.
    """
    ports_t = tuple(sorted(set(ports)))
    df = tshark_all_messages(path, ports_t, use_cache=use_cache)
    keep = (
        (df["protocol"] == "dns")
        & ~df["icmp_quoted"]
        & df["transport"].isin(["udp", "tcp"])
        & (df["sport"].isin(ports_t) | df["dport"].isin(ports_t))
        & ~df["sport"].isin([MDNS_PORT, LLMNR_PORT])
        & ~df["dport"].isin([MDNS_PORT, LLMNR_PORT])
    )
    out = df.loc[keep, list(COLUMNS)].reset_index(drop=True)
    out["pos"] = out.groupby("frame").cumcount().astype("int64")
    return out


if __name__ == "__main__":  # pragma: no cover - manual inspection
    import sys

    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(tshark_messages(sys.argv[1], [int(p) for p in sys.argv[2:]] or (53,)))
