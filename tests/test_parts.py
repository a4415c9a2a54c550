"""A capture analysed in parts of whole clients, each paired and grouped on its own
(dnspcap.pipeline.parts): the same tables, findings and report as the whole's."""

from __future__ import annotations

import io
import sys
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dnspcap
from dnspcap.arrays.categorical import marked
from dnspcap.arrays.frames import dealt, expanded, split
from dnspcap.native import kernel
from dnspcap.pipeline import PART_MESSAGES, analyze_messages, client_shares, parts_of, positions_of
from dnspcap.pipeline.parts import analyze_part, assemble, report_of_parts, shares
from dnspcap.reading.survey import survey
from dnspcap.report.figures import png
from dnspcap.report.formats import build, figure_pngs
from dnspcap.report.plotdata import TIMELINE_CLIENTS, Plots, ranked
from dnspcap.report.summary import evidence_messages, frames_scanned, frames_wanted, of_frames

from .corpus import corpus_captures
from .rotate import packet_count
from .rotate import split as rotate
from .synthetic import make_capture

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p for p in (ROOT / "samples").rglob("*.pcap") if p.is_file())
VANTAGE = sorted((ROOT / "samples" / "lab" / "captures" / "vantage").glob("*.pcap"))


def in_parts(
    source: object, k: int, select: list[str] | None = None
) -> tuple[dnspcap.Report, dnspcap.Report, list]:
    whole = dnspcap.analyze(source, select=select)
    m = dnspcap.read_messages(source)
    share = shares(m, k)
    done = [analyze_part(m.take(np.flatnonzero(share == j)), select=select) for j in range(k)]

    def evidence(frames: dict[str, set[int]]) -> pd.DataFrame:
        return evidence_messages(m, frames)

    stats = {**m.attrs["dnspcap"], "ports": [53]}  # as analyze() notes them
    if not len(m):
        stats["survey"] = survey(list(source) if isinstance(source, list) else [source])
    parts = report_of_parts(
        [d.part for d in done], stats=stats, evidence=evidence,
        gather=lambda: assemble(done, stats), select=select,
    )  # fmt: skip
    return whole, parts, done


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        x, y = a[col], b[col]
        if isinstance(x.dtype, pd.CategoricalDtype):
            x, y = x.astype(str), y.astype(str)
        pd.testing.assert_series_equal(x, y, check_dtype=False, obj=col)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_parts_paired_apart_give_the_whole_tables(path: Path) -> None:
    whole, parts, _ = in_parts(path, 3, select=["DNS002"])
    same_table(parts.transactions, whole.transactions)
    same_table(parts.lookups, whole.lookups)
    same_table(parts.messages, whole.messages)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_parts_paired_apart_give_the_whole_report(path: Path) -> None:
    whole, parts, _ = in_parts(path, 3)
    assert parts.render("text") == whole.render("text")
    assert parts.render("json") == whole.render("json")
    assert parts._tables == (None, None, None)  # the report never asked for the tables


@pytest.mark.parametrize("capture", corpus_captures())
def test_parts_paired_apart_give_the_whole_report_and_tables_on_the_corpus(capture: Path) -> None:
    try:
        whole, parts, done = in_parts(capture, 4)
    except dnspcap.DnspcapError:
        pytest.skip("not a capture we read")  # test_corpus says which and why
    scanned: dict[str, set[int]] = {}  # analyze() in parts keeps these frames' messages only
    for d in done:
        for file, frames in frames_scanned(d.part.scans).items():
            scanned.setdefault(file, set()).update(frames)
    for file, frames in frames_wanted(parts.findings).items():
        assert frames <= scanned.get(file, set()), file
    assert parts.render("text") == whole.render("text")
    assert parts.render("json") == whole.render("json")
    same_plots(parts.summary.plots, whole.summary.plots)
    same_table(parts.transactions, whole.transactions)
    same_table(parts.lookups, whole.lookups)
    same_table(parts.messages, whole.messages)


def test_the_incident_sample_is_cut_into_three_parts_of_its_clients() -> None:
    _, _, done = in_parts(ROOT / "samples" / "lab" / "captures" / "incident.pcap", 3, ["DNS002"])
    clients = [set(d.lookups["client"].astype(str)) for d in done]
    assert all(clients) and not set.intersection(*clients)


