"""The report as Markdown for an incident ticket (GitHub, GitLab, Jira).

GitHub strips ``data:`` images, so figures are files written beside the report and
linked by name. A ticket field holds 65,536 characters: when the report would be
longer, evidence tables shrink, then go, leaving the display filters, which select
the same packets. Text from the capture is escaped: a DNS name is attacker-controlled
and must not become a link, an image or HTML in the ticket.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..findings.markup import code, spans
from .document import Document, Table

LIMIT = 65_536
# every line starts with our own text, so only inline syntax needs escaping
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def esc(s: str) -> str:
    """Text from the capture, inert in Markdown and in the HTML Markdown allows."""
    s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", s)


def ours(s: str) -> str:
    """Our text (a fix, a verdict line): its code spans stay code, the rest is escaped.
    A span's content is shown literally by Markdown; only control characters and the
    fence need care, and the fence is chosen to fit (dnspcap.findings.markup)."""
    parts = []
    for part, is_code in spans(s):
        if is_code:
            shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", part)
            parts.append(code(shown))
        else:
            parts.append(esc(part))
    return "".join(parts)


def write(doc: Document, figures: dict[str, str] | None = None) -> str:
    """Markdown under LIMIT characters; ``figures`` maps a figure's key to its file name."""
    for rows in (len(max((v.evidence.rows for v in doc.findings), key=len, default=[])), 5, 0):
        text = _write(doc, figures or {}, rows)
        if len(text) <= LIMIT:
            return text
    return (
        text[: LIMIT - 200] + "\n\n*(report cut at the ticket size limit; see the JSON report)*\n"
    )


def _write(doc: Document, figures: dict[str, str], evidence_rows: int) -> str:
    """The Markdown with at most `evidence_rows` evidence rows per finding. It stops once
    past LIMIT characters: the caller then only needs the start, not the rest."""
    out, size = [], 0
    for line in _lines(doc, figures, evidence_rows):
        out.append(line)
        size += len(line) + 1
        if size > LIMIT:
            break
    return "\n".join(out) + "\n"


def _lines(doc: Document, figures: dict[str, str], evidence_rows: int) -> Iterator[str]:
    yield from [f"# {esc(doc.title)}", ""]
    yield from [f"> **{doc.badge}** {esc(doc.verdict)}", ">"]
    yield from (f"> {ours(d)}  " for d in doc.verdict_detail)
    yield from ["", esc(doc.headline) + ".", ""]
    yield from (f"**Warning:** {esc(w)}  " for w in doc.warnings)
    yield from ["## The capture", "", "| | |", "|---|---|"]
    yield from (f"| {esc(k)} | {esc(v)} |" for k, v in doc.overview)
    yield ""
    if doc.findings:
        yield from ["## Findings", "", "| severity | code | summary | lookups | time lost |",
                    "|---|---|---|---:|---:|"]  # fmt: skip
        slugs = _slugs([f"{v.finding.severity.upper()} {v.finding.code} {v.finding.name}"
                        for v in doc.findings])  # fmt: skip
        for v, slug in zip(doc.findings, slugs, strict=True):
            f = v.finding
            yield (
                f"| {f.severity} | [{f.code}](#{slug}) | {esc(f.summary)} | "
                f"{f.lookups_affected} | {f.seconds_lost:.1f} s |"
            )
    for v in doc.findings:
        f = v.finding
        title = f"### {f.severity.upper()} {f.code} {esc(f.name)}"
        yield from ["", title, "", esc(f.summary), ""]
        yield from (f"- **{esc(k)}:** {esc(val)}" for k, val in v.facts)
        yield from ["", f"**Fix:** {ours(f.remediation)}", ""]
        if len(v.filters) == 1:
            yield from [f"Evidence: {v.filter_line}:", "",
                        "```", v.filters[0][1], "```", ""]  # fmt: skip
        elif v.filters:
            yield from [f"Evidence: {v.filter_line}:", ""]
            for file, text in v.filters:
                yield from [f"- `{file}`", "", "  ```", f"  {text}", "  ```", ""]
        if evidence_rows and v.evidence.rows:
            yield from table(v.evidence.head(evidence_rows))
    if doc.clients.rows:
        yield from ["", "## Clients", "", *table(doc.clients)]
    shown = [fig for fig in doc.figures if fig.key in figures]
    if shown:
        yield from ["", "## Figures", ""]
        for fig in shown:
            yield from [f"![{esc(fig.title)}]({figures[fig.key]})", "", f"*{esc(fig.caption)}*",
                        ""]  # fmt: skip
    yield from ["", f"*dnspcap {doc.version}*"]


def _slugs(titles: list[str]) -> list[str]:
    """The anchors GitHub and GitLab give these headings (no raw HTML: Jira shows it)."""
    seen: dict[str, int] = {}
    out = []
    for t in titles:
        slug = re.sub(r"[^\w\- ]", "", t.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.append(slug if n == 0 else f"{slug}-{n}")
    return out


def table(t: Table) -> list[str]:
    out = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in t.rows]
    if t.omitted:
        out += ["", f"*... {t.omitted} more*"]
    return [*out, ""]
