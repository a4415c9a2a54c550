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

from io import BytesIO

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

__all__ = ["OUTCOME_COLOURS", "latency", "png", "queries_per_lookup", "timeline"]

# Okabe-Ito: told apart with every common colour-vision deficiency.
OUTCOME_COLOURS = {
    "answered": "#009E73",
    "nxdomain": "#E69F00",
    "no_data": "#56B4E9",
    "failed": "#D55E00",
    "timed_out": "#CC79A7",
    "pending": "#999999",
}
FAILURES = ("failed", "timed_out")
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
    requests) sit side by side; past `cap` lanes the one free soonest is shared."""
    lane = np.zeros(len(row), np.int64)
    prev, ends = -1, list[float]()
    r, a, b = row.tolist(), x0.tolist(), x1.tolist()
    for i in np.lexsort((x0, row)).tolist():
        if r[i] != prev:
            prev, ends = r[i], []
        k = next((k for k, e in enumerate(ends) if e <= a[i]), len(ends))
        if k == cap:
            k = ends.index(min(ends))
        if k == len(ends):
            ends.append(b[i])
        ends[k] = max(ends[k], b[i])
        lane[i] = k
    return lane


def _retry_times(lk: pd.DataFrame, tx: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(lookup position, date number) of every retransmission of the lookups' queries."""
    members = lk["transactions_index"].reset_index(drop=True).explode().dropna()
    if members.empty or int(members.max()) >= len(tx):
        return np.empty(0, np.int64), np.empty(0)
    t = tx.iloc[members.to_numpy(np.int64)].reset_index(drop=True)
    t.index = members.index  # the lookup's position
    t = t[t["attempts"].to_numpy() > 1]
    gaps = t["retry_gaps"].reset_index(drop=True).explode().dropna().astype(np.float64)
    if gaps.empty:
        return np.empty(0, np.int64), np.empty(0)
    at = (
        t["query_ts"].iloc[gaps.index]
        + pd.to_timedelta(gaps.groupby(level=0).cumsum().to_numpy(), unit="s").to_numpy()
    )
    return t.index.to_numpy(np.int64)[gaps.index], _naive(at)


def _worst_first(client: np.ndarray, trouble: np.ndarray) -> list[str]:
    """The clients, most failed or retried lookups first, then most lookups, then by name."""
    per = pd.DataFrame({"client": client, "trouble": trouble}).groupby("client")["trouble"]
    rank = pd.DataFrame({"trouble": per.sum(), "n": per.size()}).reset_index()
    rank = rank.sort_values(["trouble", "n", "client"], ascending=[False, False, True])
    return [str(c) for c in rank["client"]]


