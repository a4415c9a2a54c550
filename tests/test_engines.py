"""The compiled fast path and the exact pure-Python path give identical tables.

Run over every public corpus capture and the project's samples: whatever the
kernel takes must come out exactly as the pure path would make it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import dnspcap
from dnspcap.errors import CaptureError

from .corpus import corpus_captures
from .synthetic import make_capture

SAMPLES = sorted(Path(__file__).resolve().parent.parent.glob("samples/**/*.pcap*"))


def _both(path: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    try:
        fast = dnspcap.read_messages(path)
    except CaptureError as e:
        with pytest.raises(CaptureError) as exact:
            dnspcap.read_messages(path, engine="python")
        assert str(exact.value) == str(e)
        return None
    return fast, dnspcap.read_messages(path, engine="python")


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_captures(), ids=str)
def test_engines_agree_on_corpus(path: Path) -> None:
    pair = _both(path)
    if pair is not None:
        fast, exact = pair
        pd.testing.assert_frame_equal(fast, exact)
        assert fast.attrs == exact.attrs


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_engines_agree_on_samples(path: Path) -> None:
    pair = _both(path)
    assert pair is not None
    fast, exact = pair
    pd.testing.assert_frame_equal(fast, exact)
    assert len(fast) > 0


def test_columns_match_the_documented_contract() -> None:
    df = dnspcap.read_messages(SAMPLES[0])
    assert tuple(df.columns) == tuple(c.name for c in dnspcap.MESSAGE_COLUMNS)
    for c in dnspcap.MESSAGE_COLUMNS:
        assert str(df[c.name].dtype) == c.dtype, c.name


def test_docs_page_is_current() -> None:
    from dnspcap.columns import render_markdown

    page = Path(__file__).resolve().parent.parent / "docs" / "columns.md"
    assert page.read_text() == render_markdown(), "run: python scripts/make_docs.py"


def test_transactions_and_lookups_match_their_documented_columns() -> None:
    from dnspcap.columns import LOOKUP_COLUMNS, TRANSACTION_COLUMNS

    tx = dnspcap.pair(dnspcap.read_messages(SAMPLES[0]))
    lk = dnspcap.lookups(tx)
    for table, columns in ((tx, TRANSACTION_COLUMNS), (lk, LOOKUP_COLUMNS)):
        assert tuple(table.columns) == tuple(c.name for c in columns)
        for c in columns:
            assert str(table[c.name].dtype) == c.dtype, c.name


@pytest.mark.slow
def test_engines_agree_on_a_big_synthetic_capture(tmp_path: Path) -> None:
    """More rows than the table's storage starts with, many chunks of the kernel's buffer,
    DNS over TCP between UDP rows: what the benchmark reads, at a twentieth of its size."""

    path = tmp_path / "big.pcap"
    truth = make_capture(path, 100_000, 7)
    fast, exact = _both(path)  # type: ignore[misc]
    assert len(fast) == truth["dns_messages"] > 1 << 16
    assert (fast["transport"] == "tcp").sum() == truth["tcp_messages"] > 0
    pd.testing.assert_frame_equal(fast, exact)
    assert fast.attrs == exact.attrs


# ---- walks that overlap (dnspcap/reading/read.py, _fast): each walk of the kernel runs in
# a thread while the rows of the walk before it are made and its TCP messages added. Small
# buffers make every capture many walks (and FULL outputs, and grown buffers), so that
# every sample and corpus capture goes through the overlap with its TCP, pcapng blocks
# and corrupt records.


def _walks(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    from dnspcap.reading import read

    monkeypatch.setattr(read, "CHUNK_BYTES", 1 << 12)
    monkeypatch.setattr(read, "processors", lambda: 2)
    overlapped = dnspcap.read_messages(path)
    monkeypatch.setattr(read, "processors", lambda: 1)  # one walk at a time
    return overlapped, dnspcap.read_messages(path)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for c in a.columns:  # the categories in the same order: texts learnt in the same order
        if isinstance(a[c].dtype, pd.CategoricalDtype):
            assert list(a[c].cat.categories) == list(b[c].cat.categories), c
    assert a.attrs == b.attrs


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_overlapped_walks_read_what_one_walk_at_a_time_reads(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _same(*_walks(path, monkeypatch))


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_captures(), ids=str)
def test_overlapped_walks_agree_on_corpus(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        overlapped, alone = _walks(path, monkeypatch)
    except CaptureError:
        return
    _same(overlapped, alone)
    pd.testing.assert_frame_equal(overlapped, dnspcap.read_messages(path, engine="python"))


def test_overlapped_walks_on_a_busy_capture_with_tcp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture of thousands of TCP messages among UDP ones, many per walk: each walk's
    rows are made after the next walk has written its own, and the TCP messages merged
    before them."""
    path = tmp_path / "busy.pcap"
    make_capture(path, 60_000, seed=3)
    overlapped, alone = _walks(path, monkeypatch)
    assert (overlapped["transport"] == "tcp").sum() > 50
    _same(overlapped, alone)


def test_the_file_read_ahead_during_a_walk_gives_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a walk runs, the next stretch of the file is read into the other buffer,
    after room for the record the walk leaves cut (read.py, HEAD_ROOM): buffers of 64 KB
    make a 60,000-packet capture a hundred such reads, and the table is the one read
    walk after walk, its cut records moved in front of what was read ahead."""
    from dnspcap.reading import read

    path = tmp_path / "busy.pcap"
    make_capture(path, 60_000, seed=5)
    rooms: list[int] = []
    real = read._room
    monkeypatch.setattr(read, "_room", lambda buf: rooms.append(real(buf)) or real(buf))
    monkeypatch.setattr(read, "CHUNK_BYTES", 1 << 16)
    monkeypatch.setattr(read, "processors", lambda: 2)
    ahead = dnspcap.read_messages(path)
    assert len(rooms) > 100 and set(rooms) == {(1 << 16) // 8}
    monkeypatch.setattr(read, "processors", lambda: 1)  # one walk at a time, no reading ahead
    rooms.clear()
    _same(ahead, dnspcap.read_messages(path))
    assert not rooms
