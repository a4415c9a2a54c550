"""The one place where the messages table's columns are defined and documented.

`MESSAGE_COLUMNS` is the contract of :func:`dnspcap.read_messages`: the
order, the pandas dtype and the meaning of every column. The docs page
``docs/columns.md`` is rendered from it (``python -m dnspcap.columns``), and a
test checks the rendered page is current and that every table we return has
exactly these columns with these dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    dtype: str
    doc: str


MESSAGE_COLUMNS: tuple[Column, ...] = (
    Column("file", "category", "Capture file the message was read from (`-` for standard input)."),
    Column(
        "frame",
        "int64",
        "Frame number as Wireshark numbers it: the 1-based index of the packet record in its "
        "file. For DNS over TCP, the frame whose segment completed the message; for a "
        "fragmented datagram, the frame that completed reassembly.",
    ),
    Column(
        "ts", "datetime64[ns, UTC]", "Capture timestamp of that frame, UTC, nanosecond resolution."
    ),
    Column("src", "category", "Source IP address (IPv4 dotted quad or compressed IPv6)."),
    Column("dst", "category", "Destination IP address."),
    Column("sport", "uint16", "Source port."),
    Column("dport", "uint16", "Destination port."),
    Column("transport", "category", "`udp` or `tcp`."),
    Column("ip_version", "uint8", "4 or 6."),
    Column(
        "service",
        "category",
        "`dns` (port 53 or a configured port), `mdns` (5353) or `llmnr` (5355). mDNS and LLMNR "
        "are only read when asked for (`multicast=True`) and are kept apart from the analysis.",
    ),
    Column("id", "uint16", "DNS message ID."),
    Column("qr", "bool", "True for a response, False for a query."),
    Column(
        "opcode", "category", "Opcode name: QUERY, IQUERY, STATUS, NOTIFY, UPDATE, DSO, or OPCODEn."
    ),
    Column(
        "rcode",
        "category",
        "Response code name (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, ..., or "
        "RCODEn), including the EDNS extended-rcode bits when an OPT record is present.",
    ),
    Column(
        "flags",
        "category",
        "Header flag bits that are set, lower case, space separated, in header order: "
        "`qr aa tc rd ra z ad cd` (for example `qr rd ra`). Empty when none is set.",
    ),
    Column(
        "tc",
        "bool",
        "The TC (truncated) bit: the answer did not fit and should be retried over TCP.",
    ),
    Column(
        "qname",
        "category",
        "Name in the first question, case preserved, without the trailing dot (`.` for the "
        "root). Bytes outside printable ASCII, and `.` or `\\` inside a label, are written "
        "as `\\DDD` / `\\.` / `\\\\` as in RFC 1035 master files. Empty when there is no question.",
    ),
    Column(
        "qtype",
        "category",
        "Type in the first question: A, AAAA, PTR, ... or TYPEn for types without a name.",
    ),
    Column("qclass", "category", "Class in the first question: IN, CH, HS, ANY, NONE or CLASSn."),
    Column("qdcount", "uint16", "QDCOUNT from the header."),
    Column("ancount", "uint16", "ANCOUNT from the header."),
    Column("nscount", "uint16", "NSCOUNT (authority records) from the header."),
    Column("arcount", "uint16", "ARCOUNT (additional records, including OPT) from the header."),
    Column(
        "answers",
        "category",
        "The answer section, one `TYPE rdata` per record joined by `; ` (for example "
        "`CNAME web.example.com; A 192.0.2.1`). A, AAAA, CNAME, PTR, NS, SOA, SRV, TXT, MX "
        "are decoded; other types show their name (or `TYPEn`) and the generic `\\# len hex` "
        "form of RFC 3597, e.g. `DS \\# 4 deadbeef`. Empty when none.",
    ),
    Column(
        "min_ttl",
        "UInt32",
        "Smallest TTL among the answer-section records; missing when there is no answer record.",
    ),
    Column(
        "edns_size", "UInt16", "EDNS UDP payload size from the OPT record; missing without OPT."
    ),
    Column("edns_do", "bool", "The EDNS DO (DNSSEC OK) bit; False without OPT."),
    Column(
        "edns_options",
        "category",
        "EDNS option codes present in the OPT record, by name where known (COOKIE, ECS, "
        "PADDING, ...) or as OPTn, comma separated in wire order. Empty when none.",
    ),
    Column(
        "size",
        "uint32",
        "Length of the DNS message in bytes as captured (without the TCP length prefix).",
    ),
    Column(
        "truncated",
        "bool",
        "The packet was cut short by the capture (snaplen smaller than the packet, or the last "
        "record of a file cut mid-write). The fields that could be read are filled in.",
    ),
    Column(
        "error",
        "category",
        "Why the message could not be fully decoded (for example "
        "`name pointer loop in question 1`, `answer record 2 runs past the end of the message`); "
        "empty for a well-formed message. "
        "Fields read before the error are filled in.",
    ),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in MESSAGE_COLUMNS)


def render_markdown() -> str:
    """The columns of the messages table as a Markdown document."""
    lines = [
        "# The messages table",
        "",
        "`dnspcap.read_messages()` returns one row per DNS message, in capture-time order.",
        "This page is generated from `dnspcap/columns.py`; do not edit it by hand.",
        "",
        "| column | dtype | meaning |",
        "|---|---|---|",
    ]
    for c in MESSAGE_COLUMNS:
        doc = c.doc.replace("|", "\\|")
        lines.append(f"| `{c.name}` | {c.dtype} | {doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - used to regenerate the docs page
    print(render_markdown(), end="")
