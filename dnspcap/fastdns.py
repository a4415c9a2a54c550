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

A key is the 128-bit MurmurHash3 (x64, 128-bit variant, constants ``HASH_C1`` and
``HASH_C2``) of the bytes that decide the text, fed in as one stream: the question
name's wire bytes; each answer record's type, class, RDLENGTH and RDATA (TTL and owner
left out); the option codes; or the body after the ID with its TTLs read as zeros. The
kind of key is a third word, so keys of different kinds never meet. Every index into
the message is checked by hand in C.
"""

from __future__ import annotations

from .fast import check_constants

MAX_RECORDS = 64  # more than this: exact decoder (and its bounded but slower walk)
MAX_JUMPS = 64  # the decoder allows 126; fewer here only sends more to the decoder

HASH_C1 = 0x87C37B91114253D5
HASH_C2 = 0x4CF5AD432745937F
NAME_TYPES = (2, 5, 12, 39)  # NS, CNAME, PTR, DNAME: RDATA is one name

check_constants(
    __name__,
    globals(),
    (
        "MAX_RECORDS", "MAX_JUMPS", "HASH_C1", "HASH_C2",
    ),
)  # fmt: skip
