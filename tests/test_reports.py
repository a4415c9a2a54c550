"""The reports an engineer attaches to a ticket: golden files per sample, the JSON
schema, escaping of what the capture says, the ticket size limit, and the notebook API.

Golden reports live in `tests/golden/reports/`; regenerate them after a reviewed
change with DNSPCAP_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from html import escape
from pathlib import Path

import jsonschema
import pytest

import dnspcap
from dnspcap.findings import markup
from dnspcap.report import html as html_writer
from dnspcap.report import markdown, render
from dnspcap.report.document import facts

from . import craft

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples" / "crafted").glob("*.pcap")) + sorted(
    (ROOT / "samples" / "lab" / "captures").glob("*.pcap")
)
GOLDEN = ROOT / "tests" / "golden" / "reports"
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())
EVIL = "<script>document.title='pwned'</script>.evil.example"
EVIL_IMG = "<img src=x onerror=alert(1)>.evil.example"


@pytest.fixture(scope="module")
def reports() -> dict[str, dnspcap.Report]:
    # relative paths: the golden files must not depend on where the project is cloned
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        return {_name(p): dnspcap.analyze(p.relative_to(ROOT)) for p in SAMPLES}
    finally:
        os.chdir(cwd)


def _name(path: Path) -> str:
    return ("lab-" if path.parent.name == "captures" else "") + path.stem


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DNSPCAP_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from its golden file"


@pytest.mark.parametrize("fmt,suffix", [("text", "txt"), ("markdown", "md"), ("json", "json")])
@pytest.mark.parametrize("sample", [_name(p) for p in SAMPLES])
def test_report_matches_golden_file(
    reports: dict[str, dnspcap.Report], sample: str, fmt: str, suffix: str
) -> None:
    text = render(reports[sample], fmt, figures=False)
    _golden(f"{sample}.{suffix}", text.replace(f"dnspcap {dnspcap.__version__}", "dnspcap X"))


@pytest.mark.parametrize("sample", [_name(p) for p in SAMPLES])
def test_json_follows_the_documented_schema(
    reports: dict[str, dnspcap.Report], sample: str
) -> None:
    doc = json.loads(render(reports[sample], "json"))
    jsonschema.validate(doc, SCHEMA)
    report = reports[sample]
    assert [f["code"] for f in doc["findings"]] == [f.code for f in report.findings]
    assert doc["verdict"]["severity"] == report.worst
    assert doc["summary"]["lookups"] == len(report.lookups)


def test_verdict_comes_first_and_names_the_worst_finding(
    reports: dict[str, dnspcap.Report],
) -> None:
    text = render(reports["incident-mixed"], "text")
    first = text.splitlines()[0]
    assert first.startswith("VERDICT: ERROR DNS001 2 of 19 parallel A/AAAA pairs (one socket)")
    assert "First fix: Deploy NodeLocal DNSCache" in text.splitlines()[2]
    # each finding shows its evidence messages and the filter that selects them
    assert "frame.number in {5, 6, 7, 16, 17, 18, 77, 78, 81, 82}" in text
    assert re.search(r"77\s+16:00:07\.501000\s+10\.244\.1\.17:42001\s+10\.96\.0\.10:53", text)
    healthy = render(reports["healthy-glibc"], "text")
    assert healthy.startswith("VERDICT: OK No DNS problem found.\n")


def test_clients_table_puts_the_troubled_first(reports: dict[str, dnspcap.Report]) -> None:
    doc = json.loads(render(reports["incident-mixed"], "json"))
    clients = doc["clients"]
    assert [c["client"] for c in clients[:3]] == ["10.244.1.17", "10.244.2.33", "10.244.3.8"]
    assert clients[0]["findings"] == "DNS001 DNS004" and clients[0]["resolver"] == "glibc"
    assert clients[1]["resolver"] == "musl"
    assert {c["findings"] for c in clients[3:]} == {"-"}


# ---- what the capture says is attacker-controlled -----------------------------------------


def evil_capture(tmp_path: Path) -> Path:
    """A pod whose queries for crafted names draw SERVFAIL (DNS009 names them)."""
    recs = []
    for i, name in enumerate([EVIL, EVIL_IMG, "a|b*c_[x](y)`z`.example", "ok.example"]):
        rcode = 0 if name == "ok.example" else 2
        q = craft.udp4(craft.dns_query(name, id=0x100 + i), sport=41000 + i)
        r = craft.udp4(craft.dns_response(name, id=0x100 + i, rcode=rcode), sport=53,
                       dport=41000 + i, src=craft.SERVER4, dst=craft.CLIENT4)  # fmt: skip
        recs += [craft.Rec(craft.frame(craft.LINK_ETHERNET, q), craft.T0 + i * craft.SEC),
                 craft.Rec(craft.frame(craft.LINK_ETHERNET, r), craft.T0 + i * craft.SEC
                           + craft.MS)]  # fmt: skip
    return craft.write(tmp_path / "evil.pcap", craft.pcap(recs))


def test_html_escapes_every_value_from_the_capture(tmp_path: Path) -> None:
    report = dnspcap.analyze(evil_capture(tmp_path))
    assert any(EVIL in f.summary or EVIL in str(f.details) for f in report.findings)
    html = render(report, "html", figures=False)
    assert "<script" not in html.lower() and "<img src=x" not in html
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch


def test_markdown_escapes_every_value_from_the_capture(tmp_path: Path) -> None:
    text = render(dnspcap.analyze(evil_capture(tmp_path)), "markdown", figures=False)
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    # markdown syntax in a name stays text: no table cell split, no emphasis, no link
    assert r"a\|b\*c\_\[x\](y)\`z\`.example" in text


SEARCH = ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
# a name a pod asks for, made to break out of a code span and into a link and HTML
TRICKY = "a``b`[x](https://e.example)<i>c.example"


def search_list_capture(tmp_path: Path, name: str) -> Path:
    """A pod resolving `name` through the ndots:5 search list (DNS005 names it)."""
    recs, t = [], craft.T0
    for step, asked in enumerate([f"{name}.{s}" for s in SEARCH] + [name]):
        found = asked == name
        q = craft.udp4(craft.dns_query(asked, id=0x200 + step), sport=42000 + step)
        answers = [(asked, "A", "192.0.2.7", 60)] if found else []
        r = craft.udp4(
            craft.dns_response(asked, answers=answers, id=0x200 + step, rcode=0 if found else 3),
            sport=53,
            dport=42000 + step,
            src=craft.SERVER4,
            dst=craft.CLIENT4,
        )
        recs += [craft.Rec(craft.frame(craft.LINK_ETHERNET, q), t),
                 craft.Rec(craft.frame(craft.LINK_ETHERNET, r), t + craft.MS)]  # fmt: skip
        t += 2 * craft.MS
    return craft.write(tmp_path / "search.pcap", craft.pcap(recs))


def test_fixes_show_their_code_as_code(reports: dict[str, dnspcap.Report]) -> None:
    """A fix is our text: its code spans are code in Markdown and HTML, not escaped
    backticks; the rest of it is escaped like anything else."""
    report = reports["incident-mixed"]
    md, html = render(report, "markdown"), render(report, "html", figures=False)
    stanza = "options: [{name: single-request-reopen}]"
    assert f"**Fix:** Deploy NodeLocal DNSCache, or add `{stanza}` to the pod's" in md
    assert f"> First fix: Deploy NodeLocal DNSCache, or add `{stanza}`" in md
    assert "\\`" not in md and "\\[" not in md  # nothing of ours escaped into noise
    assert f"add <code>{stanza}</code> to the pod&#x27;s" in html
    assert "check <code>conntrack -S</code>" in html
    fixes = re.findall(r'<p class="fix">(.*?)</p>', html)
    assert len(fixes) == 5 and not any("`" in f for f in fixes)
    assert f"<code>{stanza}</code>" in report.findings[0]._repr_html_()
    assert render(report, "text").count(f"`{stanza}`") == 2  # the terminal shows backticks


def test_a_name_in_a_fix_stays_one_literal_code_span(tmp_path: Path) -> None:
    """DNS005's fix names the names a pod asked for: whatever a name holds, it is one
    code span in Markdown and HTML (no link, no tag, no span closed early)."""
    report = dnspcap.analyze(search_list_capture(tmp_path, TRICKY))
    (search,) = report.findings.code("DNS005")
    assert markup.code(TRICKY) in search.remediation
    md = render(report, "markdown")
    (fix,) = [line for line in md.splitlines() if line.startswith("**Fix:**")]
    assert (TRICKY, True) in markup.spans(fix)
    outside = "".join(part for part, is_code in markup.spans(fix) if not is_code)
    assert "](" not in outside and "<" not in outside
    html = render(report, "html", figures=False)
    assert f"<code>{escape(TRICKY)}</code>" in html and "<i>" not in html


@pytest.mark.parametrize("value", ["plain", "a`b", "``x", "y`", " both ", "`", "a ``` b `` c ` d"])
def test_code_spans_round_trip(value: str) -> None:
    span = markup.code(value)
    assert markup.spans(f"before {span} after") == [("before ", False), (value, True),
                                                    (" after", False)]  # fmt: skip


def test_html_tables_break_names_at_dots(tmp_path: Path) -> None:
    name = "a-rather-long-service-name.some-namespace.svc.cluster.local"
    report = dnspcap.analyze(search_list_capture(tmp_path, name))
    html = render(report, "html", figures=False)
    first = "".join(f"<span>{label}.</span><wbr>" for label in name.split("."))
    assert f'<td class="dns">{first}<span>default.</span><wbr><span>svc.</span>' in html
    # in answers too, but an address stays whole
    assert html_writer._at_dots("CNAME a.b, A 192.0.2.7") == (
        "<span>CNAME</span> <span>a.</span><wbr><span>b,</span> <span>A</span> "
        "<span>192.0.2.7</span>"
    )
    assert "anywhere" not in html  # no rule lets a label break in its middle


def test_text_report_neutralises_terminal_escapes(tmp_path: Path) -> None:
    name = "bad\x1b[2J\x07.example"
    recs = []
    for i in range(2):
        q = craft.udp4(craft.dns_query(name, id=7 + i), sport=41000 + i)
        r = craft.udp4(craft.dns_response(name, id=7 + i, rcode=2), sport=53, dport=41000 + i,
                       src=craft.SERVER4, dst=craft.CLIENT4)  # fmt: skip
        recs += [craft.Rec(craft.frame(1, q), craft.T0 + i * craft.SEC),
                 craft.Rec(craft.frame(1, r), craft.T0 + i * craft.SEC + craft.MS)]  # fmt: skip
    report = dnspcap.analyze(craft.write(tmp_path / "esc.pcap", craft.pcap(recs)))
    text = render(report, "text", color=True)
    assert "\x07" not in text and "\x1b[2J" not in text
    assert "\x1b[31m[ERROR]\x1b[0m DNS009" in text  # our own colour codes stay


def test_markdown_fits_a_ticket_and_links_figure_files(tmp_path: Path) -> None:
    report = dnspcap.analyze(ROOT / "samples" / "crafted" / "incident-mixed.pcap")
    out = report.save(tmp_path / "ticket.md")
    text = out.read_text()
    assert "data:" not in text
    for key in ("timeline", "latency", "queries"):
        png = tmp_path / f"ticket-{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](ticket-{key}.png)" in text


def test_markdown_shrinks_evidence_to_stay_under_the_limit(
    reports: dict[str, dnspcap.Report], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = reports["upstream-trouble"]
    full = render(report, "markdown", figures=False)
    monkeypatch.setattr(markdown, "LIMIT", len(full) - 1)
    shorter = render(report, "markdown", figures=False)
    assert len(shorter) < len(full)
    assert shorter.count("frame.number in {") == full.count("frame.number in {")
    assert "more*" in shorter  # the evidence tables say what they left out


def test_html_embeds_its_figures_and_stays_self_contained(
    reports: dict[str, dnspcap.Report],
) -> None:
    html = render(reports["incident-mixed"], "html")
    assert html.count('src="data:image/png;base64,') == 3
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)  # only inline images, anchors
    assert "@media print" in html


# ---- Jupyter ------------------------------------------------------------------------------


def test_report_shows_itself_in_jupyter(reports: dict[str, dnspcap.Report]) -> None:
    report = reports["incident-mixed"]
    bundle = report._repr_mimebundle_()
    assert bundle["text/plain"].startswith("VERDICT: ERROR DNS001")
    assert "<html" not in bundle["text/html"] and 'class="dnspcap-report"' in bundle["text/html"]
    assert bundle["text/html"].count("data:image/png;base64,") == 3
    table = report.findings.to_frame()
    assert list(table["code"]) == ["DNS001", "DNS002", "DNS004", "DNS005", "DNS003"]
    assert "<table" in report.findings._repr_html_()
    assert "DNS001" in report.findings[0]._repr_html_()
    assert [f.code for f in report.findings.code("dns004")] == ["DNS004"]
    assert "5 findings, worst: error" in repr(report)


def test_python_objects_print_what_a_person_wants_to_read(
    reports: dict[str, dnspcap.Report], capsys: pytest.CaptureFixture[str]
) -> None:
    report = reports["incident-mixed"]
    print(report)  # the text report, as the command prints it
    assert capsys.readouterr().out == dnspcap.render(report, "text") + "\n"
    assert str(report).startswith("VERDICT: ERROR DNS001")
    assert repr(report) == "<dnspcap.Report 82 messages, 16 lookups, 5 findings, worst: error>"
    # the findings: a short table, a line each, not a wall of dataclasses
    lines = repr(report.findings).splitlines()
    assert lines[0] == "<dnspcap.Findings: 5>" and len(lines) == 2 + 5
    assert lines[2].split()[:3] == ["error", "DNS001", "conntrack.race"]
    assert max(map(len, lines)) < 140 and "Timestamp(" not in repr(report.findings)
    assert repr(report.findings.code("DNS001")).startswith("<dnspcap.Findings: 1>")
    race = report.findings[0]
    assert repr(race).startswith("<dnspcap.Finding DNS001 conntrack.race (error): 2 of 19 ")
    assert repr(race).endswith("; 10 evidence frames>") and "\n" not in repr(race)
    assert repr(dnspcap.Findings()) == "<dnspcap.Findings: none>"
    # one client is "1 client"
    one = reports["healthy-glibc"]
    assert "4 lookups from 1 client" in str(one).splitlines()[1]
    assert (
        str(one).splitlines()[2] == "  16 packets, 16 DNS messages, 8 transactions, "
        "4 lookups from 1 client"
    )


def test_dir_shows_only_the_public_api() -> None:
    shown = dir(dnspcap)
    assert shown == sorted(dnspcap.__all__)
    assert not {"annotations", "reading", "report", "native", "times"} & set(shown)
    assert callable(importlib.import_module("dnspcap.reading").read_messages)  # still there


def test_finding_opens_its_packets_with_scapy() -> None:
    from scapy.layers.dns import DNS

    report = dnspcap.analyze(ROOT / "samples" / "crafted" / "conntrack-race-glibc.pcap")
    race = report.findings.code("DNS001")[0]
    pkts = race.packets()
    assert [p.frame for p in pkts] == list(race.frames)
    assert all(p.haslayer(DNS) for p in pkts)
    lost = [p for p in pkts if p[DNS].qr == 0 and p[DNS].qd[0].qtype == 28]
    assert lost and {round(float(p.time) % 60, 3) for p in lost} <= {
        round(t.second + t.microsecond / 1e6, 3)
        for t in report.messages.set_index("frame").loc[[p.frame for p in lost], "ts"]
    }


def test_packets_of_a_stdin_capture_is_a_clear_error() -> None:
    import dataclasses

    report = dnspcap.analyze(ROOT / "samples" / "crafted" / "conntrack-race-glibc.pcap")
    f = report.findings[0]
    f = dataclasses.replace(f, evidence_frames={"-": f.frames})
    with pytest.raises(dnspcap.CaptureError, match="standard input"):
        f.packets()


def test_export_round_trips_through_parquet_and_csv(
    reports: dict[str, dnspcap.Report], tmp_path: Path
) -> None:
    import pandas as pd

    report = reports["search-list-and-tcp-fallback"]
    paths = report.export(tmp_path, "parquet")
    assert [p.name for p in paths] == [
        f"search-list-and-tcp-fallback.{t}.parquet" for t in ("messages", "transactions", "lookups")
    ]
    tx = pd.read_parquet(paths[1])
    assert len(tx) == len(report.transactions)
    assert tx["qname"].dtype == "category" and str(tx["query_ts"].dtype) == "datetime64[ns, UTC]"
    assert [list(f) for f in tx["query_frames"]] == [
        list(f) for f in report.transactions["query_frames"]
    ]
    csv = report.export(tmp_path, "csv")
    lk = pd.read_csv(csv[2], keep_default_na=False)
    assert lk.loc[0, "name"] == "api.example.com" and lk.loc[0, "search_queries"] == 6
    assert json.loads(lk.loc[0, "transactions_index"]) == list(
        report.lookups["transactions_index"].iloc[0]
    )


def test_findings_of_several_files_point_into_their_own_file() -> None:
    crafted = ROOT / "samples" / "crafted"
    report = dnspcap.analyze([crafted / "incident-mixed.pcap", crafted / "upstream-trouble.pcap"])
    loop = report.findings.code("DNS007")[0]
    assert loop.files == (str(crafted / "upstream-trouble.pcap"),)
    pkts = loop.packets()
    assert {p.file for p in pkts} == {str(crafted / "upstream-trouble.pcap")}
    assert len(pkts) == len(loop.frames) == 150
    doc = json.loads(render(report, "json", figures=False))
    evidence = doc["findings"][0]["evidence"]
    assert {row["type"] for row in evidence} == {"HINFO"}  # not incident-mixed's frames 66..
    assert ("in file", str(crafted / "upstream-trouble.pcap")) in facts(loop, several_files=True)