def test_a_set_of_several_vantage_points_is_one_part() -> None:
    m = dnspcap.read_messages(VANTAGE)
    assert set(shares(m, 4).tolist()) == {0}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_analyze_in_parts_of_few_messages_gives_the_whole_report(path: Path) -> None:
    whole = dnspcap.analyze(path, part_messages=None)
    parts = dnspcap.analyze(path, part_messages=7)
    assert parts.render("text") == whole.render("text")
    assert parts.render("json") == whole.render("json")
    m = dnspcap.read_messages(path)
    cut = len(set(shares(m, parts_of(len(m), 7)).tolist())) > 1  # several clients to share
    # the whole's transactions never made, its messages let go part by part
    assert (parts._tables[1] is None) == cut and (parts._tables[0] is None) == cut
    same_table(parts.transactions, whole.transactions)  # until asked for: read again
    same_table(parts.lookups, whole.lookups)
    same_table(parts.messages, whole.messages)
    # a table the caller holds is not let go: its parts are taken from it
    held = analyze_messages(m, part_messages=7)
    assert held.render("json") == whole.render("json")
    assert held.messages is m and (held._tables[1] is None) == cut


def test_a_capture_is_cut_in_parts_once_it_holds_one_and_a_half_parts() -> None:
    """The default parts: a 2M-message capture whole (2 parts took 8-19% longer), a
    10M-message one in 6 parts of at most 1.7M (peak 0.88-0.94x the file)."""
    assert parts_of(2_000_000, PART_MESSAGES) == 1
    assert parts_of(2_600_000, PART_MESSAGES) == 2
    assert parts_of(10_000_000, PART_MESSAGES) == 6
    assert parts_of(10_000_000, None) == 1
    assert parts_of(11, 7) == 2 and parts_of(10, 7) == 1


