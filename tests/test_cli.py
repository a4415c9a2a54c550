"""The `dnspcap` command line, as a user runs it."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import dnspcap
from dnspcap.cli.commands import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "crafted" / "search-list-and-tcp-fallback.pcap"


def test_text_summary_and_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", str(SAMPLE), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "24 packets, 20 DNS messages (10 queries, 10 responses) in 1 file(s)"
    assert lines[1] == "decode errors: 0, cut short by the capture: 0"
    assert "10.244.1.17:40001" in lines[4] and "0x1a2b" in lines[4]
    assert "NXDOMAIN" in lines[6]
    assert lines[-1].startswith("... 17 more rows")


def test_limit_zero_shows_every_row_including_tcp(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", str(SAMPLE), "--limit", "0"]) == 0
    rows = capsys.readouterr().out.splitlines()[4:]
    assert len(rows) == 20
    assert "tcp" in rows[-1] and 'TXT "xxx' in rows[-1]


def test_csv_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    assert main(["messages", str(SAMPLE), "--format", "csv", "-o", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) == 20
    assert list(df["qname"][:2]) == ["api.example.com.default.svc.cluster.local"] * 2
    assert df["rcode"].value_counts()["NXDOMAIN"] == 6


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", str(SAMPLE), "--format", "json"]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 20
    assert rows[0]["ts"] == "2025-11-24T16:00:00.000000Z"
    assert rows[14]["answers"] == "A 93.184.215.14"
    assert rows[0]["file"] == str(SAMPLE)
    assert "samples/crafted/" in out and "\\/" not in out  # no escaped slashes


def test_messages_output_file_gets_every_row_in_the_format_of_its_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o chooses the format from the suffix, as analyze -o does; a file never gets the
    20-row terminal preview."""
    incident = str(ROOT / "samples" / "crafted" / "incident-mixed.pcap")  # 82 messages
    assert main(["messages", incident, "-o", str(tmp_path / "m.csv")]) == 0
    df = pd.read_csv(tmp_path / "m.csv", keep_default_na=False)
    assert len(df) == 82 and df["ts"].iloc[0] == "2025-11-24T16:00:02.000000Z"
    assert main(["messages", incident, "-o", str(tmp_path / "m.jsonl")]) == 0
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert len(lines) == 82 and json.loads(lines[-1])["frame"] == 82
    assert main(["messages", incident, "-o", str(tmp_path / "m.txt")]) == 0
    text = (tmp_path / "m.txt").read_text()
    assert "more rows" not in text and len(text.splitlines()) == 4 + 82
    # --format still wins over the suffix
    assert main(["messages", incident, "--format", "csv", "-o", str(tmp_path / "m.txt")]) == 0
    assert (tmp_path / "m.txt").read_text().startswith("file,vantage,frame,ts,")
    assert capsys.readouterr().out == ""
    # standard output keeps the preview
    assert main(["messages", incident]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("... 62 more rows")


def test_every_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("analyze", "messages", "export", "explain"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        options = [line for line in out.splitlines() if line.startswith("  -")]
        assert options, command
        for i, line in enumerate(out.splitlines()):
            if line.startswith("  -") and len(line.split()) <= 2:  # help on the next line
                assert out.splitlines()[i + 1].startswith(" " * 10), (command, line)
    with pytest.raises(SystemExit):
        main(["messages", "--help"])
    assert "csv: one row per message" in capsys.readouterr().out


def test_unreadable_file_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a capture\n")
    assert main(["messages", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"dnspcap: error: {bad}: not a pcap or pcapng file")
    assert main(["messages", str(tmp_path / "missing.pcap")]) == 2
    assert "No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["analyze", "messages", "export"])
@pytest.mark.parametrize("ports", ["70000", "-1", "0", "53,65536", "fifty-three", ","])
def test_ports_outside_1_to_65535_are_a_one_line_usage_error(
    command: str, ports: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 (a usage error, not 1, which means "findings" to a script) and one line,
    never a traceback; nothing is written."""
    out = tmp_path / "out"
    assert main([command, str(SAMPLE), f"--ports={ports}", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"dnspcap: error: --ports '{ports}': ")
    assert "1-65535" in err or "no DNS port" in err
    assert not out.exists()


def test_ports_and_multicast_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", str(SAMPLE), "--ports", "5300"]) == 0
    assert capsys.readouterr().out.startswith("24 packets, 0 DNS messages")
    assert main(["messages", str(SAMPLE), "--multicast", "--limit", "1"]) == 0
    assert "20 DNS messages" in capsys.readouterr().out


def test_stdin_through_the_installed_entry_point() -> None:
    data = SAMPLE.read_bytes()
    run = subprocess.run(
        [sys.executable, "-m", "dnspcap.cli", "messages", "-", "--format", "csv"],
        input=data,
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    df = pd.read_csv(io.BytesIO(run.stdout), keep_default_na=False)
    assert len(df) == 20
    assert set(df["file"]) == {"-"}


INCIDENT = ROOT / "samples" / "crafted" / "incident-mixed.pcap"
HEALTHY = ROOT / "samples" / "crafted" / "healthy-glibc.pcap"


def test_analyze_puts_the_verdict_first_and_fails_on_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["analyze", str(INCIDENT)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "VERDICT: ERROR DNS001 2 of 19 parallel A/AAAA pairs (one socket) lost"
    )
    assert out[2].startswith("  First fix: Deploy NodeLocal DNSCache")
    blocks = [line for line in out if line.startswith("[")]
    # most severe first: DNS003 (AAAA first) is information, the harm its collision does
    # is DNS002's
    assert [b.split()[1] for b in blocks] == ["DNS001", "DNS002", "DNS004", "DNS005", "DNS003"]
    assert (
        "  evidence (10 frames; Wireshark display filter): frame.number in {5, 6, 7, 16"
        in "\n".join(out)
    )


def test_analyze_healthy_capture_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(HEALTHY)]) == 0
    assert capsys.readouterr().out.startswith("VERDICT: OK No DNS problem found.")


def test_analyze_fail_on_select_ignore_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(INCIDENT), "--fail-on", "critical"]) == 0
    assert main(["analyze", str(INCIDENT), "--select", "dns005"]) == 0  # a warning only
    assert "[WARNING] DNS005" in capsys.readouterr().out
    assert main(["analyze", str(INCIDENT), "--ignore", "DNS001,DNS002,DNS003"]) == 0
    out = capsys.readouterr().out
    assert "] DNS001" not in out and "[WARNING] DNS004" in out
    assert main(["analyze", str(INCIDENT), "--select", "DNS001",
                 "--option", "pair_window_s=0.00001"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("VERDICT: OK No DNS problem found.")


def test_analyze_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--select", "DNS999"], ["--ignore", "conntrack.rase"],
                ["--option", "nope=1"], ["--option", "pair_window_s"],
                ["--capture-end", "yesterday"]):  # fmt: skip
        assert main(["analyze", str(INCIDENT), *bad]) == 2, bad
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("dnspcap: error: --"), err
    with pytest.raises(SystemExit) as e:  # what argparse itself finds: its usage line
        main(["analyze", str(INCIDENT), "--fail-on", "sometimes"])
    assert e.value.code == 2
    assert main(["analyze", str(ROOT / "README.md")]) == 2
    assert "not a pcap or pcapng file" in capsys.readouterr().err


def test_select_and_ignore_take_names_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(INCIDENT), "--select", "conntrack.race,dns2"]) == 1
    blocks = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert [b.split()[1] for b in blocks] == ["DNS001", "DNS002"]


def test_analyze_json_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert main(["analyze", str(INCIDENT), "--format", "json", "-o", str(out)]) == 1
    doc = json.loads(out.read_text())
    assert doc["schema"] == "dnspcap.report/1"
    assert doc["summary"] == {"transactions": 40, "lookups": 16, "worst": "error"}
    race = doc["findings"][0]
    assert (race["code"], race["clients"], race["occurrences"]) == ("DNS001", ["10.244.1.17"], 2)
    assert race["display_filter"].startswith("frame.number in {")


def test_detectors_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detectors"]) == 0
    listing = capsys.readouterr().out
    assert "| DNS001 | `conntrack.race` | error |" in listing
    assert main(["explain", "dns007"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("DNS007 forwarding.loop (critical)")
    assert "**Fix.**" in text
    # the catalogue shows names beside codes: either works, and so does a short code
    for given in ("conntrack.race", "CONNTRACK.RACE", "dns1", "DNS001"):
        assert main(["explain", given]) == 0
        assert capsys.readouterr().out.startswith("DNS001 conntrack.race (error)"), given
    # a near miss names the one meant, in one line
    assert main(["explain", "conntrack-race"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "dnspcap: error: explain: unknown detector 'conntrack-race'; did you mean DNS001 "
        "(conntrack.race)? (`dnspcap detectors` lists them)\n"
    )
    assert main(["explain", "DNS999"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_analyze_format_follows_the_output_suffix(tmp_path: Path) -> None:
    for suffix, marker in ((".md", "# dnspcap report: "), (".html", "<!DOCTYPE html>"),
                           (".json", '{\n  "schema": "dnspcap.report/1"'),
                           (".txt", "VERDICT: ERROR DNS001")):  # fmt: skip
        out = tmp_path / f"report{suffix}"
        assert main(["analyze", str(INCIDENT), "-o", str(out)]) == 1
        assert out.read_text().startswith(marker), suffix
    # figures go beside a Markdown report, named after it; --no-figures leaves them out
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "report-latency.png",
        "report-queries.png",
        "report-timeline.png",
    ]
    assert main(["analyze", str(INCIDENT), "--format", "html", "--no-figures",
                 "-o", str(tmp_path / "plain.html")]) == 1  # fmt: skip
    assert "data:image/png" not in (tmp_path / "plain.html").read_text()
    assert main(["analyze", str(INCIDENT), "--format", "markdown"]) == 1  # stdout: no figures


def test_colour_only_on_request_or_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main(["analyze", str(INCIDENT)])
    assert "\x1b[" not in capsys.readouterr().out  # captured: not a terminal
    main(["analyze", str(INCIDENT), "--color", "always"])
    assert "\x1b[31m[ERROR]\x1b[0m DNS001" in capsys.readouterr().out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    main(["analyze", str(INCIDENT)])
    assert "\x1b[31m" in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    main(["analyze", str(INCIDENT)])
    assert "\x1b[" not in capsys.readouterr().out
    main(["analyze", str(INCIDENT), "--color", "never"])
    assert "\x1b[" not in capsys.readouterr().out


def test_progress_line_only_when_stderr_is_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main(["analyze", str(INCIDENT)])
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["analyze", str(INCIDENT)]) == 1
    cap = capsys.readouterr()
    assert "reading [" in cap.err and "detecting" in cap.err
    assert cap.err.endswith("\r\x1b[2K")  # erased at the end
    assert cap.out.startswith("VERDICT: ERROR DNS001")  # the report is unchanged


def test_analyze_reads_standard_input() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dnspcap.cli", "analyze", "-", "--format", "json"],
        input=INCIDENT.read_bytes(), capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["stats"]["files"] == ["-"] and doc["summary"]["lookups"] == 16


def test_unwritable_output_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(INCIDENT), "-o", "/nonexistent/dir/report.md"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No such file or directory" in err


def test_export_writes_each_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(INCIDENT), "-o", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == [
        f"incident-mixed.{t}.parquet" for t in ("messages", "transactions", "lookups")
    ]
    assert len(pd.read_parquet(written[0])) == 82 and len(pd.read_parquet(written[2])) == 16
    assert main(["export", str(INCIDENT), "--to", "csv", "--tables", "lookups",
                 "-o", str(tmp_path)]) == 0  # fmt: skip
    lk = pd.read_csv(tmp_path / "incident-mixed.lookups.csv")
    assert len(lk) == 16 and set(lk["resolver"]) == {"glibc", "musl"}
    assert main(["export", str(INCIDENT), "--tables", "packets", "-o", str(tmp_path)]) == 2
    assert "unknown table(s) packets" in capsys.readouterr().err


def test_export_writes_only_into_a_folder_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three files never land unasked in the current folder (a source tree, say)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["export", str(INCIDENT)])
    assert e.value.code == 2
    assert "required: -o/--output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "instead of standard output" not in (helptext := capsys.readouterr().out)
    assert "-o DIR, --output DIR" in helptext and "the folder to write the tables into" in helptext
    assert main(["export", str(INCIDENT), "-o", "."]) == 0  # asked for: here
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"incident-mixed.{t}.parquet" for t in ("lookups", "messages", "transactions")
    ]


def _in_nanoseconds(pcap: bytes, extra_ns: int = 7) -> bytes:
    """A microsecond pcap as a nanosecond one, each time `extra_ns` later."""
    assert pcap[:4] == bytes.fromhex("d4c3b2a1")  # little-endian, microseconds
    out, pos = bytearray(bytes.fromhex("4d3cb2a1") + pcap[4:24]), 24
    while pos < len(pcap):
        sec, usec, incl, orig = struct.unpack_from("<IIII", pcap, pos)
        out += struct.pack("<IIII", sec, usec * 1000 + extra_ns, incl, orig)
        out += pcap[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
    return bytes(out)


@pytest.mark.parametrize("precision", ["us", "ns"])
def test_one_time_format_in_csv_json_lines_export_and_the_json_report(
    precision: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ISO 8601 UTC with the capture's precision, the same in every text a time leaves in."""
    capture = tmp_path / "incident.pcap"
    data = INCIDENT.read_bytes()
    capture.write_bytes(data if precision == "us" else _in_nanoseconds(data))
    fraction = r"\.\d{6}Z" if precision == "us" else r"\.\d{9}Z"
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d" + fraction)
    first = "2025-11-24T16:00:02.000000Z" if precision == "us" else "2025-11-24T16:00:02.000000007Z"

    assert main(["messages", str(capture), "--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    assert csv["ts"].iloc[0] == first and csv["ts"].str.fullmatch(iso).all()
    assert main(["messages", str(capture), "--format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ts"] for r in lines] == list(csv["ts"])

    assert main(["export", str(capture), "--to", "csv", "-o", str(tmp_path / "t")]) == 0
    capsys.readouterr()  # the paths written
    exported = pd.read_csv(tmp_path / "t" / "incident.messages.csv", keep_default_na=False)
    assert list(exported["ts"]) == list(csv["ts"])
    tx = pd.read_csv(tmp_path / "t" / "incident.transactions.csv", keep_default_na=False)
    for col in ("query_ts", "response_ts"):
        assert tx[col].str.fullmatch(iso).all(), col
    # back to the same instants
    times = pd.to_datetime(csv["ts"], format="ISO8601", utc=True)
    assert (times == dnspcap.read_messages(capture)["ts"]).all()

    assert main(["analyze", str(capture), "--format", "json"]) == 1
    report = capsys.readouterr().out
    race = json.loads(report)["findings"][0]
    assert race["first"] == first.replace("02.000", "02.500") and iso.fullmatch(race["last"])
    assert "\\/" not in report and "+00:00" not in report
