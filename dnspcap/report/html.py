"""The report as one self-contained HTML file, safe to open from a ticket.

Everything is inline: the style sheet, and the figures as base64 PNG. There is
no script and nothing is fetched; the Content-Security-Policy says so to the
browser too (``default-src 'none'``), so even a mistake in escaping could not run
code or call out. Every value from the capture is escaped: a DNS name is chosen by
whoever sends the query, and ``<script>`` in a qname must stay text. The page
prints cleanly (findings do not split across pages, colours become borders).
"""

from __future__ import annotations

import base64
import re
from html import escape

from ..findings import Finding
from ..findings.markup import spans
from .document import EVIDENCE_COLUMNS, Document, FindingView, Table, facts, filters

# the columns holding DNS names: they wrap at a name's dots, not inside a label
DNS_COLUMNS = ("name", "answers")

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'"

_CSS = """
& { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1b1f24; max-width: 72rem; margin: 0 auto; padding: 1rem; }
& h1 { font-size: 1.35rem; margin: 0 0 .75rem; word-break: break-all; }
& h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
& h3 { font-size: 1.05rem; margin: 0 0 .4rem; }
& .verdict { border-left: .4rem solid #6e7781; background: #f6f8fa;
  padding: .6rem 1rem; margin-bottom: 1rem; }
& .verdict p { margin: .25rem 0; }
& .verdict .line { font-size: 1.1rem; font-weight: 600; }
& .sev-critical { border-color: #a40e26; } & .sev-error { border-color: #cf222e; }
& .sev-warning { border-color: #bf8700; } & .sev-info { border-color: #0969da; }
& .sev-ok { border-color: #1a7f37; }
& .tag { display: inline-block; padding: 0 .4rem; border-radius: .25rem;
  font-size: .8rem; font-weight: 700; color: #fff; background: #6e7781; }
& .tag.sev-critical { background: #a40e26; } & .tag.sev-error { background: #cf222e; }
& .tag.sev-warning { background: #9a6700; } & .tag.sev-info { background: #0969da; }
& .finding { border: 1px solid #d0d7de; border-left-width: .4rem; border-radius: .3rem;
  padding: .75rem 1rem; margin: 1rem 0; break-inside: avoid; }
& dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
& dt { color: #57606a; } & dd { margin: 0; word-break: break-word; }
& table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
& th, & td { border: 1px solid #d0d7de; padding: .15rem .45rem;
  text-align: left; vertical-align: top; overflow-wrap: break-word; }
& .scroll { overflow-x: auto; }
& td.dns { overflow-wrap: normal; } & td.dns span { white-space: nowrap; }
& th { background: #f6f8fa; }
& code, & pre { font: .85rem ui-monospace, SFMono-Regular, Menlo, monospace; }
& pre { background: #f6f8fa; padding: .4rem .6rem; white-space: pre-wrap;
  word-break: break-all; }
& .fix { background: #dafbe1; padding: .4rem .6rem; border-radius: .3rem; }
& .more { color: #57606a; font-style: italic; }
& figure { margin: 1rem 0; break-inside: avoid; }
& figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
& figcaption { color: #57606a; font-size: .85rem; }
& footer { color: #57606a; font-size: .8rem; margin-top: 2rem; }
@media print { & { max-width: none; font-size: 11pt; }
  & .tag { color: #000; background: none; border: 1px solid #000; }
  & a { color: inherit; text-decoration: none; }
  & .scroll { overflow: visible; } }
"""
STYLE = _CSS.replace("& ", ".dnspcap-report ").replace("&{", ".dnspcap-report {")


def write(doc: Document, figures: dict[str, bytes] | None = None, *, fragment: bool = False) -> str:
    """The HTML page; ``figures`` maps a figure's key to its PNG bytes.

    ``fragment=True`` gives the body alone (with its style), for Jupyter.
    """
    e = escape
    sev = doc.tone
    body = ['<div class="dnspcap-report">', f"<h1>{e(doc.title)}</h1>"]
    body += [f'<section class="verdict sev-{sev}">',
             f'<p class="line"><span class="tag sev-{sev}">{e(doc.badge)}</span> '
             f"{e(doc.verdict)}</p>"]  # fmt: skip
    body += [f"<p>{ours(d)}</p>" for d in doc.verdict_detail]
    body += [f"<p>{e(doc.headline)}.</p>", "</section>"]
    body += [f'<p class="warning"><strong>Warning:</strong> {e(w)}</p>' for w in doc.warnings]
    body += ["<details><summary>The capture</summary><dl>"]
    body += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in doc.overview]
    body += ["</dl></details>"]
    if doc.findings:
        body += ["<h2>Findings</h2>", _table(_summary(doc), link_column=1)]
    for v in doc.findings:
        body += _finding(v)
    if doc.clients.rows:
        body += ["<h2>Clients</h2>", _table(doc.clients)]
    figures = figures or {}
    shown = [fig for fig in doc.figures if fig.key in figures]
    if shown:
        body.append("<h2>Figures</h2>")
        for fig in shown:
            data = base64.b64encode(figures[fig.key]).decode("ascii")
            body += ["<figure>", f'<img alt="{e(fig.title)}" src="data:image/png;base64,{data}">',
                     f"<figcaption><strong>{e(fig.title)}.</strong> {e(fig.caption)}</figcaption>",
                     "</figure>"]  # fmt: skip
    body += [f"<footer>dnspcap {e(doc.version)}</footer>", "</div>"]
    style = f"<style>{STYLE}</style>"
    if fragment:
        return style + "\n" + "\n".join(body)
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en">',
                "<head>",
                '<meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                '<meta name="referrer" content="no-referrer">',
                f"<title>{e(doc.title)}</title>",
                style,
                "</head>",
                "<body>",
                *body,
                "</body>",
                "</html>",
            ]
        )
        + "\n"
    )