@pytest.mark.parametrize("deal", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_split_gives_each_parts_rows_and_lets_the_whole_go(threads: int, deal: bool) -> None:
    """analyze() splits its messages into the parts' tables a column at a time (with
    workers, as many columns at once), the whole let go as it goes: each table is the
    whole's rows of its part, as take() would give them, columns in order, attrs and
    all; the same when the columns are dealt by each message's part in C."""
    m = dnspcap.read_messages(ROOT / "samples" / "lab" / "captures" / "incident.pcap")
    share = shares(m, 3)
    at = [np.flatnonzero(share == j).astype(np.int32) for j in range(3)]
    box = [m.copy()]
    gone = weakref.ref(box[0])
    pieces = split(box, at, threads, share if deal else None)
    assert box == [] and gone() is None
    assert [len(p) for p in pieces] == [len(w) for w in at] and all(len(w) for w in at)
    for got, where in zip(pieces, at, strict=True):
        pd.testing.assert_frame_equal(got, m.take(where).reset_index(drop=True))
        assert got.attrs == m.attrs


def test_dealing_a_column_gives_each_parts_rows_in_order() -> None:
    """A column dealt by each row's part (frames.dealt, kernel.scatter_rows) is its take
    at each part's positions, for every kind of column a messages table has, missing
    values and all, parts of every code width; a kind it does not know is left to take;
    codes out of range, or outs that do not fit the parts, are refused before any row is
    written past an out's end."""
    rng = np.random.default_rng(3)
    n = 5000
    values = rng.integers(0, 2**31, n)
    columns = [
        pd.arrays.NumpyExtensionArray(values.astype(np.uint16)),
        pd.arrays.NumpyExtensionArray(values.astype(np.int64)),
        pd.arrays.NumpyExtensionArray(values % 2 == 0),
        pd.arrays.NumpyExtensionArray(values.astype(np.float32)),
        pd.array(pd.to_datetime(values, utc=True)),
        pd.Categorical.from_codes(values % 7, list("abcdefg")),
        pd.array(np.where(values % 5 == 0, None, values % 1000), dtype="UInt32"),
        pd.array(np.where(values % 3 == 0, None, values % 2 == 0), dtype="boolean"),
    ]
    for kind in (np.int8, np.int16, np.int32):
        part = rng.integers(0, 5, n).astype(kind)
        at = [np.flatnonzero(part == j) for j in range(5)]
        counts = np.array([len(w) for w in at])
        for column in columns:
            got = dealt(column, part, counts)
            assert got is not None, type(column)
            for piece, where in zip(got, at, strict=True):
                pd.testing.assert_extension_array_equal(piece, column.take(where))
    assert dealt(pd.array(["x"] * 4, dtype="string"), part[:4], np.array([4])) is None
    out = [np.zeros(3, np.uint8), np.zeros(2, np.uint8)]
    for rows, parts, refused in [
        (5, [0, 1, 2, 0, 1], "part is not within"),
        (5, [0, 0, 0, 0, 1], "out is full"),
        (4, [0, 0, 1, 1], "longer than its part"),
        (5, [0, 0, 1, 1], "values hold"),
    ]:
        values, size = np.arange(rows, dtype=np.uint8), 2 if rows > len(parts) else 1
        with pytest.raises(ValueError, match=refused):
            kernel.scatter_rows(values, size, np.array(parts, np.int16), out)


@pytest.mark.parametrize("k", [2, 3, 12])
def test_client_shares_in_c_are_those_of_shares_and_positions_of(k: int) -> None:
    """analyze() deals its messages into parts by client with one C pass and a counting
    sort (client_shares, kernel.client_parts): each message's share and each share's
    positions are those shares() and positions_of() give, on a lab capture (queries,
    responses, both address families) and on one whose addresses have no code."""
    m = dnspcap.read_messages(ROOT / "samples" / "lab" / "captures" / "incident.pcap")
    share, at = client_shares(m, k)
    assert share.dtype == np.int16 and len(at) == k
    np.testing.assert_array_equal(share, shares(m, k))
    for got, want in zip(at, positions_of(shares(m, k), k), strict=True):
        np.testing.assert_array_equal(got, want)
    missing = m.copy()
    missing["src"] = missing["src"].cat.add_categories("x").where(m.index % 3 != 0)
    np.testing.assert_array_equal(client_shares(missing, k)[0], shares(missing, k))
    qr, codes = np.array([False, True]), np.array([0, 5], np.int16)
    out = np.empty(2, np.uint16), np.empty(2, np.int32), np.empty(k, np.int64)
    table = np.zeros(3, np.uint16)
    with pytest.raises(ValueError, match="message 1's address code or its part"):
        kernel.client_parts(qr, codes, codes, table, table, *out)
    with pytest.raises(ValueError, match="message 0's address code or its part"):
        kernel.client_parts(qr, codes[:1].repeat(2), codes[:1].repeat(2), table + k, table, *out)


@pytest.mark.parametrize("order", ["ascending, each once", "ascending, repeated", "any"])
def test_the_frames_a_part_keeps_are_those_isin_finds(order: str) -> None:
    """A part keeps the messages of the frames its scans name (of_frames): marked()
    finds them by binary search where the frame numbers ascend (a part's, of one file;
    a TCP segment's messages share a frame), and is np.isin's answer in every case."""
    rng = np.random.default_rng(7)
    for _ in range(400):
        values = rng.integers(0, 40, rng.integers(0, 60))
        if order != "any":
            values = np.unique(values) if order == "ascending, each once" else np.sort(values)
        wanted = rng.integers(-3, 45, rng.integers(0, 25))
        np.testing.assert_array_equal(marked(values, wanted), np.isin(values, wanted))
    m = dnspcap.read_messages(ROOT / "samples" / "lab" / "captures" / "incident.pcap")
    frames = m["frame"].to_numpy(np.int64)
    wanted = {str(m["file"].iloc[0]): set(frames[::7].tolist()) | {-1, 10**9}}
    np.testing.assert_array_equal(of_frames(m, wanted), np.isin(frames, frames[::7]))


@pytest.mark.parametrize("name", ["lab/captures/incident", "crafted/upstream-trouble"])
def test_a_rotated_set_in_parts_gives_the_whole_report_and_reads_its_files_again(
    name: str, tmp_path: Path
) -> None:
    """A rotated set analysed in parts: the parts' tables are split from the set's
    messages and let go, and the whole's tables are read again from all its files."""
    path = ROOT / "samples" / f"{name}.pcap"
    n = packet_count(path)
    files = rotate(path, [n // 3, 2 * n // 3], tmp_path)
    whole = dnspcap.analyze(files, part_messages=None)
    parts = dnspcap.analyze(files, part_messages=7)
    assert len(whole.stats["vantages"][0]["files"]) == 3
    assert parts.render("text") == whole.render("text")
    assert parts.render("json") == whole.render("json")
    assert parts._tables == (None, None, None)
    same_table(parts.messages, whole.messages)
    same_table(parts.transactions, whole.transactions)
    assert parts.messages.attrs["dnspcap"] == whole.messages.attrs["dnspcap"]


def test_standard_input_in_parts_keeps_its_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input cannot be read again: analyze("-") in parts keeps the messages it
    read, and makes the whole's tables from them when asked."""
    data = (ROOT / "samples" / "lab" / "captures" / "incident.pcap").read_bytes()

    def from_stdin(part_messages: int | None) -> dnspcap.Report:
        class Stdin:
            buffer = io.BytesIO(data)

        monkeypatch.setattr(sys, "stdin", Stdin())
        return dnspcap.analyze("-", part_messages=part_messages)

    whole, parts = from_stdin(None), from_stdin(7)
    assert parts._tables[0] is not None and parts._tables[1] is None  # kept, not made
    assert parts.render("json") == whole.render("json")
    same_table(parts.transactions, whole.transactions)


# the samples with clients enough for several parts (the test checks they make several)
SPLIT = ["lab/captures/incident", "lab/captures/forwarding-loop", "crafted/upstream-trouble",
         "crafted/incident-mixed", "crafted/no-endpoints"]  # fmt: skip


@pytest.mark.parametrize("name", SPLIT)
def test_the_figures_of_parts_are_the_wholes_without_its_tables(name: str) -> None:
    """Markdown and HTML draw their figures from the parts' summary scans: the same
    pictures as the whole's, and the whole's tables are never made for them."""
    whole, parts, done = in_parts(ROOT / "samples" / f"{name}.pcap", 3)
    assert sum(len(d.lookups) > 0 for d in done) >= 2
    assert figure_pngs(build(parts)) == figure_pngs(build(whole))
    assert parts._tables == (None, None, None)


def shown(p: Plots) -> pd.DataFrame:
    """The lookups of the clients the timeline shows."""
    assert p.lookups is not None
    worst = ranked(p.clients)[:TIMELINE_CLIENTS]
    return p.lookups[p.lookups["client"].isin(worst)].reset_index(drop=True)


def same_plots(a: Plots, b: Plots) -> None:
    """The figures' data alike: the answers' times in any order (the figure sorts them)."""
    for field in ("queries", "servers", "clients", "ticks"):
        same_table(getattr(a, field), getattr(b, field))
    assert (a.lookups is None) == (b.lookups is None)
    if a.lookups is not None and b.lookups is not None:  # parts keep their own worst too
        same_table(*(shown(x) for x in (a, b)))
    ra, rb = (
        expanded(x.rtt, ["rtt", "answered"]).sort_values(["rtt", "answered"]).reset_index(drop=True)
        for x in (a, b)
    )  # each part counts its own times: the same times, as many of each
    same_table(ra, rb)
    assert (a.searched, a.retransmissions, a.transactions, a.drawn) == (
        b.searched, b.retransmissions, b.transactions, b.drawn)  # fmt: skip


def test_the_timeline_of_parts_shows_the_worst_clients_of_all_parts() -> None:
    """Each part keeps the lookups of its own worst clients: the whole's worst are among
    them, whichever part holds each."""
    path = ROOT / "samples" / "lab" / "captures" / "incident.pcap"
    whole, parts, done = in_parts(path, 3)
    drawn = parts.summary.plots
    assert drawn.lookups is not None and len(drawn.lookups)
    held = [set(d.lookups["client"].astype(str)) for d in done]
    drawn_clients = set(shown(drawn)["client"])
    assert sum(bool(drawn_clients & h) for h in held) >= 2  # the figure's clients come from several
    same_table(shown(drawn), shown(whole.summary.plots))


def test_a_report_of_parts_plots_without_its_tables() -> None:
    """In Jupyter, report.plot_*() of a capture analysed in parts draws from the summary:
    the whole's pictures, and the tables are not made again (up to 20 clients)."""
    whole, parts, _ = in_parts(ROOT / "samples" / "lab" / "captures" / "incident.pcap", 3)
    for plot, kwargs in (("plot_timeline", {"max_clients": 3}), ("plot_latency", {}),
                         ("plot_queries", {})):  # fmt: skip
        assert png(getattr(parts, plot)(**kwargs)) == png(getattr(whole, plot)(**kwargs)), plot
    assert parts._tables == (None, None, None)
    assert png(parts.plot_timeline(max_clients=30)) == png(whole.plot_timeline(max_clients=30))
    assert parts._tables[1] is not None  # past 20 clients, the tables are made


def test_a_part_keeps_its_answer_times_counted(tmp_path: Path) -> None:
    """The summary's and DNS010's answer times, a row per answer before, are kept as
    distinct times with how many of each: far fewer rows, the same times, the same
    percentiles and the same report."""
    path = tmp_path / "node.pcap"
    make_capture(path, 20_000, 5)
    m = dnspcap.read_messages(path)
    done = analyze_part(m)
    for code, column in (("report", "rtt"), ("DNS010", "rtt_last")):
        answers = int(done.transactions[column].notna().sum())
        kept = done.part.scans[code].table("rtt")
        assert int(kept["n"].sum()) == answers
        assert len(kept) < answers / 3  # times to the microsecond repeat
        times = np.sort(expanded(kept, [column])[column].to_numpy())
        want = np.sort(done.transactions[column].dropna().to_numpy(float))
        np.testing.assert_array_equal(times, want)
