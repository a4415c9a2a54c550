"""Builds the messages DataFrame from what the decode paths found.

Rows arrive from two places: arrays written by the compiled kernel, and
:class:`~dnspcap.netstack.RawMessage` objects from the exact path. Either
way a row ends up as numbers: header fields, and for each text field (name,
answers, EDNS options, error) an id in a table of distinct strings. String
columns become pandas categoricals over those tables: a capture repeats the
same names, addresses and answers millions of times.

For kernel rows the texts are rendered by the exact decoder once per distinct
key (see :mod:`dnspcap.fastdns`): a question name, an answer section, an
option list, or, for a message the kernel could not vouch for, its whole body.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from . import fast
from . import fastdns as fd
from .columns import MESSAGE_COLUMNS
from .dnstypes import class_name, opcode_name, rcode_name, type_name
from .dnswire import Decoded, answers_text, decode_message, flags_text, read_name
from .kernelio import Interned, KernelBuffers
from .netstack import SERVICE_NAMES, IcmpError, RawMessage

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
    "size": np.uint32,
    "truncated": np.bool_,
    # the DNS fields, in the order of _dns_fields()
    "flags": np.uint16,
    "qdcount": np.uint16,
    "ancount": np.uint16,
    "nscount": np.uint16,
    "arcount": np.uint16,
    "qtype": np.int32,  # -1: no question
    "qclass": np.int32,
    "rcode": np.int32,  # with the EDNS extended bits
    "edns_size": np.int32,  # -1: no OPT
    "edns_do": np.bool_,
    "min_ttl": np.int64,  # -1: no answer record
    "qname": np.int32,  # ids into the string tables
    "answers": np.int32,
    "edns_options": np.int32,
    "error": np.int32,
}
_DNS_FIELDS = list(_ROW_FIELDS)[13:]
_TS_MIN, _TS_MAX = -(2**63), 2**63 - 1  # int64 minimum is NaT
_TEXT_FIELDS = ("qname", "answers", "edns_options", "error")


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


class Accumulator:
    """Collects rows from both paths; builds the DataFrame at the end of a read or chunk."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.counts: Counter[str] = Counter()
        self.warnings: list[str] = []
        self.icmp: list[dict[str, Any]] = []
        self.rows = 0
        self.yielded = False
        self.keys = Interned(1 << 16)
        self.addresses = Interned(1 << 12)
        self._strings = {name: _Strings() for name in _TEXT_FIELDS}
        self._ips: dict[bytes, int] = {}
        # what each kernel key id stands for: a string id (qname, answers, options keys)
        # or a row of _body_fields (whole-body keys)
        self._key_value = np.empty(0, np.int64)
        self._body_fields = np.empty((0, len(_DNS_FIELDS)), np.int64)
        self._body_individual = np.empty(0, np.bool_)
        self._address_code = np.empty(0, np.int32)
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in _ROW_FIELDS}

    def add_file(self, index: int, name: str) -> None:
        while len(self.files) <= index:
            self.files.append(name)

    def add_icmp(self, file_index: int, errors: list[IcmpError]) -> None:
        """ICMP errors that quote DNS queries: kept beside the table, in its attrs."""
        for e in errors:
            self.icmp.append(
                {
                    "file": self.files[file_index],
                    "frame": e.frame,
                    "ts": pd.Timestamp(e.ts_ns, tz="UTC").isoformat(),
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

    # -- rows from the exact path --------------------------------------------------------------

    def add_raw(self, file_index: int, raws: list[RawMessage]) -> int:
        """Add rows from the exact path; returns how many pieces it added (0 or 1)."""
        if not raws:
            return 0
        rows = []
        for r in raws:
            ts = r.ts_ns
            if not _TS_MIN < ts <= _TS_MAX:
                # beyond datetime64[ns] (years 1678-2262): NaT, counted and warned once
                self.counts["timestamp_out_of_range"] += 1
                if self.counts["timestamp_out_of_range"] == 1:
                    self.warnings.append(f"frame {r.frame}: timestamp out of range (kept as NaT)")
                ts = _TS_MIN
            d = decode_message(r.payload)
            if r.error:
                d = d._replace(error=r.error if d.error is None else f"{r.error}; {d.error}")
            rows.append(
                (
                    file_index, r.frame, ts, self._ip(r.src), self._ip(r.dst), r.sport,
                    r.dport, r.transport, r.ip_version, r.service, d.id or 0, len(r.payload),
                    r.truncated, *self._dns_fields(d),
                )
            )  # fmt: skip
        for k, (name, dtype) in enumerate(_ROW_FIELDS.items()):
            self._parts[name].append(np.array([row[k] for row in rows], dtype=dtype))
        self.rows += len(raws)
        return 1

    # -- rows from the kernel ------------------------------------------------------------------

    def add_fast(
        self, file_index: int, buf: np.ndarray, out: KernelBuffers, n: int, nkey: int, nip: int
    ) -> int:
        """Take the rows the kernel wrote; render the texts of keys it saw for the first time.

        Returns how many pieces it added (0 or 1)."""
        self._learn_keys(buf, out, nkey)
        self._learn_addresses(out, nip)
        if n == 0:
            return 0
        info = out.m_info[:n]
        key = out.m_key[:n]
        strict = info[:, fd.I_STRICT] != 0
        walk = info[:, fd.I_WALK] != 0
        # the exact decoder's fields for rows keyed by their whole body
        loose = np.flatnonzero(~strict)
        body = np.zeros((n, len(_DNS_FIELDS)), np.int64)
        body_key = self._key_value[key[loose, 3]]
        body[loose] = self._body_fields[body_key]
        fields: dict[str, np.ndarray] = {}
        opt_ttl = info[:, fd.I_OPTTTL]
        has_opt = opt_ttl >= 0
        kernel = {
            "flags": info[:, fd.I_FLAGS],
            "qdcount": info[:, fd.I_QD],
            "ancount": info[:, fd.I_AN],
            "nscount": info[:, fd.I_NS],
            "arcount": info[:, fd.I_AR],
            "qtype": info[:, fd.I_QTYPE],
            "qclass": info[:, fd.I_QCLASS],
            "rcode": (info[:, fd.I_FLAGS] & 0xF) | np.where(has_opt, (opt_ttl >> 24) << 4, 0),
            "edns_size": info[:, fd.I_EDNS],
            "edns_do": has_opt & ((opt_ttl & 0x8000) != 0),
            "min_ttl": info[:, fd.I_MINTTL],
            "qname": self._text_ids(key[:, 0]),
            "answers": self._text_ids(key[:, 1]),
            "edns_options": self._text_ids(key[:, 2]),
            "error": np.zeros(n, np.int64),
        }
        for j, name in enumerate(_DNS_FIELDS):
            fields[name] = np.where(strict, kernel[name], body[:, j])
        # a body keyed with TTLs zeroed has its own min_ttl per message
        fields["min_ttl"] = np.where(walk, info[:, fd.I_MINTTL], fields["min_ttl"])
        individual = loose[self._body_individual[body_key]]
        for r in individual.tolist():
            # TTLs were zeroed for the key, but this body has an error: where decoding
            # stopped may change min_ttl, so such a message is decoded on its own.
            for name, value in zip(
                _DNS_FIELDS, self._dns_fields(decode_message(out.payload(buf, r))), strict=True
            ):
                fields[name][r] = value
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
        p["size"].append(out.m_size[:n].astype(np.uint32))
        p["truncated"].append(np.zeros(n, np.bool_))
        for name in _DNS_FIELDS:
            p[name].append(fields[name].astype(_ROW_FIELDS[name]))
        self.rows += n
        return 1

    def settle(self, pieces: int) -> None:
        """Put the rows of the last few additions (one chunk's kernel and exact-path rows)
        in frame order now, while they are small, so the whole table rarely needs sorting."""
        if pieces < 2:
            return
        frames = self._parts["frame"][-pieces:]
        frame = np.concatenate(frames)
        if len(frame) < 2 or bool((frame[1:] >= frame[:-1]).all()):
            return
        order = np.argsort(frame, kind="stable")
        for parts in self._parts.values():
            merged = np.concatenate(parts[-pieces:])[order]
            del parts[-pieces:]
            parts.append(merged)

    def _text_ids(self, keys: np.ndarray) -> np.ndarray:
        return np.where(keys >= 0, self._key_value[np.maximum(keys, 0)], 0)

    def _learn_keys(self, buf: np.ndarray, out: KernelBuffers, nkey: int) -> None:
        if not nkey:
            return
        values = np.empty(nkey, np.int64)
        bodies: list[tuple[int, ...]] = []
        individual: list[bool] = []
        rows = out.new_key_row[:nkey].tolist()
        kinds = out.new_key_kind[:nkey].tolist()
        s = self._strings
        for k, (row, kind) in enumerate(zip(rows, kinds, strict=True)):
            payload = out.payload(buf, row)
            if kind == fast.K_QNAME:
                values[k] = s["qname"].id(read_name(payload, 12))
            elif kind == fast.K_ANSWERS:
                values[k] = s["answers"].id(answers_text(payload))
            elif kind == fast.K_OPTIONS:
                values[k] = s["edns_options"].id(decode_message(payload).edns_options)
            else:
                d = decode_message(payload)
                values[k] = len(self._body_fields) + len(bodies)
                bodies.append(self._dns_fields(d))
                # zeroed TTLs in the key, yet an error: see add_fast
                individual.append(d.error is not None and kind & 8 != 0)
        self._key_value = np.concatenate([self._key_value, values])
        if bodies:
            self._body_fields = np.concatenate([self._body_fields, np.array(bodies, np.int64)])
            self._body_individual = np.concatenate([self._body_individual, individual])

    def _learn_addresses(self, out: KernelBuffers, nip: int) -> None:
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
            "icmp_errors": list(self.icmp),
        }

    def _build(self, c: dict[str, np.ndarray]) -> pd.DataFrame:
        file_names = list(dict.fromkeys(self.files))
        file_codes = np.array([file_names.index(f) for f in self.files] or [0], np.int64)
        flags = c.pop("flags")
        min_ttl, edns = c.pop("min_ttl"), c.pop("edns_size")
        data: dict[str, Any] = {
            "file": _categorical(file_names, file_codes[c.pop("file")], keep_order=True),
            "frame": c.pop("frame"),
            "ts": pd.DatetimeIndex(c.pop("ts").view("datetime64[ns]")).tz_localize("UTC"),
            "src": _categorical([_ip_text(a) for a in self._ips], c.pop("src")),
            "dst": _categorical([_ip_text(a) for a in self._ips], c.pop("dst")),
            "sport": c.pop("sport"),
            "dport": c.pop("dport"),
            "transport": _categorical(["udp", "tcp"], c.pop("transport"), keep_order=True),
            "ip_version": c.pop("ip_version"),
            "service": _categorical(list(SERVICE_NAMES), c.pop("service"), keep_order=True),
            "id": c.pop("id"),
            "qr": (flags & 0x8000) != 0,
            "opcode": _named((flags >> 11) & 0xF, opcode_name),
            "rcode": _named(c.pop("rcode"), rcode_name),
            "flags": _named(flags & 0x87F0, flags_text),
            "tc": (flags & 0x0200) != 0,
            "qname": _categorical(self._strings["qname"].values, c.pop("qname")),
            "qtype": _named(c.pop("qtype"), lambda v: "" if v < 0 else type_name(v)),
            "qclass": _named(c.pop("qclass"), lambda v: "" if v < 0 else class_name(v)),
            "qdcount": c.pop("qdcount"),
            "ancount": c.pop("ancount"),
            "nscount": c.pop("nscount"),
            "arcount": c.pop("arcount"),
            "answers": _categorical(self._strings["answers"].values, c.pop("answers")),
            "min_ttl": _nullable(min_ttl, np.uint32),
            "edns_size": _nullable(edns, np.uint16),
            "edns_do": c.pop("edns_do"),
            "edns_options": _categorical(
                self._strings["edns_options"].values, c.pop("edns_options")
            ),
            "size": c.pop("size"),
            "truncated": c.pop("truncated"),
            "error": _categorical(self._strings["error"].values, c.pop("error")),
        }
        del flags, min_ttl, edns
        assert list(data) == [col.name for col in MESSAGE_COLUMNS]
        return pd.DataFrame(data, copy=False)


def _code_dtype(n: int) -> Any:
    return np.int8 if n < 127 else np.int16 if n < 32767 else np.int32


def _categorical(values: list[str], codes: np.ndarray, keep_order: bool = False) -> pd.Categorical:
    """Rows pick their values by code. Categories are sorted (unless keep_order) so a table
    does not depend on the order in which the two decode paths met its values; values
    no row uses are left out."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(values))) if len(codes) else codes[:0]
    cats = [values[i] for i in used.tolist()]
    remap = np.zeros(len(values), np.int64)
    if keep_order:
        remap[used] = np.arange(len(used))
    else:
        order = sorted(range(len(cats)), key=cats.__getitem__)
        remap[used[order]] = np.arange(len(used))
        cats = [cats[i] for i in order]
    small = remap.astype(_code_dtype(len(cats)))
    return pd.Categorical.from_codes(small[codes], categories=pd.Index(cats, dtype=object))


def _named(numbers: np.ndarray, name: Any) -> pd.Categorical:
    """A categorical of the names of small integer codes (types, rcodes, flag sets)."""
    # the numbers are small (16-bit fields, -1 for none): count them rather than sort them
    shifted = numbers.astype(np.int64) + 1
    uniq = np.flatnonzero(np.bincount(shifted)) if len(shifted) else shifted[:0]
    index = np.zeros(int(uniq.max()) + 1 if len(uniq) else 1, np.int64)
    index[uniq] = np.arange(len(uniq))
    return _categorical([name(int(v) - 1) for v in uniq], index[shifted])


def _nullable(values: np.ndarray, dtype: Any) -> Any:
    mask = values < 0
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype(dtype), mask)


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
        if bool((file == file[0]).all()):
            # one file: rows are runs already in frame order, which a stable sort merges fast
            return np.asarray(np.argsort(frame, kind="stable"))
        return np.asarray(np.lexsort((frame, file)))
    return np.asarray(np.lexsort((frame, file, cols["ts"])))


def _ip_text(addr: bytes) -> str:
    return str(ipaddress.ip_address(addr))
