"""The figures (`dnspcap.report.figures`), checked for what a reader of them would notice."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import cbook
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.text import Text

import dnspcap
from dnspcap.report import figures as plots

CRAFTED = Path(__file__).resolve().parent.parent / "samples" / "crafted"
FAILED = to_rgba(plots.OUTCOME_COLOURS["failed"])
TIMED_OUT = to_rgba(plots.OUTCOME_COLOURS["timed_out"])
ANSWERED = to_rgba(plots.OUTCOME_COLOURS["answered"])


@cache
def report(name: str) -> dnspcap.Report:
    return dnspcap.analyze(CRAFTED / f"{name}.pcap")


def drawn(fig: Figure) -> Axes:
    """The figure's (first) axes, after a render: tick labels and layout as a reader sees them."""
    fig.canvas.draw()
    return fig.axes[0]


def gid(ax: Axes, name: str) -> list[object]:
    return [c for c in ax.get_children() if c.get_gid() == name]


def bars(ax: Axes) -> list[PolyCollection]:
    return [c for c in ax.collections if isinstance(c, PolyCollection) and c.get_gid()]


def texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def row_of(ax: Axes, label: str) -> int:
    labels = [t.get_text() for t in ax.get_yticklabels()]
    return labels.index(label)


def corners(coll: PolyCollection) -> list[np.ndarray]:
    """Each bar's four corners, (x, y) in data coordinates."""
    return [np.asarray(p.vertices)[:4] for p in coll.get_paths()]


def offsets(coll: PathCollection) -> np.ndarray:
    return np.asarray(coll.get_offsets())


def datenum(ts: object) -> np.ndarray:
    return np.asarray(mdates.date2num(ts))  # type: ignore[no-untyped-call]


