"""Figures of a capture's lookups and transactions, as matplotlib `Figure` objects.

`timeline` shows each client's lookups over time, coloured by outcome, with retries and
failures marked; `latency` the distribution of response times per server;
`queries_per_lookup` how many queries each lookup cost (the ndots amplification). `png`
renders a figure to PNG bytes. Only the object-oriented API is used: no pyplot, no global
state, nothing shown; the figures render headless and display in Jupyter as they are.

Addresses and names come from the capture and are untrusted: they are drawn literally
(a ``$`` is escaped, so it never starts mathtext) and never through TeX.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from io import BytesIO
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ..arrays.categorical import as_categorical
from ..arrays.frames import expanded
from ..findings.scan import LOOKUP
from .plotdata import (
    FAILURES,
    Plots,
    drawn_transactions,
    ranked,
    rtt_table,
    servers_table,
)

__all__ = ["DRAWN", "OUTCOME_COLOURS", "latency", "png", "queries_per_lookup", "timeline"]

# Okabe-Ito: told apart with every common colour-vision deficiency.
OUTCOME_COLOURS = {
    "answered": "#009E73",
    "nxdomain": "#E69F00",
    "no_data": "#56B4E9",
    "failed": "#D55E00",
    "timed_out": "#CC79A7",
    "pending": "#999999",
}
MERGE_ABOVE = 2_000  # timeline bars drawn one per lookup; past this, merged per pixel
PLACED_MAX = 1_000  # overlapping timeline bars placed in lanes one by one; more take turns
NOTE_BOX = {"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8}
KIND_COLOURS = {
    "direct": "#0072B2",
    "via search list": "#E69F00",
    "retransmitted": "#D55E00",
    "via search list, retransmitted": "#CC79A7",
}


def _literal(s: object) -> str:
    """Text from the capture, drawn as it is: a `$` must not start mathtext."""
    return str(s).replace("$", r"\$")


class DnsFigure(Figure):
    """A figure that shows itself in Jupyter even when pyplot was never imported."""

    def _repr_png_(self) -> bytes:
        return png(self)


def _figure(width: float, height: float) -> Figure:
    fig = DnsFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure) -> Figure:
    for t in fig.findobj(Text):
        t.set_usetex(False)  # a user's rcParams must not send capture text through TeX
    return fig


def _empty(what: str) -> Figure:
    fig = _figure(6.4, 2.0)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, what, ha="center", va="center", fontsize=14, color="#555555")
    return _finish(fig)


def png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _naive(ts: pd.Series) -> np.ndarray:
    """UTC timestamps as matplotlib date numbers."""
    s = pd.to_datetime(ts, utc=True).dt.tz_convert(None)
    days = mdates.date2num(s.to_numpy("datetime64[ns]"))  # type: ignore[no-untyped-call]
    return np.asarray(days, np.float64)


def _key(label: str, **style: object) -> Line2D:
    """A legend entry for a marker or line."""
    return Line2D([], [], label=label, **({"ls": "", "c": "black"} | style))  # type: ignore[arg-type]


def _plural(n: int, word: str) -> str:
    if n != 1:
        word = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{n:,} {word}"


def _lanes(row: np.ndarray, x0: np.ndarray, x1: np.ndarray, cap: int = 4) -> np.ndarray:
    """A lane in its client's row for each bar, so that overlapping lookups (concurrent
    requests) sit side by side; past `cap` lanes the one free soonest is shared (in a run
    of more than PLACED_MAX overlapping bars, the lanes in turn)."""
    lane = np.zeros(len(row), np.int64)
    order = np.lexsort((x0, row))
    r, a, b = row[order], x0[order], x1[order]
    # A bar that starts after every earlier bar of its row has ended finds every lane
    # free and takes lane 0: only runs of overlapping bars are placed one by one.
    alone = np.ones(len(r), bool)
    bounds = np.flatnonzero(np.r_[True, r[1:] != r[:-1], True])
    for lo, hi in itertools.pairwise(bounds.tolist()):
        ended = np.maximum.accumulate(b[lo:hi])
        alone[lo + 1 : hi] = a[lo + 1 : hi] >= ended[:-1]
    starts = np.flatnonzero(alone)
    sizes = np.diff(np.r_[starts, len(r)])
    # A run of thousands keeps every lane busy: in turn is what placing them one by one
    # would come to, at a pixel's width each.
    for s, n in zip(starts[sizes > PLACED_MAX].tolist(), sizes[sizes > PLACED_MAX].tolist(),
                    strict=True):  # fmt: skip
        lane[order[s : s + n]] = np.arange(n) % cap
    few = (sizes > 1) & (sizes <= PLACED_MAX)
    a_, b_ = a.tolist(), b.tolist()
    for s, n in zip(starts[few].tolist(), sizes[few].tolist(), strict=True):
        ends: list[float] = []
        for i in range(s, s + n):
            k = next((k for k, e in enumerate(ends) if e <= a_[i]), len(ends))
            if k == cap:
                k = ends.index(min(ends))
            if k == len(ends):
                ends.append(b_[i])
            ends[k] = max(ends[k], b_[i])
            lane[order[i]] = k
    return lane


def _merged(
    keys: np.ndarray, x0: np.ndarray, x1: np.ndarray, gap: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bars of one key (row, lane, colour, hatching) less than `gap` (about a pixel)
    apart drawn as one: (the first bar of each, its left, its right). A busy client's
    thousands of lookups become as many bars as the figure has pixels for."""
    order = np.lexsort((x0, keys))
    k, a, b = keys[order], x0[order] - x0.min(), x1[order] - x0.min()
    new_key = np.r_[True, k[1:] != k[:-1]]
    # keys apart by more than the whole time range: one running maximum for all keys
    shift = np.cumsum(new_key) * (float(b.max()) + 2 * gap + 1.0)
    reach = np.r_[-np.inf, np.maximum.accumulate(b + shift)[:-1]]
    start = new_key | (a + shift > reach + gap)
    first = np.flatnonzero(start)
    return order[first], x0[order][first], np.maximum.reduceat(x1[order], first)


