"""dnspcap against Wireshark on every public corpus capture.

Three checks per capture, each against tshark 4.0 as the oracle (tests/tshark_oracle.py):

* the capture is read without an exception escaping; a ``CaptureError`` is allowed only
  where ``tests/data/corpus_expected.tsv`` lists it (a link type we do not decode);
* we find as many DNS messages on port 53 as tshark does (tunneled ones included);
* message by message, matched on (frame, position within the frame), we agree with
  tshark on id, qr, opcode, rcode (low 4 bits: ours includes the EDNS extended bits),
  qname, qtype and ancount; a message only one side has is a disagreement too.

Every difference must be listed in ``tests/data/corpus_expected.tsv`` with a reviewed
reason, and every listed difference must still occur (a fixed one is taken off the list),
so the file is the exact, current list of where and why we differ from Wireshark.

Rows of corpus_expected.tsv (tab separated, ``#`` starts a comment line):

``path  frame  pos  field  ours  tshark  reason`` where ``field`` is

* ``capture-error``: reading raises; ``ours`` is the exception class name;
* ``count``: message counts differ; ``ours``/``tshark`` are the counts (frame, pos empty);
* ``row``: a message only one side has; ``ours``/``tshark`` are ``present``/``absent``;
* ``id``, ``qr``, ``opcode``, ``rcode``, ``qname``, ``qtype``, ``ancount``: the values
  (qname as each side renders it: ours, and tshark's ``dns.qry.name``).
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import dnspcap
from dnspcap.columns import COLUMN_NAMES
from dnspcap.errors import CaptureError
from dnspcap.reading.iana import opcode_name, rcode_name, type_code

try:  # tests/ as a package (pytest with tests/__init__.py) or as a plain folder
    from .corpus import corpus_captures, on_ci, relpath
    from .tshark_oracle import (
        normalise_tshark_name,
        render_our_name,
        tshark_messages,
        tshark_render_name,
    )
except ImportError:
    from corpus import corpus_captures, on_ci, relpath  # type: ignore[no-redef]
    from tshark_oracle import (  # type: ignore[no-redef]
        normalise_tshark_name,
        render_our_name,
        tshark_messages,
        tshark_render_name,
    )

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = DATA / "corpus_expected.tsv"
COUNTS = DATA / "corpus_tshark_counts.tsv"
EXPECTED_FIELDS = ("path", "frame", "pos", "field", "ours", "tshark", "reason")
COMPARED = ("id", "qr", "opcode", "rcode", "qname", "qtype", "ancount")

_OPCODES = {opcode_name(n): n for n in range(16)}
_RCODES = {rcode_name(n): n for n in range(4096)}

pytestmark = pytest.mark.corpus


@dataclass(frozen=True, slots=True)
class Difference:
    """One way we differ from tshark on one capture (a row of corpus_expected.tsv)."""

    path: str
    frame: str
    pos: str
    field: str
    ours: str
    tshark: str
    # What the message is (for a row only one side has), shown in failures; not compared.
    detail: str = dataclasses.field(default="", compare=False)

    def line(self) -> str:
        return "\t".join((self.path, self.frame, self.pos, self.field, self.ours, self.tshark))


def _require_tshark() -> None:
    if shutil.which("tshark") is None:
        message = "tshark is not installed: the corpus oracle needs it"
        if on_ci():
            pytest.fail(message + "; CI=true, so this is an error", pytrace=False)
        pytest.skip(message)


@cache
def expected() -> dict[str, dict[Difference, str]]:
    """corpus_expected.tsv: per capture path, each listed difference and its reason."""
    out: dict[str, dict[Difference, str]] = {}
    with EXPECTED.open(newline="", encoding="utf-8") as f:
        lines = [line for line in f if line.strip() and not line.startswith("#")]
    rows = csv.DictReader(lines, EXPECTED_FIELDS, delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in rows:
        if row["path"] == "path":  # the header line
            continue
        diff = Difference(*(row[k] or "" for k in EXPECTED_FIELDS[:-1]))
        assert row["reason"], f"corpus_expected.tsv: {diff.line()} has no reason"
        out.setdefault(diff.path, {})[diff] = row["reason"]
    return out


def _listed(path: str, *fields: str) -> dict[Difference, str]:
    return {d: r for d, r in expected().get(path, {}).items() if d.field in fields}


@cache
def _read(capture: Path) -> pd.DataFrame | CaptureError:
    try:
        return dnspcap.read_messages(capture)
    except CaptureError as e:
        return e


def _ours(capture: Path) -> pd.DataFrame:
    got = _read(capture)
    if isinstance(got, CaptureError):
        listed = _listed(relpath(capture), "capture-error")
        if listed:
            pytest.skip(f"{type(got).__name__} listed in corpus_expected.tsv: {got}")
        raise got
    return got


def _our_values(row: pd.Series) -> dict[str, str]:
    qtype = str(row["qtype"])
    return {
        "id": str(int(row["id"])),
        "qr": str(bool(row["qr"])),
        "opcode": str(_OPCODES[str(row["opcode"])]),
        "rcode": str(_RCODES[str(row["rcode"])] & 0xF),
        "qname": str(row["qname"]),
        "qtype": str(type_code(qtype)) if qtype else "-1",
        "ancount": str(int(row["ancount"])),
    }


def _tshark_values(row: pd.Series) -> dict[str, str | None]:
    """tshark's values (``t_`` columns); None where tshark showed none (no DNS tree)."""

    def num(name: str) -> str | None:
        value = int(row["t_" + name])
        return None if value == -1 else str(value)

    return {
        "id": num("id"),
        "qr": str(bool(row["t_qr"])) if int(row["t_opcode"]) != -1 else None,
        "opcode": num("opcode"),
        "rcode": num("rcode"),
        "qname": str(row["t_qname_tshark"]),
        "qtype": str(int(row["t_qtype"])),
        "ancount": num("ancount"),
    }


