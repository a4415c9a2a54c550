"""What a report says, independent of how it is written.

`build` turns a :class:`~dnspcap.report.Report` into a :class:`Document`: the
verdict, an overview of the capture, each finding with its impact and a table of
its evidence messages, a table of the clients, and the figures. Every output
format (text, Markdown, HTML, JSON) writes this one document, so they never say
different things. Every string in it that came from the capture (names, answers,
addresses) is raw here; each writer escapes for its own format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..categorical import as_categorical
from ..findings import SEVERITIES, Finding

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..report import Report

EVIDENCE_ROWS = 12  # messages shown per finding; the display filter selects them all
CLIENT_ROWS = 25  # clients shown, the most troubled first
ANSWER_CHARS = 60


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    omitted: int = 0  # rows left out of `rows` (said under the table)

    def head(self, n: int) -> Table:
        if n >= len(self.rows):
            return self
        return Table(self.columns, list(self.rows[:n]), self.omitted + len(self.rows) - n)

    def as_dicts(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@dataclass(frozen=True, slots=True)
class FindingView:
    finding: Finding
    anchor: str  # a stable id for links: "dns001-1"
    facts: list[tuple[str, str]]
    evidence: Table


@dataclass(frozen=True, slots=True)
class FigureSpec:
    key: str  # file-name part: report-<key>.png
    title: str
    caption: str
    make: Callable[[], Figure]


@dataclass(frozen=True, slots=True)
class Document:
    title: str
    severity: str | None  # the worst finding's, None when nothing was found
    verdict: str
    verdict_detail: list[str]
    headline: str  # the capture in one line: packets, messages, lookups, clients
    overview: list[tuple[str, str]]
    warnings: list[str]
    findings: list[FindingView]
    clients: Table
    figures: list[FigureSpec] = field(default_factory=list)
    version: str = ""


def build(report: Report, *, evidence_rows: int = EVIDENCE_ROWS) -> Document:
    """The document every format writes for this report."""
    from .. import __version__

    found = report.findings
    lk, tx = report.lookups, report.transactions
    severity = worst(found)
    if not found:
        verdict = "No DNS problem found."
        detail = [_healthy_line(lk, tx)]
    else:
        top = found[0]
        counts = ", ".join(
            f"{n} {s}" for s in reversed(SEVERITIES) if (n := sum(f.severity == s for f in found))
        )
        verdict = f"{top.code} {top.summary}"
        if top.seconds_lost or top.lookups_affected:
            cost = (
                f"the worst costs {top.seconds_lost:.1f} s over {top.lookups_affected} lookup"
                f"{'s' if top.lookups_affected != 1 else ''}"
            )
        else:
            cost = f"the worst concerns {top.occurrences:,} of {top.seen:,} ({top.rate:.0%})"
        detail = [
            f"{len(found)} finding{'s' if len(found) != 1 else ''} ({counts}); {cost}.",
            f"First fix: {top.remediation}",
        ]
    tables = _evidence(report.messages, found, evidence_rows)
    views = [
        FindingView(f, f"{f.code.lower()}-{i + 1}", facts(f), t)
        for i, (f, t) in enumerate(zip(found, tables, strict=True))
    ]
    figures = [
        FigureSpec(
            "timeline", "Lookups per client",
            "Each bar is one lookup, from its first query to its last message, coloured by "
            "outcome; retried lookups are marked.",
            lambda: _plots().timeline(lk, tx),
        ),
        FigureSpec(
            "latency", "Response time per server",
            "Distribution of the time from a query to its answer, per server (log scale).",
            lambda: _plots().latency(tx),
        ),
        FigureSpec(
            "queries", "Queries per lookup",
            "How many queries each lookup needed; search-list steps and retransmissions add to "
            "the one or two a lookup should take.",
            lambda: _plots().queries_per_lookup(lk),
        ),
    ]  # fmt: skip
    files = report.stats.get("files", [])
    title = "dnspcap report: " + (", ".join(files[:3]) + (" ..." if len(files) > 3 else ""))
    return Document(
        title=title,
        severity=severity,
        verdict=verdict,
        verdict_detail=detail,
        headline=_headline(report),
        overview=_overview(report),
        warnings=list(report.stats.get("warnings", [])),
        findings=views,
        clients=_clients(report),
        figures=figures if len(lk) else [],
        version=__version__,
    )


def _plots() -> Any:
    """The figures module, imported when a figure is drawn: matplotlib takes a while to load."""
    from .. import plots

    return plots


def worst(findings: list[Finding]) -> str | None:
    """The most severe severity among the findings, or None."""
    levels = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[max(levels)] if levels else None


def when(f: Finding) -> str:
    if f.first is None:
        return "-"
    last = f.last if f.last is not None else f.first
    return f"{f.first:%Y-%m-%d %H:%M:%S.%f} - {last:%H:%M:%S.%f} UTC"


def _healthy_line(lk: pd.DataFrame, tx: pd.DataFrame) -> str:
    if not len(lk):
        return "The capture holds no DNS lookup."
    rtt = tx["rtt"].dropna()
    p99 = f"; 99% of answers within {rtt.quantile(0.99) * 1000:.1f} ms" if len(rtt) else ""
    return f"{len(lk)} lookups from {lk['client'].nunique()} clients{p99}."


def facts(f: Finding) -> list[tuple[str, str]]:
    facts = [
        ("impact", f"{f.occurrences} of {f.seen} ({f.rate:.0%}); lookups affected: "
                   f"{f.lookups_affected}; time lost: {f.seconds_lost:.3f} s"),
        ("clients", ", ".join(f.clients) or "-"),
        ("servers", ", ".join(f.servers) or "-"),
        ("when", when(f)),
        ("confidence", f.confidence),
    ]  # fmt: skip
    if len(f.source) > 1 and f.files:
        facts.append(("in file", ", ".join(f.files)))
    for key, value in f.details.items():
        facts.append((key.replace("_", " "), _detail(value)))
    return facts


def _detail(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_detail(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_detail(v) for v in value[:10])
        return shown + (f" (+{len(value) - 10} more)" if len(value) > 10 else "")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


EVIDENCE_COLUMNS = ("frame", "time (UTC)", "from", "to", "proto", "id", "kind", "type", "name",
                    "answers")  # fmt: skip


def _evidence(m: pd.DataFrame, found: Sequence[Finding], limit: int) -> list[Table]:
    """Each finding's evidence: the DNS messages among its frames, the first `limit` by
    frame number (in table order within a frame), and how many more there are.

    One stable sort of the messages' frame numbers serves every finding: a finding's
    frames are looked up in it, not compared with every message."""
    lists = [np.unique(np.asarray(f.frames, np.int64)) for f in found]
    if not len(m) or not any(len(x) for x in lists):
        return [Table(EVIDENCE_COLUMNS, []) for _ in found]
    frame = m["frame"].to_numpy(np.int64)
    if (frame[1:] >= frame[:-1]).all():  # one capture file: frames already in order
        order, by_frame = np.arange(len(frame)), frame
    else:
        order = np.argsort(frame, kind="stable")
        by_frame = frame[order]
    owner = np.repeat(np.arange(len(found)), [len(x) for x in lists])  # finding of each frame
    wanted = np.concatenate(lists)
    lo = np.searchsorted(by_frame, wanted, "left")
    n = np.searchsorted(by_frame, wanted, "right") - lo
    # the messages of each wanted frame: the run order[lo:lo + n], runs one after another
    starts = np.repeat(lo - (np.cumsum(n) - n), n)
    rows = order[starts + np.arange(int(n.sum()))]
    of = np.repeat(owner, n)
    codes, files = pd.factorize(m["file"])  # a missing file is code -1
    if len(files) > 1:  # frame numbers count from 1 in each file: keep the finding's files
        # a row per finding, a column per file and a last one for a missing file (code -1)
        allowed = np.ones((len(found), len(files) + 1), bool)
        for i, f in enumerate(found):
            if f.files:
                allowed[i] = np.append(files.isin(f.files), False)
        keep = allowed[of, codes[rows]]
        rows, of = rows[keep], of[keep]
    total = np.bincount(of, minlength=len(found))
    first = np.cumsum(total) - total  # where each finding's rows start
    shown = np.arange(len(rows)) - first[of] < limit
    rows, of = rows[shown], of[shown]
    needed = np.unique(rows)
    text = dict(zip(needed.tolist(), _message_rows(m, needed), strict=True))
    per: list[list[tuple[str, ...]]] = [[] for _ in found]
    for i, r in zip(of.tolist(), rows.tolist(), strict=True):
        per[i].append(text[r])
    return [
        Table(EVIDENCE_COLUMNS, out, int(t) - len(out)) for out, t in zip(per, total, strict=True)
    ]


def _message_rows(m: pd.DataFrame, rows: np.ndarray) -> list[tuple[str, ...]]:
    """The evidence table's cells for these messages (positions in `m`)."""
    shown = m.take(rows)
    return [
        (
            str(r.frame),
            t,
            f"{r.src}:{r.sport}",
            f"{r.dst}:{r.dport}",
            str(r.transport),
            f"0x{r.id:04x}",
            (f"response {r.rcode}" if r.qr else "query") + (" TC" if r.tc else ""),
            str(r.qtype),
            str(r.qname),
            _clip(str(r.answers), ANSWER_CHARS),
        )
        for r, t in zip(
            shown.itertuples(index=False), shown["ts"].dt.strftime("%H:%M:%S.%f"), strict=True
        )
    ]


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


