"""The command's exit skips the interpreter's teardown (dnspcap/cli/exit.py) but not what
an exit must do: the exit status, the atexit handlers (a Dask cluster's, logging's),
buffered output, and the threads that are not daemons."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dnspcap
from dnspcap.report import render

ROOT = Path(__file__).resolve().parent.parent


def program(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
        check=False,
    )  # fmt: skip


def test_the_exit_keeps_the_status_the_handlers_and_the_buffered_output() -> None:
    done = program(
        "import atexit, sys\n"
        "from dnspcap.cli.exit import leave\n"
        "atexit.register(lambda: print('handler ran'))\n"
        "sys.stdout.write('buffered, ')\n"
        "sys.stderr.write('said')\n"
        "leave(3)\n"
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "buffered, handler ran\n", "said")


def test_the_exit_waits_for_a_thread_that_is_not_a_daemon() -> None:
    done = program(
        "import threading, time\n"
        "from dnspcap.cli.exit import leave\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
        "leave(2)\n"
    )
    assert (done.returncode, done.stdout) == (2, "thread done\n")


def test_the_command_writes_its_report_and_says_its_status(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    sample = ROOT / "samples" / "crafted" / "incident-mixed.pcap"
    done = subprocess.run(
        [sys.executable, "-m", "dnspcap", "analyze", str(sample), "--format", "json", "-o",
         str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # an error-level finding
    assert out.read_text() == render(dnspcap.analyze(sample), "json")