def _finding(v: FindingView) -> list[str]:
    e, f = escape, v.finding
    body = [f'<section class="finding sev-{e(f.severity)}" id="{e(v.anchor)}">',
            f'<h3><span class="tag sev-{e(f.severity)}">{e(f.severity.upper())}</span> '
            f"{e(f.code)} {e(f.name)}</h3>",
            f"<p>{e(f.summary)}</p>", "<dl>"]  # fmt: skip
    body += [f"<dt>{e(k)}</dt><dd>{e(val)}</dd>" for k, val in v.facts]
    body += ["</dl>", f'<p class="fix"><strong>Fix:</strong> {ours(f.remediation)}</p>']
    if len(v.filters) == 1:
        body += [f"<p>Evidence: {e(v.filter_line)}:</p>",
                 f"<pre>{e(v.filters[0][1])}</pre>"]  # fmt: skip
    elif v.filters:
        body.append(f"<p>Evidence: {e(v.filter_line)}:</p>")
        for file, text in v.filters:
            body += [f"<p><code>{e(file)}</code></p>", f"<pre>{e(text)}</pre>"]
    if v.evidence.rows:
        body.append(_table(v.evidence))
    body.append("</section>")
    return body


def ours(s: str) -> str:
    """Our text (a fix, a verdict line): code spans as <code>, everything escaped."""
    return "".join(
        f"<code>{escape(part)}</code>" if is_code else escape(part) for part, is_code in spans(s)
    )


def finding_fragment(f: Finding) -> str:
    """One finding on its own (Jupyter shows a Finding with this)."""
    view = FindingView(f, f.code.lower(), facts(f), Table(EVIDENCE_COLUMNS, []), filters(f))
    return f"<style>{STYLE}</style>" + "\n".join(['<div class="dnspcap-report">', *_finding(view),
                                                  "</div>"])  # fmt: skip


_WORD = re.compile(r"(\s+)")


def _at_dots(text: str) -> str:
    """A cell of DNS names, escaped, that wraps after a name's dots (and at spaces), never
    inside a label: each label is a span that does not wrap (a browser would break at its
    hyphens), with ``<wbr>`` between. A word without a letter (an IPv4 address) stays
    whole. The text copied from the page is the name as it was."""
    out = []
    for word in _WORD.split(text):
        if not word or word.isspace():
            out.append(word)
            continue
        labels = _LABEL.findall(word) if _LETTER.search(word) else [word]
        out.append("<wbr>".join(f"<span>{escape(label)}</span>" for label in labels))
    return "".join(out)


_LABEL = re.compile(r"[^.]*\.|[^.]+")  # a label with the dot after it, or the last one


_LETTER = re.compile(r"[A-Za-z]")


def _summary(doc: Document) -> tuple[Table, list[str]]:
    rows = [
        (f.severity, f.code, f.summary, str(f.lookups_affected), f"{f.seconds_lost:.1f} s")
        for f in (v.finding for v in doc.findings)
    ]
    table = Table(("severity", "code", "summary", "lookups", "time lost"), rows)
    return table, [v.anchor for v in doc.findings]


def _table(t: Table | tuple[Table, list[str]], link_column: int = -1) -> str:
    table, anchors = t if isinstance(t, tuple) else (t, [])
    e = escape
    head = "".join(f"<th>{e(c)}</th>" for c in table.columns)
    out = ['<div class="scroll"><table>', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    dns = {j for j, c in enumerate(table.columns) if c in DNS_COLUMNS}
    for i, row in enumerate(table.rows):
        cells = []
        for j, c in enumerate(row):
            if j in dns:
                cells.append(f'<td class="dns">{_at_dots(c)}</td>')
                continue
            text = e(c)
            if j == link_column and i < len(anchors):
                text = f'<a href="#{e(anchors[i])}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    if table.omitted:
        out.append(f'<p class="more">... {table.omitted} more</p>')
    return "\n".join(out)
