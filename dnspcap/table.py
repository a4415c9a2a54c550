"""Builds the messages DataFrame from what the decode paths found.

Rows arrive from two places: arrays written by the compiled kernel, and
:class:`~dnspcap.netstack.RawMessage` objects from the exact path. DNS fields
are decoded once per distinct message body (see :mod:`dnspcap.fast`) into a
table of :class:`~dnspcap.dnswire.Decoded` entries, and each row points at
one. String columns are pandas categoricals: a capture repeats the same names,
addresses and answers millions of times.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from . import fast
from .dnstypes import class_name, opcode_name, rcode_name, type_name
from .dnswire import Decoded, decode_message, flags_text
from .netstack import SERVICE_NAMES, RawMessage

_ROW_FIELDS: dict[str, Any] = {
    "file": np.int32,
    "frame": np.int64,
    "ts": np.int64,
    "src": np.int32,
    "dst": np.int32,
    "sport": np.uint16,
    "dport": np.uint16,
    "transport": np.uint8,
    "ip_version": np.uint8,
    "service": np.uint8,
    "id": np.uint16,
    "size": np.uint16,
    "min_ttl": np.int64,  # -1: none; -2: the decoded entry's own (exact for its one body)
    "truncated": np.bool_,
    "dec": np.int32,
}


class _Interned:
    """An open-addressing table the kernel interns keys in (see :func:`dnspcap.fast.intern`)."""

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
        bigger = _Interned(size)
        fast.rehash(
            self.k1, self.k2, self.k3, self.ids, bigger.k1, bigger.k2, bigger.k3, bigger.ids
        )
        self.k1, self.k2, self.k3, self.ids = bigger.k1, bigger.k2, bigger.k3, bigger.ids

    def arrays(self) -> tuple[np.ndarray, ...]:
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
        self.m_minttl = np.empty(cap, np.int64)
        self.m_ok = np.empty(cap, np.bool_)
        self.m_body = np.empty(cap, np.int64)
        self.m_off = np.empty(cap, np.int64)
        self.new_body_row = np.empty(cap, np.int64)
        self.new_ip_k1 = np.empty(2 * cap, np.uint64)
        self.new_ip_k2 = np.empty(2 * cap, np.uint64)
        self.new_ip_ver = np.empty(2 * cap, np.uint8)
        self.s_frame = np.empty(cap, np.int64)
        self.s_ts = np.empty(cap, np.int64)
        self.s_iface = np.empty(cap, np.int64)
        self.s_off = np.empty(cap, np.int64)
        self.s_caplen = np.empty(cap, np.int64)
        self.s_origlen = np.empty(cap, np.int64)

    def arrays(self, bodies: _Interned, addresses: _Interned) -> tuple[np.ndarray, ...]:
        # room for a good share of a chunk; the kernel stops early (FULL) if it needs more
        bodies.reserve(max(1024, int(bodies.count[0])))
        addresses.reserve(max(256, int(addresses.count[0])))
        return (
            self.m_frame, self.m_ts, self.m_src, self.m_dst, self.m_sport, self.m_dport,
            self.m_ver, self.m_service, self.m_id, self.m_size, self.m_minttl, self.m_ok,
            self.m_body, self.m_off,
            *bodies.arrays(), self.new_body_row, *addresses.arrays(),
            self.new_ip_k1, self.new_ip_k2, self.new_ip_ver,
            self.s_frame, self.s_ts, self.s_iface, self.s_off, self.s_caplen, self.s_origlen,
        )  # fmt: skip


class Accumulator:
    """Collects rows from both paths; builds the DataFrame once at the end."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.counts: Counter[str] = Counter()
        self.warnings: list[str] = []
        self.rows = 0
        self.yielded = False
        self._decoded: list[Decoded] = []
        # what the kernel's interned ids stand for: decoded entry / address code, by id
        self.bodies = _Interned(1 << 16)
        self.addresses = _Interned(1 << 12)
        self._body_entry = np.empty(0, np.int32)
        self._body_individual = np.empty(0, np.bool_)
        self._address_code = np.empty(0, np.int32)
        self._by_body: dict[Decoded, int] = {}
        self._ips: dict[bytes, int] = {}
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in _ROW_FIELDS}

    def add_file(self, index: int, name: str) -> None:
        while len(self.files) <= index:
            self.files.append(name)

    def add_warnings(self, name: str, warnings: list[str]) -> None:
        self.warnings.extend(f"{name}: {w}" for w in warnings)

    # -- rows from the exact path --------------------------------------------------------------

    def _ip(self, addr: bytes) -> int:
        code = self._ips.get(addr)
        if code is None:
            code = self._ips[addr] = len(self._ips)
        return code

    def _entry(self, d: Decoded) -> int:
        key = d._replace(id=0, min_ttl=None)
        idx = self._by_body.get(key)
        if idx is None:
            idx = self._by_body[key] = len(self._decoded)
            self._decoded.append(key)
        return idx

    def add_raw(self, file_index: int, raws: list[RawMessage]) -> None:
        if not raws:
            return
        cols: dict[str, list[int]] = {k: [] for k in _ROW_FIELDS}
        for r in raws:
            d = decode_message(r.payload)
            if r.error:
                d = d._replace(error=r.error if d.error is None else f"{r.error}; {d.error}")
            cols["file"].append(file_index)
            cols["frame"].append(r.frame)
            cols["ts"].append(r.ts_ns)
            cols["src"].append(self._ip(r.src))
            cols["dst"].append(self._ip(r.dst))
            cols["sport"].append(r.sport)
            cols["dport"].append(r.dport)
            cols["transport"].append(r.transport)
            cols["ip_version"].append(r.ip_version)
            cols["service"].append(r.service)
            cols["id"].append(d.id or 0)
            cols["size"].append(len(r.payload))
            cols["min_ttl"].append(-1 if d.min_ttl is None else d.min_ttl)
            cols["truncated"].append(r.truncated)
            cols["dec"].append(self._entry(d))
        for k, dtype in _ROW_FIELDS.items():
            self._parts[k].append(np.array(cols[k], dtype=dtype))
        self.rows += len(raws)

    # -- rows from the kernel ------------------------------------------------------------------

    def kernel_buffers(self, cap: int) -> KernelBuffers:
        return KernelBuffers(cap)

    def add_fast(
        self, file_index: int, buf: np.ndarray, out: KernelBuffers, n: int, nbody: int, nip: int
    ) -> None:
        """Take the rows the kernel wrote; decode the message bodies it saw for the first time."""
        self._learn_bodies(buf, out, nbody)
        self._learn_addresses(buf, out, nip)
        if n == 0:
            return
        body = out.m_body[:n]
        dec = self._body_entry[body]
        min_ttl = np.where(out.m_ok[:n], out.m_minttl[:n], -2)
        individual = self._body_individual[body]
        if individual.any():
            # TTLs were masked, but this body has an error: min_ttl may depend on where
            # decoding stopped, so each such message is decoded on its own.
            for r in np.flatnonzero(individual).tolist():
                o = int(out.m_off[r])
                d = decode_message(bytes(buf[o : o + int(out.m_size[r])]))
                dec[r] = self._entry(d)
                min_ttl[r] = -1 if d.min_ttl is None else d.min_ttl
        p = self._parts
        p["file"].append(np.full(n, file_index, np.int32))
        p["frame"].append(out.m_frame[:n].copy())
        p["ts"].append(out.m_ts[:n].copy())
        p["src"].append(self._address_code[out.m_src[:n]])
        p["dst"].append(self._address_code[out.m_dst[:n]])
        p["sport"].append(out.m_sport[:n].copy())
        p["dport"].append(out.m_dport[:n].copy())
        p["transport"].append(np.zeros(n, np.uint8))
        p["ip_version"].append(out.m_ver[:n].copy())
        p["service"].append(out.m_service[:n].copy())
        p["id"].append(out.m_id[:n].copy())
        p["size"].append(out.m_size[:n].copy())
        p["min_ttl"].append(min_ttl)
        p["truncated"].append(np.zeros(n, np.bool_))
        p["dec"].append(dec)
        self.rows += n

    def _learn_bodies(self, buf: np.ndarray, out: KernelBuffers, nbody: int) -> None:
        if not nbody:
            return
        entries = np.empty(nbody, np.int32)
        individual = np.zeros(nbody, np.bool_)
        for k, r in enumerate(out.new_body_row[:nbody].tolist()):
            o = int(out.m_off[r])
            d = decode_message(bytes(buf[o : o + int(out.m_size[r])]))
            entries[k] = len(self._decoded)
            self._decoded.append(d)
            individual[k] = d.error is not None and bool(out.m_ok[r])
        self._body_entry = np.concatenate([self._body_entry, entries])
        self._body_individual = np.concatenate([self._body_individual, individual])

    def _learn_addresses(self, buf: np.ndarray, out: KernelBuffers, nip: int) -> None:
        if not nip:
            return
        codes = np.empty(nip, np.int32)
        k1, k2, ver = out.new_ip_k1[:nip].tolist(), out.new_ip_k2[:nip].tolist(), out.new_ip_ver
        for k in range(nip):
            raw = k1[k].to_bytes(8, "big") + k2[k].to_bytes(8, "big")
            codes[k] = self._ip(raw[: 4 if ver[k] == 4 else 16])
        self._address_code = np.concatenate([self._address_code, codes])

    # -- the DataFrame -------------------------------------------------------------------------

    def frame(self, merge_by_time: bool) -> pd.DataFrame:
        """The rows collected so far as the messages table; the accumulator starts afresh."""
        self.yielded = True
        self.rows = 0
        # Memory matters more than elegance here: each intermediate column is freed as soon
        # as its final form exists, so the peak stays near the size of the result.
        cols: dict[str, np.ndarray] = {}
        for k, dtype in _ROW_FIELDS.items():
            parts = self._parts[k]
            cols[k] = np.concatenate(parts) if parts else np.empty(0, dtype)
            parts.clear()
        order = _row_order(cols, merge_by_time)
        if order is not None:
            for k in cols:
                cols[k] = cols[k][order]
            del order
        df = self._build(cols)
        df.attrs["dnspcap"] = self.stats(df)
        return df

    def stats(self, df: pd.DataFrame) -> dict[str, Any]:
        return {
            "files": list(dict.fromkeys(self.files)),
            "packets": int(self.counts["packets"]),
            "messages": len(df),
            "decode_errors": int((df["error"] != "").sum()),
            "truncated": int(df["truncated"].sum()),
            "counts": {k: int(v) for k, v in sorted(self.counts.items()) if k != "packets" and v},
            "warnings": list(self.warnings),
        }

    def _build(self, c: dict[str, np.ndarray]) -> pd.DataFrame:
        entries = self._decoded
        dec = c.pop("dec")

        def cat(values: list[str], codes: np.ndarray, keep_order: bool = False) -> pd.Categorical:
            # values are per decoded entry (or per address / file); rows pick them by code.
            # Categories are sorted so that a table does not depend on the order in which
            # the two decode paths met its values.
            v_codes, v_uniques = pd.factorize(np.array(values, dtype=object), sort=not keep_order)
            small = v_codes.astype(_code_dtype(len(v_uniques)))
            return pd.Categorical.from_codes(
                small[codes], categories=pd.Index(v_uniques, dtype=object)
            )

        def per_entry(fn: Any, dtype: Any) -> np.ndarray:
            return np.array([fn(e) for e in entries] or [0], dtype=dtype)

        def nullable(values: np.ndarray, dtype: Any, array: Any) -> Any:
            mask = values < 0
            return array(np.where(mask, 0, values).astype(dtype), mask)

        ips = [_ip_text(a) for a in self._ips]
        file_names = list(dict.fromkeys(self.files))
        file_codes = np.array([file_names.index(f) for f in self.files] or [0], np.int64)
        fl = per_entry(lambda e: e.flags_word or 0, np.int64)[dec]
        min_ttl = c.pop("min_ttl")
        own = per_entry(lambda e: -1 if e.min_ttl is None else e.min_ttl, np.int64)
        min_ttl = np.where(min_ttl == -2, own[dec], min_ttl)
        edns = per_entry(lambda e: -1 if e.edns_size is None else e.edns_size, np.int64)[dec]
        data: dict[str, Any] = {
            "file": cat(file_names, file_codes[c.pop("file")], keep_order=True),
            "frame": c.pop("frame"),
            "ts": pd.DatetimeIndex(c.pop("ts").view("datetime64[ns]")).tz_localize("UTC"),
            "src": cat(ips, c.pop("src")),
            "dst": cat(ips, c.pop("dst")),
            "sport": c.pop("sport"),
            "dport": c.pop("dport"),
            "transport": cat(["udp", "tcp"], c.pop("transport"), keep_order=True),
            "ip_version": c.pop("ip_version"),
            "service": cat(list(SERVICE_NAMES), c.pop("service"), keep_order=True),
            "id": c.pop("id"),
            "qr": (fl & 0x8000) != 0,
            "opcode": cat([opcode_name(e.opcode or 0) for e in entries], dec),
            "rcode": cat([rcode_name(e.rcode or 0) for e in entries], dec),
            "flags": cat([flags_text(e.flags_word or 0) for e in entries], dec),
            "tc": (fl & 0x0200) != 0,
            "qname": cat([e.qname for e in entries], dec),
            "qtype": cat([type_name(e.qtype) if e.qtype is not None else "" for e in entries], dec),
            "qclass": cat(
                [class_name(e.qclass) if e.qclass is not None else "" for e in entries], dec
            ),
            "qdcount": per_entry(lambda e: e.qdcount, np.uint16)[dec],
            "ancount": per_entry(lambda e: e.ancount, np.uint16)[dec],
            "nscount": per_entry(lambda e: e.nscount, np.uint16)[dec],
            "arcount": per_entry(lambda e: e.arcount, np.uint16)[dec],
            "answers": cat([e.answers for e in entries], dec),
            "min_ttl": nullable(min_ttl, np.uint32, pd.arrays.IntegerArray),
            "edns_size": nullable(edns, np.uint16, pd.arrays.IntegerArray),
            "edns_do": per_entry(lambda e: e.edns_do, np.bool_)[dec],
            "edns_options": cat([e.edns_options for e in entries], dec),
            "size": c.pop("size"),
            "truncated": c.pop("truncated"),
            "error": cat([e.error or "" for e in entries], dec),
        }
        del fl, min_ttl, edns, dec
        return pd.DataFrame(data, copy=False)


def _code_dtype(n: int) -> Any:
    return np.int8 if n < 127 else np.int16 if n < 32767 else np.int32


def _row_order(cols: dict[str, np.ndarray], merge_by_time: bool) -> np.ndarray | None:
    """The permutation that puts rows in order, or None when they already are.

    One file: frame order (Wireshark's), stable so messages of one frame keep their order.
    Several files: time order, ties broken by file then frame.
    """
    frame, file = cols["frame"], cols["file"]
    if not merge_by_time:
        if len(frame) < 2:
            return None
        steps_ok = (file[1:] > file[:-1]) | ((file[1:] == file[:-1]) & (frame[1:] >= frame[:-1]))
        if bool(steps_ok.all()):
            return None
        return np.asarray(np.lexsort((frame, file)))
    return np.asarray(np.lexsort((frame, file, cols["ts"])))


def _ip_text(addr: bytes) -> str:
    return str(ipaddress.ip_address(addr))
