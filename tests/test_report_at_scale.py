"""The report's all-at-once paths give what one finding (or one client) at a time gave.

Detectors with one finding per server build every finding's evidence together
(dnspcap/detectors/_groups.py), and the report builds every evidence table from one sort
(dnspcap/render/model.py). These tests hold them to the one-at-a-time definitions, on a
capture with thousands of servers and clients (benchmarks/make_capture.py's hostile
profile) and on several capture files at once, where frame numbers repeat.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dnspcap
from dnspcap.detectors import _groups
from dnspcap.detectors._util import EVIDENCE_TRANSACTIONS, evidence, lookup_positions
from dnspcap.render import model

ROOT = Path(__file__).resolve().parent.parent
CRAFTED = ROOT / "samples" / "crafted"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dnspcap.Report:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from make_capture import make_capture
    finally:
        sys.path.pop(0)
    path = tmp_path_factory.mktemp("hostile") / "hostile.pcap"
    make_capture(path, 30_000, 5, profile="hostile")
    return dnspcap.analyze(path)


def test_the_hostile_capture_has_many_servers_findings(hostile: dnspcap.Report) -> None:
    servers = {f.servers for f in hostile.findings.code("DNS009")}
    assert len(servers) > 100  # garbage "answered" from port 53 of many addresses
    assert hostile.transactions["server"].value_counts().iloc[0] > EVIDENCE_TRANSACTIONS


@pytest.mark.parametrize("key", ["server", "client"])
@pytest.mark.parametrize("every", [1, 3])
def test_grouped_evidence_is_each_groups_evidence(
    hostile: dnspcap.Report, key: str, every: int
) -> None:
    tx = hostile.transactions
    rows = tx.iloc[::every]  # every third row: labels no longer positions
    groups, keys = _groups.by_key(tx, rows, key)
    one_by_one = rows.groupby(key, observed=True, sort=True)
    assert keys.tolist() == one_by_one.size().index.tolist()
    together = _groups.evidence_of(tx, groups)
    lookups = _groups.lookups_of(hostile.lookups, tx, groups)
    qnames = _groups.value_counts_of(tx["qname"], groups, head=10)
    # every group's evidence is built at once; each of a sample of them, one by one
    for k in sorted(set(np.linspace(0, len(keys) - 1, 60).astype(int).tolist())):
        g = one_by_one.get_group(keys[k])
        assert together[k] == evidence(g, tx)
        set_rows = set(g.index.tolist())
        assert lookups[k].tolist() == lookup_positions(hostile.lookups, set_rows).tolist()
        assert qnames[k] == g["qname"].astype(str).value_counts().head(10).to_dict()


def test_groups_keep_only_the_groups_asked_for(hostile: dnspcap.Report) -> None:
    tx = hostile.transactions
    groups, _ = _groups.by_key(tx, tx, "server")
    keep = groups.sizes > 1
    fewer = groups.take(keep)
    assert len(fewer) == int(keep.sum())
    assert _groups.evidence_of(tx, fewer) == [
        e for e, k in zip(_groups.evidence_of(tx, groups), keep, strict=True) if k
    ]


def _evidence_one_at_a_time(m: pd.DataFrame, f: dnspcap.Finding, limit: int) -> model.Table:
    """The evidence table as it was built before, one finding at a time."""
    if not f.frames or not len(m):
        return model.Table(model.EVIDENCE_COLUMNS, [])
    mask = m["frame"].isin(f.frames)
    if f.files and m["file"].nunique() > 1:
        mask &= m["file"].isin(f.files)
    rows = m[mask].sort_values("frame", kind="stable")
    shown = rows.head(limit)
    cells = model._message_rows(m, m.index.get_indexer(shown.index))
    return model.Table(model.EVIDENCE_COLUMNS, cells, len(rows) - len(shown))


@pytest.mark.parametrize("limit", [0, 3, 12])
def test_evidence_tables_as_one_finding_at_a_time(hostile: dnspcap.Report, limit: int) -> None:
    several = dnspcap.analyze(sorted(CRAFTED.glob("*.pcap")))  # frame numbers repeat
    for report in (hostile, several):
        tables = model._evidence(report.messages, report.findings, limit)
        assert len(tables) == len(report.findings) > 5
        for k in sorted(set(np.linspace(0, len(tables) - 1, 40).astype(int).tolist())):
            assert tables[k] == _evidence_one_at_a_time(report.messages, report.findings[k], limit)


def test_usual_resolver_is_the_most_common_and_then_the_first_seen() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(1, 400))
        client = rng.integers(0, 30, n)
        resolver = pd.Categorical(rng.choice(["glibc", "musl", "go", "unknown"], n))
        codes, uniques = pd.factorize(client)
        usual = model._usual(codes, resolver, len(uniques))
        expected = (
            pd.DataFrame({"c": codes, "r": pd.Series(resolver).astype(str)})
            .groupby("c")["r"]
            .agg(lambda s: str(s.value_counts().index[0]))
        )
        assert usual.tolist() == expected.tolist()