def timeline(
    lookups: pd.DataFrame, transactions: pd.DataFrame | None = None, *, max_clients: int = 20
) -> Figure:
    """Each client's lookups over time: one row per client, one bar per lookup from its
    first query to its last message, coloured by outcome; concurrent lookups share the
    row in lanes. Retried lookups are hatched, and each retransmission is ticked when
    the `transactions` the lookups were made from are given; failed and timed-out
    lookups get a cross at their end. With more than `max_clients` clients, those with
    the most failed or retried lookups are shown, worst on top."""
    lk = lookups[lookups["start"].notna()].reset_index(drop=True)
    if lk.empty:
        return _empty("no lookups")
    client = lk["client"].astype(str).to_numpy()
    outcome = lk["outcome"].astype(str).to_numpy()
    retried = lk["retransmissions"].to_numpy() > 0
    rank = _worst_first(client, np.isin(outcome, FAILURES) | retried)
    shown = rank[:max_clients]
    row = pd.Series(np.arange(len(shown)), index=shown)
    keep = np.isin(client, shown)
    pos = np.flatnonzero(keep)
    r = row.reindex(client[keep]).to_numpy(np.int64)
    x0 = _naive(lk["start"])[keep]
    x1 = x0 + lk["duration"].fillna(0.0).clip(lower=0).to_numpy()[keep] / 86400.0
    outcome, retried = outcome[keep], retried[keep]

    lo, hi = float(x0.min()), float(x1.max())
    span = max(hi - lo, 1.0 / 86400)  # at least a second
    lo, hi = min(lo, (lo + hi - span) / 2), max(hi, (lo + hi + span) / 2)
    x1 = np.maximum(x1, x0 + span * 0.003)  # an instant lookup still shows as a sliver
    lane = _lanes(r, x0, x1)
    lanes = np.ones(len(shown), np.int64)
    np.maximum.at(lanes, r, lane + 1)
    h = 0.8 / lanes[r]
    yb = r - 0.4 + lane * h + 0.04 * h  # bottom of each bar, a gap between lanes
    yt = yb + 0.92 * h

    fig = _figure(11.0, 1.6 + 0.32 * len(shown))
    ax = fig.add_subplot()
    code = pd.Categorical(outcome, categories=list(OUTCOME_COLOURS)).codes
    face = to_rgba_array([*OUTCOME_COLOURS.values(), "#999999"])[np.where(code < 0, -1, code)]
    # hatching costs about a millisecond a bar to render: past a few hundred, outlines only
    hatch = "////" if retried.sum() <= 500 else None
    for gid, sel in (("lookups", ~retried), ("lookups-retried", retried)):
        if sel.any():
            a, b, bot, top = x0[sel], x1[sel], yb[sel], yt[sel]
            verts = np.stack(
                [np.column_stack(p) for p in ((a, bot), (a, top), (b, top), (b, bot))], 1
            )
            coll = PolyCollection(verts, fc=face[sel], gid=gid, rasterized=len(a) > 5000)  # type: ignore[arg-type]
            if gid == "lookups-retried":
                coll.set(edgecolor="black", linewidth=0.6, hatch=hatch)
            else:
                coll.set_linewidth(0)
            ax.add_collection(coll)
    handles: list[Patch | Line2D] = [
        Patch(color=c, label=f"{o.replace('_', ' ')} ({int((outcome == o).sum()):,})")
        for o, c in OUTCOME_COLOURS.items()
    ]
    if retried.any():
        n = int(retried.sum())
        handles.append(Patch(fc="white", ec="black", hatch=hatch, label=f"retried ({n:,})"))
    if transactions is not None and "transactions_index" in lk:
        which, at = _retry_times(lk.iloc[pos], transactions)
        if len(at):
            out = 0.1 * h[which]  # a tick standing out of its bar
            ends = [np.column_stack([at, yb[which] - out]), np.column_stack([at, yt[which] + out])]
            ticks = LineCollection(np.stack(ends, 1), colors="black", lw=2.0, gid="retries")  # type: ignore[arg-type]
            ax.add_collection(ticks)
            handles.append(_key(f"retransmission ({len(at):,})", marker="|", ms=12, mew=2))
    bad = np.isin(outcome, FAILURES)
    if bad.any():
        cross = {"marker": "X", "s": 60 if bad.sum() < 200 else 25, "ec": "black", "lw": 0.8}
        ax.scatter(x1[bad], (yb[bad] + yt[bad]) / 2, c=face[bad], zorder=3, gid="failures", **cross)  # type: ignore[arg-type]
        label = f"failed / timed out ({int(bad.sum()):,})"
        handles.append(_key(label, marker="X", mfc="white", mec="black", ms=8))
    ax.set_xlim(lo - span * 0.03, hi + span * 0.03)
    ax.set_ylim(len(shown) - 0.5, -0.5)  # first (worst) client on top
    ax.set_yticks(range(len(shown)), [_literal(c) for c in shown])
    loc = mdates.AutoDateLocator(tz="UTC")  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(loc)
    fmt = mdates.ConciseDateFormatter(loc, tz="UTC", usetex=False)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(fmt)
    ax.set_xlabel("time (UTC)")
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    title = f"DNS lookups per client: {_plural(len(lk), 'lookup')}, {_plural(len(rank), 'client')}"
    if len(rank) > len(shown):
        title += (
            f"\nthe {len(shown)} with the most failed or retried lookups shown; "
            f"{len(rank) - len(shown):,} clients ({int((~keep).sum()):,} lookups) left out"
        )
    ax.set_title(title, loc="left", fontsize=11)
    fig.legend(handles=handles, loc="outside right upper", title="lookups", fontsize=9)
    return _finish(fig)


