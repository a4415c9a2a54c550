"""The report for a terminal: the verdict first, then each finding with its evidence.

Colour (ANSI) only when asked: the command line asks when standard output is a
terminal and ``NO_COLOR`` is unset. Text from the capture is printed with control
characters replaced, so a crafted name cannot move the cursor or recolour the screen.
"""

from __future__ import annotations

import re

from .document import Document, Table

_SGR = {"critical": "1;31", "error": "31", "warning": "33", "info": "36", "bold": "1", "dim": "2"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(s: str) -> str:
    """A capture's text with terminal control characters shown as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def write(doc: Document, *, color: bool = False) -> str:
    def paint(s: str, style: str | None) -> str:
        return f"\x1b[{_SGR[style]}m{s}\x1b[0m" if color and style in _SGR else s

    lines = [paint(f"VERDICT: {doc.badge} {safe(doc.verdict)}", doc.severity or "bold")]
    if doc.status == "no_dns":
        lines[0] = paint(f"VERDICT: {doc.badge} {safe(doc.verdict)}", doc.tone)
    lines += ["  " + safe(d) for d in doc.verdict_detail]
    lines.append("  " + doc.headline)
    # several files: how they were grouped matters to what the report says
    lines += [f"  {k}: {safe(v)}" for k, v in doc.overview if k == "vantage points"]
    lines += [paint(f"warning: {safe(w)}", "warning") for w in doc.warnings]
    for v in doc.findings:
        f = v.finding
        tag = paint(f"[{f.severity.upper()}]", f.severity)
        lines += ["", f"{tag} {f.code} {f.name}", f"  {safe(f.summary)}"]
        lines += [f"  {k}: {safe(val)}" for k, val in v.facts]
        if len(v.filters) > 1:
            lines.append(f"  evidence ({v.filter_line}):")
            lines += [f"    {safe(file)}: {text}" for file, text in v.filters]
        else:
            shown = v.filters[0][1] if v.filters else "-"
            lines.append(f"  evidence ({v.filter_line}): {shown}")
        if v.evidence.rows:
            lines += ["    " + row for row in table(v.evidence)]
        lines.append(paint(f"  fix: {safe(f.remediation)}", "bold"))
    if doc.clients.rows:
        lines += ["", paint("Clients", "bold")]
        lines += ["  " + row for row in table(doc.clients)]
    return "\n".join(lines) + "\n"


def table(t: Table) -> list[str]:
    """A plain aligned table; long cells were clipped when the document was built."""
    cells = [list(t.columns), *map(list, t.rows)]
    # one search of the whole table (tab and newline are not among the control
    # characters) instead of one per cell: a capture's text rarely has any
    if _CONTROL.search("\n".join("\t".join(r) for r in t.rows)):
        cells[1:] = [[safe(c) for c in r] for r in t.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(t.columns))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    if t.omitted:
        out.append(f"... {t.omitted} more")
    return out
