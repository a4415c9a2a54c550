#!/usr/bin/env python3
"""Streaming throughput and memory of ``dnspcap watch -``: a capture is ``cat`` into it
through a pipe, as fast as the watch takes it; the watch's resident memory is sampled
every half second. Beside it, in the same run, tshark reading the same pipe
(``tshark -r - -T fields``, one pass: what a streaming tshark does).

Usage::

    python benchmarks/make_capture.py --packets 3000000 --seed 2 -o /tmp/watch-3m.pcap
    python benchmarks/bench_watch.py /tmp/watch-3m.pcap [--no-report] [--skip-tshark]

Prints packets per second (the file's packets over the wall time from the first byte to
the end of the watch, its JSON report written: the whole command a user runs), the peak
RSS of the watch's process, the peak summed PSS of its process tree (``peak_tree_mb``:
with the children a big step's scan is forked into, their shared pages counted once),
and the RSS over time (one sample per tenth of the run) as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_command import TreeMemory

import dnspcap


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tshark_seconds(capture: Path) -> float | None:
    """tshark reading the capture from a pipe, one pass, a field per DNS message."""
    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    started = time.monotonic()
    with open(capture, "rb") as f:
        cat = subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)
        subprocess.run(
            [tshark, "-r", "-", "-Y", "dns", "-T", "fields", "-e", "dns.id"],
            stdin=cat.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        cat.wait()
    return round(time.monotonic() - started, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--every", type=float, default=0.5, help="RSS sample interval (s)")
    parser.add_argument("--no-report", action="store_true", help="the lines only")
    parser.add_argument("--skip-tshark", action="store_true", help="do not run tshark")
    args = parser.parse_args()
    report = ["--no-report"] if args.no_report else ["--format", "json", "-o", "/dev/null"]
    packets = int(dnspcap.read_messages(args.capture).attrs["dnspcap"]["packets"])
    started = time.monotonic()
    # the lines go to a file: a pipe nobody reads until the end would fill and stop the watch
    with open(args.capture, "rb") as f, tempfile.TemporaryFile() as lines:
        cat = subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)
        watch = subprocess.Popen(
            [sys.executable, "-m", "dnspcap.cli", "watch", "-", *report],
            stdin=cat.stdout, stdout=lines, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert cat.stdout is not None
        cat.stdout.close()
        samples: list[tuple[float, int]] = []
        ended = threading.Event()

        def sample() -> None:  # beside the wait: the wall time is the watch's, not a poll's
            while not ended.wait(args.every if samples else 0.0):
                samples.append((round(time.monotonic() - started, 1), rss_kb(watch.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        tree = TreeMemory(watch.pid)  # with the children a step's scan is forked into
        _, err = watch.communicate()
        wall = time.monotonic() - started
        ended.set()
        sampler.join()
        tree.stop()
        samples = [(t, r) for t, r in samples if r]  # a sample after the exit reads nothing
        cat.wait()
        lines.seek(0)
        out = lines.read()
    shark = None if args.skip_tshark else tshark_seconds(args.capture)
    tenth = max(1, len(samples) // 10)
    print(json.dumps({
        "capture": str(args.capture),
        "packets": packets,
        "seconds": round(wall, 2),
        "packets_per_s": round(packets / wall),
        "peak_rss_mb": round(max(r for _, r in samples) / 1024, 1) if samples else None,
        "peak_tree_mb": round(tree.peak_kib / 1024, 1),
        "rss_mb_over_time": [(t, round(r / 1024, 1)) for t, r in samples[::tenth]],
        "lines": len(out.splitlines()),
        "report": not args.no_report,
        "tshark_seconds": shark,
        "tshark_packets_per_s": round(packets / shark) if shark else None,
        "exit": watch.returncode,
        "stderr": err.decode(errors="replace")[-500:],
    }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
