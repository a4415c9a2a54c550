"""The arrays the compiled kernel (:mod:`dnspcap.fast`) reads and writes.

Kept apart from the kernel so that the kernel module holds only compiled code,
and from :mod:`dnspcap.table` so that the table holds only pandas.
"""

from __future__ import annotations

import numpy as np

from . import fast
from . import fastdns as fd


class Interned:
    """An open-addressing table the kernel interns keys in (see :mod:`dnspcap.fast`).

    It lives as long as the accumulator, across chunks and files, so an id the kernel
    gave once means the same thing for the whole read.
    """

    def __init__(self, size: int) -> None:
        self.k1 = np.zeros(size, np.uint64)
        self.k2 = np.zeros(size, np.uint64)
        self.k3 = np.zeros(size, np.uint64)
        self.ids = np.full(size, -1, np.int64)
        self.count = np.zeros(1, np.int64)

    def reserve(self, more: int) -> None:
        """Grow (rehashing) so that `more` new keys still leave the table half empty."""
        need = 2 * (int(self.count[0]) + more)
        size = len(self.ids)
        if need <= size:
            return
        while size < need:
            size *= 2
        bigger = Interned(size)
        fast.rehash(
            self.k1, self.k2, self.k3, self.ids, bigger.k1, bigger.k2, bigger.k3, bigger.ids
        )
        self.k1, self.k2, self.k3, self.ids = bigger.k1, bigger.k2, bigger.k3, bigger.ids

    def arrays(self) -> tuple[np.ndarray, ...]:
        # room for a good share of a chunk; the kernel stops early (FULL) if it needs more
        self.reserve(max(1024, int(self.count[0])))
        return self.k1, self.k2, self.k3, self.ids, self.count


class KernelBuffers:
    """Output arrays the kernel writes into, reused chunk after chunk."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.m_frame = np.empty(cap, np.int64)
        self.m_ts = np.empty(cap, np.int64)
        self.m_src = np.empty(cap, np.int64)
        self.m_dst = np.empty(cap, np.int64)
        self.m_sport = np.empty(cap, np.uint16)
        self.m_dport = np.empty(cap, np.uint16)
        self.m_ver = np.empty(cap, np.uint8)
        self.m_service = np.empty(cap, np.uint8)
        self.m_id = np.empty(cap, np.uint16)
        self.m_size = np.empty(cap, np.uint16)
        self.m_info = np.empty((cap, fd.INFO_SIZE), np.int64)
        self.m_key = np.empty((cap, 4), np.int64)  # qname, answers, options, whole body
        self.m_off = np.empty(cap, np.int64)
        self.new_key_row = np.empty(3 * cap, np.int64)
        self.new_key_kind = np.empty(3 * cap, np.int64)
        self.new_ip_k1 = np.empty(2 * cap, np.uint64)
        self.new_ip_k2 = np.empty(2 * cap, np.uint64)
        self.new_ip_ver = np.empty(2 * cap, np.uint8)
        self.s_frame = np.empty(cap, np.int64)
        self.s_ts = np.empty(cap, np.int64)
        self.s_iface = np.empty(cap, np.int64)
        self.s_off = np.empty(cap, np.int64)
        self.s_caplen = np.empty(cap, np.int64)
        self.s_origlen = np.empty(cap, np.int64)

    def arrays(self, keys: Interned, addresses: Interned) -> tuple[np.ndarray, ...]:
        """The kernel's output arguments, in its order."""
        return (
            self.m_frame, self.m_ts, self.m_src, self.m_dst, self.m_sport, self.m_dport,
            self.m_ver, self.m_service, self.m_id, self.m_size, self.m_info, self.m_key,
            self.m_off,
            *keys.arrays(), self.new_key_row, self.new_key_kind,
            *addresses.arrays(), self.new_ip_k1, self.new_ip_k2, self.new_ip_ver,
            self.s_frame, self.s_ts, self.s_iface, self.s_off, self.s_caplen, self.s_origlen,
        )  # fmt: skip

    def payload(self, buf: np.ndarray, row: int) -> bytes:
        o = int(self.m_off[row])
        return bytes(buf[o : o + int(self.m_size[row])])
