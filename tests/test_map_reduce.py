"""Detection as map and reduce: the scans of parts of a capture, each part a share of its
clients, judge to exactly the findings of the whole (dnspcap.findings.scan).

A cluster run (dnspcap.fleet) and a bounded-memory run scan parts and judge once; these
tests cut each sample's, and each corpus capture's, tables into client shares and hold
the judged findings to detect()'s on the whole, field by field.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dnspcap
from dnspcap.findings import detect
from dnspcap.findings.detection import judge, scan
from dnspcap.findings.registry import catalogue
from dnspcap.pipeline.parts import report_of_parts
from dnspcap.report.summary import NAME as SUMMARY
from dnspcap.report.summary import evidence_messages, summarize

from .corpus import corpus_captures

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p for p in (ROOT / "samples").rglob("*.pcap") if p.is_file())
VANTAGE = sorted((ROOT / "samples" / "lab" / "captures" / "vantage").glob("*.pcap"))


def converted() -> list[str]:
    """Every detector (each is a scan and a judge)."""
    return [d.code for d in catalogue()]


def shares(clients: pd.Series, k: int, salt: int) -> np.ndarray:
    """Per row, the share (0..k-1) of its client address."""
    cat = clients.astype("category")
    table = np.asarray(
        [zlib.crc32(f"{salt}:{c}".encode()) % k for c in cat.cat.categories], np.int64
    )
    codes = np.asarray(cat.cat.codes, np.int64)
    return np.where(codes >= 0, table[np.maximum(codes, 0)] if len(table) else 0, 0)


def parted(
    tx: pd.DataFrame, lk: pd.DataFrame, k: int, salt: int = 0, select: Any = "converted"
) -> list[Any]:
    """The scans of k client shares of the tables, each with its lookups' places in the
    whole's table."""
    tshare, lshare = shares(tx["client"], k, salt), shares(lk["client"], k, salt)
    parts = []
    for j in range(k):
        t = tx[tshare == j]
        at = np.flatnonzero(lshare == j)
        chosen = converted() if select == "converted" else select
        part = scan(t, lk.iloc[at].reset_index(drop=True), select=chosen)
        part.row_offset, part.lookup_at = 0, at
        parts.append(part)
    return parts


def report_in_parts(report: dnspcap.Report, k: int, salt: int = 0) -> dnspcap.Report:
    """The report made of k client shares' scans (every detector's and the summary's) and
    of the messages of the findings' frames, without the whole's tables."""
    m, tx, lk = report.messages, report.transactions, report.lookups
    client = np.where(m["qr"].to_numpy(bool), m["dst"].astype(str), m["src"].astype(str))
    mshare = shares(pd.Series(client), k, salt)
    parts = parted(tx, lk, k, salt, select=None)
    pieces = [m[mshare == j] for j in range(k)]
    tshare, lshare = shares(tx["client"], k, salt), shares(lk["client"], k, salt)
    for j, part in enumerate(parts):
        part.scans[SUMMARY] = summarize(
            pieces[j], tx[tshare == j], lk.iloc[np.flatnonzero(lshare == j)].reset_index(drop=True)
        )

    def evidence(frames: dict[str, set[int]]) -> pd.DataFrame:
        return pd.concat([evidence_messages(p, frames) for p in pieces]).sort_index()

    return report_of_parts(parts, stats=report.stats, evidence=evidence)


def same(whole: list[Any], split: list[Any]) -> None:
    assert [f.code for f in split] == [f.code for f in whole]
    for a, b in zip(whole, split, strict=True):
        assert b.as_dict() == a.as_dict(), a.code


def check(report: dnspcap.Report, k: int = 3) -> None:
    tx, lk = report.transactions, report.lookups
    whole = detect(tx, lk, select=converted())
    for salt in range(2):
        same(whole, judge(parted(tx, lk, k, salt), select=converted()))
    # one part, and parts with nothing in them, change nothing either
    same(whole, judge(parted(tx, lk, 1), select=converted()))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_a_report_of_client_shares_is_the_samples_report(path: Path) -> None:
    report = dnspcap.analyze(path)
    for k in (1, 3):
        parts = report_in_parts(report, k)
        assert parts.render("text") == report.render("text")
        assert parts.render("json") == report.render("json")
        assert parts._tables == (None, None, None)  # it never needed the tables


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_client_shares_judge_to_the_samples_findings(path: Path) -> None:
    check(dnspcap.analyze(path))