def differences(capture: Path, ours: pd.DataFrame, oracle: pd.DataFrame) -> list[Difference]:
    """Every field-level and row-level difference between our table and tshark's."""
    path = relpath(capture)
    mine = ours.assign(pos=ours.groupby("frame").cumcount())
    theirs_df = oracle.add_prefix("t_").rename(columns={"t_frame": "frame", "t_pos": "pos"})
    merged = theirs_df.merge(mine, on=["frame", "pos"], how="outer", indicator=True)
    merged = merged.sort_values(["frame", "pos"], kind="stable")
    diffs: list[Difference] = []
    for _, row in merged.iterrows():
        frame, pos = str(int(row["frame"])), str(int(row["pos"]))
        if row["_merge"] != "both":
            in_ours = row["_merge"] == "right_only"
            ours_s, tshark_s = ("present", "absent") if in_ours else ("absent", "present")
            if in_ours:
                what = f"ours: id={row['id']} qr={row['qr']} {row['qname']} {row['qtype']}"
                what += f" {row['error']}".rstrip()
            else:
                what = f"tshark: id={row['t_id']} qr={row['t_qr']} {row['t_qname_tshark']}"
                what += f" type {row['t_qtype']}" + (f" in {row['t_tunnel']}" * row["t_tunneled"])
            diffs.append(Difference(path, frame, pos, "row", ours_s, tshark_s, what))
            continue
        theirs = _tshark_values(row)
        mine_v = _our_values(row)
        for field in COMPARED:
            t_value, o_value = theirs[field], mine_v[field]
            if field == "qname":
                # Compare in tshark's rendering: ours -> tshark is deterministic, the
                # reverse is not (tshark escapes neither '.' nor '\' inside a label).
                o_cmp = tshark_render_name(o_value) if o_value else ""
                if t_value != o_cmp:
                    diffs.append(Difference(path, frame, pos, field, o_value, str(t_value)))
            elif t_value is not None and t_value != o_value:
                diffs.append(Difference(path, frame, pos, field, o_value, t_value))
    return diffs


def _report(unexpected: list[Difference], stale: dict[Difference, str]) -> str:
    lines = []
    if unexpected:
        lines.append("differences from tshark not in tests/data/corpus_expected.tsv:")
        lines += [
            "  " + d.line() + (f"\t({d.detail})" if d.detail else "") for d in unexpected[:40]
        ]
        if len(unexpected) > 40:
            lines.append(f"  ... and {len(unexpected) - 40} more")
    if stale:
        lines.append("listed in corpus_expected.tsv but no longer happening (remove them):")
        lines += ["  " + d.line() + "\t" + r for d, r in stale.items()]
    return "\n".join(lines)


@pytest.mark.parametrize("capture", corpus_captures())
def test_capture_is_read(capture: Path) -> None:
    """No exception escapes; a CaptureError only where it is listed, with its class."""
    got = _read(capture)
    listed = _listed(relpath(capture), "capture-error")
    if isinstance(got, CaptureError):
        assert any(d.ours == type(got).__name__ for d in listed), (
            f"{relpath(capture)}: {type(got).__name__} not listed in corpus_expected.tsv: {got}"
        )
    else:
        assert not listed, f"{relpath(capture)} is read now; remove its capture-error entry"
        assert list(got.columns) == list(COLUMN_NAMES)