def timeline(
    lookups: pd.DataFrame, transactions: pd.DataFrame | None = None, *, max_clients: int = 20
) -> Figure:
    """Each client's lookups over time: one row per client, one bar per lookup from its
    first query to its last message, coloured by outcome; concurrent lookups share the
    row in lanes, and lookups closer than a pixel are drawn as one bar. Retried lookups
    are hatched, and each retransmission is ticked when the `transactions` the lookups
    were made from are given; failed and timed-out lookups get a cross at their end.
    With more than `max_clients` clients, those with the most failed or retried lookups
    are shown, worst on top."""
    p = Plots.of_tables(transactions, lookups, clients=max_clients)
    return draw_timeline(p, max_clients=max_clients, ticks=transactions is not None)


def draw_timeline(p: Plots, *, max_clients: int = 20, ticks: bool = True) -> Figure:
    """:func:`timeline` from the figures' data (a report's: ``report.summary.plots``)."""
    if not p.drawn or p.lookups is None:
        return _empty("no lookups")
    b = _bars(p.lookups, ranked(p.clients), max_clients)
    fig = _figure(11.0, 1.6 + 0.32 * len(b.shown))
    ax = fig.add_subplot()
    face = to_rgba_array([*OUTCOME_COLOURS.values(), "#999999"])[b.place]
    # hatching costs about a millisecond a bar to render: past a few hundred, outlines only
    hatch = "////" if b.retried.sum() <= 500 else None
    _draw_bars(ax, b, face, hatch)
    handles: list[Patch | Line2D] = [
        Patch(color=c, label=f"{o.replace('_', ' ')} ({int((b.place == k).sum()):,})")
        for k, (o, c) in enumerate(OUTCOME_COLOURS.items())
    ]
    if b.retried.any():
        n = int(b.retried.sum())
        handles.append(Patch(fc="white", ec="black", hatch=hatch, label=f"retried ({n:,})"))
    if ticks and len(p.ticks):
        # each tick's bar: the bar of its lookup, found among the bars by position
        of = p.ticks[LOOKUP].to_numpy(np.int64)
        by_pos = np.argsort(b.pos, kind="stable")
        near = np.minimum(np.searchsorted(b.pos[by_pos], of), max(len(b.pos) - 1, 0))
        mine = (b.pos[by_pos][near] == of) if len(b.pos) else np.zeros(len(of), bool)
        which, at = by_pos[near[mine]], _naive(p.ticks["at"][mine])
        if len(at):
            out = 0.1 * b.h[which]  # a tick standing out of its bar
            ends = [
                np.column_stack([at, b.yb[which] - out]),
                np.column_stack([at, b.yt[which] + out]),
            ]
            lines = LineCollection(np.stack(ends, 1), colors="black", lw=2.0, gid="retries")  # type: ignore[arg-type]
            ax.add_collection(lines)
            handles.append(_key(f"retransmission ({len(at):,})", marker="|", ms=12, mew=2))
    bad = b.failed
    if bad.any():
        cross = {"marker": "X", "s": 60 if bad.sum() < 200 else 25, "ec": "black", "lw": 0.8}
        mid = (b.yb[bad] + b.yt[bad]) / 2
        ax.scatter(b.x1[bad], mid, c=face[bad], zorder=3, gid="failures", **cross)  # type: ignore[arg-type]
        label = f"failed / timed out ({int(bad.sum()):,})"
        handles.append(_key(label, marker="X", mfc="white", mec="black", ms=8))
    _timeline_axes(ax, b)
    clients = _plural(len(b.rank), "client")
    title = f"DNS lookups per client: {_plural(p.drawn, 'lookup')}, {clients}"
    if len(b.rank) > len(b.shown):
        title += (
            f"\nthe {len(b.shown)} with the most failed or retried lookups shown; "
            f"{len(b.rank) - len(b.shown):,} clients ({p.drawn - len(b.pos):,} lookups) left out"
        )
    ax.set_title(title, loc="left", fontsize=11)
    fig.legend(handles=handles, loc="outside right upper", title="lookups", fontsize=9)
    return _finish(fig)


