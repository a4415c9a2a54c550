#!/usr/bin/env python3
"""The soak of ``dnspcap watch``: the lab's resolvers make lookups for a long time with
the race fault on every Nth parallel pair (``samples/lab/run.py --soak``), tcpdump writes
the pod's capture, and ``dnspcap watch`` follows that file as it grows.

Run as root::

    python benchmarks/soak_watch.py --seconds 1800 --race-every 50

Prints, as JSON: the races the fault injected (dnsfault's count) and the ones the watch
announced and the report found, the rate found (races per parallel pair), each race
line's delay (from its last evidence to the line: what a user waits), and the watch's
resident memory over time (one sample every ``--every`` seconds). The watch writes its
own report at its end (JSON), which is compared with ``analyze`` of the capture.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import dnspcap

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_watch import rss_kb  # noqa: E402  (this folder on the path first)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--race-every", type=int, default=50)
    ap.add_argument("--every", type=float, default=5.0, help="RSS sample interval (s)")
    ap.add_argument("--prefix", default="wsoak")
    ap.add_argument("--out", type=Path, default=Path("/tmp/wsoak"))
    args = ap.parse_args()
    capture = args.out / "soak-race.pcap"
    capture.unlink(missing_ok=True)
    watched = args.out / "soak-watch.json"  # the watch's own report, at its end
    lab = subprocess.Popen(
        [sys.executable, str(ROOT / "samples/lab/run.py"), "--prefix", args.prefix,
         "--out", str(args.out), "--soak", str(args.seconds),
         "--race-every", str(args.race_every), "--no-install",
         "--max-seconds", str(args.seconds + 240)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    while not (capture.exists() and capture.stat().st_size >= 24):
        if lab.poll() is not None:
            raise SystemExit(f"the lab ended first:\n{lab.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
        time.sleep(0.2)
    watch = subprocess.Popen(
        [sys.executable, "-m", "dnspcap.cli", "watch", str(capture), "--format", "json",
         "-o", str(watched), "--duration", str(args.seconds + 30)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []

    def collect() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            lines.append((time.time(), line.rstrip("\n")))

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    started = time.monotonic()
    rss: list[tuple[float, float]] = []
    while watch.poll() is None:
        rss.append((round(time.monotonic() - started), round(rss_kb(watch.pid) / 1024, 1)))
        time.sleep(args.every)
    reader.join(5)
    lab_out = lab.communicate()[0].decode(errors="replace")
    log = args.out / "logs/soak-race/dnsfault1.log"
    done = re.search(r"done dropped=(\d+)", log.read_text()) if log.exists() else None
    report = dnspcap.analyze(capture)
    race = [f for f in report.findings if f.code == "DNS001"]
    own = json.loads(watched.read_text()) if watched.exists() else {"findings": []}
    own_race = [f for f in own["findings"] if f["code"] == "DNS001"]
    delays = []
    for wall, line in lines:
        if " DNS001 " in line:
            delays.append(round(wall - _stamp(line.split()[0]), 1))
    print(json.dumps({
        "seconds": args.seconds,
        "race_every": args.race_every,
        "injected_races": int(done.group(1)) if done else None,
        "found_races": race[0].occurrences if race else 0,
        "watch_report_races": own_race[0]["occurrences"] if own_race else 0,
        "watch_report_is_analyze": [f["code"] for f in own["findings"]]
        == [f.code for f in report.findings],
        "parallel_pairs": race[0].seen if race else None,
        "rate_found": round(race[0].occurrences / race[0].seen, 4) if race else 0.0,
        "race_lines": len(delays),
        "race_line_delay_s": {"min": min(delays, default=None), "max": max(delays, default=None),
                              "median": sorted(delays)[len(delays) // 2] if delays else None},
        "lines": len(lines),
        "watch_rss_mb": rss,
        "watch_exit": watch.returncode,
        "watch_stderr": (watch.stderr.read() if watch.stderr else "")[-500:],
        "lab_tail": lab_out[-600:],
    }, indent=1))  # fmt: skip
    return 0


def _stamp(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    sys.exit(main())
