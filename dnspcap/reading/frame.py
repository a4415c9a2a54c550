"""The messages DataFrame, built from the columns the decode paths wrote (the accumulator).

The columns arrive as numbers: header fields, the 16-bit flags word, and codes for every
text (addresses, question type and class, names, answers, options, errors) into lists of
distinct values. Text columns become pandas categoricals whose codes are recoded in
place (``count_codes`` and ``recode`` in the C kernel), so the table is not copied; the
categories are sorted, so that a table does not depend on the order in which the two
decode paths met its values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..arrays.categorical import code_dtype
from ..columns import MESSAGE_COLUMNS
from . import engine
from .dnswire import flags_text
from .iana import class_name, opcode_name, rcode_name, type_name
from .netstack import SERVICE_NAMES

_SLICE = 1 << 18  # row_order compares neighbours this many rows at a time (temporaries)


class Texts(NamedTuple):
    """What the codes of the columns stand for."""

    files: list[str]  # by file index (a file read twice appears twice)
    vantages: list[str]  # by file index, its vantage point's name
    addresses: list[str]  # src, dst
    qtypes: list[int]  # -1: no question
    qclasses: list[int]
    strings: dict[str, list[str]]  # qname, answers, edns_options, error


def build(c: dict[str, np.ndarray], t: Texts) -> pd.DataFrame:
    """The messages table from the stored columns (taken out of c as they are used)."""
    file_names = list(dict.fromkeys(t.files))
    file_code = np.array([file_names.index(f) for f in t.files] or [0])
    file_code = file_code.astype(code_dtype(len(file_names)))
    vantage_names = list(dict.fromkeys(t.vantages))
    vantage_code = np.array([vantage_names.index(v) for v in t.vantages] or [0])
    vantage_code = vantage_code.astype(code_dtype(len(vantage_names)))
    qtypes = ["" if v < 0 else type_name(v) for v in t.qtypes]
    qclasses = ["" if v < 0 else class_name(v) for v in t.qclasses]
    flags = c.pop("flags")
    flag_counts = _counts(flags, 1 << 16)
    every = np.arange(1 << 16)
    strings = t.strings
    # Memory matters more than elegance here: each stored column is let go as soon as its
    # final form exists (most are recoded in place).
    data: dict[str, Any] = {
        "file": _categorical(file_names, file_code[c["file"]], keep_order=True),
        "vantage": _categorical(vantage_names, vantage_code[c.pop("file")], keep_order=True),
        "frame": c.pop("frame"),
        "ts": utc_array(c.pop("ts")),
        "src": _categorical(t.addresses, c.pop("src")),
        "dst": _categorical(t.addresses, c.pop("dst")),
        "sport": c.pop("sport"),
        "dport": c.pop("dport"),
        "transport": _categorical(["udp", "tcp"], _signed(c.pop("transport")), True),
        "ip_version": c.pop("ip_version"),
        "service": _categorical(list(SERVICE_NAMES), _signed(c.pop("service")), True),
        "id": c.pop("id"),
        "qr": _bits(flags, 0x8000),
        "opcode": _categorical(opcode_name, flags, value=(every >> 11) & 0xF, counts=flag_counts),
        "rcode": _categorical(rcode_name, c.pop("rcode"), size=1 << 16),
        "flags": _categorical(flags_text, flags, value=every & 0x87F0, counts=flag_counts),
        "tc": _bits(flags, 0x0200),
        "qname": _categorical(strings["qname"], c.pop("qname")),
        "qtype": _categorical(qtypes, c.pop("qtype")),
        "qclass": _categorical(qclasses, c.pop("qclass")),
        "qdcount": c.pop("qdcount"),
        "ancount": c.pop("ancount"),
        "nscount": c.pop("nscount"),
        "arcount": c.pop("arcount"),
        "answers": _categorical(strings["answers"], c.pop("answers")),
        "min_ttl": pd.arrays.IntegerArray(c.pop("min_ttl"), c.pop("min_ttl_na")),
        "edns_size": pd.arrays.IntegerArray(c.pop("edns_size"), c.pop("edns_na")),
        "edns_do": c.pop("edns_do"),
        "edns_options": _categorical(strings["edns_options"], c.pop("edns_options")),
        "size": c.pop("size"),
        "truncated": c.pop("truncated"),
        "error": _categorical(strings["error"], c.pop("error")),
    }
    del flags, flag_counts
    assert not c and list(data) == [col.name for col in MESSAGE_COLUMNS]
    return pd.DataFrame(data, copy=False)


def _counts(codes: np.ndarray, size: int) -> np.ndarray:
    """How many rows have each code (codes below size)."""
    counts = np.zeros(size, np.int64)
    engine.count_codes(codes.view(np.uint8), codes.dtype.itemsize, counts)
    return counts


def _recode(codes: np.ndarray, lut: np.ndarray, dtype: Any) -> np.ndarray:
    """lut[codes], in the codes' own memory when they already have the final width."""
    dtype = np.dtype(dtype)
    out = codes if codes.dtype == dtype and codes.flags.writeable else np.empty(len(codes), dtype)
    engine.recode(
        codes.view(np.uint8), codes.dtype.itemsize, lut.astype(np.int64), out.view(np.uint8),
        dtype.itemsize,
    )  # fmt: skip
    return out