class _Bars(NamedTuple):
    """The timeline's bars: one per lookup of a client shown."""

    pos: np.ndarray  # the lookup's row
    row: np.ndarray  # its client's row on the figure, worst on top
    lane: np.ndarray  # its lane within the row, and the row's number of lanes
    lanes: np.ndarray
    place: np.ndarray  # its outcome's place in OUTCOME_COLOURS, -1 for any other
    retried: np.ndarray
    failed: np.ndarray
    x0: np.ndarray  # start and end (matplotlib dates), bottom and top
    x1: np.ndarray
    yb: np.ndarray
    yt: np.ndarray
    h: np.ndarray  # the height of its lane
    shown: np.ndarray  # the clients shown (texts), and every client, worst first
    rank: np.ndarray
    lo: float  # the time axis
    hi: float
    span: float


def _bars(looks: pd.DataFrame, rank: np.ndarray, max_clients: int) -> _Bars:
    """Where each lookup's bar goes: its client's row (the worst max_clients clients, of
    ``rank``) and a lane in it, from its start to its end. ``looks``: the drawn lookups
    of those clients at least, in lookup order (``lookup``, their positions)."""
    shown = rank[:max_clients]
    row = pd.Series(np.arange(len(shown)), index=pd.Index(shown, dtype=object))
    r = row.reindex(looks["client"].to_numpy(object)).fillna(-1).to_numpy(np.int64)
    keep = r >= 0
    r = r[keep]
    pos = looks[LOOKUP].to_numpy(np.int64)[keep]
    colours = list(OUTCOME_COLOURS)
    place_of = {k: i for i, k in enumerate(colours)}
    place = np.array([place_of.get(o, -1) for o in looks["outcome"].to_numpy(object)[keep]], int)
    retried = looks["retransmissions"].to_numpy()[keep] > 0
    failures = np.isin(place, [colours.index(f) for f in FAILURES])
    x0 = _naive(looks["start"][keep])
    duration = np.nan_to_num(looks["duration"].to_numpy(np.float64)[keep])
    x1 = x0 + np.clip(duration, 0, None) / 86400.0
    lo, hi = float(x0.min()), float(x1.max())
    span = max(hi - lo, 1.0 / 86400)  # at least a second
    lo, hi = min(lo, (lo + hi - span) / 2), max(hi, (lo + hi + span) / 2)
    x1 = np.maximum(x1, x0 + span * 0.003)  # an instant lookup still shows as a sliver
    lane = _lanes(r, x0, x1)
    lanes = np.ones(len(shown), np.int64)
    np.maximum.at(lanes, r, lane + 1)
    h = 0.8 / lanes[r]
    yb = r - 0.4 + lane * h + 0.04 * h  # bottom of each bar, a gap between lanes
    return _Bars(
        pos, r, lane, lanes, place, retried, failures, x0, x1, yb, yb + 0.92 * h, h, shown,
        rank, lo, hi, span,
    )  # fmt: skip


