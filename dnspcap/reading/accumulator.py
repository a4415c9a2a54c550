"""Collects the rows of the messages table from what the decode paths found.

Rows arrive from two places: the compiled kernel, which writes most columns of its
rows straight into the table's storage (a :class:`~dnspcap.reading.columnstore.RowStore`), and
:class:`~dnspcap.reading.netstack.RawMessage` objects from the exact path. Either way a row
ends up as numbers: header fields, and for each text field (name, answers, EDNS
options, error) an id in a table of distinct strings. String columns become pandas
categoricals over those tables (:mod:`dnspcap.reading.frame`): a capture repeats the
same names, addresses and answers millions of times. Their codes are kept as narrow as
the number of distinct values allows, so the table is never copied whole.

For kernel rows every text is rendered in C once per distinct key (see
:mod:`dnspcap.reading.engine`): a question name (``qnames``), an answer section or option list
(``texts``, by the kernel's exact decoder), and, for a message the kernel could not vouch
for, each text its exact decoder found, the error among them. Rows of the exact path get
their DNS columns from the kernel too (``dns_rows``), unless the read is
``engine="python"``: then :func:`~dnspcap.reading.dnswire.decode_message`.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ..arrays.categorical import code_dtype
from ..times import iso
from . import engine
from .buffers import DnsScratch, Interned, KernelBuffers
from .columnstore import RowStore
from .dnswire import Decoded, decode_message
from .frame import Texts, build, row_order
from .netstack import FRAME_BITS, IcmpError, RawMessage

_CODE = np.int8  # code columns start this narrow and widen as values come
_STORED: dict[str, Any] = {
    # written by the kernel (kernelio.ROW_COLUMNS and DNS_COLUMNS)
    "frame": np.int64,
    "ts": np.int64,
    "sport": np.uint16,
    "dport": np.uint16,
    "ip_version": np.uint8,
    "service": np.uint8,
    "id": np.uint16,
    "size": np.uint32,
    "flags": np.uint16,
    "qdcount": np.uint16,
    "ancount": np.uint16,
    "nscount": np.uint16,
    "arcount": np.uint16,
    "rcode": np.uint16,  # with the EDNS extended bits
    "edns_size": np.uint16,
    "edns_na": np.bool_,  # no OPT
    "edns_do": np.bool_,
    "min_ttl": np.uint32,
    "min_ttl_na": np.bool_,  # no answer record
    # written here
    "transport": np.uint8,
    "truncated": np.bool_,
    # codes: into the address list, the question types and classes met, the string tables
    "src": _CODE,
    "dst": _CODE,
    "qtype": _CODE,
    "qclass": _CODE,
    "qname": _CODE,
    "answers": _CODE,
    "edns_options": _CODE,
    "error": _CODE,
}
# the DNS fields of a row, in the order of Accumulator._dns_fields()
_DNS_FIELDS = (
    "flags", "qdcount", "ancount", "nscount", "arcount", "qtype", "qclass", "rcode",
    "edns_size", "edns_do", "min_ttl", "qname", "answers", "edns_options", "error",
)  # fmt: skip
_F = {name: k for k, name in enumerate(_DNS_FIELDS)}
_TS_MIN, _TS_MAX = -(2**63), 2**63 - 1  # int64 minimum is NaT
_TEXT_FIELDS = ("qname", "answers", "edns_options", "error")


WALKED, RAW = "walked", "raw"  # the two key tables (Accumulator.keys, .raw_keys)


class _Strings:
    """Distinct strings of one text column; id 0 is the empty string."""

    def __init__(self) -> None:
        self.values: list[str] = [""]
        self._ids: dict[str, int] = {"": 0}

    def id(self, s: str) -> int:
        i = self._ids.get(s)
        if i is None:
            i = self._ids[s] = len(self.values)
            self.values.append(s)
        return i

    def ids(self, texts: list[str]) -> list[int]:
        """id() of each text, in one pass: a new text takes the next id as it is inserted
        (len() is read before setdefault() inserts)."""
        d = self._ids
        known = len(d)
        out = [d.setdefault(t, len(d)) for t in texts]
        if len(d) > known:
            # the new texts in id order: first sightings, as dict.fromkeys keeps them
            firsts = dict.fromkeys(t for t, i in zip(texts, out, strict=True) if i >= known)
            self.values.extend(firsts)
        return out


class _Values:
    """Distinct values of a 16-bit field or -1 (question type, class), coded as met."""

    def __init__(self) -> None:
        self.values: list[int] = []
        self._code = np.full(1 << 17, -1, np.int32)  # by value + 1

    def codes(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.int64) + 1
        c = self._code[v]
        if len(c) and int(c.min()) < 0:
            for x in np.unique(v[c < 0]).tolist():
                self._code[x] = len(self.values)
                self.values.append(x - 1)
            c = self._code[v]
        return c


class Accumulator:
    """Collects rows from both paths; builds the DataFrame at the end of a read or chunk.

    ``kernel_dns``: decode the DNS messages of exact-path rows with the kernel (same
    result, much faster); ``engine="python"`` reads keep it off.
    """

    def __init__(self, kernel_dns: bool = True) -> None:
        self.kernel_dns = kernel_dns
        self.files: list[str] = []
        self.vantage_of: list[int] = []  # per file index, its vantage point
        self.vantages: list[dict[str, Any]] = []  # name, how, files
        # per file index: first and last packet time, and the capture's end (ISB), ns
        self.spans: list[tuple[int | None, int | None]] = []
        self.ends: list[int | None] = []
        self.counts: Counter[str] = Counter()
        # digits of a second the files' timestamps carry: times are written to this many
        self.time_digits = 0
        self.warnings: list[str] = []
        self.icmp: list[dict[str, Any]] = []
        self.yielded = False
        self.keys = Interned(1 << 16)  # the kernel's walks'
        # the exact path's rows' (_kernel_dns): a table of their own, so that a walk may
        # run while the rows of the walk before it are made and its TCP messages added,
        # and each message's texts are still learnt in the order of a read one step at a
        # time (see read._fast)
        self.raw_keys = Interned(1 << 10)
        self.addresses = Interned(1 << 12)
        self._strings = {name: _Strings() for name in _TEXT_FIELDS}
        self._ips: dict[bytes, int] = {}
        self._qtypes, self._qclasses = _Values(), _Values()
        # What each kernel key id stands for, per table (walks', exact path's): a string id
        # in the table of its column. The last entry is for "no key" (id -1, which numpy
        # reads as the last): the empty string.
        self._key_value = {WALKED: np.zeros(1, np.int64), RAW: np.zeros(1, np.int64)}
        self._address_code = np.empty(0, np.int64)
        self._store = RowStore(_STORED)
        self._file_runs: list[tuple[int, int]] = []  # (first row, file index)
        self._file_start = 0  # first row of the file being read

    @property
    def rows(self) -> int:
        return self._store.n

    def add_vantage(self, index: int, name: str, how: str) -> None:
        while len(self.vantages) <= index:
            self.vantages.append({"name": name, "how": how, "files": []})

    def add_file(self, index: int, name: str, vantage: int = 0) -> None:
        while len(self.files) <= index:
            self.files.append(name)
            self.vantage_of.append(vantage)
            self.spans.append((None, None))
            self.ends.append(None)
        if vantage < len(self.vantages):
            self.vantages[vantage]["files"].append(name)
        self._file_start = self._store.n

    def end_file(
        self, index: int, packets: int, first: int | None, last: int | None, end: int | None
    ) -> None:
        """A file was read to its end: its packets, first and last packet time, and the end
        of capture its interface statistics give."""
        self.counts["packets"] += packets
        self.spans[index] = (first, last)
        self.ends[index] = end

    def add_icmp(self, errors: list[IcmpError]) -> None:
        """ICMP errors that quote DNS queries: kept beside the table, in its attrs. Their
        frames carry their file's index in the high bits (dnspcap.reading.read._packet)."""
        for e in errors:
            self.icmp.append(
                {
                    "file": self.files[e.frame >> FRAME_BITS],
                    "frame": e.frame & ((1 << FRAME_BITS) - 1),
                    "ts": e.ts_ns,  # written as text with the capture's precision
                    "reporter": _ip_text(e.reporter),
                    "reason": e.reason,
                    "quotes": "query" if e.quotes_query else "response",
                    "client": _ip_text(e.client),
                    "client_port": e.client_port,
                    "server": _ip_text(e.server),
                    "server_port": e.server_port,
                    "id": e.id,
                }
            )

    def add_warnings(self, name: str, warnings: list[str]) -> None:
        self.warnings.extend(f"{name}: {w}" for w in warnings)

    def _ip(self, addr: bytes) -> int:
        code = self._ips.get(addr)
        if code is None:
            code = self._ips[addr] = len(self._ips)
        return code

    def _dns_fields(self, d: Decoded) -> tuple[int, ...]:
        s = self._strings
        return (
            d.flags_word or 0,
            d.qdcount,
            d.ancount,
            d.nscount,
            d.arcount,
            -1 if d.qtype is None else d.qtype,
            -1 if d.qclass is None else d.qclass,
            d.rcode or 0,
            -1 if d.edns_size is None else d.edns_size,
            int(d.edns_do),
            -1 if d.min_ttl is None else d.min_ttl,
            s["qname"].id(d.qname),
            s["answers"].id(d.answers),
            s["edns_options"].id(d.edns_options),
            s["error"].id(d.error or ""),
        )

    # -- writing rows ----------------------------------------------------------------------------

    def _start_rows(self, file_index: int, k: int) -> int:
        """Room for k rows of this file; returns the first."""
        s = self._store
        s.reserve(k)
        if not self._file_runs or self._file_runs[-1][1] != file_index:
            self._file_runs.append((s.n, file_index))
        return s.n

    def _put(self, name: str, start: int, codes: np.ndarray, known: int) -> None:
        """Write codes (each below `known`) into rows from `start` of a code column."""
        dtype = code_dtype(known)
        if np.dtype(dtype).itemsize > self._store[name].dtype.itemsize:
            self._store.widen(name, dtype)
        self._store[name][start : start + len(codes)] = codes

    def _put_at(self, name: str, rows: np.ndarray, codes: np.ndarray, known: int) -> None:
        dtype = code_dtype(known)
        if np.dtype(dtype).itemsize > self._store[name].dtype.itemsize:
            self._store.widen(name, dtype)
        self._store[name][rows] = codes

    def _write_dns(self, rows: np.ndarray, f: np.ndarray) -> None:
        """Write DNS fields (rows of _dns_fields() values) into the given rows."""
        s = self._store
        for name in ("flags", "qdcount", "ancount", "nscount", "arcount", "rcode"):
            s[name][rows] = f[:, _F[name]]
        for name, values in (("qtype", self._qtypes), ("qclass", self._qclasses)):
            codes = values.codes(f[:, _F[name]])
            self._put_at(name, rows, codes, len(values.values))
        edns = f[:, _F["edns_size"]]
        s["edns_size"][rows] = np.where(edns < 0, 0, edns)
        s["edns_na"][rows] = edns < 0
        s["edns_do"][rows] = f[:, _F["edns_do"]] != 0
        ttl = f[:, _F["min_ttl"]]
        s["min_ttl"][rows] = np.where(ttl < 0, 0, ttl)
        s["min_ttl_na"][rows] = ttl < 0
        for name in _TEXT_FIELDS:
            self._put_at(name, rows, f[:, _F[name]], len(self._strings[name].values))

    def _write_meta(self, start: int, raws: list[RawMessage]) -> None:
        """The columns of exact-path rows that do not come from the DNS message."""
        s, end = self._store, start + len(raws)
        ts = []
        for r in raws:
            t = r.ts_ns
            if not _TS_MIN < t <= _TS_MAX:
                # beyond datetime64[ns] (years 1678-2262): NaT, counted and warned once
                self.counts["timestamp_out_of_range"] += 1
                if self.counts["timestamp_out_of_range"] == 1:
                    self.warnings.append(f"frame {r.frame}: timestamp out of range (kept as NaT)")
                t = _TS_MIN
            ts.append(t)
        s["ts"][start:end] = ts
        s["frame"][start:end] = [r.frame for r in raws]
        s["sport"][start:end] = [r.sport for r in raws]
        s["dport"][start:end] = [r.dport for r in raws]
        s["transport"][start:end] = [r.transport for r in raws]
        s["ip_version"][start:end] = [r.ip_version for r in raws]
        s["service"][start:end] = [r.service for r in raws]
        s["size"][start:end] = [len(r.payload) for r in raws]
        s["truncated"][start:end] = [r.truncated for r in raws]
        for name, attr in (("src", "src"), ("dst", "dst")):
            codes = np.array([self._ip(getattr(r, attr)) for r in raws], np.int64)
            self._put(name, start, codes, len(self._ips))

    # -- rows from the exact path --------------------------------------------------------------

    def add_raw(self, file_index: int, raws: list[RawMessage]) -> None:
        """Add rows from the exact path (after the rows there are: see settle())."""
        if not raws:
            return
        k = len(raws)
        start = self._start_rows(file_index, k)
        self._write_meta(start, raws)
        rows = np.arange(start, start + k)
        if self.kernel_dns:
            self._kernel_dns(start, raws)
            errors = [(j, r.error) for j, r in enumerate(raws) if r.error]
            if errors:
                texts = self._strings["error"]
                col = self._store["error"]
                ids = []
                for j, e in errors:
                    own = texts.values[int(col[start + j])]
                    ids.append(texts.id(e if not own else f"{e}; {own}"))
                idx = np.array([start + j for j, _ in errors], np.int64)
                self._put_at("error", idx, np.array(ids, np.int64), len(texts.values))
            self._store["id"][start : start + k] = [
                int.from_bytes(r.payload[:2], "big") if len(r.payload) >= 2 else 0 for r in raws
            ]
        else:
            fields, ids = [], []
            for r in raws:
                d = decode_message(r.payload)
                if r.error:
                    d = d._replace(error=r.error if d.error is None else f"{r.error}; {d.error}")
                fields.append(self._dns_fields(d))
                ids.append(d.id or 0)
            self._write_dns(rows, np.array(fields, np.int64))
            self._store["id"][start : start + k] = ids
        self._store.n += k

    def _kernel_dns(self, start: int, raws: list[RawMessage]) -> None:
        k = len(raws)
        sizes = np.array([len(r.payload) for r in raws], np.int64)
        offsets = np.cumsum(sizes) - sizes
        blob = np.frombuffer(b"".join(r.payload for r in raws), np.uint8)
        scratch = DnsScratch(k)
        self.raw_keys.reserve(engine.KEYS_PER_ROW * k)
        nkey = engine.dns_rows(
            blob, offsets, sizes, *scratch.arrays(self._store, start, self.raw_keys)
        )
        self._dns_columns(blob, scratch, start, k, nkey, sizes, RAW)

    def settle(self, mark: int) -> None:
        """Put the rows added since `mark` (by add_raw) in frame order among the rows of this
        file before them, in place, so the whole table rarely needs sorting."""
        s = self._store
        s.sort_tail(mark)
        start = max(self._file_start, 0)
        if start < mark:
            s.merge(start, mark - start)

    # -- rows from the kernel ------------------------------------------------------------------

    def kernel_arrays(self, out: KernelBuffers) -> tuple[np.ndarray, ...]:
        """walk()'s output arguments: the next out.cap rows of the store and out's arrays."""
        self._store.reserve(out.cap)
        return out.arrays(self._store, self.keys, self.addresses)

    def add_fast(
        self, file_index: int, buf: np.ndarray, out: KernelBuffers, n: int, nkey: int, nip: int
    ) -> None:
        """Take the n rows the kernel wrote; render the texts of keys it saw for the first
        time."""
        self.fill_fast(self.claim_fast(file_index, n), buf, out, n, nkey, nip)

    def claim_fast(self, file_index: int, n: int) -> int:
        """Count the n rows the kernel wrote at the store's end as this file's, before their
        code columns are made (fill_fast): the next walk writes after them. Returns the
        first."""
        if n == 0:
            return self._store.n
        start = self._start_rows(file_index, n)
        self._store.n += n
        return start

    def fill_fast(
        self, start: int, buf: np.ndarray, out: KernelBuffers, n: int, nkey: int, nip: int
    ) -> None:
        """The code columns of n rows the kernel wrote from row `start` (claimed): their
        addresses, and the texts of keys it saw for the first time. Writes no column the
        kernel writes, and moves none: the next walk may be writing rows after them."""
        self._learn_addresses(out, nip)
        if n == 0:
            return
        s = self._store
        sizes = s["size"][start : start + n].astype(np.int64)
        self._dns_columns(buf, out.dns, start, n, nkey, sizes, WALKED)
        known = len(self._ips)
        self._put("src", start, self._address_code[out.m_src[:n]], known)
        self._put("dst", start, self._address_code[out.m_dst[:n]], known)
        s["transport"][start : start + n] = 0
        s["truncated"][start : start + n] = False

    def _dns_columns(
        self,
        buf: np.ndarray,
        d: DnsScratch,
        start: int,
        n: int,
        nkey: int,
        sizes: np.ndarray,
        table: str,
    ) -> None:
        """The code columns of n rows whose numeric DNS columns the kernel wrote, its key
        ids those of ``table`` (WALKED or RAW)."""
        self._learn_keys(buf, d, nkey, sizes, table)
        key, value = d.key[:n], self._key_value[table]
        for j, name in enumerate(_TEXT_FIELDS):
            self._put(name, start, value[key[:, j]], len(self._strings[name].values))
        for name, values, v in (
            ("qtype", self._qtypes, d.qtype),
            ("qclass", self._qclasses, d.qclass),
        ):
            self._put(name, start, values.codes(v[:n]), len(values.values))

    def _learn_keys(
        self, buf: np.ndarray, d: DnsScratch, nkey: int, sizes: np.ndarray, table: str
    ) -> None:
        """The string ids of the keys the kernel met for the first time in ``table``,
        rendered in C."""
        if not nkey:
            return
        rows = d.new_key_row[:nkey]
        kinds = d.new_key_kind[:nkey]
        off = d.off[rows]
        end = off + sizes[rows]
        values = np.empty(nkey, np.int64)
        for kind in np.unique(kinds).tolist():
            mine = np.flatnonzero(kinds == kind)
            if kind == engine.K_QNAME:
                # question names the kernel vouched for have no pointer: from their bytes
                texts = engine.qnames(buf, off[mine] + 12, end[mine])
            else:
                texts = engine.texts(buf, off[mine], end[mine], kinds[mine])
            values[mine] = self._strings[_TEXT_FIELDS[(kind & 7) - 1]].ids(texts)
        known = self._key_value[table]
        self._key_value[table] = np.concatenate([known[:-1], values, [0]])

    def _learn_addresses(self, out: KernelBuffers, nip: int) -> None:
        if not nip:
            return
        halves = np.empty((nip, 2), ">u8")
        halves[:, 0] = out.new_ip_k1[:nip]
        halves[:, 1] = out.new_ip_k2[:nip]
        raw = halves.tobytes()
        widths = np.where(out.new_ip_ver[:nip] == 4, 4, 16).tolist()
        ip = self._ip
        codes = [ip(raw[16 * k : 16 * k + w]) for k, w in enumerate(widths)]
        self._address_code = np.concatenate([self._address_code, codes])

    # -- the DataFrame -------------------------------------------------------------------------

    def frame(self, merge_by_time: bool) -> pd.DataFrame:
        """The rows collected so far as the messages table; the accumulator starts afresh."""
        self.yielded = True
        # Memory matters more than elegance here: the columns are the store's own arrays,
        # recoded in place, and each raw column is let go as soon as its final form exists.
        cols = self._store.finish()
        n = len(cols["frame"])
        runs, self._file_runs = self._file_runs, []
        self._store = RowStore(_STORED)
        self._file_start = 0
        cols["file"] = _runs(runs, n)
        order = row_order(cols, merge_by_time)
        if order is not None:
            for k in cols:
                cols[k] = cols[k][order]
            del order
        texts = Texts(
            self.files,
            [self.vantages[v]["name"] for v in self.vantage_of] if self.vantages else [],
            engine.address_texts(list(self._ips)),
            self._qtypes.values,
            self._qclasses.values,
            {name: self._strings[name].values for name in _TEXT_FIELDS},
        )
        df = build(cols, texts)
        df.attrs["dnspcap"] = self.stats(df)
        return df

    def stats(self, df: pd.DataFrame) -> dict[str, Any]:
        return {
            "files": list(dict.fromkeys(self.files)),
            "vantages": [dict(v, files=list(v["files"])) for v in self.vantages],
            "capture_end": self._capture_ends(),
            "time_digits": self.time_digits or 6,
            "packets": int(self.counts["packets"]),
            "messages": len(df),
            "decode_errors": int((df["error"] != "").sum()),
            "truncated": int(df["truncated"].sum()),
            "counts": {k: int(v) for k, v in sorted(self.counts.items()) if k != "packets" and v},
            "warnings": list(self.warnings),
            "icmp_errors": [
                dict(e, ts=iso(pd.Timestamp(e["ts"], tz="UTC"), self.time_digits or 6))
                for e in self.icmp
            ],
        }

    def _capture_ends(self) -> dict[str, int]:
        """Per vantage point, when its capture ended as far as the files tell: the later of
        its last packet and its interface statistics' end time, ns since the epoch."""
        out: dict[str, int] = {}
        for i, v in enumerate(self.vantage_of):
            ends = [t for t in (self.spans[i][1], self.ends[i]) if t is not None]
            if ends and self.vantages:
                name = self.vantages[v]["name"]
                out[name] = max([*ends, out.get(name, ends[0])])
        return out


def _runs(runs: list[tuple[int, int]], n: int) -> np.ndarray:
    """Per row, the file index of the run of rows it belongs to."""
    files = max((f for _, f in runs), default=0) + 1
    out = np.zeros(n, code_dtype(files))
    for k, (start, f) in enumerate(runs):
        out[start : runs[k + 1][0] if k + 1 < len(runs) else n] = f
    return out


def _ip_text(addr: bytes) -> str:
    return str(ipaddress.ip_address(addr))