def synthetic(n: int, clients: int = 50, seed: int = 0) -> pd.DataFrame:
    """A lookups table with the columns the figures read."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2025-11-24 16:00", tz="UTC")
    retr = (rng.random(n) < 0.03).astype(np.int64)
    queries = 2 + retr + 6 * (rng.random(n) < 0.2)
    outcomes = list(plots.OUTCOME_COLOURS)
    return pd.DataFrame(
        {
            "client": pd.Categorical([f"10.244.0.{i}" for i in rng.integers(0, clients, n)]),
            "outcome": pd.Categorical(
                rng.choice(outcomes, n, p=[0.9, 0.04, 0.02, 0.02, 0.01, 0.01]), outcomes
            ),
            "start": t0 + pd.to_timedelta(np.sort(rng.uniform(0, 3600, n)), unit="s"),
            "duration": np.where(retr > 0, 5.0, rng.exponential(0.002, n)),
            "queries": queries,
            "search_queries": np.where(queries >= 8, 6, 0),
            "retransmissions": retr,
            "transactions_index": [[] for _ in range(n)],
        }
    )


def test_importing_dnspcap_does_not_import_matplotlib() -> None:
    code = "import dnspcap, sys; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# timeline


def test_timeline_one_row_per_client_one_bar_per_lookup() -> None:
    r = report("incident-mixed")
    ax = drawn(plots.timeline(r.lookups, r.transactions))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == sorted(r.lookups["client"].astype(str).unique())
    assert len(labels) == 5
    assert labels[0] == "10.244.1.17"  # the client whose lookups were retried, on top
    assert sum(len(c.get_paths()) for c in bars(ax)) == len(r.lookups) == 16
    assert ax.get_xlabel() == "time (UTC)"
    assert ax.xaxis.get_offset_text().get_text() == "2025-Nov-24 16:00"


def test_timeline_bars_span_each_lookup() -> None:
    r = report("incident-mixed")
    ax = drawn(plots.timeline(r.lookups))
    lefts = sorted(v[:, 0].min() for c in bars(ax) for v in corners(c))
    starts = r.lookups["start"].dt.tz_convert(None).to_numpy("datetime64[ns]")
    np.testing.assert_allclose(lefts, np.sort(datenum(starts)), rtol=0, atol=1e-9)
    (retried,) = gid(ax, "lookups-retried")
    assert isinstance(retried, PolyCollection)
    # the two lookups that waited 5 s for a lost AAAA: wide, hatched, in that client's row
    widths = [np.ptp(v[:, 0]) * 86400 for v in corners(retried)]
    np.testing.assert_allclose(widths, [5.0018, 5.0018], atol=1e-3)
    assert retried.get_hatch()
    assert all(abs(v[:, 1].mean() - row_of(ax, "10.244.1.17")) < 0.5 for v in corners(retried))


def test_timeline_marks_each_retransmission_when_given_transactions() -> None:
    r = report("incident-mixed")
    ax = drawn(plots.timeline(r.lookups, r.transactions))
    (ticks,) = gid(ax, "retries")
    assert isinstance(ticks, LineCollection)
    when = sorted(seg[0, 0] for seg in ticks.get_segments())
    # the AAAA queries at 02.50006 and 03.50006, resent 5.00094 s later
    expected = [pd.Timestamp(f"2025-11-24 16:00:0{s}") for s in ("7.50100", "8.50100")]
    np.testing.assert_allclose(when, datenum(expected), rtol=0, atol=1e-9)
    assert "retransmission (2)" in "\n".join(t.get_text() for t in ax.figure.findobj(Text))
    assert not gid(ax, "failures")
    # without the transactions the retried lookups are still hatched, just not ticked
    ax = drawn(plots.timeline(r.lookups))
    assert not gid(ax, "retries") and gid(ax, "lookups-retried")


def test_timeline_failures_in_the_failure_colour_and_crossed() -> None:
    r = report("no-endpoints")
    assert (r.lookups["outcome"] == "failed").all()
    fig = plots.timeline(r.lookups, r.transactions)
    ax = drawn(fig)
    colours = np.concatenate([c.get_facecolor() for c in bars(ax)])
    assert len(colours) == 2 and np.allclose(colours, FAILED)
    (crosses,) = gid(ax, "failures")
    assert isinstance(crosses, PathCollection)
    assert len(offsets(crosses)) == 2
    assert "failed (2)" in texts(fig) and "retried (1)" in texts(fig)


def test_timeline_failures_and_timeouts_told_apart() -> None:
    r = report("upstream-trouble")
    ax = drawn(plots.timeline(r.lookups, r.transactions))
    (crosses,) = gid(ax, "failures")
    assert isinstance(crosses, PathCollection)
    colours = [tuple(c) for c in np.asarray(crosses.get_facecolor())]
    assert colours.count(FAILED) == 5 and colours.count(TIMED_OUT) == 1
    assert sum(len(c.get_paths()) for c in bars(ax)) == 33
    # the resolver that resent its query 147 times gets 147 ticks
    (ticks,) = gid(ax, "retries")
    assert isinstance(ticks, LineCollection)
    assert len(ticks.get_segments()) == int(r.lookups["retransmissions"].sum()) == 147


def test_timeline_keeps_the_troubled_clients_and_says_how_many_were_left_out() -> None:
    lk = synthetic(3000, clients=40, seed=1)
    lk["outcome"] = pd.Categorical(["answered"] * len(lk), list(plots.OUTCOME_COLOURS))
    lk["retransmissions"] = 0
    bad = lk["client"].isin(["10.244.0.7", "10.244.0.33"])
    lk.loc[bad & (lk.index % 5 == 0), "outcome"] = "timed_out"
    fig = plots.timeline(lk, max_clients=10)
    ax = drawn(fig)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 10
    assert set(labels[:2]) == {"10.244.0.7", "10.244.0.33"}
    left_out = int((~lk["client"].isin(labels)).sum())
    assert f"30 clients ({left_out:,} lookups) left out" in ax.get_title(loc="left")
    assert sum(len(c.get_paths()) for c in bars(ax)) == len(lk) - left_out


def test_timeline_of_one_lookup_and_of_none() -> None:
    r = report("incident-mixed")
    one = r.lookups.iloc[[3]]
    ax = drawn(plots.timeline(one, r.transactions))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["10.244.4.21"]
    assert sum(len(c.get_paths()) for c in bars(ax)) == 1
    lo, hi = ax.get_xlim()
    assert 0.9 <= (hi - lo) * 86400 <= 1.2  # a second around a 1 ms lookup, not a blank range
    empty = plots.timeline(r.lookups.iloc[:0], r.transactions.iloc[:0])
    assert "no lookups" in texts(empty)
    assert plots.png(empty).startswith(b"\x89PNG")


@pytest.mark.slow
def test_timeline_of_100k_lookups_renders_in_seconds() -> None:
    lk = synthetic(100_000)
    t = time.perf_counter()
    fig = plots.timeline(lk)
    data = plots.png(fig)
    elapsed = time.perf_counter() - t
    assert elapsed < 6, f"{elapsed:.1f} s"  # about 1 s here
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 20
    shown = lk[lk["client"].isin(labels)]
    assert len(bars(ax)) == 2  # two collections, not a bar artist per lookup
    # 40,000 lookups on ~800 pixels a row: bars less than a pixel apart are drawn as one
    assert sum(len(c.get_paths()) for c in bars(ax)) < len(shown) / 2
    assert_every_lookup_drawn(ax, shown, labels)
    assert f"answered ({(shown['outcome'] == 'answered').sum():,})" in texts(fig)
    assert len(data) < 2_000_000


@pytest.mark.slow
def test_timeline_of_one_client_with_250k_lookups() -> None:
    """A node-local cache or a pod in a loop: one row, a quarter of a million lookups."""
    lk = synthetic(250_000, clients=1, seed=4)
    t = time.perf_counter()
    fig = plots.timeline(lk)
    plots.png(fig)
    elapsed = time.perf_counter() - t
    assert elapsed < 10, f"{elapsed:.1f} s"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["10.244.0.0"]
    assert sum(len(c.get_paths()) for c in bars(ax)) < 20_000  # pixels, not lookups
    assert_every_lookup_drawn(ax, lk, ["10.244.0.0"])
    assert "250,000 lookups" in ax.get_title(loc="left")


def assert_every_lookup_drawn(ax: Axes, lk: pd.DataFrame, labels: list[str]) -> None:
    """Each lookup's start lies on a bar of its client's row."""
    edges: dict[int, list[tuple[float, float]]] = {}
    for coll in bars(ax):
        for v in corners(coll):
            edges.setdefault(round(float(v[:, 1].mean())), []).append(
                (v[:, 0].min(), v[:, 0].max())
            )
    starts = datenum(lk["start"].dt.tz_convert(None).to_numpy("datetime64[ns]"))
    rows = lk["client"].astype(str).map({c: i for i, c in enumerate(labels)}).to_numpy()
    for row, spans in edges.items():
        lo, hi = np.array(sorted(spans)).T
        hi = np.maximum.accumulate(hi)
        x = starts[rows == row]
        i = np.searchsorted(lo, x, "right") - 1
        assert (i >= 0).all() and (x <= hi[i] + 1e-9).all()
    assert set(edges) == set(range(len(labels)))


# latency


def test_latency_one_row_per_server_with_counts() -> None:
    r = report("incident-mixed")
    fig = plots.latency(r.transactions)
    ax = drawn(fig)
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["10.96.0.10\n40 answered\n0 unanswered"]
    (dots,) = gid(ax, "rtt:10.96.0.10")
    assert isinstance(dots, PathCollection)
    rtt_ms = np.sort(r.transactions["rtt"].to_numpy() * 1000)
    np.testing.assert_allclose(np.sort(offsets(dots)[:, 0]), rtt_ms)
    p50, p99 = np.percentile(rtt_ms, [50, 99])
    assert f"p50 {p50:.3g} ms\np99 {p99 / 1000:.3g} s" in texts(fig)
    assert {t.get_text() for t in ax.get_xticklabels()} >= {"1 ms", "10 ms", "100 ms", "1 s"}


def test_latency_counts_unanswered_per_server() -> None:
    r = report("upstream-trouble")
    fig = plots.latency(r.transactions)
    ax = drawn(fig)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "10.0.0.2\n31 answered\n0 unanswered",
        "10.0.0.3\n0 answered\n5 unanswered",
        "10.96.0.10\n1 answered\n3 unanswered",
    ]
    assert "no answers" in texts(fig)
    assert not gid(ax, "rtt:10.0.0.3")
    for server, n in (("10.0.0.2", 31), ("10.96.0.10", 1)):
        (dots,) = gid(ax, f"rtt:{server}")
        assert isinstance(dots, PathCollection) and len(offsets(dots)) == n


def test_latency_without_any_answer() -> None:
    r = report("no-endpoints")
    fig = plots.latency(r.transactions)
    ax = drawn(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["10.96.0.10\n0 answered\n4 icmp error"]
    assert "no answers" in texts(fig) and "0 answered transactions" in texts(fig)
    assert "no transactions" in texts(plots.latency(r.transactions.iloc[:0]))


def test_latency_keeps_the_busiest_servers() -> None:
    n = 40_000
    rng = np.random.default_rng(3)
    server = rng.choice([f"10.0.0.{i}" for i in range(15)], n, p=np.arange(15, 0, -1) / 120)
    tx = pd.DataFrame(
        {
            "server": pd.Categorical(server),
            "status": pd.Categorical(np.full(n, "answered")),
            "rtt": rng.lognormal(-7, 1.5, n),
        }
    )
    fig = plots.latency(tx, max_servers=4)
    ax = drawn(fig)
    busiest = pd.Series(server).value_counts().index[:4]
    assert [t.get_text().split("\n")[0] for t in ax.get_yticklabels()] == list(busiest)
    assert "11 servers left out" in ax.get_title(loc="left")
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(dots) == 4 and all(len(offsets(c)) == 3000 for c in dots)  # a sample
    assert "3,000 per server" in texts(fig)


# queries per lookup


def stacks(ax: Axes) -> dict[str, dict[int, float]]:
    """Per legend entry, the bars' heights by number of queries."""
    return {
        str(c.get_label()).split(" (")[0]: {
            round(p.get_x() + p.get_width() / 2): p.get_height() for p in c if p.get_height()
        }
        for c in ax.containers
    }


