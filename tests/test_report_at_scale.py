"""The report's all-at-once paths give what one finding (or one client) at a time gave.

The report builds every evidence table from one sort (dnspcap/report/document.py), and the
detectors report one finding per signature however many servers or clients show it.
These tests hold them to the one-at-a-time definitions, on a capture with thousands of
servers and clients (benchmarks/make_capture.py's hostile profile) and on several
capture files at once, where frame numbers repeat.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dnspcap
from dnspcap.findings.detectors._evidence import EVIDENCE_TRANSACTIONS
from dnspcap.report import document as model
from dnspcap.report import summary

from .synthetic import make_capture

ROOT = Path(__file__).resolve().parent.parent
CRAFTED = ROOT / "samples" / "crafted"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dnspcap.Report:
    path = tmp_path_factory.mktemp("hostile") / "hostile.pcap"
    make_capture(path, 30_000, 5, profile="hostile")
    return dnspcap.analyze(path)


def test_the_hostile_capture_is_one_finding_per_signature(hostile: dnspcap.Report) -> None:
    # garbage "answered" from port 53 of many addresses: one DNS009, with a breakdown
    (errors,) = hostile.findings.code("DNS009")
    assert len(errors.details["servers"]) == 20  # the worst few, not thousands
    assert "more" in errors.summary and len(errors.summary) < 400
    assert hostile.transactions["server"].value_counts().iloc[0] > EVIDENCE_TRANSACTIONS
    codes = [f.code for f in hostile.findings]
    assert len(codes) == len(set(codes))


def _evidence_one_at_a_time(m: pd.DataFrame, f: dnspcap.Finding, limit: int) -> model.Table:
    """The evidence table as it was built before, one finding at a time."""
    if not f.evidence_frames or not len(m):
        return model.Table(model.EVIDENCE_COLUMNS, [])
    mask = np.zeros(len(m), bool)
    files = m["file"].astype(str).to_numpy()
    for file, frames in f.evidence_frames.items():
        mask |= m["frame"].isin(frames).to_numpy() & (files == file)
    rows = m[mask]
    if len(f.evidence_frames) > 1:  # time order; at one time, file (as first met) by file
        code = pd.factorize(m["file"])[0][mask]
        rows = rows.iloc[np.lexsort((rows["frame"].to_numpy(), code, rows["ts"].to_numpy()))]
    else:
        rows = rows.sort_values("frame", kind="stable")
    shown = rows.head(limit)
    several = m["file"].nunique() > 1
    cells = model._message_rows(m, m.index.get_indexer(shown.index), several)
    return model.Table(model.EVIDENCE_COLUMNS, cells, len(rows) - len(shown))


@pytest.mark.parametrize("limit", [0, 3, 12])
def test_evidence_tables_as_one_finding_at_a_time(hostile: dnspcap.Report, limit: int) -> None:
    several = dnspcap.analyze(sorted(CRAFTED.glob("*.pcap")))  # frame numbers repeat
    for report in (hostile, several):
        tables = model._evidence(report.messages, report.findings, limit)
        assert len(tables) == len(report.findings) >= 4
        for k in sorted(set(np.linspace(0, len(tables) - 1, 40).astype(int).tolist())):
            assert tables[k] == _evidence_one_at_a_time(report.messages, report.findings[k], limit)


def test_usual_resolver_is_the_most_common_and_then_the_first_seen() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(1, 400))
        client = rng.integers(0, 30, n)
        resolver = pd.Categorical(rng.choice(["glibc", "musl", "go", "unknown"], n))
        codes, uniques = pd.factorize(client)
        usual = summary.usual(codes, resolver, len(uniques))
        expected = (
            pd.DataFrame({"c": codes, "r": pd.Series(resolver).astype(str)})
            .groupby("c")["r"]
            .agg(lambda s: str(s.value_counts().index[0]))
        )
        assert usual.tolist() == expected.tolist()