def _categorical(
    values: list[str] | Callable[[int], str],
    codes: np.ndarray,
    keep_order: bool = False,
    size: int | None = None,
    value: np.ndarray | None = None,
    counts: np.ndarray | None = None,
) -> pd.Categorical:
    """Rows pick their values by code: code c stands for values[c], or name(c) when a
    function is given, or for those of ``value[c]`` when given (a column of raw 16-bit
    fields, of which the categorical shows a part). Categories are sorted (unless
    keep_order) so a table does not depend on the order in which the two decode paths
    met its values; values no row uses are left out. The codes are rewritten in place
    when they are already of the final width (and stand for themselves)."""
    name = values.__getitem__ if isinstance(values, list) else values
    if counts is None:
        counts = _counts(codes, len(values) if size is None else size)  # type: ignore[arg-type]
    per_value = counts if value is None else np.bincount(value, weights=counts)
    used = np.flatnonzero(per_value)
    cats = [name(i) for i in used.tolist()]
    position = np.arange(len(used))
    if not keep_order:
        order = sorted(range(len(cats)), key=cats.__getitem__)
        position[order] = np.arange(len(used))
        cats = [cats[i] for i in order]
    lut = np.zeros(len(per_value), np.int64)
    lut[used] = position
    if value is not None:
        lut = lut[value]
        codes = codes.view(codes.dtype)  # a view: never rewritten in place
        codes.flags.writeable = False
    out = _recode(codes, lut, code_dtype(len(cats)))
    return pd.Categorical.from_codes(out, categories=pd.Index(cats, dtype=object), validate=False)


def _signed(small: np.ndarray) -> np.ndarray:
    """A uint8 column of values below 128 as int8 codes (the same bytes)."""
    return small.view(np.int8)


def _bits(flags: np.ndarray, mask: int) -> np.ndarray:
    """Whether each row's 16-bit flags have a bit of mask set."""
    return _recode(flags, (np.arange(1 << 16) & mask) != 0, np.bool_)


def utc_array(ns: np.ndarray) -> Any:
    """Nanoseconds since the epoch (int64 min: NaT) as datetime64[ns, UTC], sharing their
    memory (the messages table and dnspcap.pairing)."""
    dtype = pd.DatetimeTZDtype("ns", "UTC")
    try:
        return pd.arrays.DatetimeArray._simple_new(ns.view("M8[ns]"), dtype=dtype)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # another pandas: a copy
        return pd.array(ns.view("M8[ns]"), dtype=dtype)


def row_order(cols: dict[str, np.ndarray], merge_by_time: bool) -> np.ndarray | None:
    """The permutation that puts rows in order, or None when they already are.

    One file: frame order (Wireshark's), stable so messages of one frame keep their order.
    Several files: time order, ties broken by file then frame.
    """
    frame, file = cols["frame"], cols["file"]
    if not merge_by_time:
        if len(frame) < 2:
            return None
        one_file = bool((file == file[0]).all())
        if one_file and all(bool((frame[s][1:] >= frame[s][:-1]).all()) for s in _pieces(frame)):
            return None
        if one_file:
            # one file: rows are runs already in frame order, which a stable sort merges fast
            return np.asarray(np.argsort(frame, kind="stable"))
        steps_ok = (file[1:] > file[:-1]) | ((file[1:] == file[:-1]) & (frame[1:] >= frame[:-1]))
        if bool(steps_ok.all()):
            return None
        return np.asarray(np.lexsort((frame, file)))
    return np.asarray(np.lexsort((frame, file, cols["ts"])))


def _pieces(a: np.ndarray) -> list[slice]:
    """Slices that cover `a` and overlap by one row, to compare neighbours piecewise."""
    n = len(a)
    return [slice(i, min(i + _SLICE + 1, n)) for i in range(0, max(n - 1, 1), _SLICE)]