def test_client_shares_of_a_three_vantage_set() -> None:
    report = dnspcap.analyze(VANTAGE)
    assert report.transactions["copy_of"].ge(0).any()  # the copies go with their query
    check(report)


@pytest.mark.parametrize("capture", corpus_captures())
def test_client_shares_judge_to_the_corpus_findings(capture: Path) -> None:
    try:
        report = dnspcap.analyze(capture)
    except dnspcap.DnspcapError:
        pytest.skip("not a capture we read")  # test_corpus says which and why
    check(report, k=4)


def test_client_shares_of_several_clients_with_one_signature() -> None:
    """Samples read as one set: the A/AAAA pairs (DNS001, DNS003) and the retries (DNS004)
    of several clients fall into different shares, whose counts, seconds lost and retry
    gaps the judge adds up and takes medians of (no single sample has them at two
    clients; the queries asked of the one server are every share's)."""
    lab, crafted = ROOT / "samples" / "lab" / "captures", ROOT / "samples" / "crafted"
    report = dnspcap.analyze(
        [lab / "aaaa-first.pcap", crafted / "musl-id-collision.pcap",
         lab / "race-glibc.pcap", lab / "race-musl.pcap"]
    )  # fmt: skip
    assert {"DNS001", "DNS003", "DNS004"} <= {f.code for f in report.findings}
    check(report)