def _draw_bars(ax: Axes, b: _Bars, face: np.ndarray, hatch: str | None) -> None:
    """The bars, as two collections (retried lookups outlined and hatched); past
    MERGE_ABOVE bars, those less than a pixel apart in a lane merge into one."""
    if len(b.x0) > MERGE_ABOVE:
        key = (b.row * (b.lanes.max() + 1) + b.lane) * (len(OUTCOME_COLOURS) + 1) + b.place + 1
        first, a_all, b_all = _merged(key * 2 + b.retried, b.x0, b.x1, b.span * 1.06 / 1000)
    else:
        first, a_all, b_all = np.arange(len(b.x0)), b.x0, b.x1
    for gid, sel in (("lookups", ~b.retried[first]), ("lookups-retried", b.retried[first])):
        if sel.any():
            i, a, e = first[sel], a_all[sel], b_all[sel]
            bot, top = b.yb[i], b.yt[i]
            verts = np.stack(
                [np.column_stack(p) for p in ((a, bot), (a, top), (e, top), (e, bot))], 1
            )
            coll = PolyCollection(verts, fc=face[i], gid=gid, rasterized=len(a) > 5000)  # type: ignore[arg-type]
            if gid == "lookups-retried":
                coll.set(edgecolor="black", linewidth=0.6, hatch=hatch)
            else:
                coll.set_linewidth(0)
            ax.add_collection(coll)


def _timeline_axes(ax: Axes, b: _Bars) -> None:
    """Time in UTC along x, the clients down y (the worst on top)."""
    ax.set_xlim(b.lo - b.span * 0.03, b.hi + b.span * 0.03)
    ax.set_ylim(len(b.shown) - 0.5, -0.5)
    ax.set_yticks(range(len(b.shown)), [_literal(c) for c in b.shown])
    loc = mdates.AutoDateLocator(tz="UTC")  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(loc)
    fmt = mdates.ConciseDateFormatter(loc, tz="UTC", usetex=False)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(fmt)
    ax.set_xlabel("time (UTC)")
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)


def _ms(v: float, _pos: object = None, *, digits: int = 6) -> str:
    """Milliseconds, written in s from a second on."""
    return f"{v / 1000:.{digits}g} s" if v >= 1000 else f"{v:.{digits}g} ms"


def latency(transactions: pd.DataFrame, *, max_servers: int = 10) -> Figure:
    """Response time (`rtt`, first query to response) of answered transactions, one row
    per server on a log scale: every transaction as a dot (a sample when there are
    many), the middle half as a box, p50 and p99 marked; each label counts the answered
    and unanswered transactions."""
    return draw_latency(
        rtt_table(transactions), servers_table(transactions), drawn_transactions(transactions),
        max_servers=max_servers,
    )  # fmt: skip