@pytest.mark.parametrize("capture", corpus_captures())
def test_message_count_matches_tshark(capture: Path) -> None:
    """As many DNS messages on port 53 as tshark decodes (tunneled ones included)."""
    _require_tshark()
    ours = _ours(capture)
    oracle = tshark_messages(capture)
    path = relpath(capture)
    actual = Difference(path, "", "", "count", str(len(ours)), str(len(oracle)))
    listed = _listed(path, "count")
    if len(ours) == len(oracle):
        assert not listed, _report([], listed)
    else:
        tunneled = int(oracle["tunneled"].sum())
        assert actual in listed, (
            f"{path}: {len(ours)} messages, tshark {len(oracle)} ({tunneled} tunneled)\n"
            + _report([actual], {d: r for d, r in listed.items() if d != actual})
        )


@pytest.mark.parametrize("capture", corpus_captures())
def test_messages_match_tshark(capture: Path) -> None:
    """Message by message, the fields agree with tshark's, or the difference is listed."""
    _require_tshark()
    ours = _ours(capture)
    path = relpath(capture)
    found = differences(capture, ours, tshark_messages(capture))
    listed = _listed(path, "row", *COMPARED)
    unexpected = [d for d in found if d not in listed]
    stale = {d: r for d, r in listed.items() if d not in set(found)}
    assert not unexpected and not stale, f"{path}:\n" + _report(unexpected, stale)


@pytest.mark.parametrize("capture", corpus_captures())
def test_oracle_counts_are_current(capture: Path) -> None:
    """The oracle still finds what tests/data/corpus_tshark_counts.tsv says (tshark drift)."""
    _require_tshark()
    rows = {r["path"]: r for r in _counts()}
    path = relpath(capture)
    assert path in rows, f"{path} missing from corpus_tshark_counts.tsv; rerun its script"
    oracle = tshark_messages(capture)
    want = (int(rows[path]["port53"]), int(rows[path]["port53_tunneled"]))
    got = (int((~oracle["tunneled"]).sum()), int(oracle["tunneled"].sum()))
    assert got == want, (
        f"{path}: oracle finds {got} (plain, tunneled) port-53 messages, "
        f"corpus_tshark_counts.tsv says {want}; rerun tests/data/make_corpus_counts.py"
    )


@cache
def _counts() -> tuple[dict[str, str], ...]:
    with COUNTS.open(newline="", encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    return tuple(csv.DictReader(lines, delimiter="\t"))


def test_expected_entries_name_corpus_captures() -> None:
    """Every path in corpus_expected.tsv is a corpus capture (catches typos and renames)."""
    known = {r["path"] for r in _counts()}
    unknown = sorted(set(expected()) - known)
    assert not unknown, f"corpus_expected.tsv names unknown captures: {unknown}"


# Labels covering every byte value, the ones tshark escapes and the UTF-8 cases it decodes
# leniently (overlong forms, surrogates, cut sequences, non-printable code points).
_ODD_LABELS = [bytes(range(i, i + 32)) for i in range(0, 256, 32)] + [
    b"a.b",
    b"a\\b",
    b"a b",
    b"\\001",
    b"\xe2\x80A",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xef\xbb\xbf",
    b"\xc2\x9f",
    b"\xe2\x80\x99",
    b"\xf0\x9f\x98\x80",
]


def _query_pcap(labels: list[bytes]) -> bytes:
    """A classic pcap of one Ethernet/IPv4/UDP query per label (``<label>.com``), and root."""
    records = []
    names = [bytes([len(x)]) + x + b"\x03com\x00" for x in labels] + [b"\x00"]
    for i, name in enumerate(names):
        dns = struct.pack("!6H", i, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"
        udp = struct.pack("!4H", 40000, 53, 8 + len(dns), 0) + dns
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0, b"\x0a\0\0\1", b"\x0a\0\0\2"
        )
        frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp
        records.append(struct.pack("<4I", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"".join(records)


def test_tshark_name_rendering(tmp_path: Path) -> None:
    """tshark_render_name() predicts what this tshark prints for every kind of label byte."""
    _require_tshark()
    capture = tmp_path / "names.pcap"
    capture.write_bytes(_query_pcap(_ODD_LABELS))
    shown = list(tshark_messages(capture, use_cache=False)["qname_tshark"])
    ours = [render_our_name([label, b"com"]) for label in _ODD_LABELS] + ["."]
    assert [tshark_render_name(name) for name in ours] == shown
    ours_back = [normalise_tshark_name(s) for s in shown]
    # The way back is exact wherever tshark's rendering is not ambiguous.
    assert ours_back[-1] == "." and ours_back[_ODD_LABELS.index(b"a b")] == "a\\032b.com"
