"""The little markup of our own texts: `code` in backticks.

A finding's remediation (and the verdict lines built from it) is our text, not the
capture's: a command, a config stanza or a name to type goes in a code span, as in
Markdown (CommonMark's rule: a run of n backticks opens a span, the next run of exactly n
closes it). Each report format shows code spans as code (Markdown keeps them, HTML makes
them ``<code>``, the terminal shows the backticks). A value from the capture that goes
into such a text goes in through :func:`code`, so that whatever characters it holds it
stays one literal span: a crafted name cannot open or close one, nor become a link.
"""

from __future__ import annotations

import re

_RUN = re.compile(r"`+")


def code(value: str) -> str:
    """``value`` as one code span, fenced by a backtick run it does not contain."""
    if not value:
        return ""
    runs = {len(m) for m in _RUN.findall(value)}
    n = next(k for k in range(1, len(runs) + 2) if k not in runs)
    # a span that starts or ends with a backtick (or space) needs a space inside the fence
    pad = " " if value[:1] in ("`", " ") or value[-1:] in ("`", " ") else ""
    return "`" * n + pad + value + pad + "`" * n


def spans(text: str) -> list[tuple[str, bool]]:
    """The text as (part, is_code) pairs, code spans as CommonMark reads them; an
    unmatched backtick run is plain text."""
    out: list[tuple[str, bool]] = []
    plain = 0  # where the plain text not yet emitted starts
    pos = 0
    while (m := _RUN.search(text, pos)) is not None:
        fence = m.group()
        close = next((c for c in _RUN.finditer(text, m.end()) if c.group() == fence), None)
        if close is None:  # nothing closes it: literal backticks
            pos = m.end()
            continue
        if plain < m.start():
            out.append((text[plain : m.start()], False))
        inner = text[m.end() : close.start()]
        if len(inner) >= 2 and inner[0] == inner[-1] == " " and inner.strip(" "):
            inner = inner[1:-1]
        out.append((inner, True))
        plain = pos = close.end()
    if plain < len(text):
        out.append((text[plain:], False))
    return out
