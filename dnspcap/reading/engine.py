"""The compiled fast path: one pass over a buffer of capture records into column arrays.

`walk` is a C function (:mod:`dnspcap._kernel`, sources ``dnspcap/_*.c``, see
``dnspcap/csrc/kernel.h``; this module holds its constants and re-exports it). It walks
classic-pcap records or pcapng enhanced packet blocks, decodes the link layer,
IPv4/IPv6, UDP and the structure of the DNS message (header, questions, every
resource record's fixed part), and writes one row per DNS message straight into the
columns of the messages table (:mod:`dnspcap.reading.columnstore`). Anything it does not handle
completely is handed back as a *slow* record for the exact pure-Python path
(:mod:`dnspcap.reading.netstack`): IP fragments, TCP, IPv6 extension headers, tunnels,
snaplen-truncated packets, rarer link types, pcapng blocks other than EPB.

The DNS part (``dnspcap/csrc/reading/dns.c``) reads the header, question, EDNS and
minimum answer TTL into numbers and checks each message strictly enough to
vouch that the exact decoder would find no error; the parts whose text must be
rendered (question name, answer section, option list) are keyed by 128-bit
hashes of their wire bytes and rendered once per distinct key (``qnames``,
``texts``). A message it cannot vouch for (malformed, hostile, or only unusual)
is decoded by the kernel's exact decoder, a C port of
:func:`dnspcap.reading.dnswire.decode_message` that words every error the same way; its
texts, the error among them, are keyed by hashes of the texts themselves.

The capture bytes are hostile input: the C code bounds-checks every read of the
buffer by hand, and checks the arrays it is given (element type, shape,
contiguity, lengths) once per call, raising ``TypeError``/``ValueError`` rather
than reading past them. It releases the GIL while it walks.

``walk(b, n, pos, frame, pcapng, big, rechdr, ts_mul, if_link, if_tsmul, if_tsdiv,
if_tsoff, ports, <row columns>, <DNS columns>, <key table>, <address table>, <slow
records>, counts)`` reads ``b[pos:n]`` and returns ``(status, pos, frame, nm, nslow,
nkey, nip)``; the arrays and their element types are those of
:meth:`dnspcap.reading.buffers.KernelBuffers.arrays` and :class:`dnspcap.reading.buffers.Interned`.
``dns_rows`` writes the DNS columns of messages the exact path found, ``qnames``
renders question names and ``texts`` the other texts of the keys met first, ``decode``
decodes one message whole (for the tests), ``address_texts`` writes addresses as
:mod:`ipaddress` does, ``merge_rows`` puts appended rows in frame order in place,
``count_codes`` and ``recode`` count and map the codes of categorical columns.

Interning (inside the kernel): keys ``(k1, k2, k3)`` live in open-addressing tables
of power-of-two size (rows of four words: the key, then its id plus one, 0 when the
slot is empty, so that a probe reads one cache line), probed linearly from ``h ^ (h >> 31)`` where
``h = k1 ^ k2 * 0x9E3779B97F4A7C15 ^ k3 * 0xC2B2AE3D27D4EB4F`` (uint64 arithmetic).
A new key takes the next id from the table's counter and is reported to Python
(``new_key_*``/``new_ip_*``) so that it learns what to decode; the kernel stops
with `FULL` before a table gets more than half full, and Python grows it with
`rehash` (ids unchanged).

The DNS part in detail.

The code is C (``dns()`` and ``dns_row()`` in ``dnspcap/csrc/reading/dns.c``), called by
:func:`walk` for every UDP message and by :func:`dns_rows`
for the messages the exact path finds (TCP, fragments, tunnels); this module holds
its constants and the design.

For each message the kernel writes the numeric DNS columns of its row straight into
the messages table (flags, counts, rcode with the EDNS bits, EDNS size and DO bit,
minimum answer TTL; ``dnspcap.reading.buffers.DNS_COLUMNS``), the question type and class,
and the ids of 128-bit hashes that key the parts whose text Python renders once per
distinct value: the question name, the answer section, the EDNS option list.

The message is *strict* only when the exact decoder (:mod:`dnspcap.reading.dnswire`)
is certain to decode it without any error. The checks are therefore
the decoder's checks made *stricter* where mirroring them exactly would cost
more than it saves: one question, an uncompressed question name, compression
pointers only backwards and at most 64 per name. A message that fails them is
not wrong, only handed to the kernel's exact decoder (``dnspcap/csrc/reading/decode.c``, a C port
of :func:`dnspcap.reading.dnswire.decode_message` that follows the same walk and words every
error the same way), which writes its DNS columns and renders its four texts: the
question name, the answers read before any error, the option list and the error. Those
are keyed by hashes of the texts themselves, so a flood of malformed messages costs a
decode each in C and a Python string only per distinct text.

A key is the 128-bit MurmurHash3 (x64, 128-bit variant, constants ``HASH_C1`` and
``HASH_C2``) of the bytes that decide the text, fed in as one stream: the question
name's wire bytes; each answer record's type, class, RDLENGTH and RDATA (TTL and owner
left out; when a name in them points elsewhere, the message after the ID up to the end
of the answers, TTLs read as zeros); the option codes; or, from the exact decoder, the
text. The kind of key is a third word (``fast.K_*``), so keys of different kinds never
meet. The text of a key met for the first time is rendered by the kernel too
(``qnames``, ``texts``), identical to what :mod:`dnspcap.reading.dnswire` writes. Every index
into the message is checked by hand in C.
"""