def test_queries_per_lookup_bars_sum_to_the_lookups() -> None:
    r = report("incident-mixed")
    fig = plots.queries_per_lookup(r.lookups)
    ax = drawn(fig)
    assert stacks(ax) == {
        "direct": {2: 13},
        "retransmitted": {4: 2},
        "via search list": {8: 1},  # ndots: 3 search-list names before the real one, A+AAAA
    }
    assert sum(p.get_height() for c in ax.containers for p in c) == len(r.lookups)
    title = ax.get_title(loc="left")
    assert "42 queries for 16 lookups (2.6 per lookup)" in title
    assert "6 on search-list names" in title and "2 retransmissions" in title


def test_queries_per_lookup_caps_a_runaway_lookup() -> None:
    r = report("upstream-trouble")
    ax = drawn(plots.queries_per_lookup(r.lookups))
    assert stacks(ax)["retransmitted"] == {50: 1}  # the 150-query lookup
    assert ax.get_xticklabels()[-1].get_text() == "50+"
    assert sum(p.get_height() for c in ax.containers for p in c) == 33
    assert "no lookups" in texts(plots.queries_per_lookup(r.lookups.iloc[:0]))


# rendering


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_png_is_a_png_of_the_figure_size() -> None:
    r = report("incident-mixed")
    for fig in (
        plots.timeline(r.lookups, r.transactions),
        plots.latency(r.transactions),
        plots.queries_per_lookup(r.lookups),
    ):
        w, h = fig.get_size_inches()
        data = plots.png(fig)
        assert png_size(data) == (round(w * 100), round(h * 100))
        assert 5_000 < len(data) < 500_000
        assert png_size(plots.png(fig, dpi=50)) == (round(w * 50), round(h * 50))
        assert fig._repr_png_() == data  # type: ignore[attr-defined]  # Jupyter, without pyplot