def draw_latency(
    rtt: pd.DataFrame, others: pd.DataFrame, transactions: int, *, max_servers: int = 10
) -> Figure:
    """:func:`latency` from the figures' data (``report.summary.plots``): the round-trip
    times with their server (``rtt``), the other transactions counted per server and
    status (``others``), and how many transactions there are."""
    if not transactions:
        return _empty("no transactions")
    answers = rtt[rtt["answered"].to_numpy(bool) & np.isfinite(rtt["rtt"].to_numpy(float))]
    answers = expanded(answers, ["rtt", "server"])  # each time as often as it came
    answered_ms = answers["rtt"].to_numpy(np.float64) * 1000.0
    cat = as_categorical(answers["server"])
    code, names = np.asarray(cat.codes, np.int64), cat.categories.astype(str)
    per_server = pd.Series(np.bincount(code[code >= 0], minlength=len(names)), index=names)
    per_server = per_server.groupby(level=0).sum()
    rest_n = others.groupby("server")["n"].sum() if len(others) else pd.Series(dtype=np.int64)
    counts = per_server.add(rest_n, fill_value=0)
    present = [str(s) for s in counts.index[counts.to_numpy() > 0]]
    shown = sorted(present, key=lambda s: (-int(counts[s]), s))[:max_servers]
    fig = _figure(10.0, 1.5 + 0.8 * len(shown))
    ax = fig.add_subplot()
    ax.set_xscale("log")
    rng = np.random.default_rng(0)  # the same sample and jitter every time
    sampled = False
    labels = []
    # each server's answers in order of time (the same dots whatever order the parts came
    # in), found by its category's code: the texts of a category that read alike, united
    server_text = np.asarray(names, object)
    order = np.lexsort((answered_ms, code))
    by_code, in_order = code[order], np.maximum(answered_ms[order], 1e-3)
    for i, s in enumerate(shown):
        runs = [np.searchsorted(by_code, [c, c + 1]) for c in np.flatnonzero(server_text == s)]
        v = np.sort(np.concatenate([in_order[a:b] for a, b in runs] or [np.zeros(0)]))
        mine = others[others["server"] == s] if len(others) else others
        by = mine.groupby("status")[["n", "first_row"]].agg({"n": "sum", "first_row": "min"})
        by = by.iloc[np.lexsort((by["first_row"].to_numpy(), -by["n"].to_numpy()))]
        rest = ", ".join(f"{int(n):,} {str(k).replace('_', ' ')}" for k, n in by["n"].items())
        labels.append(f"{_literal(s)}\n{len(v):,} answered\n{rest or '0 unanswered'}")
        if not len(v):
            ax.text(0.5, i, "no answers", transform=ax.get_yaxis_transform(), ha="center")
            continue
        sample = v if len(v) <= 3000 else rng.choice(v, 3000, replace=False)
        sampled |= len(v) > 3000
        jitter = i + rng.uniform(-0.25, 0.25, len(sample))
        alpha = 0.35 if len(sample) > 200 else 0.7
        ax.scatter(sample, jitter, s=8, c="#0072B2", alpha=alpha, lw=0, gid=f"rtt:{s}")
        q25, p50, q75, p99 = np.percentile(v, [25, 50, 75, 99])
        ax.broken_barh([(q25, q75 - q25)], (i - 0.3, 0.6), fc="none", ec="black", lw=1.2)
        ax.plot([p50, p50], [i - 0.38, i + 0.38], c="black", lw=2.5)
        ax.plot([p99], [i], marker="D", ms=7, mfc="#D55E00", mec="black", ls="")
        text = f"p50 {_ms(p50, digits=3)}\np99 {_ms(p99, digits=3)}"
        beside = {"xytext": (9, 0), "textcoords": "offset points"}
        ax.annotate(text, (p99, i), **beside, fontsize=8, va="center", bbox=NOTE_BOX)  # type: ignore[arg-type]
    if len(answered_ms):
        lo, hi = max(answered_ms.min(), 1e-3), max(answered_ms.max(), 1e-3)
        ax.set_xlim(lo / 2, hi * 6)  # room for the p50/p99 note right of the p99
    else:
        ax.set_xlim(0.1, 10000)
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_major_formatter(FuncFormatter(_ms))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.set_yticks(range(len(shown)), labels, fontsize=9)
    ax.set_xlabel("response time (first query to response), log scale")
    ax.grid(axis="x", which="both", color="#eeeeee")
    ax.set_axisbelow(True)
    title = f"Response time per server: {_plural(len(answered_ms), 'answered transaction')}"
    if len(present) > len(shown):
        title += (
            f"\nthe {len(shown)} with the most transactions shown; "
            f"{_plural(len(present) - len(shown), 'server')} left out"
        )
    ax.set_title(title, loc="left", fontsize=11)
    dot_label = "transaction\n(3,000 per server\nat most)" if sampled else "transaction"
    legend = [
        _key(dot_label, marker="o", c="#0072B2", ms=4),
        Patch(fc="none", ec="black", label="p25-p75"),
        _key("p50", ls="-", lw=2.5),
        _key("p99", marker="D", mfc="#D55E00", mec="black"),
    ]
    fig.legend(handles=legend, loc="outside right upper", fontsize=9)
    return _finish(fig)