@pytest.mark.parametrize(
    "name", ["lab/captures/incident", "lab/captures/forwarding-loop", "crafted/incident-mixed",
             "crafted/upstream-trouble"],
)  # fmt: skip
def test_the_first_evidence_rows_are_the_wholes_when_parts_keep_only_theirs(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a finding shows the frames of its first 500 transactions; with 3 instead, every
    # finding here has more, so what a part keeps of its evidence (its first rows, a row
    # per client and server, the earliest and latest) must still give the whole's
    from dnspcap.findings.detectors import _evidence, forwarding_loop, latency, truncation

    for module in (_evidence, forwarding_loop, latency, truncation):
        monkeypatch.setattr(module, "EVIDENCE_TRANSACTIONS", 3)
    report = dnspcap.analyze(ROOT / "samples" / f"{name}.pcap")
    assert any(len(f.evidence_frames) and len(f.frames) > 6 for f in report.findings)
    check(report)


def _concat_reference(parts: list[Any], name: str, code: str) -> pd.DataFrame:
    """What combine() gave before it joined columns itself: each part's table renumbered,
    pandas' concat of them, put in lookup, then row order."""
    from dnspcap.findings.scan import LOOKUP, ROW, _moved, numbering

    moved = [_moved(p.scans[code].tables[name], *num)
             for p, num in zip(parts, numbering(parts), strict=True)
             if code in p.scans and name in p.scans[code].tables
             and len(p.scans[code].tables[name].columns)]  # fmt: skip
    t = pd.concat(moved, ignore_index=True) if len(moved) > 1 else moved[0]
    keys = [k for k in (LOOKUP, ROW) if k in t.columns]
    if keys and len(moved) > 1:
        t = t.take(np.lexsort([t[k].to_numpy(np.int64) for k in keys])).reset_index(drop=True)
    return t


@pytest.mark.parametrize("accessor", [True, False])
def test_combine_joins_the_parts_tables_as_pandas_concat_of_them_does(
    accessor: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """combine() joins the parts' scan tables a column at a time: every table of three
    client shares of the incident sample is the renumbered tables' pd.concat, dtypes,
    categories' order and all (an object column of texts stays object, as pandas keeps
    it, though a table made of such an array would make it str). The same through each
    column's Series, for a pandas without the block accessor combine reads them by."""
    from dnspcap.findings.scan import combine

    if not accessor:
        monkeypatch.delattr(pd.DataFrame, "_get_column_array", raising=False)
    from dnspcap.pipeline.parts import analyze_part
    from dnspcap.pipeline.parts import shares as client_shares

    m = dnspcap.read_messages(ROOT / "samples" / "lab" / "captures" / "incident.pcap")
    share = client_shares(m, 3)
    parts = [analyze_part(m.take(at), positions=at).part
             for at in (np.flatnonzero(share == j) for j in range(3))]  # fmt: skip
    got = combine(parts)
    compared = 0
    for code, s in got.items():
        for name, table in s.tables.items():
            if not len(table.columns):
                continue
            want = _concat_reference(parts, name, code)
            pd.testing.assert_frame_equal(table, want, check_exact=True, obj=f"{code} {name}")
            for c in table.columns:
                if isinstance(table[c].dtype, pd.CategoricalDtype):
                    assert list(table[c].cat.categories) == list(want[c].cat.categories)
            compared += 1
    assert compared > 40
    assert any(t[c].dtype == object for s in got.values() for t in s.tables.values()
               for c in t.columns)  # fmt: skip


def test_combine_of_parts_whose_column_types_differ_is_pandas_concat() -> None:
    """Where the parts' columns differ in type (a count in one part, a float in another),
    combine() leaves the joining to pandas: the types pandas gives."""
    from dnspcap.findings.scan import Part, Scan, combine

    a = pd.DataFrame({"row": np.array([1, 0]), "n": np.array([3, 4], np.int64),
                      "who": pd.Series(["x", "y"], dtype=object)})  # fmt: skip
    b = pd.DataFrame({"row": np.array([0]), "n": np.array([0.5]),
                      "who": pd.Series(["z"], dtype=object)})  # fmt: skip
    parts = [Part({"X": Scan({"t": a})}, rows=2, lookups=0),
             Part({"X": Scan({"t": b})}, rows=1, lookups=0)]  # fmt: skip
    got = combine(parts)["X"].table("t")
    assert got["row"].tolist() == [0, 1, 2] and got["n"].tolist() == [4.0, 3.0, 0.5]
    assert got["n"].dtype == np.float64 and got["who"].dtype == object
    assert got["who"].tolist() == ["y", "x", "z"]


def test_the_parts_transactions_are_numbered_by_a_merge_as_a_sort_of_all_would() -> None:
    """combine numbers the parts' transactions by merging their keys (first message's
    time, then place) in C; that is the sort of all keys, ties of time broken by place,
    for any parts, empty ones too; parts out of order fall back to the sort."""
    from dnspcap.findings.scan import _ranks, _sorted_ranks

    rng = np.random.default_rng(11)
    for _ in range(500):
        keys = []
        for _ in range(rng.integers(1, 8)):
            n = rng.integers(0, 40)
            ts, place = rng.integers(0, 25, n), rng.choice(100_000, n, replace=False)
            order = np.lexsort((place, ts))
            keys.append((ts[order], place[order]))
        got, want = _ranks(keys), _sorted_ranks(keys)
        assert [list(g) for g in got] == [list(w) for w in want]
        every = np.sort(np.concatenate(got))
        assert list(every) == list(range(sum(len(t) for t, _ in keys)))
    late = [(np.array([5, 1]), np.array([0, 1])), (np.array([2]), np.array([7]))]
    assert [list(r) for r in _ranks(late)] == [[2, 0], [1]]


def test_the_parts_lookups_are_numbered_by_start_then_client_then_their_order() -> None:
    """combine numbers the parts' lookups by start, ties by client text, then each
    part's own order, the texts of the tied only taken from their parts: the order a
    lexsort of all three keys gives, for any parts, empty ones too."""
    from dnspcap.findings.scan import _lookup_ranks

    rng = np.random.default_rng(12)
    names = np.array([f"10.0.{i}.{j}" for i in range(3) for j in range(4)], object)
    for _ in range(300):
        keys = []
        for _ in range(rng.integers(1, 6)):
            n = rng.integers(0, 30)
            keys.append((rng.integers(0, 12, n), names[rng.integers(0, len(names), n)]))
        start = np.concatenate([s for s, _ in keys])
        text = np.concatenate([np.asarray(c, object) for _, c in keys])
        own = np.concatenate([np.arange(len(s)) for s, _ in keys])
        order = np.lexsort((own, pd.factorize(text, sort=True)[0], start))
        want = np.empty(len(start), np.int64)
        want[order] = np.arange(len(start))
        assert list(np.concatenate(_lookup_ranks(keys))) == list(want)