def _headline(report: Report) -> str:
    st, lk = report.stats, report.lookups
    clients = lk["client"].nunique() if len(lk) else 0
    return (
        f"{st.get('packets', 0):,} packets, {st.get('messages', len(report.messages)):,} DNS "
        f"messages, {len(report.transactions):,} transactions, {len(lk):,} lookups from "
        f"{clients:,} clients"
    )


def _overview(report: Report) -> list[tuple[str, str]]:
    st, m, tx, lk = report.stats, report.messages, report.transactions, report.lookups
    facts = [("files", ", ".join(st.get("files", [])) or "-")]
    if len(m):
        start, end = m["ts"].min(), m["ts"].max()
        span = (end - start).total_seconds()
        facts.append(("capture", f"{start:%Y-%m-%d %H:%M:%S} - {end:%H:%M:%S} UTC ({span:.1f} s)"))
    answered = int((tx["status"] == "answered").sum()) if len(tx) else 0
    failed = int(lk["outcome"].isin(["failed", "timed_out"]).sum()) if len(lk) else 0
    facts += [
        ("packets", f"{st.get('packets', 0):,}"),
        ("DNS messages", f"{st.get('messages', len(m)):,}"),
        ("transactions", f"{len(tx):,} ({answered:,} answered)"),
        ("lookups", f"{len(lk):,} ({failed:,} failed or timed out)"),
        ("clients", f"{lk['client'].nunique() if len(lk) else 0:,}"),
        ("servers", f"{tx['server'].nunique() if len(tx) else 0:,}"),
        ("decode errors", f"{st.get('decode_errors', 0):,}"),
        ("cut short by the capture", f"{st.get('truncated', 0):,}"),
    ]
    if st.get("icmp_errors"):
        facts.append(("ICMP errors about DNS", f"{len(st['icmp_errors']):,}"))
    return facts


