"""A report a person can read on a busy capture: 300,000 packets from ~17,000 clients
(benchmarks/make_capture.py's many-clients profile).

The text, Markdown and HTML reports list the most affected few clients, servers, names
and flows and count the rest ("and 10,077 more"); a display filter of hundreds of frames
is printed for the evidence rows shown (the first 12); the JSON report keeps every list
and filter whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import dnspcap
from dnspcap.findings import LIST_ITEMS, frame_filter, listed
from dnspcap.findings.finding import FILTER_FRAMES
from dnspcap.report import render

from .synthetic import make_capture

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> dnspcap.Report:
    path = tmp_path_factory.mktemp("busy") / "busy.pcap"
    make_capture(path, 300_000, 1, profile="many-clients")
    return dnspcap.analyze(path)


def _blocks(text: str) -> dict[str, list[str]]:
    """The text report's finding blocks by code: "[ERROR] DNS001 ..." up to a blank line."""
    out = {}
    for block in text.split("\n\n")[1:]:
        lines = block.splitlines()
        if lines and lines[0].startswith("["):
            out[lines[0].split()[1]] = lines
    return out


def _fact(lines: list[str], key: str) -> str:
    """A fact's value; the first of that name (a detector's details may repeat it)."""
    line = next(x for x in lines if x.startswith(f"  {key}: "))
    return line.split(": ", 1)[1]


def _evidence_clients(report: dnspcap.Report, f: dnspcap.Finding) -> dict[str, int]:
    """Each client's messages among the finding's evidence (the client sends the query)."""
    m = report.messages
    (file, frames), *_ = f.evidence_frames.items()
    ev = m[(m["file"] == file) & m["frame"].isin(frames)]
    client = np.where(ev["qr"], ev["dst"].astype(str), ev["src"].astype(str))
    return {str(k): int(v) for k, v in zip(*np.unique(client, return_counts=True), strict=True)}


def test_the_text_report_of_a_busy_capture_reads_on_a_terminal(busy: dnspcap.Report) -> None:
    text = render(busy, "text")
    assert re.search(r"from 1\d,\d{3} clients", text.splitlines()[3])  # ~17,000 clients
    # it was 316 KB with lines of 153,366 characters: now every line fits a wide terminal
    # but the verdict's and the fixes' own words
    assert len(text) < 30_000
    long = [x for x in text.splitlines() if len(x) > 420]
    assert all(x.lstrip().startswith(("First fix:", "fix:")) for x in long), long
    blocks = _blocks(text)
    crowded = [f for f in busy.findings if len(f.clients) > 1_000]
    assert crowded  # the dropped queries and the search-list walks of thousands of pods
    for f in busy.findings:
        clients = _fact(blocks[f.code], "clients")
        more = len(f.clients) - LIST_ITEMS
        if more <= 0:
            assert sorted(clients.split(", ")) == sorted(f.clients)
            continue
        shown, tail = clients.split(" and ")
        assert tail == f"{more:,} more"
        names = shown.split(", ")
        assert len(names) == LIST_ITEMS and set(names) <= set(f.clients)
        # the most affected first: no client left out has more evidence messages
        counts = _evidence_clients(busy, f)
        least_shown = min(counts.get(c, 0) for c in names)
        assert all(counts.get(c, 0) <= least_shown for c in set(f.clients) - set(names))
        assert [counts.get(c, 0) for c in names] == sorted(
            (counts.get(c, 0) for c in names), reverse=True
        )
    race = blocks["DNS001"]
    flows = _fact(race, "flows")
    all_flows = busy.findings.code("DNS001")[0].details["flows"]
    assert flows.endswith(f" and {len(all_flows) - LIST_ITEMS:,} more")


def test_a_long_display_filter_is_given_for_the_rows_shown(busy: dnspcap.Report) -> None:
    text, doc = render(busy, "text"), json.loads(render(busy, "json"))
    blocks = _blocks(text)
    many = [f for f in busy.findings if len(f.frames) > FILTER_FRAMES]
    assert len(many) >= 3
    for f, d in zip(busy.findings, doc["findings"], strict=True):
        # JSON: the filter of every evidence frame, and every client
        assert d["display_filter"] == frame_filter(f.frames)
        assert len(d["display_filter"].split()) == len(set(f.frames)) + 2
        assert d["clients"] == list(f.clients)
        if f not in many:
            continue
        lines = blocks[f.code]
        (evidence,) = [x for x in lines if x.startswith("  evidence (")]
        head, shown = evidence.split("): ")
        rows = [x.split()[0] for x in lines[lines.index(evidence) + 2 :] if x[4:5].isdigit()]
        assert len(rows) == 12
        assert shown == "frame.number in {" + ", ".join(sorted(set(rows), key=int)) + "}"
        assert head == (
            f"  evidence ({len(f.frames):,} frames; Wireshark display filter of the "
            f"first {len(set(rows))} frames, all {len(f.frames):,} in the JSON report"
        )


def test_markdown_and_html_list_the_few_and_count_the_rest(busy: dnspcap.Report) -> None:
    markdown = render(busy, "markdown")
    page = render(busy, "html", figures=False)
    assert len(markdown) < 40_000 and len(page) < 120_000
    for f in busy.findings:
        if len(f.clients) > LIST_ITEMS:
            more = f"and {len(f.clients) - LIST_ITEMS:,} more"
            assert re.search(rf"\*\*clients:\*\* [^\n]* {more}\n", markdown), f.code
            assert re.search(rf"<dt>clients</dt><dd>[^<]* {more}</dd>", page), f.code
    assert "Wireshark display filter of the first 12 frames, all" in markdown
    assert "Wireshark display filter of the first 12 frames, all" in page


def test_a_finding_in_jupyter_is_as_short(busy: dnspcap.Report) -> None:
    crowded = max(busy.findings, key=lambda f: len(f.clients))
    assert len(crowded.clients) > 5_000 and len(crowded.frames) > FILTER_FRAMES
    page = crowded._repr_html_()
    assert len(page) < 4_000
    assert f"and {len(crowded.clients) - LIST_ITEMS:,} more</td>" in page
    first = sorted(crowded.frames)[:12]
    assert frame_filter(first) in page
    assert f"(the first 12 of {len(crowded.frames):,} frames; display_filters has them all)" in page


def test_listed() -> None:
    assert listed([]) == "-"
    assert listed(["a", "b"], 2) == "a, b"
    assert listed(map(str, range(5_166)), 2) == "0, 1 and 5,164 more"


def test_many_capture_files_are_listed_the_same_way() -> None:
    lab = sorted((ROOT / "samples" / "lab" / "captures").glob("*.pcap"))[:14]
    markdown = render(dnspcap.analyze(lab), "markdown", figures=False)
    files = re.search(r"\n\| files \| ([^|]*) \|", markdown)  # the overview table
    assert files is not None
    assert files.group(1).strip().endswith(f" and {len(lab) - LIST_ITEMS} more")
