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

from ..findings import SEVERITIES, Finding, frame_filter, listed
from ..findings.finding import FILTER_FRAMES
from ..version import __version__

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .result import Report
    from .summary import Summary

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
    # the Wireshark display filter of the evidence, per file it is in: (file, filter)
    filters: list[tuple[str, str]] = field(default_factory=list)
    # how many frames `filters` selects when it is the shown rows' only (0: every frame)
    filtered: int = 0

    @property
    def evidence_line(self) -> str:
        """What the filters below show: "12 frames" or "12 frames in 2 files"."""
        n = len(self.finding.frames)
        files = f" in {len(self.filters)} files" if len(self.filters) > 1 else ""
        return f"{n:,} frame{'s' if n != 1 else ''}{files}"

    @property
    def filter_line(self) -> str:
        """What precedes the filters: "12 frames; Wireshark display filter", or, for a
        filter of the evidence rows the document shows (the first ones; Markdown may show
        fewer), which frames it selects and where the rest are."""
        per_file = " per file" if len(self.filters) > 1 else ""
        if not self.filtered:
            return f"{self.evidence_line}; Wireshark display filter{per_file}"
        return (
            f"{self.evidence_line}; Wireshark display filter{per_file} of the first "
            f"{count(self.filtered, 'frame')}, all {len(self.finding.frames):,} in the JSON report"
        )


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
    # "ok" (nothing found), "findings", or "no_dns": the capture holds no DNS message,
    # which is not a healthy capture (the wrong interface, namespace or filter)
    status: str = "ok"

    @property
    def badge(self) -> str:
        """The verdict's first word: the worst severity, OK, or NO DNS."""
        if self.status == "no_dns":
            return "NO DNS"
        return (self.severity or "ok").upper()

    @property
    def tone(self) -> str:
        """The severity the verdict is painted in (a capture without DNS as an error)."""
        return "error" if self.status == "no_dns" else self.severity or "ok"


