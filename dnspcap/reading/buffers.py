"""The arrays the compiled kernel (:mod:`dnspcap.reading.engine`) reads and writes.

Kept apart from the kernel so that the kernel module holds only compiled code,
and from :mod:`dnspcap.reading.accumulator` so that the table holds only pandas.
"""

from __future__ import annotations

import numpy as np

from . import engine
from .columnstore import RowStore, anon_array


class Interned:
    """An open-addressing table the kernel interns keys in (see :mod:`dnspcap.reading.engine`).

    Each entry is a row of four words: the key (k1, k2, k3) and its id plus one (0: an
    empty slot). It lives as long as the accumulator, across chunks and files, so an id
    the kernel gave once means the same thing for the whole read.
    """

    def __init__(self, size: int) -> None:
        self.entries = np.zeros((size, 4), np.uint64)
        self.count = np.zeros(1, np.int64)

    def reserve(self, more: int) -> None:
        """Grow (rehashing) so that `more` new keys still leave the table half empty."""
        need = 2 * (int(self.count[0]) + more)
        size = len(self.entries)
        if need <= size:
            return
        while size < need:
            size *= 2
        bigger = np.zeros((size, 4), np.uint64)
        engine.rehash(self.entries, bigger)
        self.entries = bigger

    def arrays(self) -> tuple[np.ndarray, ...]:
        # room for a good share of a chunk; the kernel stops early (FULL) if it needs more
        self.reserve(max(1024, int(self.count[0])))
        return self.entries, self.count


# Columns of the messages table the kernel writes directly (dnspcap.reading.accumulator keeps
# them in a dnspcap.reading.columnstore.RowStore), in walk()'s order: the row's own, then
# the DNS ones.
ROW_COLUMNS = ("frame", "ts", "sport", "dport", "ip_version", "service", "id", "size")
DNS_COLUMNS = (
    "flags", "qdcount", "ancount", "nscount", "arcount", "rcode",
    "edns_size", "edns_na", "edns_do", "min_ttl", "min_ttl_na",
)  # fmt: skip


class DnsScratch:
    """The per-message outputs of the kernel's DNS part that Python turns into codes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.qtype = anon_array(cap, np.int64)  # -1: no question
        self.qclass = anon_array(cap, np.int64)
        self.key = anon_array((cap, 4), np.int64)  # qname, answers, options, error; -1
        self.off = anon_array(cap, np.int64)  # where the message starts in the buffer
        self.new_key_row = anon_array(engine.KEYS_PER_ROW * cap, np.int64)
        self.new_key_kind = anon_array(engine.KEYS_PER_ROW * cap, np.int64)

    def arrays(self, store: RowStore, row: int, keys: Interned) -> tuple[np.ndarray, ...]:
        """walk()'s and dns_rows()'s DNS arguments for rows from `row` of the store."""
        end = row + self.cap
        return (
            *(store[name][row:end] for name in DNS_COLUMNS),
            self.qtype, self.qclass, self.key, self.off,
            *keys.arrays(), self.new_key_row, self.new_key_kind,
        )  # fmt: skip


class KernelBuffers:
    """Output arrays the kernel writes into besides the table's columns, reused chunk after
    chunk."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.m_src = anon_array(cap, np.int64)  # interned address ids
        self.m_dst = anon_array(cap, np.int64)
        self.dns = DnsScratch(cap)
        self.new_ip_k1 = anon_array(2 * cap, np.uint64)
        self.new_ip_k2 = anon_array(2 * cap, np.uint64)
        self.new_ip_ver = anon_array(2 * cap, np.uint8)
        self.s_frame = anon_array(cap, np.int64)
        self.s_ts = anon_array(cap, np.int64)
        self.s_iface = anon_array(cap, np.int64)
        self.s_off = anon_array(cap, np.int64)
        self.s_caplen = anon_array(cap, np.int64)
        self.s_origlen = anon_array(cap, np.int64)

    def arrays(
        self, store: RowStore, keys: Interned, addresses: Interned
    ) -> tuple[np.ndarray, ...]:
        """The kernel's output arguments, in its order; rows go to the store from its row n
        (which must have room for `cap` more)."""
        row, end = store.n, store.n + self.cap
        return (
            *(store[name][row:end] for name in ROW_COLUMNS),
            self.m_src, self.m_dst,
            *self.dns.arrays(store, row, keys),
            *addresses.arrays(), self.new_ip_k1, self.new_ip_k2, self.new_ip_ver,
            self.s_frame, self.s_ts, self.s_iface, self.s_off, self.s_caplen, self.s_origlen,
        )  # fmt: skip
