"""Writing a report: one document (:mod:`.document`), four formats.

``render(report, "text" | "markdown" | "html" | "json")`` builds the document once
and hands it to the writer of that format. Figures are drawn only for the formats
that show them: embedded as PNG in HTML, written as files beside a Markdown report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..times import digits_of
from . import html, markdown, text
from .document import Document, build, worst

if TYPE_CHECKING:
    from .drawing import Painter
    from .result import Report

FORMATS = ("text", "markdown", "html", "json")
SCHEMA = "dnspcap.report/1"

__all__ = ["FORMATS", "SCHEMA", "Document", "build", "figure_pngs", "render", "worst"]


def render(
    report: Report,
    fmt: str = "text",
    *,
    color: bool = False,
    figures: bool = True,
    figures_dir: str | Path | None = None,
    figures_prefix: str = "report",
    painter: Painter | None = None,
) -> str:
    """The report in one format.

    HTML embeds the figures unless ``figures=False``. Markdown links figures only
    when ``figures_dir`` is given: they are written there as
    ``<figures_prefix>-<figure>.png`` and linked by that name, so the report and its
    images go together into the ticket. A ``painter`` (:mod:`.drawing`) draws the
    figures in its worker processes.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
    doc = build(report)
    if fmt == "text":
        return text.write(doc, color=color)
    if fmt == "json":
        return as_json(report, doc)
    if fmt == "html":
        return html.write(doc, _pngs(report, doc, painter) if figures else None)
    names: dict[str, str] = {}
    if figures and figures_dir is not None:
        out = Path(figures_dir)
        for key, png in _pngs(report, doc, painter).items():
            name = f"{figures_prefix}-{key}.png"
            (out / name).write_bytes(png)
            names[key] = name
    return markdown.write(doc, names)


def figure_pngs(doc: Document) -> dict[str, bytes]:
    """Each figure of the document drawn as PNG bytes."""
    from .figures import png

    return {spec.key: png(spec.make()) for spec in doc.figures}


def _pngs(report: Report, doc: Document, painter: Painter | None) -> dict[str, bytes]:
    return painter.pngs(doc) if painter else figure_pngs(doc)


def as_json(report: Report, doc: Document) -> str:
    """The report in the versioned JSON schema (docs/report.schema.json)."""
    findings = []
    digits = digits_of(report.stats)
    for v in doc.findings:
        d = v.finding.as_dict(digits)
        d["evidence"] = v.evidence.as_dicts()
        d["evidence_omitted"] = v.evidence.omitted
        findings.append(d)
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "version": doc.version,
        "verdict": {
            "severity": doc.severity,
            "status": doc.status,
            "text": doc.verdict,
            "detail": doc.verdict_detail,
        },
        "stats": report.stats,
        "summary": {
            "transactions": report.summary.transactions,
            "lookups": report.summary.lookups,
            "worst": worst(report.findings),
        },
        "overview": dict(doc.overview),
        "findings": findings,
        "clients": doc.clients.as_dicts(),
        "clients_omitted": doc.clients.omitted,
    }
    return _dumps(out) + "\n"


def _dumps(value: Any, pad: str = "") -> str:
    """JSON indented by two spaces, but a list of numbers or strings on one line: a
    finding's lookups and clients are tens of thousands of them at 2M packets (on lines
    of their own, 1 MB of spaces, and 0.2 s in the json module's Python encoder, which
    indenting needs; a list on one line goes through its C encoder)."""
    inner = pad + "  "
    if isinstance(value, dict) and value:
        flat = _flat(value, inner)
        if flat is not None:
            return "{\n" + inner + flat + f"\n{pad}}}"
        items = [f"{inner}{json.dumps(_key(k))}: {_dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)) and _nested(value):
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + f"\n{pad}]"
    return json.dumps(value, default=str)


def _nested(values: Iterable[Any]) -> bool:
    """Whether a list holds a dict or a list: asked of the types it holds, gathered in C,
    not of each item in Python (a 10M capture's findings list a million lookups and
    clients: 0.2 s of the report)."""
    return any(issubclass(t, (dict, list, tuple)) for t in set(map(type, values)))


def _flat(value: dict[Any, Any], inner: str) -> str | None:
    """The items of a dict of scalars (an evidence row: most of a report's values), one
    per line, by one call of the json module's C encoder (its item separator carries the
    line break and indent; indenting would take its Python encoder): what _dumps writes
    item by item, at a fifth of the cost. None for a dict holding a dict or list, or a
    key the encoder refuses (_dumps writes those with str())."""
    if _nested(value.values()):
        return None
    try:
        return json.dumps(value, default=str, separators=(",\n" + inner, ": "))[1:-1]
    except TypeError:
        return None


def _key(k: object) -> str:
    """A key as the json module writes it."""
    if isinstance(k, str):
        return k
    if isinstance(k, bool) or k is None or isinstance(k, (int, float)):
        return json.dumps(k)
    return str(k)