from __future__ import annotations

from ..native import (
    address_texts,
    check_constants,
    count_codes,
    decode,
    dns_rows,
    merge_rows,
    qnames,
    recode,
    rehash,
    texts,
    walk,
)
from .containers import MAX_RECORD  # checked against the C walker's below

# walk() stops with one of these
NEED_MORE = 0  # the next record is not entirely in the buffer
BLOCK = 1  # a pcapng section or interface block: Python parses it, then calls again
FULL = 2  # the output arrays are full
CORRUPT = 3  # a record length that cannot be right: the pure-Python walker takes over

# row counters, in the order of COUNTERS
COUNTERS = ("packets", "not_ip", "not_dns", "mdns_skipped", "llmnr_skipped", "first_ts", "last_ts")
C_PACKETS, C_NOT_IP, C_NOT_DNS, C_MDNS_SKIP, C_LLMNR_SKIP, C_FIRST_TS, C_LAST_TS = range(7)

# kinds of interned keys (the third key word): the key column (kind & 7, from 1), plus
# K_TEXT when the key hashes the text itself (messages the exact decoder read), not wire bytes
K_QNAME, K_ANSWERS, K_OPTIONS, K_ERROR, K_TEXT = 1, 2, 3, 4, 8
N_KEYS = 4  # key columns per message: qname, answers, options, error
KEYS_PER_ROW = 4  # at most this many new keys per message

# ports[] values
P_NONE, P_DNS, P_MDNS, P_LLMNR, P_MDNS_SKIP, P_LLMNR_SKIP, P_TUNNEL = 0, 1, 2, 3, 4, 5, 6

# the DNS part (see the docstring)
MAX_RECORDS = 64  # more than this: exact decoder (and its bounded but slower walk)
MAX_JUMPS = 64  # the decoder allows 126; fewer here only sends more to the decoder
HASH_C1 = 0x87C37B91114253D5
HASH_C2 = 0x4CF5AD432745937F

# A slow record whose interface is TCP_SEGMENT (IPv4) or TCP_SEGMENT - 1 (IPv6) is a TCP
# segment the kernel took apart (plain IP, nothing cut): its offset and length are the
# segment's, its origlen where the source and destination addresses start. An interface
# of -1 is a whole pcapng block for the exact path.
TCP_SEGMENT = -2


check_constants(
    __name__,
    globals(),
    (
        "NEED_MORE", "BLOCK", "FULL", "CORRUPT",
        "C_PACKETS", "C_NOT_IP", "C_NOT_DNS", "C_MDNS_SKIP", "C_LLMNR_SKIP", "C_FIRST_TS",
        "C_LAST_TS",
        "K_QNAME", "K_ANSWERS", "K_OPTIONS", "K_ERROR", "K_TEXT", "N_KEYS", "KEYS_PER_ROW",
        "P_NONE", "P_DNS", "P_MDNS", "P_LLMNR", "P_MDNS_SKIP", "P_LLMNR_SKIP", "P_TUNNEL",
        "MAX_RECORD", "TCP_SEGMENT", "MAX_RECORDS", "MAX_JUMPS", "HASH_C1", "HASH_C2",
    ),
)  # fmt: skip

__all__ = [
    "BLOCK",
    "CORRUPT",
    "COUNTERS",
    "C_FIRST_TS",
    "C_LAST_TS",
    "FULL",
    "KEYS_PER_ROW",
    "K_ANSWERS",
    "K_ERROR",
    "K_OPTIONS",
    "K_QNAME",
    "K_TEXT",
    "MAX_RECORD",
    "NEED_MORE",
    "N_KEYS",
    "P_DNS",
    "P_LLMNR",
    "P_LLMNR_SKIP",
    "P_MDNS",
    "P_MDNS_SKIP",
    "P_NONE",
    "P_TUNNEL",
    "TCP_SEGMENT",
    "address_texts",
    "count_codes",
    "decode",
    "dns_rows",
    "merge_rows",
    "qnames",
    "recode",
    "rehash",
    "texts",
    "walk",
]
