"""The whole analysis of a capture: `analyze` and the :class:`Report` it returns.

`analyze` runs the pipeline (read, pair, lookups, detectors). The report holds
the three tables and the findings, shows itself in Jupyter, draws its figures,
writes itself in any format (:mod:`dnspcap.render`), and exports its tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..findings import Finding, frame_filter
from ..findings.finding import printable
from ..findings.scan import Scan
from ..times import digits_of
from .document import count
from .formats import SCHEMA, render, worst
from .plotdata import TIMELINE_CLIENTS
from .summary import Summary, summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..reading.dissect import Dissection

__all__ = ["SCHEMA", "Findings", "Report", "render_json", "render_text", "worst"]


# the columns of Findings.to_frame(): what a finding says, then its evidence and its lists
FRAME_COLUMNS = (
    "code", "name", "severity", "confidence", "summary", "occurrences", "seen", "rate",
    "lookups_affected", "seconds_lost", "clients", "servers", "first", "last", "remediation",
    "files", "frames", "display_filter", "display_filters", "lookups", "details",
)  # fmt: skip


REPR_ROWS = 20  # findings a repr lists


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


class Findings(list[Finding]):
    """The findings, most severe first: a list, shown as a table in Jupyter."""

    def to_frame(self) -> pd.DataFrame:
        """One row per finding (the fields of :class:`~dnspcap.Finding`, details as a dict)."""
        columns = FRAME_COLUMNS
        return pd.DataFrame([f.as_dict() for f in self], columns=list(columns))

    def code(self, code: str) -> Findings:
        """The findings of one detector (``report.findings.code("DNS001")``)."""
        return Findings(f for f in self if f.code == code.upper())

    def _repr_html_(self) -> str:
        cols = ["severity", "code", "summary", "lookups_affected", "seconds_lost", "display_filter"]
        return str(self.to_frame()[cols].to_html(index=False, escape=True))

    def __repr__(self) -> str:
        """A short table, one line per finding (each finding's fields: ``to_frame()``)."""
        if not self:
            return "<dnspcap.Findings: none>"
        rows = [(f.severity, f.code, f.name, f"{f.lookups_affected:,}", f"{f.seconds_lost:.1f} s",
                 printable(_clip(f.summary, 60))) for f in self[:REPR_ROWS]]  # fmt: skip
        head = ("severity", "code", "name", "lookups", "lost", "summary")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = [f"<dnspcap.Findings: {len(self)}>"]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                  for r in [head, *rows]]  # fmt: skip
        if len(self) > REPR_ROWS:
            lines.append(f"  ... and {len(self) - REPR_ROWS} more")
        return "\n".join(lines)


