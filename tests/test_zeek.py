"""dnspcap's transactions against Zeek's ``dns.log`` baselines on the corpus captures.

Zeek's test suite ships the ``dns.log`` its DNS analyzer writes for some of its traces
(``../shared/corpus/zeek/expected/<btest name>/``). :data:`BASELINES` pairs each of those
logs with its capture (from MANIFEST.tsv's ``expected_outputs`` and the btest's ``-r``
trace); :func:`test_every_dns_log_is_paired` keeps that table complete. Each log is read
with :func:`tests.zeek_log.read_zeek_log` and compared with
``dnspcap.pair(dnspcap.read_messages(capture))``.

Matching. Zeek's rows are taken in log order; each is matched to one of our transactions on
(client address, client port, server address, server port, transport, ID, query, qtype),
Zeek's ``id.orig_*`` being the client and ``id.resp_*`` the server. A row without qtype
(Zeek saw no query) is matched without it, and a row without query on the 5-tuple + ID
alone; a zeek-cut extract is matched on the key fields it has. When no transaction takes
the full key, qtype and then query are left out in turn, so that a different query or
qtype shows as a field difference rather than as two lone rows. An earlier (by first
message) unmatched transaction is preferred; when every candidate already has its row, the
row is an *extra* row of that transaction (Zeek split one of our transactions in two).

Compared, for each matched row: ``query``, ``qtype``, ``rcode``, ``trans_id``, ``answers``
and ``rtt`` (ours: ``rtt_last``, from the last attempt before the response; Zeek's: from
the query its FIFO paired the response with; equal within 1 µs, and a value on one side
only is a difference too). Row-level: a Zeek row with no transaction, a transaction (with a
query or not) with no Zeek row, and an extra Zeek row.

Normalisations (rendering only; a difference in content is never normalised away):

* names: Zeek lower-cases every name it extracts (``DNS_Interpreter::ExtractName``) and
  writes bytes, we keep the case and write RFC 1035 ``\\DDD``/``\\.`` escapes; ours are
  unescaped and ASCII-lower-cased before comparing. Where the log has ``original_query``
  (policy/protocols/dns/original_case) our qname is compared with it exactly instead.
  Our root name ``.`` is Zeek's empty name.
* qtype: Zeek's number; a zeek-cut extract has only ``qtype_name`` (``*`` is 255,
  ``query-N`` is N). rcode: Zeek's number against our rcode name's number.
* addresses: both sides through :mod:`ipaddress` (compressed IPv6).
* answers: our ``TYPE rdata; TYPE rdata`` (split on ``; `` outside TXT quotes) is rendered
  the way Zeek's base/protocols/dns/main.zeek renders each answer-section record: A and
  AAAA the address; CNAME, NS, PTR the name; MX the exchange; SOA the mname; SRV the
  target; TXT as ``TXT <len> <string>`` per character-string joined by a space; and, from
  the RFC 3597 ``\\# len hex`` form we print for them, SPF like TXT, RRSIG
  ``RRSIG <type covered> <signer>``, DNSKEY ``DNSKEY <algorithm>``, DS
  ``DS <algorithm> <digest type>``, NSEC3 and NSEC3PARAM their names, SSHFP
  ``SSHFP: <fingerprint hex>``, LOC ``LOC:  <size> <horiz> <vert>`` (raw bytes), NAPTR
  ``NAPTR <order> <pref> <flags> <service> <regexp> <replacement>`` (regexp and
  replacement only when not empty) and type 65534 (BIND's signing state) ``BIND9 signing
  signal``. Any other record, and any record we print in RFC 3597 form because its RDATA
  is empty or malformed, keeps our text, so a record Zeek does not log shows as ours
  only. The two sides are compared as multisets; a difference lists the records only we
  have (``ours``) and only Zeek has (``zeek``), comma separated, ``-`` for none.

Every difference must be listed in ``tests/data/zeek_expected.tsv`` with a reviewed reason,
and every listed difference must still occur, as in tests/test_corpus.py. Its rows, tab
separated, ``#`` starting a comment line: ``capture  row  field  ours  zeek  reason``,
``row`` being Zeek's row as ``proto orig_h.orig_p > resp_h.resp_p id=trans_id query
qtype_name`` (``?`` for a field the log lacks, ``-`` for an unset one, ``#n`` appended to
the n-th row with the same text), or ours the same way for a transaction Zeek has no row
for. ``field`` is ``row`` (``ours``/``zeek`` then ``present``/``absent``, or for an extra
row ``attempts=a responses=r``/``extra row``) or one of :data:`COMPARED`.
"""

