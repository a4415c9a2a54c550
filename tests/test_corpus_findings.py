"""Every detector over the whole public corpus, against a reviewed list of findings.

The corpus holds no Kubernetes failure signatures (REFERENCE.md §5), so what fires
there must be true of ordinary DNS traffic: each finding is listed in
tests/data/corpus_findings.tsv with the reason a reviewer accepted it.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pytest

import dnspcap
from dnspcap.errors import CaptureError

from .corpus import corpus_captures, relpath

EXPECTED = Path(__file__).resolve().parent / "data" / "corpus_findings.tsv"


@cache
def expected() -> dict[str, set[tuple[str, int]]]:
    out: dict[str, set[tuple[str, int]]] = {}
    with EXPECTED.open(encoding="utf-8") as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        for r in rows:
            assert r["reason"].strip(), r
            out.setdefault(r["path"], set()).add((r["code"], int(r["occurrences"])))
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("capture", corpus_captures())
def test_findings_on_public_captures_are_the_reviewed_ones(capture: Path) -> None:
    try:
        messages = dnspcap.read_messages(capture)
    except CaptureError:
        return  # the reader's own corpus test covers the files it cannot read
    tx = dnspcap.pair(messages)
    found = {(f.code, f.occurrences) for f in dnspcap.detect(tx, dnspcap.lookups(tx))}
    assert found == expected().get(relpath(capture), set())


def test_expected_list_names_real_captures() -> None:
    from .corpus import manifest

    names = {r["path"] for r in manifest()}
    assert set(expected()) <= names
