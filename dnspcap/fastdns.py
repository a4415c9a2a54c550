"""The DNS part of the compiled fast path: validate a message and key its parts.

The code is C (``dns()`` and its helpers in ``dnspcap/_kernel.c``, called by
:func:`dnspcap.fast.walk` for every message); this module holds the layout of
what it writes, which :mod:`dnspcap.table` reads.

For each message the kernel fills a small record (``info``, one row of
``m_info``) of numeric fields (header, counts, question type and class, EDNS,
minimum answer TTL) and 128-bit hashes that key the parts whose text Python
renders once per distinct value: the question name, the answer section, the
EDNS option list.

``info[I_STRICT]`` is 1 only when the exact decoder (:mod:`dnspcap.dnswire`)
is certain to decode the message without any error. The checks are therefore
the decoder's checks made *stricter* where mirroring them exactly would cost
more than it saves: one question, an uncompressed question name, compression
pointers only backwards and at most 64 per name. A message that fails them is
not wrong, only handed to the exact decoder whole (keyed by a hash of its bytes
after the ID, TTLs zeroed when the structure walks).

The hashes are two 64-bit words per key, in uint64 arithmetic that wraps around:
seeded with ``(FNV_OFFSET ^ v, MIX_OFFSET ^ v)``, and for each value ``x`` mixed in,
``h1 = (h1 ^ x) * FNV_PRIME`` (FNV-1a) and ``y = (h2 + x + 0x9F) * MIX_PRIME;
h2 = y ^ (y >> 29)``. Every index into the message is checked by hand in C.
"""

from __future__ import annotations

from .fast import check_constants

MAX_RECORDS = 64  # more than this: exact decoder (and its bounded but slower walk)
MAX_JUMPS = 64  # the decoder allows 126; fewer here only sends more to the decoder

# info[] slots
I_FLAGS, I_QD, I_AN, I_NS, I_AR, I_QTYPE, I_QCLASS = 0, 1, 2, 3, 4, 5, 6
I_EDNS, I_OPTTTL, I_MINTTL, I_WALK, I_STRICT, I_HAS_ANS, I_HAS_OPTS = 7, 8, 9, 10, 11, 12, 13
I_QNAME_START, I_QNAME_END = 14, 15
INFO_SIZE = 16

# hashes[] slots: (h1, h2) pairs
H_BODY, H_QNAME, H_ANS, H_OPTS = 0, 2, 4, 6
HASH_SIZE = 8

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MIX_OFFSET = 0x9E3779B97F4A7C15
MIX_PRIME = 0xFF51AFD7ED558CCD
NAME_TYPES = (2, 5, 12, 39)  # NS, CNAME, PTR, DNAME: RDATA is one name

check_constants(
    __name__,
    globals(),
    (
        "MAX_RECORDS", "MAX_JUMPS",
        "I_FLAGS", "I_QD", "I_AN", "I_NS", "I_AR", "I_QTYPE", "I_QCLASS", "I_EDNS", "I_OPTTTL",
        "I_MINTTL", "I_WALK", "I_STRICT", "I_HAS_ANS", "I_HAS_OPTS", "I_QNAME_START",
        "I_QNAME_END", "INFO_SIZE",
        "H_BODY", "H_QNAME", "H_ANS", "H_OPTS", "HASH_SIZE",
        "FNV_OFFSET", "FNV_PRIME", "MIX_OFFSET", "MIX_PRIME",
    ),
)  # fmt: skip
