"""The HTML report opened in a real browser (Debian's headless Chromium).

A DNS name is chosen by whoever sends the query; the report must show it as text and
run nothing, in the browser of whoever opens the ticket. A control page with the same
script, unescaped, proves the browser here does run scripts, so the check can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import dnspcap
from dnspcap.report import render

from .test_reports import EVIL, evil_capture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("chromium is not installed (scripts/install-system-deps.sh installs it)",
                allow_module_level=True)  # fmt: skip

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=2000"]  # fmt: skip
SCRIPT = "document.title='pwned';document.body.setAttribute('data-ran','1')"


def chromium(tmp_path: Path, page: Path, *action: str) -> str:
    assert CHROMIUM is not None, "CI=true: chromium must be installed"
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_control_page_shows_the_browser_runs_scripts(tmp_path: Path) -> None:
    page = tmp_path / "control.html"
    page.write_text(f"<html><head><title>t</title></head><body><script>{SCRIPT}</script></body>")
    dom = chromium(tmp_path, page, "--dump-dom")
    assert "<title>pwned</title>" in dom and 'data-ran="1"' in dom


def test_report_renders_names_as_text_and_runs_nothing(tmp_path: Path) -> None:
    report = dnspcap.analyze(evil_capture(tmp_path))
    page = tmp_path / "report.html"
    page.write_text(render(report, "html"))
    dom = chromium(tmp_path, page, "--dump-dom")
    assert "pwned</title>" not in dom and "data-ran" not in dom
    assert "<script" not in dom.lower() and '<img src="x"' not in dom
    # the name is there, as text, in the finding and in the evidence table
    assert dom.count("&lt;script&gt;document.title='pwned'&lt;/script&gt;.evil.example") >= 2
    assert EVIL.replace("<", "&lt;").replace(">", "&gt;") in dom
    assert "DNS009" in dom and "server.errors" in dom


def test_report_renders_and_prints(tmp_path: Path) -> None:
    import matplotlib.image

    sample = Path(__file__).resolve().parent.parent / "samples/crafted/incident-mixed.pcap"
    page = tmp_path / "incident.html"
    page.write_text(render(dnspcap.analyze(sample), "html"))
    shot = tmp_path / "shot.png"
    chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,1600")
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels.std() > 0.05  # text, tables and figures, not a blank page
    pdf = tmp_path / "incident.pdf"
    chromium(tmp_path, page, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
