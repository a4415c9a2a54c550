"""The one place where the messages table's columns are defined and documented.

`MESSAGE_COLUMNS` is the contract of :func:`dnspcap.read_messages`: the
order, the pandas dtype and the meaning of every column. The docs page
``docs/columns.md`` is rendered from it (``python scripts/make_docs.py``), and a
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
        "vantage",
        "category",
        "Vantage point: the place the file recorded (the files of a rotated set are one). "
        "Named after the files (`node` for `node.pcap0`, `node.pcap1`) or as the user named it.",
    ),
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

TRANSACTION_COLUMNS: tuple[Column, ...] = (
    Column("file", "category", "Capture file of the transaction's first message."),
    Column(
        "vantage",
        "category",
        "Vantage point it was seen at (as in the messages table): each is paired on its own.",
    ),
    Column("client", "category", "Address that sent the query (the response's destination)."),
    Column("client_port", "uint16", "Its port: the resolver's socket."),
    Column("server", "category", "Address the query was sent to (the response's source)."),
    Column("server_port", "uint16", "Its port."),
    Column("transport", "category", "`udp` or `tcp`."),
    Column("id", "uint16", "DNS ID."),
    Column("qname", "category", "Question name (as in the messages table)."),
    Column("qtype", "category", "Question type."),
    Column("qclass", "category", "Question class."),
    Column("query_ts", "datetime64[ns, UTC]", "First attempt's time; NaT without a query."),
    Column("last_query_ts", "datetime64[ns, UTC]", "Last attempt's time; NaT without a query."),
    Column("response_ts", "datetime64[ns, UTC]", "First response's time; NaT without one."),
    Column(
        "rtt",
        "float64",
        "Seconds from the first attempt to the response (NaN without; 0 for a response "
        "stamped before its query).",
    ),
    Column(
        "rtt_last",
        "float64",
        "Seconds from the last attempt before the response to it: the server's own time.",
    ),
    Column(
        "attempts",
        "int32",
        "Queries sent: 1, plus each retransmission (same socket, ID, question).",
    ),
    Column(
        "retry_gaps",
        "list<item: double>[pyarrow]",
        "Seconds between consecutive attempts: the resolver's timeout shows here (5 s glibc, "
        "2.5 s musl).",
    ),
    Column("responses", "int32", "Responses received for it."),
    Column("duplicate_responses", "int32", "Responses beyond the first."),
    Column(
        "status",
        "category",
        "answered; unanswered: no response, and an attempt is known to have timed out (the "
        "capture went on a resolver timeout past the last attempt, the query was resent, or "
        "its client asked the question again from another socket or of another server); "
        "pending: no response, the capture ended too soon to tell; response_without_query; "
        "mismatched_question (an answer to another question on this socket and ID); "
        "icmp_error (refused by ICMP). A response stamped up to 50 µs before its query "
        "(per-CPU clocks) and an answer without a question section (FORMERR, NOTIMP, REFUSED) "
        "answer it.",
    ),
    Column("rcode", "category", "The first response's rcode."),
    Column("tc", "bool", "The first response had the TC bit."),
    Column("ancount", "UInt16", "The first response's answer count; missing without one."),
    Column("answers", "category", "The first response's answers (as in the messages table)."),
    Column("query_frames", "list<item: int64>[pyarrow]", "Frames of every attempt."),
    Column("response_frames", "list<item: int64>[pyarrow]", "Frames of every response."),
    Column(
        "id_collision",
        "bool",
        "Another transaction on this socket had the same ID and another question while this "
        "one was in flight (musl).",
    ),
    Column(
        "nat_peer",
        "int64",
        "Row of the same query seen on the other side of kube-proxy's DNAT (node captures), or -1.",
    ),
    Column(
        "copy_of",
        "int64",
        "-1 for a query counted here; else the row of the same query's first sighting (before "
        "DNAT, or at a vantage point nearer the client), of which this is a copy. Lookups and "
        "detectors count each query once, on the rows where this is -1.",
    ),
    Column(
        "seen_at",
        "category",
        "Where the query was seen, in the order it travelled: vantage points, and "
        "`<vantage> after DNAT` for the copy sent on by kube-proxy (`pod > node > node after "
        "DNAT > dns`).",
    ),
    Column(
        "lost_at",
        "category",
        "Where an attempt or its answer went missing on that path, when the captures show "
        "it: `between node and node after DNAT` (an attempt seen before DNAT, not after: "
        "dropped on that node), `answer lost between node and pod` (the return path), "
        "`no answer came back to dns` (it reached the DNS pod, which did not answer); empty "
        "otherwise.",
    ),
    Column("icmp", "category", "The ICMP error its query or response drew, or empty."),
)

LOOKUP_COLUMNS: tuple[Column, ...] = (
    Column("client", "category", "The client that resolved the name."),
    Column("name", "str", "The name asked, without the search suffixes."),
    Column("final_name", "str", "The last name tried (with a suffix, or the name itself)."),
    Column(
        "outcome",
        "category",
        "answered (records), nxdomain, no_data, timed_out, failed (SERVFAIL, REFUSED, ICMP), "
        "pending.",
    ),
    Column("start", "datetime64[ns, UTC]", "First query's time."),
    Column("duration", "float64", "Seconds from the first query to the last message."),
    Column("search_time", "float64", "Seconds spent before the final name was asked."),
    Column("queries", "int64", "Queries sent, retransmissions included."),
    Column("transactions", "int64", "Transactions grouped into this lookup."),
    Column("search_queries", "int64", "Queries spent on search-list names before the final one."),
    Column("retransmissions", "int64", "Queries that were resends."),
    Column(
        "time_lost_to_retries",
        "float64",
        "Seconds spent waiting for timeouts: the time between a query's first and last attempt, "
        "counted once when several queries of the lookup waited at the same time (an A and an "
        "AAAA resent side by side cost one wait).",
    ),
    Column("sockets", "int64", "Client ports used (glibc opens one per search step)."),
    Column("resolver", "category", "glibc, musl, go or unknown, from the wire pattern."),
    Column("resolver_evidence", "str", "The signs the resolver was told by."),
    Column(
        "transactions_index",
        "list<item: int64>[pyarrow]",
        "Index labels of the transactions table (`tx.loc[...]`) in this lookup; for a table "
        "straight from `pair()` they are also row positions.",
    ),
)


def render_markdown() -> str:
    """The columns of the three tables as a Markdown document."""
    lines = [
        "# The tables",
        "",
        "Generated from `dnspcap/columns.py`; do not edit it by hand.",
    ]
    for title, intro, columns in (
        ("messages", "`dnspcap.read_messages()`: one row per DNS message, in frame order.",
         MESSAGE_COLUMNS),
        ("transactions", "`dnspcap.pair()`: one row per query and its response(s), in the "
         "order of each transaction's first message.",
         TRANSACTION_COLUMNS),
        ("lookups", "`dnspcap.lookups()`: one row per name resolution a client made.",
         LOOKUP_COLUMNS),
    ):  # fmt: skip
        lines += ["", f"## {title}", "", intro, "", "| column | dtype | meaning |", "|---|---|---|"]
        for c in columns:
            doc = c.doc.replace("|", "\\|")
            lines.append(f"| `{c.name}` | {c.dtype} | {doc} |")
    return "\n".join(lines) + "\n"
