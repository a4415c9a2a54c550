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
not wrong, only handed to the kernel's exact decoder (``dnspcap/_decode.c``, a C port
of :func:`dnspcap.dnswire.decode_message` that follows the same walk and words every
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
(``qnames``, ``texts``), identical to what :mod:`dnspcap.dnswire` writes. Every index
into the message is checked by hand in C.
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