from __future__ import annotations

import csv
import dataclasses
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import dnspcap
from dnspcap.reading.iana import rcode_name, type_code

try:  # tests/ as a package (pytest with tests/__init__.py) or as a plain folder
    from .corpus import corpus_dir, manifest_by_path, on_ci, require_corpus
    from .zeek_log import read_zeek_log
except ImportError:
    from corpus import (  # type: ignore[no-redef,import-not-found]
        corpus_dir,
        manifest_by_path,
        on_ci,
        require_corpus,
    )
    from zeek_log import read_zeek_log  # type: ignore[no-redef,import-not-found]

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = DATA / "zeek_expected.tsv"
EXPECTED_FIELDS = ("capture", "row", "field", "ours", "zeek", "reason")
COMPARED = ("query", "qtype", "rcode", "trans_id", "answers", "rtt")
RTT_TOLERANCE_S = 1e-6

pytestmark = pytest.mark.corpus

#: (capture, Zeek dns.log baseline), both relative to the corpus folder. The folder is the
#: btest's (MANIFEST.tsv ``expected_outputs``); the btest runs ``zeek -r`` on that capture.
#: The dnssec btest writes two extracts, one per trace, named after it. Some btests load
#: scripts that add fields (auth-addl: ``auth``/``addl``; original_case:
#: ``original_query``) or, dnssec.zeek, append algorithm names to ``answers``.
BASELINES: tuple[tuple[str, str], ...] = (
    ("zeek/wikipedia.pcap", "zeek/expected/opt.basic/dns.log"),
    ("zeek/dns-spf.pcap", "zeek/expected/scripts.base.protocols.dns.spf/dns.log"),
    ("zeek/dns53.pcap", "zeek/expected/scripts.base.protocols.dns.flip/dns.log"),
    (
        "zeek/dns-txt-multiple.pcap",
        "zeek/expected/scripts.base.protocols.dns.multiple-txt-strings/dns.log",
    ),
    ("zeek/gre-pptp.pcap", "zeek/expected/core.tunnels.gre-pptp/dns.log"),
    ("zeek/vxlan-triple-v2.pcap", "zeek/expected/core.tunnels.max-depth/dns.log.cut"),
    ("zeek/gtp3_false_gtp.pcap", "zeek/expected/core.tunnels.gtp.false_gtp/dns.log"),
    ("zeek/gre-over-udp-4754.pcap", "zeek/expected/core.tunnels.gre-over-udp/dns.log"),
    ("zeek/gre-sample.pcap", "zeek/expected/core.tunnels.gre/dns.log"),
    (
        "zeek/dns-two-responses.pcap",
        "zeek/expected/scripts.base.protocols.dns.duplicate-reponses/dns.log",
    ),
    ("zeek/sshfp-trunc.pcap", "zeek/expected/scripts.base.protocols.dns.sshfp/dns.log"),
    ("zeek/loc-29-trunc.pcap", "zeek/expected/scripts.base.protocols.dns.loc/dns.log"),
    ("zeek/tkey.pcap", "zeek/expected/scripts.base.protocols.dns.tkey/dns.log"),
    ("zeek/naptr.pcap", "zeek/expected/scripts.base.protocols.dns.naptr/dns.log.cut"),
    (
        "zeek/dynamic-update.pcap",
        "zeek/expected/scripts.base.protocols.dns.dynamic-update/dns.log",
    ),
    ("zeek/mdns-no-assoc.pcap", "zeek/expected/scripts.base.protocols.dns.mdns-no-assoc/dns.log"),
    ("zeek/dns-binds.pcap", "zeek/expected/scripts.base.protocols.dns.binds/dns.log"),
    ("zeek/dns-wks.pcap", "zeek/expected/scripts.base.protocols.dns.wks/dns.log"),
    ("zeek/dns_notify2.pcap", "zeek/expected/scripts.base.protocols.dns.notify/dns.log"),
    (
        "zeek/dns_original_case.pcap",
        "zeek/expected/scripts.policy.protocols.dns.original_case/dns.log",
    ),
    ("zeek/rrsig.pcap", "zeek/expected/scripts.base.protocols.dns.rrsig/dns.log"),
    ("zeek/ds.pcap", "zeek/expected/scripts.base.protocols.dns.ds/dns.log"),
    ("zeek/dnskey2.pcap", "zeek/expected/scripts.base.protocols.dns.dns-key/dns.log"),
    ("zeek/ed448.no.pcap", "zeek/expected/scripts.base.protocols.dns.dnssec/dns.ed448.log"),
    ("zeek/nsec.pcap", "zeek/expected/scripts.base.protocols.dns.nsec/dns.log"),
    ("zeek/ed25519.no.pcap", "zeek/expected/scripts.base.protocols.dns.dnssec/dns.ed25519.log"),
    ("zeek/nsec3.pcap", "zeek/expected/scripts.base.protocols.dns.nsec3/dns.log"),
    ("zeek/nsec3param.pcap", "zeek/expected/scripts.base.protocols.dns.nsec3param/dns.log"),
    ("zeek/dnskey.pcap", "zeek/expected/scripts.base.protocols.dns.dnskey/dns.log"),
    ("zeek/ipv6-fragmented-dns.pcap", "zeek/expected/core.ipv6-frag/dns.log"),
    ("zeek/dns-zero-RRs.pcap", "zeek/expected/scripts.base.protocols.dns.zero-responses/dns.log"),
)