def build(report: Report, *, evidence_rows: int = EVIDENCE_ROWS) -> Document:
    """The document every format writes for this report."""

    found = report.findings
    s = report.summary
    severity = worst(found)
    several = len(report.stats.get("files", [])) > 1
    status = "no_dns" if report.no_dns else "findings" if found else "ok"
    if status == "no_dns":
        verdict = (
            "No DNS traffic in the capture: check the interface, the network namespace and "
            "the capture filter."
        )
        detail = _no_dns_lines(report.stats)
    elif not found:
        verdict = "No DNS problem found."
        detail = [_healthy_line(s)]
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
    m = report.evidence_messages
    views = [
        _view(m, f, f"{f.code.lower()}-{i + 1}", several, table, rows)
        for i, (f, (table, rows)) in enumerate(
            zip(found, _evidence_rows(m, found, evidence_rows, s.files > 1), strict=True)
        )
    ]
    figures = [
        FigureSpec(
            "timeline", "Lookups per client",
            "Each bar is one lookup, from its first query to its last message, coloured by "
            "outcome; retried lookups are marked.",
            report.plot_timeline,
        ),
        FigureSpec(
            "latency", "Response time per server",
            "Distribution of the time from a query to its answer, per server (log scale).",
            report.plot_latency,
        ),
        FigureSpec(
            "queries", "Queries per lookup",
            "How many queries each lookup needed; search-list steps and retransmissions add to "
            "the one or two a lookup should take.",
            report.plot_queries,
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
        figures=figures if s.lookups else [],
        version=__version__,
        status=status,
    )


def worst(findings: list[Finding]) -> str | None:
    """The most severe severity among the findings, or None."""
    levels = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[max(levels)] if levels else None


def when(f: Finding) -> str:
    if f.first is None:
        return "-"
    last = f.last if f.last is not None else f.first
    return f"{f.first:%Y-%m-%d %H:%M:%S.%f} - {last:%H:%M:%S.%f} UTC"


def _no_dns_lines(stats: dict[str, Any]) -> list[str]:
    """What the capture held instead of DNS, and what the reader looked for."""
    from ..reading.survey import describe

    packets = stats.get("packets", 0)
    lines = [f"{count(packets, 'packet')}: " + describe(stats.get("survey", {}))]
    counts = stats.get("counts", {})
    skipped = {k: v for k, v in counts.items() if k in ("mdns_skipped", "llmnr_skipped") and v}
    if skipped:
        lines.append(
            "mDNS/LLMNR (not unicast DNS) were skipped: "
            + ", ".join(f"{k.split('_')[0]} {v:,}" for k, v in skipped.items())
            + "; --multicast reads them"
        )
    ports = stats.get("ports", [53])
    lines.append(
        f"DNS was looked for on UDP and TCP port{'s' if len(ports) > 1 else ''} "
        f"{', '.join(map(str, ports))} (--ports to add others). Capture inside the pod's "
        "network namespace (`nsenter -t PID -n tcpdump -i any -w pod.pcap port 53`)."
    )
    return lines


def _healthy_line(s: Summary) -> str:
    if not s.lookups:
        return "The capture holds no DNS lookup."
    rtt = pd.Series(s.rtt)
    p99 = f"; 99% of answers within {rtt.quantile(0.99) * 1000:.1f} ms" if len(rtt) else ""
    return f"{count(s.lookups, 'lookup')} from {count(len(s.clients), 'client')}{p99}."


def _view(
    m: pd.DataFrame, f: Finding, anchor: str, several: bool, table: Table, rows: np.ndarray
) -> FindingView:
    """A finding as the report shows it: its clients and servers with the most evidence
    messages first, and a display filter of the shown rows when its own is too long."""
    ranked = _evidence_counts(m, rows) if len(f.clients) > 1 or len(f.servers) > 1 else None
    shown = bool(table.rows) and len(f.frames) > FILTER_FRAMES
    return FindingView(
        f, anchor, facts(f, several, ranked), table,
        *(_filters_of(m, rows[: len(table.rows)]) if shown else (filters(f), 0)),
    )  # fmt: skip


def _evidence_counts(m: pd.DataFrame, rows: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """How many evidence messages (positions in `m`) each client and each server has."""
    sub = m.take(rows)
    qr = sub["qr"].to_numpy(bool)
    src, dst = sub["src"].astype(str).to_numpy(), sub["dst"].astype(str).to_numpy()
    return (
        pd.Series(np.where(qr, dst, src)).value_counts(),
        pd.Series(np.where(qr, src, dst)).value_counts(),
    )


def _filters_of(m: pd.DataFrame, rows: np.ndarray) -> tuple[list[tuple[str, str]], int]:
    """The display filter, per file, of these messages' frames, and how many frames."""
    frames: dict[str, list[int]] = {}
    for file, frame in zip(m["file"].take(rows).astype(str), m["frame"].take(rows), strict=True):
        frames.setdefault(file, []).append(int(frame))
    return (
        [(file, frame_filter(numbers)) for file, numbers in frames.items()],
        sum(len(set(numbers)) for numbers in frames.values()),
    )


def _most_first(names: Sequence[str], counts: pd.Series | None) -> list[str]:
    """The names with the most evidence messages first (a tie in the finding's order)."""
    if counts is None:
        return list(names)
    n = counts.to_dict()
    return sorted(names, key=lambda name: -n.get(name, 0))


def facts(
    f: Finding, several_files: bool = False, ranked: tuple[pd.Series, pd.Series] | None = None
) -> list[tuple[str, str]]:
    """The finding's facts as the report lists them; long lists show the most affected few
    (by `ranked`: evidence messages per client and per server) and count the rest."""
    clients, servers = ranked if ranked is not None else (None, None)
    facts = [
        ("impact", f"{f.occurrences:,} of {f.seen:,} ({f.rate:.0%}); lookups affected: "
                   f"{f.lookups_affected:,}; time lost: {f.seconds_lost:.3f} s"),
        ("clients", listed(_most_first(f.clients, clients))),
        ("servers", listed(_most_first(f.servers, servers))),
        ("when", when(f)),
        ("confidence", f.confidence),
    ]  # fmt: skip
    if len(f.files) > 1 or (f.files and several_files):
        facts.append(("in file", ", ".join(f.files)))
    for key, value in f.details.items():
        facts.append((key.replace("_", " "), _detail(value)))
    return facts


def filters(f: Finding) -> list[tuple[str, str]]:
    """The finding's display filters, one per file its evidence is in (each file opens
    on its own in Wireshark)."""
    return [(file, text) for file, text in f.display_filters.items() if text]


def _detail(value: Any) -> str:
    if isinstance(value, dict):
        return listed(f"{k}: {_detail(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return listed(_detail(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


EVIDENCE_COLUMNS = ("frame", "time (UTC)", "from", "to", "proto", "id", "kind", "type", "name",
                    "answers")  # fmt: skip


def _evidence(m: pd.DataFrame, found: Sequence[Finding], limit: int) -> list[Table]:
    """Each finding's evidence table (:func:`_evidence_rows`)."""
    return [table for table, _ in _evidence_rows(m, found, limit)]


def _evidence_rows(
    m: pd.DataFrame, found: Sequence[Finding], limit: int, several: bool | None = None
) -> list[tuple[Table, np.ndarray]]:
    """Each finding's evidence: the DNS messages among its frames, the first `limit` of
    them (by frame in one file; in time order, file by file at one time, across several:
    vantage points interleave), and how many more there are; and the positions in `m`
    of all of them, in that order.

    One stable sort of the messages by file and frame serves every finding: a finding's
    (file, frame) keys are looked up in it, not compared with every message."""
    if not len(m) or not any(f.evidence_frames for f in found):
        return [(Table(EVIDENCE_COLUMNS, []), np.zeros(0, np.int64)) for _ in found]
    codes, files = pd.factorize(m["file"])  # a missing file is code -1: never asked for
    file_code = {str(f): i for i, f in enumerate(files)}
    key = (codes.astype(np.int64) << 40) | m["frame"].to_numpy(np.int64)
    if (key[1:] >= key[:-1]).all():  # one capture, or a rotated set: already in order
        order, by_key = np.arange(len(key)), key
    else:
        order = np.argsort(key, kind="stable")
        by_key = key[order]
    ts = m["ts"].to_numpy("datetime64[ns]").view(np.int64)
    several = len(files) > 1 if several is None else several
    picked: list[np.ndarray] = []
    every: list[np.ndarray] = []
    for f in found:
        parts = [
            (np.int64(file_code[file]) << 40) | np.asarray(frames, np.int64)
            for file, frames in f.evidence_frames.items()
            if file in file_code
        ]
        wanted = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        lo = np.searchsorted(by_key, wanted, "left")
        n = np.searchsorted(by_key, wanted, "right") - lo
        starts = np.repeat(lo - (np.cumsum(n) - n), n)
        rows = order[starts + np.arange(int(n.sum()))]
        if len(f.evidence_frames) > 1:  # vantage points side by side, in time order
            rows = rows[np.lexsort((key[rows], ts[rows]))]
        every.append(rows)
        picked.append(rows[:limit])
    needed = np.unique(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
    text = dict(zip(needed.tolist(), _message_rows(m, needed, several), strict=True))
    return [
        (Table(EVIDENCE_COLUMNS, [text[r] for r in rows.tolist()], len(all_) - len(rows)), all_)
        for rows, all_ in zip(picked, every, strict=True)
    ]


def _message_rows(m: pd.DataFrame, rows: np.ndarray, several: bool) -> list[tuple[str, ...]]:
    """The evidence table's cells for these messages (positions in `m`); with several
    files, a frame is named with its file (frame numbers count from 1 in each)."""
    shown = m.take(rows)
    return [
        (
            (f"{_short(str(r.file))}:{r.frame}" if several else str(r.frame)),
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


def _short(path: str) -> str:
    """A file as evidence rows name it: its name without the folder."""
    return path.rsplit("/", 1)[-1]


def _vantage(v: dict[str, Any], offsets: dict[str, float]) -> str:
    """A vantage point as the overview names it: its files, how they were grouped, and its
    clock's offset from the first one's (from the copies of queries both saw)."""
    off = offsets.get(v["name"])
    clock = (
        f"; clock {off * 1e3:+.3f} ms"
        if off is not None and np.isfinite(off) and off != 0.0
        else ""
    )
    files = listed(_short(f) for f in v["files"])
    return f"{v['name']} ({files}: {v['how']}{clock})"


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


def _headline(report: Report) -> str:
    st, s = report.stats, report.summary
    return (
        f"{count(st.get('packets', 0), 'packet')}, "
        f"{count(st.get('messages', s.messages), 'DNS message')}, "
        f"{count(s.transactions, 'transaction')}, {count(s.lookups, 'lookup')} from "
        f"{count(len(s.clients), 'client')}"
    )


def count(n: int, noun: str) -> str:
    """ "1 client", "2 clients", "20,000 clients"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _overview(report: Report) -> list[tuple[str, str]]:
    st, s = report.stats, report.summary
    facts = [("files", listed(st.get("files", [])))]  # a rotated set can be hundreds
    vantages = st.get("vantages", [])
    if len(vantages) > 1 or any(len(v["files"]) > 1 for v in vantages):
        offsets = s.offsets([v["name"] for v in vantages])
        facts.append(("vantage points", "; ".join(_vantage(v, offsets) for v in vantages)))
    if s.messages and s.first is not None and s.last is not None:
        start, end = s.first, s.last
        span = (end - start).total_seconds()
        facts.append(("capture", f"{start:%Y-%m-%d %H:%M:%S} - {end:%H:%M:%S} UTC ({span:.1f} s)"))
    facts += [
        ("packets", f"{st.get('packets', 0):,}"),
        ("DNS messages", f"{st.get('messages', s.messages):,}"),
        ("transactions", f"{s.transactions:,} ({s.answered:,} answered)"),
        ("lookups", f"{s.lookups:,} ({s.failed:,} failed or timed out)"),
        ("clients", f"{len(s.clients):,}"),
        ("servers", f"{s.servers:,}"),
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
    table = report.summary.clients
    if not len(table):
        return Table(CLIENT_COLUMNS, [])
    codes: dict[str, list[str]] = {}
    for f in report.findings:
        for c in f.clients:
            codes.setdefault(c, []).append(f.code)
    named = pd.Series({c: len(v) for c, v in codes.items()}, dtype=np.int64)
    table = table.assign(named=named.reindex(table.index, fill_value=0).to_numpy(np.int64))
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


def _ms(v: Any) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:,.1f}"