class Report:
    """Everything dnspcap found in a capture: the tables and the findings.

    A report made of parts (a big capture analysed in turn, or a cluster run:
    :mod:`dnspcap.fleet`) holds the combined summary scan and the evidence messages, and
    gathers the tables only when they are asked for (``report.transactions``; the
    timeline of a watch, whose parts hold no client whole). The figures are drawn from
    the summary scan (:mod:`.plotdata`)."""

    def __init__(
        self,
        messages: pd.DataFrame | None,
        transactions: pd.DataFrame | None,
        lookups: pd.DataFrame | None,
        findings: Findings,
        *,
        summary: Scan | None = None,
        evidence: pd.DataFrame | None = None,
        stats: dict[str, Any] | None = None,
        gather: Callable[[], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] | None = None,
    ) -> None:
        self._tables = (messages, transactions, lookups)
        self.findings = findings
        self._summary = summary
        self._summary_of: Summary | None = None
        self._evidence = evidence
        self._stats = stats
        self._gather = gather
        self._pngs: dict[str, bytes] = {}

    def _table(self, i: int) -> pd.DataFrame:
        if self._tables[i] is None:
            assert self._gather is not None, "a report without tables says how to gather them"
            self._tables = self._gather()
        table = self._tables[i]
        assert table is not None
        return table

    @property
    def messages(self) -> pd.DataFrame:
        """One row per DNS message (docs/columns.md)."""
        return self._table(0)

    @property
    def transactions(self) -> pd.DataFrame:
        """One row per query and its response(s) (docs/columns.md)."""
        return self._table(1)

    @property
    def lookups(self) -> pd.DataFrame:
        """One row per lookup a resolver made (docs/columns.md)."""
        return self._table(2)

    @property
    def summary(self) -> Summary:
        """What the report says of the tables: counts, clients, the capture's span."""
        if self._summary_of is None:
            if self._summary is None:
                self._summary = summarize(self.messages, self.transactions, self.lookups)
            self._summary_of = Summary.of(self._summary)
        return self._summary_of

    @property
    def evidence_messages(self) -> pd.DataFrame:
        """The messages the findings' evidence frames hold (all of them, or more)."""
        return self._evidence if self._evidence is not None else self.messages

    @property
    def stats(self) -> dict[str, Any]:
        """What reading found: packets, messages, decode errors, warnings, ICMP errors."""
        if self._stats is not None:
            return dict(self._stats)
        return dict(self.messages.attrs.get("dnspcap", {}))

    @property
    def no_dns(self) -> bool:
        """The capture holds no DNS message: the wrong interface, namespace or filter,
        which is not a healthy capture (the verdict says so; the command exits 1)."""
        return not self.summary.has_dns

    @property
    def worst(self) -> str | None:
        """The most severe finding's severity, or None when nothing was found."""
        return worst(self.findings)

    def render(self, fmt: str = "text", **kwargs: Any) -> str:
        """The report as ``text``, ``markdown``, ``html`` or ``json`` (see dnspcap.render)."""
        return render(self, fmt, **kwargs)

    def save(self, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
        """Write the report; the format comes from the suffix (.txt .md .html .json)."""
        from .files import save_report

        return save_report(self, Path(path), fmt)

    def export(self, directory: str | os.PathLike[str], to: str = "parquet") -> list[Path]:
        """Write the messages, transactions and lookups tables as parquet or csv files."""
        from .files import export_tables

        stem = Path(str(self.stats.get("files", ["capture"])[0])).name.split(".")[0] or "capture"
        return export_tables(self.tables(), Path(directory), stem, to, digits_of(self.stats))

    def dissect(
        self,
        frames: Iterable[int] | Mapping[str, Iterable[int]],
        *,
        file: str | None = None,
        limit: int = 1_000,
        tshark_path: str | None = None,
    ) -> Dissection:
        """Any frames of the capture as Wireshark dissects them (as
        :meth:`Finding.dissect <dnspcap.Finding.dissect>` does a finding's): frame numbers
        as Wireshark counts them, in the one capture file or in ``file``, or
        ``{file: frames}`` across several."""
        from ..reading.dissect import dissect

        if isinstance(frames, Mapping):
            wanted = {str(k): frame_filter(v) for k, v in frames.items()}
        else:
            files = [str(f) for f in self.stats.get("files", [])]
            if file is None and len(files) != 1:
                raise ValueError(
                    f"the report reads {len(files)} files: name one (file=...) or give "
                    "{file: frames}"
                )
            wanted = {file if file is not None else files[0]: frame_filter(frames)}
        return dissect(wanted, limit=limit, tshark_path=tshark_path)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"messages": self.messages, "transactions": self.transactions,
                "lookups": self.lookups}  # fmt: skip

    def plot_timeline(self, *, max_clients: int = TIMELINE_CLIENTS) -> Figure:
        """Lookups per client over time, coloured by outcome, retries marked: the
        ``max_clients`` clients with the most failed or retried lookups. Up to
        TIMELINE_CLIENTS (20) it is drawn from the summary (no table is made again)."""
        from .figures import draw_timeline, timeline

        p = self.summary.plots
        if p.lookups is not None and max_clients <= TIMELINE_CLIENTS:
            return draw_timeline(p, max_clients=max_clients)
        return timeline(self.lookups, self.transactions, max_clients=max_clients)

    def plot_latency(self, *, max_servers: int = 10) -> Figure:
        """Response time distribution per server (the ``max_servers`` busiest)."""
        from .figures import draw_latency

        p = self.summary.plots
        return draw_latency(p.rtt, p.servers, p.transactions, max_servers=max_servers)

    def plot_queries(self) -> Figure:
        """Queries per lookup: the search list and retries show here."""
        from .figures import draw_queries

        return draw_queries(self.summary.plots)

    def _repr_html_(self) -> str:
        from .formats import build, figure_pngs
        from .html import write

        doc = build(self)
        if not self._pngs and doc.figures:
            self._pngs.update(figure_pngs(doc))
        return write(doc, self._pngs, fragment=True)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": render(self, "text"), "text/html": self._repr_html_()}

    def __repr__(self) -> str:
        return (
            f"<dnspcap.Report {count(self.summary.messages, 'message')}, "
            f"{count(self.summary.lookups, 'lookup')}, {count(len(self.findings), 'finding')}, "
            f"worst: {self.worst}>"
        )

    def __str__(self) -> str:
        """The text report, as ``dnspcap analyze`` prints it (``print(report)``)."""
        return render(self, "text")


def render_text(report: Report, *, color: bool = False) -> str:
    """The terminal report: the verdict first, then each finding with its evidence."""
    return render(report, "text", color=color)


def render_json(report: Report) -> str:
    """The report in the versioned JSON schema (``dnspcap.report/1``)."""
    return render(report, "json")