#: Files under zeek/expected whose name starts with ``dns`` are DNS logs or extracts.
_DNS_LOG_NAME = re.compile(r"^dns[.\w-]*\.log(\.cut)?$")

_RCODES = {rcode_name(n): n for n in range(4096)}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MASTER_ESCAPE = re.compile(r"\\(\d{3}|.)")
_TXT_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_GENERIC = re.compile(r"^\\# (\d+) ?([0-9a-f]*)$")


@dataclass(frozen=True, slots=True)
class Difference:
    """One way we differ from Zeek on one capture (a row of zeek_expected.tsv)."""

    capture: str
    row: str
    field: str
    ours: str
    zeek: str

    def line(self) -> str:
        return "\t".join(dataclasses.astuple(self))


# ----------------------------------------------------------------------------------------
# Rendering our values the way Zeek writes them


def _unescape_master(text: str) -> str:
    r"""Decode RFC 1035 master-file escapes (``\DDD``, ``\X``) into characters (latin-1)."""

    def one(m: re.Match[str]) -> str:
        s = m.group(1)
        return chr(int(s)) if len(s) == 3 else s

    return _MASTER_ESCAPE.sub(one, text)


def zeek_name(ours: str) -> str:
    """Our rendering of a domain name as Zeek writes it: bytes, ASCII lower case."""
    if ours == ".":
        return ""
    return _unescape_master(ours).translate(_ASCII_LOWER)


def _split_answers(answers: str) -> list[str]:
    """Our answers column split into records, on ``; `` outside double quotes."""
    if not answers:
        return []
    out: list[str] = []
    start, quoted, i = 0, False, 0
    while i < len(answers):
        c = answers[i]
        if quoted and c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif not quoted and answers.startswith("; ", i):
            out.append(answers[start:i])
            start = i + 2
            i += 1
        i += 1
    out.append(answers[start:])
    return out


