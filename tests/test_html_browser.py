"""The HTML report opened in a real browser (Debian's headless Chromium).

A DNS name is chosen by whoever sends the query; the report must show it as text and
run nothing, in the browser of whoever opens the ticket. A control page with the same
script, unescaped, proves the browser here does run scripts, so the check can fail.
"""

from __future__ import annotations

import json
import os
import re
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


# Where the browser wrapped each line in a cell of DNS names: "char before|char after".
# (A page of our own around the report: the report itself runs no script.)
MEASURE = """
const breaks = [];
for (const td of document.querySelectorAll("td.dns")) {
  const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
  let top = null, before = "";
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    for (let i = 0; i < n.length; i++) {
      const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
      const box = r.getClientRects()[0];
      if (!box) continue;
      if (top !== null && box.top > top + 1) breaks.push(before + "|" + n.data[i]);
      top = box.top; before = n.data[i];
    }
  }
}
document.title = "breaks=" + JSON.stringify(breaks);
"""


def test_long_names_wrap_at_dots_not_inside_a_label(tmp_path: Path) -> None:
    from .test_reports import search_list_capture

    name = "a-rather-long-service-name.some-namespace.svc.cluster.local"
    html = render(dnspcap.analyze(search_list_capture(tmp_path, name)), "html", figures=False)
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    page = tmp_path / "narrow.html"
    page.write_text(html.replace("</body>", f"<script>{MEASURE}</script></body>"))
    dom = chromium(tmp_path, page, "--dump-dom", "--window-size=420,900")
    found = re.search(r"<title>breaks=(.*?)</title>", dom)
    assert found, dom[:500]
    breaks = json.loads(found.group(1).replace("&quot;", '"'))
    assert breaks, "the names fit: the window is not narrow enough to test anything"
    assert all(b.split("|")[0] in ". ," for b in breaks), breaks
