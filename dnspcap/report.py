"""The whole analysis of a capture, and its rendering for a terminal or a machine.

`analyze` runs the pipeline (read, pair, lookups, detectors) and returns a
:class:`Report`; `render_text` puts the verdict first (what is wrong, how bad, what
to do), then each finding with its evidence; `render_json` is the same content in a
versioned schema (``schema``: ``dnspcap.report/1``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import pandas as pd

from .findings import SEVERITIES, Finding, detect
from .lookups import lookups
from .messages import read_messages
from .pairing import pair

SCHEMA = "dnspcap.report/1"


@dataclass(frozen=True)
class Report:
    """Everything dnspcap found in a capture: the tables and the findings."""

    messages: pd.DataFrame
    transactions: pd.DataFrame
    lookups: pd.DataFrame
    findings: list[Finding]

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self.messages.attrs.get("dnspcap", {}))


def analyze(
    source: str | os.PathLike[str] | BinaryIO | Iterable[str | os.PathLike[str] | BinaryIO],
    *,
    ports: Iterable[int] = (53,),
    multicast: bool = False,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
) -> Report:
    """Read the capture(s), pair, group into lookups, run the detectors."""
    messages = read_messages(source, ports=ports, multicast=multicast)
    dns = messages[messages["service"] == "dns"] if multicast else messages
    tx = pair(dns)
    lk = lookups(tx)
    found = detect(tx, lk, select=select, ignore=ignore, options=options)
    return Report(messages, tx, lk, found)


def worst(findings: list[Finding]) -> str | None:
    """The most severe severity among the findings, or None."""
    levels = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[max(levels)] if levels else None


def _when(f: Finding) -> str:
    if f.first is None:
        return "-"
    last = f.last if f.last is not None else f.first
    return f"{f.first:%Y-%m-%d %H:%M:%S.%f} - {last:%H:%M:%S.%f} UTC"


def render_text(report: Report) -> str:
    st = report.stats
    lk, found = report.lookups, report.findings
    clients = lk["client"].nunique() if len(lk) else 0
    head = (
        f"{st.get('packets', 0)} packets, {st.get('messages', len(report.messages))} DNS "
        f"messages, {len(report.transactions)} transactions, {len(lk)} lookups from "
        f"{clients} clients"
    )
    lines: list[str] = []
    if not found:
        lines += ["VERDICT: no DNS problem found.", head]
    else:
        top = found[0]
        counts = ", ".join(
            f"{n} {s}" for s in reversed(SEVERITIES) if (n := sum(f.severity == s for f in found))
        )
        lines += [
            f"VERDICT: {top.severity.upper()} {top.code} {top.summary}",
            f"  {len(found)} findings ({counts}); the worst costs {top.seconds_lost:.1f} s "
            f"over {top.lookups_affected} lookups.",
            f"  First fix: {top.remediation}",
            head,
        ]
    for w in st.get("warnings", []):
        lines.append(f"warning: {w}")
    for f in found:
        lines += [
            "",
            f"[{f.severity.upper()}] {f.code} {f.name} (confidence {f.confidence})",
            f"  {f.summary}",
            f"  impact: {f.occurrences} of {f.seen} ({f.rate:.0%}); lookups affected: "
            f"{f.lookups_affected}; time lost: {f.seconds_lost:.3f} s",
            f"  clients: {', '.join(f.clients) or '-'}; servers: {', '.join(f.servers) or '-'}",
            f"  when: {_when(f)}",
            f"  evidence ({len(f.frames)} frames, Wireshark display filter): "
            f"{f.display_filter or '-'}",
            f"  fix: {f.remediation}",
        ]
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    doc = {
        "schema": SCHEMA,
        "stats": report.stats,
        "summary": {
            "transactions": len(report.transactions),
            "lookups": len(report.lookups),
            "worst": worst(report.findings),
        },
        "findings": [f.as_dict() for f in report.findings],
    }
    return json.dumps(doc, indent=2, default=str) + "\n"