CLIENT_COLUMNS = ("client", "resolver", "lookups", "failed", "nxdomain", "p50 ms", "max ms",
                  "lost to retries s", "findings")  # fmt: skip


def _clients(report: Report) -> Table:
    """Per client: its lookups, how they went, and the findings that name it."""
    lk = report.lookups
    if not len(lk):
        return Table(CLIENT_COLUMNS, [])
    codes: dict[str, list[str]] = {}
    for f in report.findings:
        for c in f.clients:
            codes.setdefault(c, []).append(f.code)
    # clients numbered in order of appearance (the table's order before sorting), through
    # the categories: a few thousand texts, not a text per lookup
    cat = as_categorical(lk["client"])
    mine = np.asarray(cat.codes) >= 0  # a lookup without a client is in no client's row
    client, seen = pd.factorize(np.asarray(cat.codes)[mine])
    names = cat.categories.take(seen).astype(str)
    g = pd.DataFrame(
        {
            "failed": lk["outcome"].isin(["failed", "timed_out"]).to_numpy(),
            "nxdomain": (lk["outcome"] == "nxdomain").to_numpy(),
            "duration": lk["duration"].to_numpy(),
            "lost": lk["time_lost_to_retries"].to_numpy(),
        }
    )[mine].groupby(client)
    table = pd.DataFrame(
        {
            "resolver": _usual(client, as_categorical(lk["resolver"])[mine], len(names)),
            "lookups": g.size().to_numpy(),
            "failed": g["failed"].sum().to_numpy(),
            "nxdomain": g["nxdomain"].sum().to_numpy(),
            "p50_ms": g["duration"].median().to_numpy() * 1000,
            "max_ms": g["duration"].max().to_numpy() * 1000,
            "lost": g["lost"].sum().to_numpy(),
        },
        index=names,
    )
    named = pd.Series({c: len(v) for c, v in codes.items()}, dtype=np.int64)
    table["named"] = named.reindex(table.index, fill_value=0).to_numpy(np.int64)
    table = table.sort_values(["named", "lost", "failed", "max_ms"], ascending=False, kind="stable")
    shown = table.head(CLIENT_ROWS)
    rows = [
        (
            str(r.Index),
            str(r.resolver),
            f"{r.lookups:,}",
            f"{r.failed:,}",
            f"{r.nxdomain:,}",
            _ms(r.p50_ms),
            _ms(r.max_ms),
            f"{r.lost:.1f}",
            " ".join(dict.fromkeys(codes.get(str(r.Index), []))) or "-",
        )
        for r in shown.itertuples()
    ]
    return Table(CLIENT_COLUMNS, rows, len(table) - len(shown))


def _usual(client: np.ndarray, resolver: pd.Categorical, clients: int) -> np.ndarray:
    """Each client's most common resolver (client codes 0..clients-1); a tie goes to the
    one its lookups showed first. What ``value_counts().index[0]`` of each client's
    resolvers gives, by counting every (client, resolver) pair at once."""
    kind = np.asarray(resolver.codes, np.int64)
    kinds = np.array([str(c) for c in resolver.categories], dtype=object)
    known = np.flatnonzero(kind >= 0)
    width = max(len(kinds), 1)
    pair = client[known].astype(np.int64) * width + kind[known]
    count = np.bincount(pair, minlength=clients * width)
    first = np.full(clients * width, len(kind), np.int64)  # first lookup of each pair
    np.minimum.at(first, pair, known)
    # per client: the most lookups, then the earliest first lookup
    score = (count * (len(kind) + 1) - first).reshape(clients, width)
    best = score.argmax(axis=1)
    out = np.full(clients, "nan", dtype=object)
    some = count.reshape(clients, width).max(axis=1, initial=0) > 0
    out[some] = kinds[best[some]]
    return out


def _ms(v: Any) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:,.1f}"