def _wire_name(data: bytes, pos: int) -> tuple[str, int]:
    """An uncompressed wire-format name (RRSIG signer, NAPTR replacement), Zeek-style."""
    labels = []
    while data[pos]:
        n = data[pos]
        labels.append(data[pos + 1 : pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    return ".".join(labels).translate(_ASCII_LOWER), pos + 1


def _character_strings(data: bytes) -> list[str]:
    out, pos = [], 0
    while pos < len(data):
        n = data[pos]
        out.append(data[pos + 1 : pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    return out


def _zeek_from_rdata(rtype: str, data: bytes) -> str | None:
    """Zeek's rendering of a record we print in RFC 3597 form, or None if Zeek has none."""
    if rtype == "SPF":
        return " ".join(f"SPF {len(s)} {s}" for s in _character_strings(data))
    if rtype == "RRSIG":
        signer, _ = _wire_name(data, 18)
        return f"RRSIG {int.from_bytes(data[:2], 'big')} {signer or '<Root>'}"
    if rtype == "DNSKEY":
        return f"DNSKEY {data[3]}"
    if rtype == "DS":
        return f"DS {data[2]} {data[3]}"
    if rtype in ("NSEC3", "NSEC3PARAM"):
        return rtype
    if rtype == "SSHFP":
        return f"SSHFP: {data[2:].hex()}"
    if rtype == "LOC":
        return f"LOC:  {data[1]} {data[2]} {data[3]}"
    if rtype == "TYPE65534":
        return "BIND9 signing signal"
    if rtype == "NAPTR":
        order, pref = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
        strings, pos = [], 4
        for _ in range(3):  # flags, services, regexp
            n = data[pos]
            strings.append(data[pos + 1 : pos + 1 + n].decode("latin-1"))
            pos += 1 + n
        replacement, _ = _wire_name(data, pos)
        flags, service, regexp = strings
        tail = " ".join(s for s in (regexp, replacement) if s)
        return f"NAPTR {order} {pref} {flags} {service} {tail}"
    return None


def zeek_answer(record: str) -> str:
    """One record of our answers column (``TYPE rdata``) as Zeek's dns.log shows it.

    A record Zeek does not render keeps our text (see the module docstring).
    """
    rtype, _, rdata = record.partition(" ")
    generic = _GENERIC.match(rdata)
    if generic:  # a type we do not decode, or a record we could not (or empty RDATA)
        rendered = _zeek_from_rdata(rtype, bytes.fromhex(generic.group(2)))
        return record if rendered is None else rendered
    if rtype == "A":
        return rdata
    if rtype == "AAAA":
        return str(ipaddress.IPv6Address(rdata))
    if rtype in ("CNAME", "NS", "PTR"):
        return zeek_name(rdata)
    if rtype == "MX":
        return zeek_name(rdata.split(" ", 1)[1])
    if rtype == "SOA":
        return zeek_name(rdata.split(" ", 1)[0])
    if rtype == "SRV":
        return zeek_name(rdata.split(" ", 3)[3])
    if rtype == "TXT":
        strings = [_unescape_master(s) for s in _TXT_STRING.findall(rdata)]
        return " ".join(f"TXT {len(s)} {s}" for s in strings)
    return record


def zeek_answers(answers: str) -> list[str]:
    """Our answers column as the list Zeek's ``answers`` field would hold."""
    return [zeek_answer(r) for r in _split_answers(answers)]


def _zeek_qtype(row: dict[str, Any]) -> int | None:
    if "qtype" in row:
        return row["qtype"]  # type: ignore[no-any-return]
    name = row.get("qtype_name")
    if name is None:
        return None
    if name.startswith("query-"):
        return int(name[len("query-") :])
    return type_code(name)


def _addr(a: str) -> str:
    return str(ipaddress.ip_address(a))


def _show(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _rtt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


# ----------------------------------------------------------------------------------------
# The two sides as plain records, and the matching


@dataclass(slots=True)
class _Ours:
    key: dict[str, Any]  # client, cport, server, sport, proto, trans_id, query, qtype
    label: str
    qname: str
    qtype_name: str
    rcode: int | None
    rcode_name: str
    answers: list[str]
    rtt: float | None
    attempts: int
    responses: int


def _ours(transactions: pd.DataFrame) -> list[_Ours]:
    """Our transactions in the order of their first message, with their comparable values."""
    t = transactions.assign(
        _first=transactions["query_ts"].fillna(transactions["response_ts"])
    ).sort_values("_first", kind="stable")
    out = []
    for rec in t.to_dict("records"):
        r: dict[str, Any] = {str(k): v for k, v in rec.items()}
        qname = r["qname"] if isinstance(r["qname"], str) else ""
        qtype = r["qtype"] if isinstance(r["qtype"], str) else ""
        answered = int(r["responses"]) > 0
        rcode = str(r["rcode"]) if answered else ""
        client, server = _addr(str(r["client"])), _addr(str(r["server"]))
        cport, sport = int(r["client_port"]), int(r["server_port"])
        transport, trans_id = str(r["transport"]), int(r["id"])
        key = {
            "client": client,
            "cport": cport,
            "server": server,
            "sport": sport,
            "proto": transport,
            "trans_id": trans_id,
            "query": zeek_name(qname) if qname else None,
            "qtype": type_code(qtype) if qtype else None,
        }
        label = (
            f"{transport} {client}.{cport} > {server}.{sport} "
            f"id={trans_id} {_show(qname)} {_show(qtype)}"
        )
        rtt_last = float(r["rtt_last"])
        out.append(
            _Ours(
                key=key,
                label=label,
                qname=qname,
                qtype_name=qtype,
                rcode=_RCODES[rcode] if rcode else None,
                rcode_name=rcode,
                answers=zeek_answers(str(r["answers"])) if answered else [],
                rtt=None if math.isnan(rtt_last) else rtt_last,
                attempts=int(r["attempts"]),
                responses=int(r["responses"]),
            )
        )
    return out


_ZEEK_KEY_COLUMNS = {
    "client": "id.orig_h",
    "cport": "id.orig_p",
    "server": "id.resp_h",
    "sport": "id.resp_p",
    "proto": "proto",
    "trans_id": "trans_id",
}
_LEVELS = (
    ("client", "cport", "server", "sport", "proto", "trans_id", "query", "qtype"),
    ("client", "cport", "server", "sport", "proto", "trans_id", "query"),
    ("client", "cport", "server", "sport", "proto", "trans_id"),
)


def _zeek_key(row: dict[str, Any]) -> dict[str, Any]:
    """The key fields a Zeek row has (a field the log lacks or left unset is absent)."""
    key: dict[str, Any] = {}
    for ours, col in _ZEEK_KEY_COLUMNS.items():
        if row.get(col) is not None:
            key[ours] = _addr(row[col]) if col.endswith("_h") else row[col]
    if row.get("query") is not None:
        key["query"] = row["query"]
    qtype = _zeek_qtype(row)
    if qtype is not None:
        key["qtype"] = qtype
    return key


def _zeek_label(row: dict[str, Any]) -> str:
    def f(col: str) -> str:
        return "?" if col not in row else _show(row[col])

    return (
        f"{f('proto')} {f('id.orig_h')}.{f('id.orig_p')} > {f('id.resp_h')}.{f('id.resp_p')} "
        f"id={f('trans_id')} {f('query')} {f('qtype_name')}"
    )


def _numbered(labels: Iterable[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def match(rows: list[dict[str, Any]], ours: list[_Ours]) -> list[tuple[int | None, bool]]:
    """For each Zeek row: the index of its transaction in ``ours`` (or None), and whether
    that transaction already had an earlier row (an extra row)."""
    taken: set[int] = set()
    out: list[tuple[int | None, bool]] = []
    for row in rows:
        zkey = _zeek_key(row)
        fallback: int | None = None
        chosen: int | None = None
        for level in _LEVELS:
            fields = [f for f in level if f in zkey]
            found = [i for i, o in enumerate(ours) if all(o.key[f] == zkey[f] for f in fields)]
            free = [i for i in found if i not in taken]
            if free:
                chosen = free[0]
                break
            if found and fallback is None:
                fallback = found[0]
        if chosen is not None:
            taken.add(chosen)
            out.append((chosen, False))
        else:
            out.append((fallback, fallback is not None))
    return out


def _multiset_minus(a: list[str], b: list[str]) -> list[str]:
    left = Counter(b)
    out = []
    for item in a:
        if left[item]:
            left[item] -= 1
        else:
            out.append(item)
    return out


def _field_differences(row: dict[str, Any], o: _Ours) -> Iterable[tuple[str, str, str]]:
    """(field, ours, zeek) for every compared field where a matched row and ours differ."""
    if "original_query" in row:
        if (_unescape_master(o.qname) or None) != row["original_query"]:
            yield "query", _show(o.qname), _show(row["original_query"])
    elif "query" in row and o.key["query"] != row["query"]:
        yield "query", _show(o.qname), _show(row["query"])
    if "qtype" in row or "qtype_name" in row:
        zeek_qtype = _zeek_qtype(row)
        if o.key["qtype"] != zeek_qtype:
            shown = row.get("qtype_name", zeek_qtype)
            yield "qtype", _show(o.qtype_name), _show(shown)
    if "rcode" in row and o.rcode != row["rcode"]:
        yield "rcode", _show(o.rcode_name), _show(row.get("rcode_name", row["rcode"]))
    if "trans_id" in row and o.key["trans_id"] != row["trans_id"]:
        yield "trans_id", str(o.key["trans_id"]), _show(row["trans_id"])
    if "answers" in row:
        theirs = list(row["answers"] or ())
        only_ours = _multiset_minus(o.answers, theirs)
        only_zeek = _multiset_minus(theirs, o.answers)
        if only_ours or only_zeek:
            yield "answers", ",".join(only_ours) or "-", ",".join(only_zeek) or "-"
    if "rtt" in row:
        z_rtt = row["rtt"]
        if (o.rtt is None) != (z_rtt is None) or (
            o.rtt is not None and abs(o.rtt - z_rtt) > RTT_TOLERANCE_S
        ):
            yield "rtt", _rtt(o.rtt), _rtt(z_rtt)


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome for one baseline: the differences, and how many Zeek rows agree."""

    differences: list[Difference]
    zeek_rows: int
    agreeing_rows: int
    transactions: int


def compare(capture: str, log: pd.DataFrame, transactions: pd.DataFrame) -> Comparison:
    """Every difference between a Zeek dns.log (or extract) and our transactions."""
    rows = [{str(k): v for k, v in r.items()} for r in log.to_dict("records")]
    ours = _ours(transactions)
    labels = _numbered(_zeek_label(r) for r in rows)
    matched = match(rows, ours)
    diffs: list[Difference] = []
    agreeing = 0
    for row, label, (i, extra) in zip(rows, labels, matched, strict=True):
        if i is None:
            diffs.append(Difference(capture, label, "row", "absent", "present"))
            continue
        o = ours[i]
        if extra:
            shown = f"attempts={o.attempts} responses={o.responses}"
            diffs.append(Difference(capture, label, "row", shown, "extra row"))
            continue
        found = [Difference(capture, label, *d) for d in _field_differences(row, o)]
        diffs += found
        agreeing += not found
    used = {i for i, _ in matched if i is not None}
    missing = [o.label for i, o in enumerate(ours) if i not in used]
    for label in _numbered(missing):
        diffs.append(Difference(capture, label, "row", "present", "absent"))
    return Comparison(diffs, len(rows), agreeing, len(ours))


# ----------------------------------------------------------------------------------------
# The expected list and the tests


@cache
def expected() -> dict[str, dict[Difference, str]]:
    """zeek_expected.tsv: per capture, each listed difference and its reason."""
    out: dict[str, dict[Difference, str]] = {}
    with EXPECTED.open(newline="", encoding="utf-8") as f:
        lines = [line for line in f if line.strip() and not line.startswith("#")]
    rows = csv.DictReader(lines, EXPECTED_FIELDS, delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in rows:
        if row["capture"] == "capture":  # the header line
            continue
        diff = Difference(*(row[k] or "" for k in EXPECTED_FIELDS[:-1]))
        assert row["reason"], f"zeek_expected.tsv: {diff.line()} has no reason"
        assert diff not in out.get(diff.capture, {}), f"zeek_expected.tsv: {diff.line()} twice"
        out.setdefault(diff.capture, {})[diff] = row["reason"]
    return out


def _baseline_params() -> list[Any]:
    if corpus_dir() is None:
        if on_ci():
            raise RuntimeError("capture corpus not found; CI=true, so this is an error")
        return [
            pytest.param(
                "", "", id="corpus-missing", marks=pytest.mark.skip("capture corpus not found")
            )
        ]
    return [pytest.param(capture, log, id=capture) for capture, log in BASELINES]


@cache
def _compare(capture: str, log: str) -> Comparison:
    root = require_corpus()
    transactions = dnspcap.pair(dnspcap.read_messages(root / capture))
    return compare(capture, read_zeek_log(root / log), transactions)


def _report(unexpected: list[Difference], stale: dict[Difference, str]) -> str:
    lines = []
    if unexpected:
        lines.append("differences from Zeek not in tests/data/zeek_expected.tsv:")
        lines += ["  " + d.line() for d in unexpected]
    if stale:
        lines.append("listed in zeek_expected.tsv but no longer happening (remove them):")
        lines += ["  " + d.line() + "\t" + r for d, r in stale.items()]
    return "\n".join(lines)


@pytest.mark.parametrize(("capture", "log"), _baseline_params())
def test_transactions_match_zeek(capture: str, log: str) -> None:
    """Row by row our transactions agree with Zeek's dns.log, or the difference is listed."""
    result = _compare(capture, log)
    assert result.zeek_rows > 0, f"{log}: no rows read"
    listed = expected().get(capture, {})
    found = result.differences
    unexpected = [d for d in found if d not in listed]
    stale = {d: r for d, r in listed.items() if d not in set(found)}
    assert not unexpected and not stale, f"{capture} vs {log}:\n" + _report(unexpected, stale)


def test_every_dns_log_is_paired() -> None:
    """Every DNS log under zeek/expected is in BASELINES, with a capture whose
    MANIFEST.tsv row names the log's folder; one baseline per capture."""
    root = require_corpus()
    logs = {
        p.relative_to(root).as_posix()
        for p in (root / "zeek" / "expected").rglob("*")
        if p.is_file() and _DNS_LOG_NAME.match(p.name)
    }
    assert logs == {log for _, log in BASELINES}
    captures = [capture for capture, _ in BASELINES]
    assert len(set(captures)) == len(captures)
    rows = manifest_by_path()
    for capture, log in BASELINES:
        folder = log.rsplit("/", 1)[0] + "/"
        outputs = [s.strip() for s in rows[capture]["expected_outputs"].split("|")]
        assert folder in outputs, f"{capture}: MANIFEST.tsv does not name {folder}"


def test_expected_entries_name_baselines() -> None:
    """Every capture in zeek_expected.tsv is compared (catches typos and renames)."""
    unknown = sorted(set(expected()) - {capture for capture, _ in BASELINES})
    assert not unknown, f"zeek_expected.tsv names captures not in BASELINES: {unknown}"


# ----------------------------------------------------------------------------------------
# The pieces, on made-up input (these run without the corpus)


def test_read_zeek_log_variants(tmp_path: Path) -> None:
    """Header, escapes, unset/empty values, containers, and a zeek-cut extract."""
    log = tmp_path / "dns.log"
    log.write_text(
        "### BTest baseline data generated by btest-diff. Do not edit.\n"
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#path\tdns\n#open\tXXXX\n"
        "#fields\tts\tid.orig_p\tquery\trtt\tAA\tanswers\tTTLs\n"
        "#types\ttime\tport\tstring\tinterval\tbool\tvector[string]\tvector[interval]\n"
        "XXXXXXXXXX.XXXXXX\t53\ta\\x09b\t0.000392\tT\tTXT 3 a\\x2cb,1.2.3.4\t1.0,2.5\n"
        "1.5\t5353\t\\x2d\t-\tF\t(empty)\t-\n"
        "#close\tXXXX\n"
    )
    df = read_zeek_log(log)
    assert list(df.columns) == ["ts", "id.orig_p", "query", "rtt", "AA", "answers", "TTLs"]
    assert df.iloc[0].tolist() == [
        None,
        53,
        "a\tb",
        0.000392,
        True,
        ("TXT 3 a,b", "1.2.3.4"),
        ("1.0", "2.5"),
    ]
    assert df.iloc[1].tolist() == [1.5, 5353, "-", None, False, (), None]
    assert df.attrs["zeek"]["path"] == "dns" and df.attrs["zeek"]["closed"]
    cut = tmp_path / "dns.log.cut"
    cut.write_text("### BTest\nuid\tid.resp_p\t\tid.resp_p\tanswers\nC1\t53\t\t54\tx,y\n")
    df = read_zeek_log(cut)
    assert list(df.columns) == ["uid", "id.resp_p", "_3", "id.resp_p.2", "answers"]
    assert df.iloc[0].tolist() == ["C1", 53, "", 54, ("x", "y")]
    assert df.attrs["zeek"]["cut"] and df.attrs["zeek"]["types"][1] == "port"


def test_zeek_answer_rendering() -> None:
    """Our answer records rendered as Zeek prints them, one case per rule."""
    assert _split_answers('TXT "k=rsa; p=x\\"; y" "z"; A 1.2.3.4') == [
        'TXT "k=rsa; p=x\\"; y" "z"',
        "A 1.2.3.4",
    ]
    assert zeek_answers(
        'CNAME WWW.Ex\\.ample.com; AAAA 2001:db8::1; MX 10 Mail.example.com; TXT "a\\059b" ""'
    ) == ["www.ex.ample.com", "2001:db8::1", "mail.example.com", "TXT 3 a;b TXT 0 "]
    assert zeek_answer("SOA ns1.example.com. host.example.com. 1 2 3 4 5") == "ns1.example.com."
    assert zeek_answer("SRV 0 5 5060 SIP.example.com") == "sip.example.com"
    # RRSIG covering A (1), algorithm 5, signer upenn.edu; DNSKEY algorithm 15; DS 5/2.
    rrsig = "0001050400000e1000000000000000000000" + "0575" + "70656e6e" + "03656475" + "00ff"
    assert zeek_answer(f"RRSIG \\# {len(rrsig) // 2} {rrsig}") == "RRSIG 1 upenn.edu"
    assert zeek_answer("DNSKEY \\# 5 0101030fab") == "DNSKEY 15"
    assert zeek_answer("DS \\# 5 481f0502ff") == "DS 5 2"
    assert zeek_answer("SPF \\# 6 0261620163") == "SPF 2 ab SPF 1 c"
    assert zeek_answer("SSHFP \\# 4 0201abcd") == "SSHFP: abcd"
    assert zeek_answer("LOC \\# 4 00121513") == "LOC:  18 21 19"
    assert zeek_answer("TYPE65534 \\# 5 077d120001") == "BIND9 signing signal"
    # order 100, preference 100, flags "s", service "SIPS", regexp "", replacement foo
    naptr = "0064" + "0064" + "0173" + "0453495053" + "00" + "03666f6f00"
    assert zeek_answer(f"NAPTR \\# {len(naptr) // 2} {naptr}") == "NAPTR 100 100 s SIPS foo"
    assert zeek_answer("WKS \\# 5 c0a8000106") == "WKS \\# 5 c0a8000106"
    assert zeek_name(".") == "" and zeek_name("A\\032B") == "a b"


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, dtype=object)


def test_compare_finds_each_kind_of_difference() -> None:
    """compare() on a made-up log and table: agreement, each field, extra and lone rows."""
    base = {
        "file": "x",
        "client": "10.0.0.1",
        "client_port": 1000,
        "server": "10.0.0.2",
        "server_port": 53,
        "transport": "udp",
        "qclass": "IN",
        "attempts": 1,
        "responses": 1,
    }
    ts = pd.Timestamp("2024-01-01", tz="UTC")
    transactions = _frame(
        [
            {**base, "id": 1, "qname": "A.example", "qtype": "A", "rcode": "NOERROR",
             "answers": "A 192.0.2.1", "rtt_last": 0.001, "query_ts": ts, "response_ts": ts},
            {**base, "id": 2, "qname": "b.example", "qtype": "AAAA", "rcode": "NXDOMAIN",
             "answers": "", "rtt_last": 0.002, "query_ts": ts + pd.Timedelta(1, "s"),
             "response_ts": ts, "attempts": 2},
            {**base, "id": 3, "qname": "c.example", "qtype": "A", "rcode": None,
             "answers": None, "rtt_last": float("nan"), "responses": 0,
             "query_ts": ts + pd.Timedelta(2, "s"), "response_ts": pd.NaT},
        ]
    )  # fmt: skip
    zeek = {
        "id.orig_h": "10.0.0.1",
        "id.orig_p": 1000,
        "id.resp_h": "10.0.0.2",
        "id.resp_p": 53,
        "proto": "udp",
    }
    log = _frame(
        [
            {**zeek, "trans_id": 1, "query": "a.example", "qtype": 1, "qtype_name": "A",
             "rcode": 0, "rcode_name": "NOERROR", "answers": ("192.0.2.1",), "rtt": 0.0010004},
            {**zeek, "trans_id": 2, "query": "b.example", "qtype": 28, "qtype_name": "AAAA",
             "rcode": 3, "rcode_name": "NXDOMAIN", "answers": None, "rtt": None},
            {**zeek, "trans_id": 2, "query": "b.example", "qtype": 28, "qtype_name": "AAAA",
             "rcode": None, "rcode_name": None, "answers": None, "rtt": None},
            {**zeek, "trans_id": 9, "query": "d.example", "qtype": 1, "qtype_name": "A",
             "rcode": None, "rcode_name": None, "answers": None, "rtt": None},
        ]
    )  # fmt: skip
    got = compare("cap", log, transactions)
    row2 = "udp 10.0.0.1.1000 > 10.0.0.2.53 id=2 b.example AAAA"
    assert got.differences == [
        Difference("cap", row2, "rtt", "0.002000", "-"),
        Difference("cap", row2 + " #2", "row", "attempts=2 responses=1", "extra row"),
        Difference("cap", "udp 10.0.0.1.1000 > 10.0.0.2.53 id=9 d.example A", "row", "absent",
                   "present"),
        Difference("cap", "udp 10.0.0.1.1000 > 10.0.0.2.53 id=3 c.example A", "row", "present",
                   "absent"),
    ]  # fmt: skip
    assert (got.zeek_rows, got.agreeing_rows, got.transactions) == (4, 1, 3)
    first = {str(k): v for k, v in log.iloc[0].to_dict().items()}
    wrong = _frame([{**first, "answers": ("192.0.2.9",), "rcode": 2, "rcode_name": "SERVFAIL"}])
    got = compare("cap", wrong, transactions.iloc[[0]])
    row1 = "udp 10.0.0.1.1000 > 10.0.0.2.53 id=1 a.example A"
    assert got.differences == [
        Difference("cap", row1, "rcode", "NOERROR", "SERVFAIL"),
        Difference("cap", row1, "answers", "192.0.2.1", "192.0.2.9"),
    ]