def queries_per_lookup(lookups: pd.DataFrame) -> Figure:
    """How many lookups sent 1, 2, 3, ... queries, each bar split by why: lookups that
    went through search-list names (ndots), that retransmitted, both, or neither."""
    return draw_queries(Plots.of_tables(None, lookups, clients=0))


def draw_queries(p: Plots) -> Figure:
    """:func:`queries_per_lookup` from the figures' data (``report.summary.plots``)."""
    t = p.queries
    n_of = t["n"].to_numpy(np.int64) if len(t) else np.zeros(0, np.int64)
    if not n_of.sum():
        return _empty("no lookups")
    seen = n_of > 0
    kind, q = t["kind"].to_numpy(np.int64)[seen], t["queries"].to_numpy(np.int64)[seen]
    n_of = n_of[seen]
    cap = 50
    xs = np.arange(max(int(q.min()), 0), min(int(q.max()), cap) + 1)
    fig = _figure(9.0, 4.5)
    ax = fig.add_subplot()
    bottom = np.zeros(len(xs))
    for i, (k, colour) in enumerate(KIND_COLOURS.items()):
        mine = kind == i
        at = np.minimum(q[mine], cap) - xs[0]
        n = np.bincount(at, weights=n_of[mine], minlength=len(xs))[: len(xs)].astype(np.int64)
        if not n.any():
            continue
        label = f"{k} ({int(n_of[mine].sum()):,})"
        top = ax.bar(xs, n, bottom=bottom, color=colour, width=0.8, label=label)
        bottom += n
    if np.count_nonzero(bottom) <= 30:  # the totals over the stacks
        ax.bar_label(top, [f"{t:,.0f}" if t else "" for t in bottom], fontsize=8)
    ticks = [int(x) for x in xs]
    if len(xs) > 20:  # the first bar, then round numbers
        some = MaxNLocator(integer=True).tick_values(xs[0], xs[-1])
        ticks = ticks[:1] + [int(t) for t in some if xs[0] + 2 <= t <= xs[-1]]
    if int(q.max()) > cap:  # the last bar holds every lookup with `cap` queries or more
        ticks = [t for t in ticks if t < cap - 3] + [cap]
    ax.set_xticks(ticks, [f"{t}+" if t == cap and q.max() > cap else f"{t}" for t in ticks])
    ax.set_xlim(xs[0] - 0.7, xs[-1] + 0.7)
    ax.set_ylim(0, bottom.max() * 1.12)
    ax.set_xlabel("queries sent for one lookup (A and AAAA each count, retransmissions too)")
    ax.set_ylabel("lookups")
    nq, ns, nr, looks = int((q * n_of).sum()), p.searched, p.retransmissions, int(n_of.sum())
    ax.set_title(
        f"{_plural(nq, 'query')} for {_plural(looks, 'lookup')} ({nq / looks:.1f} per lookup)\n"
        f"{ns:,} on search-list names (ndots), {_plural(nr, 'retransmission')}",
        loc="left",
        fontsize=11,
    )
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    fig.legend(title="lookups", loc="outside right upper", fontsize=9)
    return _finish(fig)


# each figure of the report (its key in the document) drawn from the figures' data
DRAWN: dict[str, Callable[[Plots], Figure]] = {
    "timeline": draw_timeline,
    "latency": lambda p: draw_latency(p.rtt, p.servers, p.transactions),
    "queries": draw_queries,
}