def _ms(v: float, _pos: object = None, *, digits: int = 6) -> str:
    """Milliseconds, written in s from a second on."""
    return f"{v / 1000:.{digits}g} s" if v >= 1000 else f"{v:.{digits}g} ms"


def latency(transactions: pd.DataFrame, *, max_servers: int = 10) -> Figure:
    """Response time (`rtt`, first query to response) of answered transactions, one row
    per server on a log scale: every transaction as a dot (a sample when there are
    many), the middle half as a box, p50 and p99 marked; each label counts the answered
    and unanswered transactions."""
    tx = transactions[transactions["status"].astype(str) != "response_without_query"]
    if tx.empty:
        return _empty("no transactions")
    server = tx["server"].astype(str)
    status = tx["status"].astype(str)
    rtt = tx["rtt"].to_numpy(np.float64) * 1000.0
    ok = (status == "answered").to_numpy() & np.isfinite(rtt)
    counts = server.value_counts()
    shown = sorted(counts.index, key=lambda s: (-int(counts[s]), s))[:max_servers]
    fig = _figure(10.0, 1.5 + 0.8 * len(shown))
    ax = fig.add_subplot()
    ax.set_xscale("log")
    rng = np.random.default_rng(0)  # the same sample and jitter every time
    sampled = False
    labels, answered_ms = [], rtt[ok]
    for i, s in enumerate(shown):
        mine = (server == s).to_numpy()
        v = np.maximum(rtt[mine & ok], 1e-3)
        others = status[mine & ~ok].value_counts()
        rest = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in others.items() if n)
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
    title = f"Response time per server: {_plural(int(ok.sum()), 'answered transaction')}"
    if len(counts) > len(shown):
        title += (
            f"\nthe {len(shown)} with the most transactions shown; "
            f"{_plural(len(counts) - len(shown), 'server')} left out"
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
    if lookups.empty:
        return _empty("no lookups")
    q = lookups["queries"].to_numpy(np.int64)
    search = lookups["search_queries"].to_numpy() > 0
    retried = lookups["retransmissions"].to_numpy() > 0
    kind = np.select(
        [search & retried, search, retried],
        ["via search list, retransmitted", "via search list", "retransmitted"],
        "direct",
    )
    cap = 50
    xs = np.arange(max(int(q.min()), 0), min(int(q.max()), cap) + 1)
    fig = _figure(9.0, 4.5)
    ax = fig.add_subplot()
    bottom = np.zeros(len(xs))
    for k, colour in KIND_COLOURS.items():
        n = np.bincount(np.minimum(q[kind == k], cap) - xs[0], minlength=len(xs))[: len(xs)]
        if not n.any():
            continue
        label = f"{k} ({int((kind == k).sum()):,})"
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
    nq, ns = int(q.sum()), int(lookups["search_queries"].sum())
    nr = int(lookups["retransmissions"].sum())
    ax.set_title(
        f"{_plural(nq, 'query')} for {_plural(len(q), 'lookup')} ({nq / len(q):.1f} per lookup)\n"
        f"{ns:,} on search-list names (ndots), {_plural(nr, 'retransmission')}",
        loc="left",
        fontsize=11,
    )
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    fig.legend(title="lookups", loc="outside right upper", fontsize=9)
    return _finish(fig)