def test_no_pyplot_figure_is_left_open() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    r = report("upstream-trouble")
    for fig in (
        plots.timeline(r.lookups, r.transactions),
        plots.latency(r.transactions),
        plots.queries_per_lookup(r.lookups),
    ):
        plots.png(fig)
    assert plt.get_fignums() == before == []


def test_capture_text_is_never_math_or_tex() -> None:
    name = "$x^2$"
    r = report("incident-mixed")
    lk = r.lookups.iloc[:3].copy()
    lk["client"] = pd.Categorical([name, name, "10.244.1.17"])
    tx = r.transactions.copy()
    tx["server"] = pd.Categorical([name] * len(tx))
    with matplotlib.rc_context({"text.usetex": True}):  # even if the user asked for TeX
        figs = [plots.timeline(lk, tx), plots.latency(tx)]
    for fig in figs:
        assert not any(t.get_usetex() for t in fig.findobj(Text))
        ax = drawn(fig)
        (label,) = [t for t in ax.get_yticklabels() if "x^2" in t.get_text()]
        assert not cbook.is_math_text(label.get_text())
        # drawn as the five characters, as wide as the literal text
        first = label.get_text().split("\n")[0]
        literal = fig.text(0, 0, name, parse_math=False, fontproperties=label.get_fontproperties())
        fig.canvas.draw()
        line = fig.text(0, 0, first, fontproperties=label.get_fontproperties())
        fig.canvas.draw()
        assert line.get_window_extent().width == pytest.approx(
            literal.get_window_extent().width, abs=0.5
        )
        plots.png(fig)
