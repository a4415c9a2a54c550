"""A small reader of Zeek's tab-separated ASCII logs (``dns.log`` and friends) for tests.

Two shapes occur in the corpus (``../shared/corpus/zeek/expected``):

* a full log as Zeek writes it: ``#separator``, ``#set_separator``, ``#empty_field``,
  ``#unset_field``, ``#path``, ``#open``, ``#fields``, ``#types`` header lines, rows, and a
  ``#close`` line. Headers other than ``#separator`` are split by the separator;
  ``#separator`` itself is followed by a space and an escaped value (``\\x09``).
* a ``zeek-cut -m`` extract (``dns.log.cut``, ``dns.ed25519.log``): one line of field
  names, then rows, no ``#types``. Such a file may name a field twice (core.tunnels.max-depth
  cuts ``id.resp_p`` twice) or leave a name empty (a field the log lacks); repeated names get
  a ``.2``, ``.3`` suffix and empty ones ``_<column number>``, so every column has a name.

btest-diff's own first line (``### BTest baseline data ...``) is skipped wherever it is.

Values are converted by their Zeek type: ``count``/``int``/``port`` to int, ``time``,
``interval``/``double`` to float, ``bool`` (``T``/``F``) to bool, ``set[...]`` and
``vector[...]`` to a tuple of strings (split on the set separator), everything else
stays a string. The unset field (``-``) becomes None and the empty field (``(empty)``) an
empty string or an empty tuple. A cut extract has no ``#types``; its fields are typed by
:data:`DNS_LOG_TYPES` (Zeek's dns.log schema), and unknown names stay strings.

Zeek escapes bytes it cannot print, and a separator inside a value, as ``\\xHH``; those are
decoded after splitting, so a ``,`` inside a TXT answer stays inside its element.
BTest's canonifier replaces timestamps with ``XXXXXXXXXX.XXXXXX``; such a value is None.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

#: Types of the dns.log fields in Zeek's schema (base/protocols/dns/main.zeek plus the
#: opcode fields, policy/protocols/dns/auth-addl and policy/protocols/dns/original_case),
#: used for extracts that carry no ``#types`` line.
DNS_LOG_TYPES: dict[str, str] = {
    "ts": "time",
    "uid": "string",
    "id.orig_h": "addr",
    "id.orig_p": "port",
    "id.resp_h": "addr",
    "id.resp_p": "port",
    "proto": "enum",
    "trans_id": "count",
    "rtt": "interval",
    "query": "string",
    "qclass": "count",
    "qclass_name": "string",
    "qtype": "count",
    "qtype_name": "string",
    "rcode": "count",
    "rcode_name": "string",
    "AA": "bool",
    "TC": "bool",
    "RD": "bool",
    "RA": "bool",
    "Z": "count",
    "answers": "vector[string]",
    "TTLs": "vector[interval]",
    "rejected": "bool",
    "opcode": "count",
    "opcode_name": "string",
    "auth": "set[string]",
    "addl": "set[string]",
    "original_query": "string",
}

_BTEST_LINE = "### "
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_CANONIFIED = re.compile(r"^X+(\.X+)?$")
_INTS = frozenset({"count", "int", "port"})
_FLOATS = frozenset({"time", "interval", "double"})


class ZeekLogError(ValueError):
    """The file is not a Zeek ASCII log or zeek-cut extract this reader understands."""


def unescape(text: str) -> str:
    r"""Decode Zeek's ``\xHH`` escapes (as latin-1, one character per byte)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names, start=1):
        if not name:
            name = f"_{i}"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name]}")
    return out


def _convert(raw: str, ztype: str, meta: dict[str, str]) -> Any:
    if raw == meta["unset_field"]:
        return None
    container = ztype.startswith(("set[", "vector[", "table["))
    if raw == meta["empty_field"]:
        return () if container else ""
    if container:
        return tuple(unescape(v) for v in raw.split(meta["set_separator"]))
    value = unescape(raw)
    if ztype in _INTS:
        return int(value)
    if ztype in _FLOATS:
        return None if _CANONIFIED.match(value) else float(value)
    if ztype == "bool":
        if value not in ("T", "F"):
            raise ZeekLogError(f"bool value {value!r}")
        return value == "T"
    return value


def read_zeek_log(path: str | Path) -> pd.DataFrame:
    """Read a Zeek ASCII log or a ``zeek-cut -m`` extract into a DataFrame.

    One row per log line, one column per field (in the file's order), values converted as
    the module docstring says (object dtype, so None stays None). ``df.attrs["zeek"]``
    holds the header: ``separator``, ``set_separator``, ``empty_field``, ``unset_field``,
    ``path`` (None for an extract), ``fields`` and ``types`` as given (``types`` inferred
    for an extract), ``cut`` (True for an extract) and ``closed`` (a ``#close`` line seen).
    """
    text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    meta: dict[str, str] = {
        "separator": "\t",
        "set_separator": ",",
        "empty_field": "(empty)",
        "unset_field": "-",
    }
    fields: list[str] | None = None
    types: list[str] | None = None
    log_path: str | None = None
    closed = False
    cut = False
    data: list[list[str]] = []
    for line in text.splitlines():
        if not line or line.startswith(_BTEST_LINE):
            continue
        sep = meta["separator"]
        if line.startswith("#"):
            if line.startswith("#separator "):
                meta["separator"] = unescape(line[len("#separator ") :])
                continue
            key, _, value = line[1:].partition(sep)
            if key in ("set_separator", "empty_field", "unset_field"):
                meta[key] = unescape(value)
            elif key == "path":
                log_path = value
            elif key == "fields":
                fields = value.split(sep)
            elif key == "types":
                types = value.split(sep)
            elif key == "close":
                closed = True
            # "#open" and unknown header lines carry nothing we use.
            continue
        if fields is None:  # a zeek-cut extract: its first line names the fields
            fields, cut = line.split(sep), True
            continue
        values = line.split(sep)
        if len(values) != len(fields):
            raise ZeekLogError(f"{path}: {len(values)} values for {len(fields)} fields: {line!r}")
        data.append(values)
    if fields is None:
        raise ZeekLogError(f"{path}: no #fields line and no field-name line")
    if types is None:
        types = [DNS_LOG_TYPES.get(name, "string") for name in fields]
    if len(types) != len(fields):
        raise ZeekLogError(f"{path}: {len(types)} #types for {len(fields)} #fields")
    names = _unique(fields)
    rows = [[_convert(v, t, meta) for v, t in zip(values, types, strict=True)] for values in data]
    df = pd.DataFrame(rows, columns=names, dtype=object)
    df.attrs["zeek"] = {
        **meta,
        "path": log_path,
        "fields": fields,
        "types": types,
        "cut": cut,
        "closed": closed,
    }
    return df
