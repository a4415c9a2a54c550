"""The DNS part of the compiled fast path: validate a message and key its parts.

The code is C (``dns()`` and ``dns_row()`` in ``dnspcap/_dns.c``), called by
:func:`dnspcap.fast.walk` for every UDP message and by :func:`dnspcap.fast.dns_rows`
for the messages the exact path finds (TCP, fragments, tunnels); this module holds
its constants and the design.

For each message the kernel writes the numeric DNS columns of its row straight into
the messages table (flags, counts, rcode with the EDNS bits, EDNS size and DO bit,
minimum answer TTL; ``dnspcap.kernelio.DNS_COLUMNS``), the question type and class,
and the ids of 128-bit hashes that key the parts whose text Python renders once per
distinct value: the question name, the answer section, the EDNS option list.

The message is *strict* only when the exact decoder (:mod:`dnspcap.dnswire`)
is certain to decode it without any error. The checks are therefore
the decoder's checks made *stricter* where mirroring them exactly would cost
more than it saves: one question, an uncompressed question name, compression
pointers only backwards and at most 64 per name. A message that fails them is
not wrong, only handed to the exact decoder whole (keyed by a hash of its bytes
after the ID, TTLs zeroed when the structure walks), and its DNS columns are
replaced by what the decoder says.

The hashes are two 64-bit words per key, in uint64 arithmetic that wraps around:
seeded with ``(FNV_OFFSET ^ v, MIX_OFFSET ^ v)``, and for each value ``x`` mixed in,
``h1 = (h1 ^ x) * FNV_PRIME`` (FNV-1a) and ``y = (h2 + x + 0x9F) * MIX_PRIME;
h2 = y ^ (y >> 29)``. Every index into the message is checked by hand in C.
"""

from __future__ import annotations

from .fast import check_constants

MAX_RECORDS = 64  # more than this: exact decoder (and its bounded but slower walk)
MAX_JUMPS = 64  # the decoder allows 126; fewer here only sends more to the decoder

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MIX_OFFSET = 0x9E3779B97F4A7C15
MIX_PRIME = 0xFF51AFD7ED558CCD
NAME_TYPES = (2, 5, 12, 39)  # NS, CNAME, PTR, DNAME: RDATA is one name

check_constants(
    __name__,
    globals(),
    (
        "MAX_RECORDS", "MAX_JUMPS", "FNV_OFFSET", "FNV_PRIME", "MIX_OFFSET", "MIX_PRIME",
    ),
)  # fmt: skip
